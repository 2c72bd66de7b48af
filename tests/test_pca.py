"""PCA tools and the linear-autoencoder/PCA equivalence (CS7015 lecture 7.2)."""
import numpy as np
import pytest
from sklearn.decomposition import PCA

from autoencoder_np import Autoencoder, eckart_young_loss, normalize, pca, principal_angles

M, N, K = 300, 8, 3


def data(seed=0):
    rng = np.random.default_rng(seed)
    scales = np.array([5.0, 4.0, 3.0, 1.0, 0.7, 0.5, 0.3, 0.2])
    Q, _ = np.linalg.qr(rng.normal(size=(N, N)))
    return (rng.normal(size=(M, N)) * scales) @ Q.T + rng.normal(size=N)


def test_normalize_makes_xtx_the_covariance():
    X = data()
    Xn = normalize(X)
    np.testing.assert_allclose(Xn.T @ Xn, np.cov(X, rowvar=False, bias=True), atol=1e-12)
    np.testing.assert_allclose(Xn.mean(axis=0), 0, atol=1e-14)


def test_pca_matches_scikit_learn():
    X = data(1)
    V, var = pca(X, K)
    ref = PCA(n_components=K).fit(X)
    assert V.shape == (N, K) and var.shape == (K,)
    np.testing.assert_allclose(V.T @ V, np.eye(K), atol=1e-12)
    np.testing.assert_allclose(np.abs(V.T @ ref.components_.T), np.eye(K), atol=1e-10)
    np.testing.assert_allclose(var, ref.explained_variance_, rtol=1e-10)
    assert np.all(np.diff(var) <= 0)
    with pytest.raises(ValueError, match="at most"):
        pca(X, N + 1)


def test_principal_angles():
    e = np.eye(4)
    np.testing.assert_allclose(principal_angles(e[:, :2], e[:, :2]), [0, 0], atol=1e-15)
    np.testing.assert_allclose(principal_angles(e[:, :2], e[:, 2:]), [np.pi / 2] * 2)
    t = 1e-7  # small angles stay accurate (sines, not cosines)
    B = np.column_stack([e[:, 0], np.cos(t) * e[:, 1] + np.sin(t) * e[:, 2]])
    np.testing.assert_allclose(principal_angles(e[:, :2], B), [0, t], rtol=1e-6, atol=1e-15)
    # invariant to the basis: a mixed basis of the same span gives zero angles
    A = e[:, :3] @ np.random.default_rng(0).normal(size=(3, 3))
    assert principal_angles(A, e[:, :3]).max() < 1e-7
    with pytest.raises(ValueError, match="same space"):
        principal_angles(np.eye(3)[:, :2], e[:, :2])
    with pytest.raises(ValueError, match="linearly dependent"):
        principal_angles(np.ones((4, 2)), e[:, :2])


@pytest.mark.parametrize("tied", [False, True])
def test_linear_autoencoder_spans_the_pca_subspace_and_reaches_eckart_young(tied):
    Xn = normalize(data(2))
    model = Autoencoder(N, K, encoder="linear", decoder="linear", loss="squared_error", tied=tied, seed=0)
    hist = model.fit(Xn, epochs=2000, optimizer="lbfgs", progress=False)
    bound = eckart_young_loss(Xn, K)
    assert (hist["loss"][-1] - bound) / bound < 1e-4
    assert hist["loss"][-1] >= bound * (1 - 1e-12)  # nothing beats Eckart-Young
    V, _ = pca(Xn, K)
    assert principal_angles(model.W_dec.T, V).max() < 1e-3
    assert principal_angles(model.params["W"], V).max() < 1e-3
