"""Jacobian, energy, symmetricity, curl and circulation."""
import numpy as np
import pytest

from autoencoder_np import (Autoencoder, asymmetry_share, circulation, curl_2d, grid_2d, symmetricity)

M, N, K = 6, 5, 3


def numerical_jacobian(model, X, h=1e-6):
    cols = [(model.reconstruct(X + h * e) - model.reconstruct(X - h * e)) / (2 * h) for e in np.eye(X.shape[1])]
    return np.stack(cols, axis=-1)  # (m, n, n): J[i, :, l] = d r / d x_l


@pytest.mark.parametrize("encoder", ["sigmoid", "tanh", "relu", "softplus", "linear"])
@pytest.mark.parametrize("decoder", ["sigmoid", "linear", "tanh"])
@pytest.mark.parametrize("hidden", [K, (4, K)])
def test_jacobian_matches_finite_differences(encoder, decoder, hidden):
    loss = "cross_entropy" if decoder == "sigmoid" else "squared_error"
    model = Autoencoder(N, hidden, encoder=encoder, decoder=decoder, loss=loss, seed=7)
    X = np.random.default_rng(1).random((M, N))
    J = model.jacobian(X)
    assert J.shape == (M, N, N)
    np.testing.assert_allclose(J, numerical_jacobian(model, X), atol=1e-8)
    np.testing.assert_allclose(model.jacobian(X[2]), J[2])


@pytest.mark.parametrize("encoder", ["sigmoid", "tanh", "relu", "linear"])
def test_gradient_of_energy_is_the_vector_field(encoder):
    model = Autoencoder(N, K, encoder=encoder, decoder="linear", loss="squared_error", tied=True, seed=2)
    model.params["b"][:] = np.random.default_rng(0).normal(size=K)
    model.params["c"][:] = np.random.default_rng(1).normal(size=N)
    X = np.random.default_rng(3).normal(size=(M, N))
    h = 1e-6
    grad = np.stack([(model.energy(X + h * e) - model.energy(X - h * e)) / (2 * h) for e in np.eye(N)], axis=1)
    np.testing.assert_allclose(grad, model.vector_field(X), atol=1e-8)
    assert model.energy(X).shape == (M,) and isinstance(model.energy(X[0]), float)


def test_sigmoid_energy_is_the_gaussian_rbm_free_energy():
    model = Autoencoder(N, K, encoder="sigmoid", decoder="linear", loss="squared_error", tied=True, seed=4)
    X = np.random.default_rng(5).random((M, N))
    p = model.params
    F = np.sum(np.log1p(np.exp(X @ p["W"] + p["b"])), axis=1) - 0.5 * np.sum((X - p["c"]) ** 2, axis=1)
    np.testing.assert_allclose(model.energy(X), F, rtol=1e-13)


def test_tied_jacobian_is_symmetric_and_untied_is_not():
    X = np.random.default_rng(6).random((M, N))
    tied = Autoencoder(N, K, encoder="tanh", decoder="linear", loss="squared_error", tied=True, seed=0)
    np.testing.assert_allclose(symmetricity(tied.jacobian(X)), 1.0, atol=1e-14)
    untied = Autoencoder(N, K, encoder="tanh", decoder="linear", loss="squared_error", seed=0)
    assert np.all(symmetricity(untied.jacobian(X)) < 0.95)


def test_symmetricity_values():
    S = np.array([[1.0, 2.0], [2.0, 3.0]])
    A = np.array([[0.0, 1.0], [-1.0, 0.0]])
    assert symmetricity(S) == pytest.approx(1.0)
    assert symmetricity(A) == pytest.approx(0.0)
    # ||S||^2 = 18, ||A||^2 = 2: the symmetric share of S + A is 18 / 20
    assert symmetricity(S + A) == pytest.approx(18 / 20)
    np.testing.assert_allclose(symmetricity(np.stack([S, A, S + A])), [1.0, 0.0, 0.9])
    assert symmetricity(np.zeros((3, 3))) == 1.0  # zero is symmetric
    with pytest.raises(ValueError, match="square"):
        symmetricity(np.zeros((2, 3)))


def test_asymmetry_share_is_scale_free():
    rng = np.random.default_rng(0)
    J = np.eye(4) + rng.normal(size=(4, 4))
    s = asymmetry_share(J)
    J_scaled = np.eye(4) + 10 * (J - np.eye(4))
    assert asymmetry_share(J_scaled) == pytest.approx(s)
    assert 0 < s < 1
    assert asymmetry_share(np.eye(4)) == 0.0


def test_curl_of_gradient_field_is_zero_and_of_rotation_is_not():
    x, y, P = grid_2d(-1, 1, 41)
    # gradient of phi = x^2 y + sin(x): (2 x y + cos x, x^2)
    U = (2 * P[:, 0] * P[:, 1] + np.cos(P[:, 0])).reshape(41, 41)
    V = (P[:, 0] ** 2).reshape(41, 41)
    assert np.abs(curl_2d(U, V, x, y)[1:-1, 1:-1]).max() < 1e-10
    # rotation (-y, x): curl 2 everywhere
    curl = curl_2d(-P[:, 1].reshape(41, 41), P[:, 0].reshape(41, 41), x, y)
    np.testing.assert_allclose(curl, 2.0)
    # non-square grid: orientation of axes matters
    x2, y2 = np.linspace(0, 1, 7), np.linspace(0, 2, 5)
    Xg, Yg = np.meshgrid(x2, y2)
    np.testing.assert_allclose(curl_2d(np.zeros_like(Xg), 3 * Xg, x2, y2), 3.0)
    with pytest.raises(ValueError, match="shape"):
        curl_2d(np.zeros((7, 5)), np.zeros((7, 5)), x2, y2)


def test_circulation():
    rotation = lambda P: np.column_stack([-P[:, 1], P[:, 0]])
    gradient = lambda P: np.column_stack([2 * P[:, 0] * P[:, 1], P[:, 0] ** 2])
    assert circulation(rotation, radius=0.5) == pytest.approx(2 * np.pi * 0.25, rel=1e-9)
    assert abs(circulation(gradient, center=(0.3, -0.2))) < 1e-12
