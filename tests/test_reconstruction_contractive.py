"""The reconstruction-contractive penalty mean_i ||dr(x_i)/dx||_F^2 (Alain and Bengio 2014):
its value against explicit Jacobians, its hand-written gradient against finite differences
(float64, N examples, n inputs and k units all different), a golden value at a fixed seed,
and the errors for models it does not support."""
import numpy as np
import pytest

from autoencoder_np import Autoencoder, check_gradients
from autoencoder_np.activations import get_activation
from autoencoder_np.regularizers import reconstruction_contractive_penalty

N, n, k = 6, 5, 4          # examples, inputs, hidden units: all different
LAM = 0.7
# recorded once from this implementation (and equal to the explicit-Jacobian value, tested below)
GOLDEN_PENALTY = 0.09807540228667122
GOLDEN_SUM_DWDEC = 14.855792703283893


def _data(seed=0):
    return np.random.default_rng(seed).normal(size=(N, n))


def _model(encoder="sigmoid", tied=False, seed=3):
    model = Autoencoder(n, k, encoder=encoder, decoder="linear", loss="squared_error", tied=tied, seed=seed,
                        contraction=LAM, contraction_of="reconstruction")
    rng = np.random.default_rng(seed + 10)
    model.set_params({"b": rng.normal(size=k), "c": rng.normal(size=n)})
    return model


@pytest.mark.parametrize("encoder", ["sigmoid", "tanh", "softplus", "relu"])
@pytest.mark.parametrize("tied", [False, True])
def test_penalty_equals_mean_squared_frobenius_norm_of_the_explicit_jacobian(encoder, tied):
    X = _data()
    model = _model(encoder, tied)
    plain = model.copy()
    plain.contraction = 0.0
    J = model.jacobian(X)                                   # (N, n, n), dr/dx
    expected = LAM * float(np.mean(np.sum(J ** 2, axis=(1, 2))))
    assert model.loss(X) - plain.loss(X) == pytest.approx(expected, rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("encoder", ["sigmoid", "tanh", "softplus"])
@pytest.mark.parametrize("tied", [False, True])
def test_gradient_matches_finite_differences(encoder, tied):
    errors = check_gradients(_model(encoder, tied), _data())
    assert set(errors) == ({"W", "b", "c"} if tied else {"W", "b", "W_dec", "c"})
    assert max(errors.values()) < 1e-7, errors


def test_penalty_gradient_alone_matches_finite_differences_for_every_argument():
    # the function on its own: its dW, db and dW_dec against central differences of its value
    rng = np.random.default_rng(1)
    X, W, W_dec, b = rng.normal(size=(N, n)), rng.normal(size=(n, k)), rng.normal(size=(k, n)), rng.normal(size=k)
    act = get_activation("tanh")

    def value(W, W_dec, b):
        A = X @ W + b
        return reconstruction_contractive_penalty(X, W, W_dec, A, act.forward(A), act, LAM)[0]

    A = X @ W + b
    _, dW, db, dW_dec = reconstruction_contractive_penalty(X, W, W_dec, A, act.forward(A), act, LAM)
    h = 1e-6
    for name, P, G in (("W", W, dW), ("W_dec", W_dec, dW_dec), ("b", b, db)):
        num = np.zeros_like(P)
        for idx in np.ndindex(P.shape):
            old = P[idx]
            P[idx] = old + h
            up = value(W, W_dec, b)
            P[idx] = old - h
            down = value(W, W_dec, b)
            P[idx] = old
            num[idx] = (up - down) / (2 * h)
        assert G.shape == P.shape
        assert np.max(np.abs(num - G)) <= 1e-7 * max(1.0, np.max(np.abs(G))), name


def test_golden_value_at_a_fixed_seed():
    # Autoencoder(5, 4, sigmoid, linear, seed=3) with biases from default_rng(13), data from default_rng(0)
    X = _data()
    model = _model()
    plain = model.copy()
    plain.contraction = 0.0
    penalty = model.loss(X) - plain.loss(X)
    assert penalty == pytest.approx(GOLDEN_PENALTY, rel=1e-10)
    _, grads = model.loss_and_grads(X)
    assert float(np.sum(grads["W_dec"])) == pytest.approx(GOLDEN_SUM_DWDEC, rel=1e-10)


def test_code_penalty_is_still_the_default_and_differs():
    X = _data()
    recon = _model()
    code = recon.copy()
    code.contraction_of = "code"
    assert Autoencoder(n, k, contraction=0.1).contraction_of == "code"
    assert code.loss(X) != pytest.approx(recon.loss(X), rel=1e-6)


def test_unsupported_models_are_refused_with_a_clear_error():
    with pytest.raises(ValueError, match="decoder='linear'"):
        Autoencoder(n, k, decoder="sigmoid", contraction=0.1, contraction_of="reconstruction")
    with pytest.raises(ValueError, match="one encoder layer"):
        Autoencoder(n, (5, k), decoder="linear", loss="squared_error", contraction=0.1,
                    contraction_of="reconstruction")
    with pytest.raises(ValueError, match="contraction_of must be"):
        Autoencoder(n, k, contraction=0.1, contraction_of="decoder")


def test_training_with_the_penalty_shrinks_the_reconstruction_jacobian():
    X = np.random.default_rng(2).normal(size=(40, n))
    kw = dict(encoder="tanh", decoder="linear", loss="squared_error", seed=0)
    plain = Autoencoder(n, k, **kw)
    pen = Autoencoder(n, k, contraction=1.0, contraction_of="reconstruction", **kw)
    for model in (plain, pen):
        model.fit(X, epochs=200, optimizer="lbfgs", progress=False)
    norm = lambda m: float(np.mean(np.sum(m.jacobian(X) ** 2, axis=(1, 2))))
    assert norm(pen) < 0.5 * norm(plain)
