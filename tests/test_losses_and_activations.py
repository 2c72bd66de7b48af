"""Losses and activations: reductions, golden values, saturation (logits of +-40 and beyond)."""
import numpy as np
import pytest

from autoencoder_np import Autoencoder, cross_entropy_from_logits, sigmoid, softplus, squared_error
from autoencoder_np.activations import ACTIVATIONS, log_cosh
from autoencoder_np.losses import cross_entropy_from_logits_grad, squared_error_grad


def test_squared_error_is_mean_over_examples_of_sum_over_features_without_half():
    Xhat = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    T = np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    # per example: 1 + 4 + 9 = 14 and 3; mean over 2 examples
    assert squared_error(Xhat, T) == pytest.approx((14 + 3) / 2)
    np.testing.assert_allclose(squared_error_grad(Xhat, T), 2 * (Xhat - T) / 2)


def test_cross_entropy_golden_value():
    Z = np.array([[0.0, np.log(3.0)], [-np.log(3.0), 2.0]])
    T = np.array([[1.0, 0.0], [0.5, 1.0]])
    p = 1 / (1 + np.exp(-Z))
    by_hand = -np.sum(T * np.log(p) + (1 - T) * np.log(1 - p)) / 2
    # sigmoid(log 3) = 3/4: -log(1/2) - log(1/4) for row 0
    assert by_hand == pytest.approx((np.log(2) + np.log(4) + (0.5 * np.log(4) + 0.5 * np.log(4 / 3)) + np.log(1 + np.exp(-2))) / 2)
    assert cross_entropy_from_logits(Z, T) == pytest.approx(by_hand, rel=1e-14)


@pytest.mark.parametrize("big", [40.0, 1e3, 1e4])
def test_cross_entropy_is_finite_and_exact_at_saturated_logits(big):
    Z = np.array([[big, -big, big], [-big, big, -big]])
    right = (Z > 0).astype(float)
    wrong = 1 - right
    with np.errstate(over="raise", divide="raise", invalid="raise"):  # no overflow, no log(0) (underflow to 0 is harmless)
        assert cross_entropy_from_logits(Z, right) == pytest.approx(3 * np.log1p(np.exp(-big)), rel=1e-12, abs=1e-300)
        assert cross_entropy_from_logits(Z, wrong) == pytest.approx(3 * big, rel=1e-12)
        g = cross_entropy_from_logits_grad(Z, sigmoid(Z), wrong)
    assert np.all(np.isfinite(g)) and np.allclose(np.abs(g), 0.5)


def test_model_loss_at_saturation_matches_the_formula():
    model = Autoencoder(3, 2, seed=0)
    model.set_params({"W_dec": np.full((2, 3), 0.0), "c": np.array([1e4, -1e4, 40.0])})
    X = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        loss, grads = model.loss_and_grads(X)
    # per example: row 0 pays 1e4 + 1e4 + ~0, row 1 pays 0 + 0 + 40
    assert loss == pytest.approx((2e4 + np.log1p(np.exp(-40.0)) + 40.0) / 2, rel=1e-12)
    assert all(np.all(np.isfinite(g)) for g in grads.values())


def test_sigmoid_and_softplus_are_stable_and_keep_dtype():
    a = np.array([-1e4, -40.0, 0.0, 40.0, 1e4], dtype=np.float32)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        s = sigmoid(a)
        sp = softplus(a)
        lc = log_cosh(a)
    assert s.dtype == np.float32 and sp.dtype == np.float32
    np.testing.assert_allclose(s, [0.0, np.exp(-40.0), 0.5, 1.0, 1.0], atol=1e-30)
    np.testing.assert_allclose(sp, [0.0, np.exp(-40.0), np.log(2), 40.0, 1e4], rtol=1e-6, atol=1e-30)
    np.testing.assert_allclose(lc, [1e4 - np.log(2), 40 - np.log(2), 0.0, 40 - np.log(2), 1e4 - np.log(2)], rtol=1e-6)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_derivatives_and_antiderivatives_by_finite_differences(name):
    act = ACTIVATIONS[name]
    a = np.linspace(-3.1, 2.9, 13)  # avoids relu's kink at exactly 0
    h = 1e-6
    H = act.forward(a)
    num_d1 = (act.forward(a + h) - act.forward(a - h)) / (2 * h)
    np.testing.assert_allclose(act.deriv(a, H), num_d1, atol=1e-8)
    num_d2 = (act.deriv(a + h, act.forward(a + h)) - act.deriv(a - h, act.forward(a - h))) / (2 * h)
    np.testing.assert_allclose(act.deriv2(a, H), num_d2, atol=1e-6)
    if act.antiderivative is not None:
        num_g = (act.antiderivative(a + h) - act.antiderivative(a - h)) / (2 * h)
        np.testing.assert_allclose(num_g, H, atol=1e-8)
