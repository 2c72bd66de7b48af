"""Finite-difference checks of every hand-written gradient (float64, relative error < 1e-6).

Shapes: m = 7 examples, n = 5 features, k = 3 hidden units (all different, so a transpose
mistake cannot hide), deep stacks (5 -> 4 -> 3).
"""
import itertools

import numpy as np
import pytest

from autoencoder_np import Autoencoder, check_gradients, gradient_check, relative_error

M, N, K = 7, 5, 3
TOL = 1e-6

DECODER_LOSS = [("sigmoid", "cross_entropy"), ("sigmoid", "squared_error"),
                ("linear", "squared_error"), ("tanh", "squared_error")]
ENCODERS = ["sigmoid", "tanh", "relu", "softplus", "linear"]
REGULARIZERS = {
    "none": {},
    "weight_decay": {"weight_decay": 0.3},
    "contractive": {"contraction": 0.7},
    "denoising_target": {},   # a corrupted input against a clean target (handled below)
    "sparsity": {"sparsity": 0.5, "sparsity_target": 0.1},
    "all": {"weight_decay": 0.1, "contraction": 0.2},
}


def data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((M, N))
    return X


def max_error(model, X, target=None):
    errors = check_gradients(model, X, target)
    assert set(errors) == set(model.params)
    return max(errors.values()), errors


# the KL sparsity penalty needs a sigmoid code layer (other encoders: a ValueError, tested elsewhere)
CONFIGS = [c for c in itertools.product(ENCODERS, DECODER_LOSS, [False, True], list(REGULARIZERS))
           if not (c[3] == "sparsity" and c[0] != "sigmoid")]


@pytest.mark.parametrize("encoder,dec_loss,tied,reg", CONFIGS,
    ids=lambda v: v if isinstance(v, str) else ("tied" if v is True else "untied" if v is False else "-".join(v)))
def test_gradient_of_every_configuration(encoder, dec_loss, tied, reg):
    decoder, loss = dec_loss
    model = Autoencoder(N, K, encoder=encoder, decoder=decoder, loss=loss, tied=tied, seed=3,
                        **REGULARIZERS[reg])
    X = data(1)
    target = None
    if reg == "denoising_target":
        target = X
        X = X * (np.random.default_rng(2).random(X.shape) > 0.3)   # masking noise, clean target
    if encoder == "relu":
        model.params["b"] += 0.05  # keep pre-activations away from the kink at 0
    err, errors = max_error(model, X, target)
    assert err < TOL, errors


@pytest.mark.parametrize("depth,tied", [("mirror", False), ("mirror", True), ("single", False)])
@pytest.mark.parametrize("encoder", ["sigmoid", "tanh"])
def test_gradient_of_deep_stacks(depth, tied, encoder):
    model = Autoencoder(N, (4, K), encoder=encoder, decoder="sigmoid", loss="cross_entropy", tied=tied,
                        decoder_depth=depth, seed=5, weight_decay=0.05,
                        sparsity=0.2 if encoder == "sigmoid" else 0.0)
    err, errors = max_error(model, data(2))
    assert err < TOL, errors


def test_float32_gradients_match_float64_ones():
    X = data(4)
    m64 = Autoencoder(N, K, seed=0)
    m32 = Autoencoder(N, K, seed=0, dtype=np.float32)
    _, g64 = m64.loss_and_grads(X)
    _, g32 = m32.loss_and_grads(X)
    for name in g64:
        assert g32[name].dtype == np.float32
        assert np.max(relative_error(g32[name], g64[name], floor=1e-3)) < 1e-4


def test_tied_gradient_is_sum_of_encoder_and_decoder_paths():
    X = data(5)
    tied = Autoencoder(N, K, encoder="tanh", decoder="linear", loss="squared_error", tied=True, seed=1)
    untied = Autoencoder(N, K, encoder="tanh", decoder="linear", loss="squared_error", seed=1)
    untied.set_params({"W": tied.params["W"], "b": tied.params["b"], "c": tied.params["c"],
                       "W_dec": tied.params["W"].T})
    _, gt = tied.loss_and_grads(X)
    _, gu = untied.loss_and_grads(X)
    np.testing.assert_allclose(gt["W"], gu["W"] + gu["W_dec"].T, rtol=1e-12, atol=1e-14)
    assert np.abs(gu["W"]).max() > 1e-3 and np.abs(gu["W_dec"]).max() > 1e-3  # both paths matter


def test_gradient_check_detects_a_wrong_gradient_and_prints_like_cs231n(capsys):
    X = data(6)
    model = Autoencoder(N, K, seed=0)
    _, grads = model.loss_and_grads(X)
    wrong = grads["W"].T.copy().reshape(grads["W"].shape)  # a transpose-shaped mistake
    err = gradient_check(lambda: model.loss(X), model.params["W"], wrong, num_checks=6, verbose=True, name="W")
    assert err > 1e-2
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 6 and all("numerical" in l and "analytic" in l and "relative error" in l for l in lines)
    W_before = model.params["W"].copy()
    assert gradient_check(lambda: model.loss(X), model.params["W"], grads["W"], num_checks=6) < TOL
    np.testing.assert_array_equal(model.params["W"], W_before)  # the check restores the variable


def test_gradient_check_rejects_shape_mismatch():
    x = np.zeros((3, 2))
    with pytest.raises(ValueError, match="shape"):
        gradient_check(lambda: 0.0, x, np.zeros((2, 3)))
