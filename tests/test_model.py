"""The Autoencoder's API: shapes, dtypes, training, constraints, and clear errors for bad input."""
import threading
import warnings

import numpy as np
import pytest

from autoencoder_np import Autoencoder, corrupt

M, N, K = 9, 6, 4


@pytest.fixture
def X():
    return np.random.default_rng(0).random((M, N))


def test_param_shapes_follow_the_row_notation():
    m = Autoencoder(N, K, seed=0)
    assert {k: v.shape for k, v in m.params.items()} == {"W": (N, K), "b": (K,), "W_dec": (K, N), "c": (N,)}
    t = Autoencoder(N, K, tied=True, seed=0)
    assert list(t.params) == ["W", "b", "c"] and t.W_dec.shape == (K, N)
    d = Autoencoder(N, (5, K), seed=0)
    assert {k: v.shape for k, v in d.params.items()} == {
        "W1": (N, 5), "b1": (5,), "W2": (5, K), "b2": (K,), "W_dec2": (K, 5), "c2": (5,), "W_dec1": (5, N), "c1": (N,)}
    s = Autoencoder(N, (5, K), decoder_depth="single", seed=0)
    assert s.params["W_dec"].shape == (K, N)


def test_forward_shapes_single_and_batch(X):
    m = Autoencoder(N, K, seed=0)
    assert m.encode(X).shape == (M, K) and m.encode(X[0]).shape == (K,)
    assert m.decode(m.encode(X)).shape == (M, N)
    assert m.reconstruct(X).shape == (M, N) and m.reconstruct(X[0]).shape == (N,)
    np.testing.assert_allclose(m.reconstruct(X[0]), m.reconstruct(X)[0])
    np.testing.assert_allclose(m.vector_field(X), m.reconstruct(X) - X)


def test_forward_matches_the_formula(X):
    m = Autoencoder(N, K, encoder="tanh", decoder="sigmoid", seed=1)
    p = m.params
    H = np.tanh(X @ p["W"] + p["b"])
    Xhat = 1 / (1 + np.exp(-(H @ p["W_dec"] + p["c"])))
    np.testing.assert_allclose(m.reconstruct(X), Xhat, rtol=1e-13)
    loss = -np.mean(np.sum(X * np.log(Xhat) + (1 - X) * np.log(1 - Xhat), axis=1))
    assert m.loss(X) == pytest.approx(loss, rel=1e-12)


def test_golden_loss_at_fixed_seed(X):
    # regression value: Glorot-uniform init from default_rng(0), zero biases
    m = Autoencoder(N, K, seed=0)
    rng = np.random.default_rng(0)
    r1, r2 = np.sqrt(6 / (N + K)), np.sqrt(6 / (K + N))
    W = rng.uniform(-r1, r1, (N, K))
    W_dec = rng.uniform(-r2, r2, (K, N))
    np.testing.assert_array_equal(m.params["W"], W)
    np.testing.assert_array_equal(m.params["W_dec"], W_dec)
    # the loss at these weights (sigmoid/sigmoid, cross-entropy), pinned: a changed reduction,
    # initialisation order or loss formula moves it
    assert m.loss(X) == pytest.approx(4.23274288180454, rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("optimizer,lr", [("sgd", 0.5), ("momentum", 0.2), ("adam", 0.02)])
def test_fit_reduces_the_loss_and_keeps_dtype(dtype, optimizer, lr):
    rng = np.random.default_rng(1)
    X = (rng.random((60, N)) < 0.3).astype(np.float64)
    m = Autoencoder(N, K, dtype=dtype, seed=0)
    before = m.loss(X)
    hist = m.fit(X, epochs=30, batch_size=16, lr=lr, optimizer=optimizer, progress=False,
                 callbacks={"W_norm": lambda mm: float(np.linalg.norm(mm.params["W"]))})
    assert hist["epoch"] == list(range(1, 31)) and len(hist["loss"]) == 30 and len(hist["W_norm"]) == 30
    assert m.loss(X) < 0.9 * before
    assert all(p.dtype == dtype for p in m.params.values())


def test_fit_is_reproducible_with_a_seed(X):
    a, b = Autoencoder(N, K, seed=3), Autoencoder(N, K, seed=3)
    ha = a.fit(X, epochs=3, batch_size=4, lr=0.1, progress=False)
    hb = b.fit(X, epochs=3, batch_size=4, lr=0.1, progress=False)
    assert ha["loss"] == hb["loss"]
    c = Autoencoder(N, K, seed=3)
    hc = c.fit(X, epochs=3, batch_size=4, lr=0.1, progress=False, seed=99)
    assert hc["loss"] != ha["loss"]


def test_lbfgs_fits_a_target_vector_field():
    rng = np.random.default_rng(2)
    X = rng.uniform(-1, 1, (200, 2))
    F = X @ np.array([[-1.0, -1.0], [1.0, -1.0]])  # (-x + y, -x - y) in rows
    m = Autoencoder(2, 50, encoder="tanh", decoder="linear", loss="squared_error", seed=0)
    hist = m.fit(X, epochs=300, optimizer="lbfgs", target=X + F, progress=False)
    assert hist["loss"][-1] < 1e-4 * hist["loss"][0]   # measured: 5.6e-6 of the first loss
    assert "message" in hist


def test_lbfgs_keeps_going_on_tiny_losses():
    # the lecture's normalised data: losses ~1e-3; SciPy's default tolerances would stop early
    rng = np.random.default_rng(3)
    X = rng.standard_normal((400, N)) @ rng.standard_normal((N, N))
    X = (X - X.mean(0)) / np.sqrt(len(X)) * 1e-2
    m = Autoencoder(N, 2, encoder="linear", decoder="linear", loss="squared_error", seed=0)
    hist = m.fit(X, epochs=300, optimizer="lbfgs", progress=False)
    assert len(hist["loss"]) == 300, hist["message"]  # ran every iteration it was given
    s = np.linalg.svd(X, compute_uv=False)
    best = np.sum(s[2:] ** 2) / len(X)
    assert hist["loss"][-1] == pytest.approx(best, rel=1e-2)


def test_weight_length_constraint_holds_after_training(X):
    m = Autoencoder(N, K, weight_length=0.3, seed=0)
    np.testing.assert_allclose(np.sum(m.params["W"] ** 2, axis=0), 0.3)
    m.fit(X, epochs=5, batch_size=3, lr=0.5, progress=False)
    np.testing.assert_allclose(np.sum(m.params["W"] ** 2, axis=0), 0.3, rtol=1e-12)


def test_denoising_fit_corrupts_inputs_but_not_targets(X, monkeypatch):
    import autoencoder_np.training

    monkeypatch.setattr(autoencoder_np.training, "fused_supported", lambda model: False)
    seen = []
    m = Autoencoder(N, K, corruption="mask", corruption_level=0.5, seed=0)
    original = m._loss_and_grads
    m._loss_and_grads = lambda Xb, Tb: (seen.append((Xb.copy(), Tb.copy())), original(Xb, Tb))[1]
    m.fit(X, epochs=1, batch_size=M, lr=0.1, shuffle=False, progress=False)
    Xb, Tb = seen[0]
    np.testing.assert_array_equal(Tb, X)
    assert np.any(Xb == 0) and np.all((Xb == 0) | (Xb == X))


def test_corrupt_kinds_and_levels():
    X = np.full((200, 50), 0.5)
    masked = corrupt(X, "mask", 0.3, rng=0)
    assert abs(np.mean(masked == 0) - 0.3) < 0.03 and np.all(X == 0.5)
    noisy = corrupt(X, "gaussian", 0.1, rng=0)
    assert abs(np.std(noisy - X) - 0.1) < 0.005
    sp = corrupt(X, "salt_and_pepper", 0.2, rng=0)
    assert abs(np.mean(sp != 0.5) - 0.2) < 0.03 and set(np.unique(sp)) == {0.0, 0.5, 1.0}


def test_float32_model_is_never_upcast(X):
    m = Autoencoder(N, K, dtype=np.float32, seed=0)
    assert m.reconstruct(X).dtype == np.float32
    loss, grads = m.loss_and_grads(X)
    assert isinstance(loss, float) and all(g.dtype == np.float32 for g in grads.values())
    assert m.jacobian(X).dtype == np.float32


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("kwargs,exc,match", [
    ({"encoder": "sigmod"}, ValueError, r"valid names are \['sigmoid', 'tanh', 'relu', 'softplus', 'linear'\]"),
    ({"decoder": "relu"}, ValueError, "valid names"),
    ({"loss": "mse"}, ValueError, r"valid names are \['squared_error', 'cross_entropy'\]"),
    ({"loss": "cross_entropy", "decoder": "linear"}, ValueError, "needs decoder='sigmoid'"),
    ({"dtype": np.int32}, TypeError, "float32 or numpy.float64"),
    ({"sparsity": 1.0, "encoder": "relu"}, ValueError, "sigmoid"),
    ({"corruption": "salt"}, ValueError, "valid kinds"),
    ({"corruption": "mask", "corruption_level": 1.5}, ValueError, "probability"),
    ({"weight_decay": -1.0}, ValueError, ">= 0"),
    ({"sparsity_target": 1.0}, ValueError, r"\(0, 1\)"),
    ({"weight_length": 0.0}, ValueError, "> 0"),
    ({"decoder_depth": "deep"}, ValueError, "mirror"),
])
def test_bad_constructor_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        Autoencoder(N, K, **kwargs)


@pytest.mark.parametrize("n_visible,n_hidden,exc", [
    (0, K, ValueError), (N, 0, ValueError), (N, -3, ValueError), (N, (4, 0), ValueError),
    (2.5, K, TypeError), (N, "4", TypeError), (True, K, TypeError), (N, (), ValueError)])
def test_bad_sizes(n_visible, n_hidden, exc):
    with pytest.raises(exc):
        Autoencoder(n_visible, n_hidden)


def test_bad_structural_combinations():
    with pytest.raises(ValueError, match="mirror"):
        Autoencoder(N, (5, K), tied=True, decoder_depth="single")
    with pytest.raises(ValueError, match="one encoder layer"):
        Autoencoder(N, (5, K), contraction=0.1)


@pytest.mark.parametrize("bad,exc,match", [
    (np.zeros((M, N + 1)), ValueError, f"expects {N}"),
    (np.zeros((M, N, 1)), ValueError, "shape"),
    (np.zeros((0, N)), ValueError, "empty"),
    (np.full((M, N), np.nan), ValueError, "NaN"),
    (np.array([[np.inf] * N]), ValueError, "NaN or infinite"),
    ("abc", TypeError, "numeric array"),
    (np.array([["a"] * N]), TypeError, "numbers"),
    (np.zeros((M, N), dtype=complex), TypeError, "real"),
])
def test_bad_data_is_rejected_at_the_boundary(bad, exc, match):
    m = Autoencoder(N, K, seed=0)
    with pytest.raises(exc, match=match):
        m.loss_and_grads(bad)
    with pytest.raises(exc):
        m.fit(bad, epochs=1, progress=False)


def test_one_dimensional_input_is_refused_where_a_batch_is_needed():
    m = Autoencoder(N, K, seed=0)
    with pytest.raises(ValueError, match=r"shape \(m, 6\)"):
        m.loss_and_grads(np.zeros(N))


def test_cross_entropy_targets_outside_unit_interval(X):
    m = Autoencoder(N, K, seed=0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        m.loss_and_grads(X * 2)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        m.fit(X, target=X - 1, epochs=1, progress=False)
    se = Autoencoder(N, K, decoder="linear", loss="squared_error", seed=0)
    se.loss_and_grads(X * 2)  # fine for squared error


def test_target_shape_mismatch(X):
    m = Autoencoder(N, K, seed=0)
    with pytest.raises(ValueError, match="rows"):
        m.loss_and_grads(X, target=X[:-1])


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"epochs": 0}, ValueError, "epochs"), ({"epochs": 2.0}, TypeError, "epochs"),
    ({"epochs": 1, "batch_size": 0}, ValueError, "batch_size"),
    ({"epochs": 1, "lr": -0.1}, ValueError, "lr"), ({"epochs": 1, "lr": float("nan")}, ValueError, "lr"),
    ({"epochs": 1, "optimizer": "rmsprop"}, ValueError, "valid names"),
    ({"epochs": 1, "callbacks": [print]}, TypeError, "dict"),
    ({"epochs": 1, "callbacks": {"loss": len}}, ValueError, "clash"),
])
def test_bad_fit_arguments(X, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        Autoencoder(N, K, seed=0).fit(X, progress=False, **kwargs)


def test_divergence_is_reported_not_returned_as_nan(X):
    m = Autoencoder(N, K, decoder="linear", loss="squared_error", seed=0)
    with np.errstate(over="ignore", invalid="ignore"):
        with pytest.raises(FloatingPointError, match="learning rate"):
            m.fit(X * 100, epochs=50, lr=1e6, progress=False)


def test_energy_of_an_untied_model_is_a_clear_error(X):
    with pytest.raises(ValueError, match="untied"):
        Autoencoder(N, K, decoder="linear", loss="squared_error").energy(X)
    with pytest.raises(ValueError, match="decoder is 'sigmoid'"):
        Autoencoder(N, K, tied=True).energy(X)
    with pytest.raises(ValueError, match="antiderivative"):
        Autoencoder(N, K, encoder="softplus", decoder="linear", loss="squared_error", tied=True).energy(X)


def test_set_params_checks_names_and_shapes():
    m = Autoencoder(N, K, seed=0)
    with pytest.raises(KeyError, match="W_dec"):
        m.set_params({"V": np.zeros((N, K))})
    with pytest.raises(ValueError, match="shape"):
        m.set_params({"W": np.zeros((K, N))})


# ---------------------------------------------------------------------------- fused training step
FUSED_CASES = [(enc, dec, loss, tied, wd)
               for enc in ["sigmoid", "tanh", "relu", "linear"]
               for dec, loss in [("sigmoid", "cross_entropy"), ("sigmoid", "squared_error"),
                                 ("linear", "squared_error"), ("tanh", "squared_error")]
               for tied in [False, True] for wd in [0.0, 0.1]]


@pytest.mark.parametrize("encoder,decoder,loss,tied,wd", FUSED_CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fused_step_equals_the_general_path(encoder, decoder, loss, tied, wd, dtype):
    from autoencoder_np.fused import FusedStep, fused_supported

    model = Autoencoder(N, K, encoder=encoder, decoder=decoder, loss=loss, tied=tied, weight_decay=wd,
                        dtype=dtype, seed=1)
    assert fused_supported(model)
    rng = np.random.default_rng(2)
    X = rng.random((M, N)).astype(dtype)
    T = rng.random((M, N)).astype(dtype)
    step = FusedStep(model)
    for _ in range(2):  # twice: reused buffers must not leak state between calls
        loss_f, grads_f = step(X, T)
        grads_f = {k: v.copy() for k, v in grads_f.items()}
    loss_g, grads_g = model._loss_and_grads(X, T)
    rtol = 1e-12 if dtype == np.float64 else 1e-4
    assert loss_f == pytest.approx(loss_g, rel=rtol)
    for name in grads_g:
        assert grads_f[name].dtype == dtype
        np.testing.assert_allclose(grads_f[name], grads_g[name], rtol=rtol, atol=rtol * 1e-2)


def test_fused_step_is_exact_at_saturated_logits():
    from autoencoder_np.fused import FusedStep

    model = Autoencoder(3, 2, seed=0)
    model.set_params({"W_dec": np.zeros((2, 3)), "c": np.array([1e4, -1e4, 40.0])})
    X = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        loss, grads = FusedStep(model)(X, X)
    assert loss == pytest.approx(model.loss(X), rel=1e-12)
    assert all(np.all(np.isfinite(g)) for g in grads.values())


def test_fit_uses_the_fused_step_and_matches_the_general_path(monkeypatch):
    import autoencoder_np.training
    from autoencoder_np.fused import FusedStep

    steps = []

    class CountingFusedStep(FusedStep):
        def train_step(self, *args, **kwargs):
            steps.append(len(args[0]))
            return super().train_step(*args, **kwargs)

    rng = np.random.default_rng(3)
    X = (rng.random((40, N)) < 0.4).astype(float)
    fast = Autoencoder(N, K, seed=0)
    slow = Autoencoder(N, K, seed=0)
    monkeypatch.setattr(autoencoder_np.training, "FusedStep", CountingFusedStep)
    hf = fast.fit(X, epochs=3, batch_size=8, lr=0.3, progress=False)
    assert steps == [8] * 15          # every minibatch of every epoch went through the fused step
    monkeypatch.setattr(autoencoder_np.training, "fused_supported", lambda model: False)
    hs = slow.fit(X, epochs=3, batch_size=8, lr=0.3, progress=False)
    assert len(steps) == 15           # ... and none of the general path's
    np.testing.assert_allclose(hf["loss"], hs["loss"], rtol=1e-10)
    for name in fast.params:
        np.testing.assert_allclose(fast.params[name], slow.params[name], rtol=1e-10, atol=1e-12)


def test_a_subclass_with_its_own_objective_is_not_fused():
    from autoencoder_np.fused import fused_supported

    class Penalised(Autoencoder):
        def _loss_and_grads(self, X, T):
            loss, grads = super()._loss_and_grads(X, T)
            return loss + float(np.sum(self.params["c"] ** 2)), {**grads, "c": grads["c"] + 2 * self.params["c"]}

    model = Penalised(N, K, decoder="linear", loss="squared_error", seed=0)
    assert not fused_supported(model)
    X = np.random.default_rng(0).random((M, N))
    plain = Autoencoder(N, K, decoder="linear", loss="squared_error", seed=0)
    model.fit(X, epochs=200, optimizer="lbfgs", progress=False)
    plain.fit(X, epochs=200, optimizer="lbfgs", progress=False)
    # L-BFGS minimised the subclass's objective: its penalty pulled c in
    assert np.linalg.norm(model.params["c"]) < 0.8 * np.linalg.norm(plain.params["c"])


# ---------------------------------------------------------------------------- the step split between threads
@pytest.fixture
def tiny_shares(monkeypatch):
    """Let the fused step split even these small batches (9 rows) between its workers."""
    import autoencoder_np.fused

    monkeypatch.setattr(autoencoder_np.fused, "MIN_ROWS_PER_WORKER", 2)


@pytest.mark.parametrize("encoder,decoder,loss,tied,wd", FUSED_CASES)
@pytest.mark.parametrize("workers", [2, 3])
def test_fused_step_split_between_workers_equals_the_general_path(tiny_shares, encoder, decoder, loss, tied, wd,
                                                                   workers):
    from autoencoder_np.fused import FusedStep

    model = Autoencoder(N, K, encoder=encoder, decoder=decoder, loss=loss, tied=tied, weight_decay=wd, seed=1)
    rng = np.random.default_rng(2)
    X, T = rng.random((M, N)), rng.random((M, N))
    step = FusedStep(model, workers=workers)
    assert step._plan(M)["workers"] == workers   # really split: 9 rows, 6 visible and 4 hidden units
    loss_f, grads_f = step(X, T)
    loss_g, grads_g = model._loss_and_grads(X, T)
    assert loss_f == pytest.approx(loss_g, rel=1e-12)
    for name in grads_g:
        np.testing.assert_allclose(grads_f[name], grads_g[name], rtol=1e-11, atol=1e-14)


@pytest.mark.parametrize("optimizer,options", [("sgd", {}), ("momentum", {"momentum": 0.8}), ("adam", {})])
@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("workers", [1, 3])
def test_train_step_updates_like_the_optimizer_after_the_general_gradient(tiny_shares, optimizer, options, tied,
                                                                         workers):
    from autoencoder_np.fused import FusedStep
    from autoencoder_np.optimizers import make_optimizer

    rng = np.random.default_rng(4)
    X = rng.random((M, N))
    fused_model = Autoencoder(N, K, tied=tied, weight_decay=0.01, seed=3)
    plain_model = fused_model.copy()
    fused_opt, plain_opt = make_optimizer(optimizer, 0.3, **options), make_optimizer(optimizer, 0.3, **options)
    step = FusedStep(fused_model, workers=workers)
    for _ in range(4):   # several steps: the optimizers' state (velocity, moments, step count) must match
        loss_f = step.train_step(X, X, fused_opt)
        loss_p, grads = plain_model._loss_and_grads(X, X)
        plain_opt.step(plain_model.params, grads)
        assert loss_f == pytest.approx(loss_p, rel=1e-12)
    for name in plain_model.params:
        np.testing.assert_allclose(fused_model.params[name], plain_model.params[name], rtol=1e-11, atol=1e-14)


def test_fused_step_leaves_the_blas_thread_count_as_it_found_it(tiny_shares):
    from autoencoder_np.fused import FusedStep, blas_threads

    before = blas_threads()
    model = Autoencoder(N, K, seed=0)
    X = np.random.default_rng(0).random((M, N))
    FusedStep(model, workers=2)(X, X)
    assert blas_threads() == before


@pytest.mark.parametrize("workers", [0, -1, 1.5, "2", True])
def test_fused_step_refuses_a_bad_worker_count(workers):
    from autoencoder_np.fused import FusedStep

    with pytest.raises(ValueError, match="workers must be a positive integer"):
        FusedStep(Autoencoder(N, K, seed=0), workers=workers)


def test_float32_cross_entropy_keeps_its_precision_when_every_logit_is_confident():
    """log1p(e) for tiny e: log(1 + e) alone would round to 0 and report a loss far too small."""
    from autoencoder_np.fused import FusedStep

    model = Autoencoder(N, K, dtype=np.float32, seed=0)
    X = (np.random.default_rng(5).random((M, N)) < 0.5).astype(np.float32)
    c = np.where(X.mean(axis=0) > 0.5, 20.0, -20.0)   # logits of +-20 (e ~ 2e-9 < float32 epsilon)
    X = np.tile((c > 0).astype(np.float32), (M, 1))
    model.set_params({"W_dec": np.zeros((K, N), np.float32), "c": c.astype(np.float32)})
    loss, _ = FusedStep(model)(X, X)
    exact = N * np.log1p(np.exp(-20.0))               # every element: log1p(exp(-20))
    assert loss == pytest.approx(exact, rel=1e-5)


def test_fused_step_is_exact_and_silent_at_saturated_encoder_inputs():
    """Pre-activations of +-1e4: exp(-a) overflows to inf by design, the sigmoid is then 0, with no warning."""
    from autoencoder_np.fused import FusedStep

    for dtype in (np.float32, np.float64):
        model = Autoencoder(N, K, dtype=dtype, seed=0)
        model.set_params({"W": np.zeros((N, K), dtype), "b": np.array([1e4, -1e4, 100.0, -100.0], dtype)})
        X = np.random.default_rng(0).random((M, N)).astype(dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            loss, grads = FusedStep(model)(X, X)
        np.testing.assert_array_equal(model.encode(X)[:, :2], np.tile([1.0, 0.0], (M, 1)))
        loss_g, grads_g = model._loss_and_grads(X, X)
        assert loss == pytest.approx(loss_g, rel=1e-6 if dtype == np.float32 else 1e-12)
        for name in grads_g:
            np.testing.assert_allclose(grads[name], grads_g[name], rtol=1e-4 if dtype == np.float32 else 1e-11,
                                       atol=1e-7 if dtype == np.float32 else 1e-15)


def test_fused_step_still_works_when_no_thread_can_be_started(tiny_shares, monkeypatch):
    from autoencoder_np.fused import FusedStep

    model = Autoencoder(N, K, seed=1)
    X = np.random.default_rng(2).random((M, N))
    step = FusedStep(model, workers=3)

    def refuse(*args, **kwargs):
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refuse)   # the helpers start at the first step
    loss_f, grads_f = step(X, X)
    assert step._helpers._threads == []
    loss_g, grads_g = model._loss_and_grads(X, X)
    assert loss_f == pytest.approx(loss_g, rel=1e-12)
    for name in grads_g:
        np.testing.assert_allclose(grads_f[name], grads_g[name], rtol=1e-11, atol=1e-14)


def test_default_worker_count_follows_blas_and_is_capped(monkeypatch):
    import autoencoder_np.fused as fused

    model = Autoencoder(N, K, seed=0)
    for blas, expected in [(1, 1), (2, 2), (16, fused.MAX_DEFAULT_WORKERS)]:
        monkeypatch.setattr(fused, "blas_threads", lambda: blas)
        assert fused.FusedStep(model).max_workers == expected
    # a batch too small to share is not split, whatever the worker count
    assert fused.FusedStep(model, workers=4)._plan(2 * fused.MIN_ROWS_PER_WORKER - 1)["workers"] == 1


@pytest.mark.parametrize("size", [1, 2, 3, 31, 32, 33, 1000, 50177])
def test_sum_of_logs_as_logs_of_products_matches_the_direct_sum(size):
    from autoencoder_np.fused import _sum_log_

    rng = np.random.default_rng(size)
    for dtype in (np.float32, np.float64):
        U = (1 + rng.random(size) ** 3).astype(dtype)        # values in [1, 2], many near 1
        exact = float(np.log(U.astype(np.float64)).sum())
        # each product rounds once: at most about one rounding unit of 1 per element, in total
        assert abs(_sum_log_(U.copy().reshape(1, -1)) - exact) <= size * np.finfo(dtype).eps
    assert _sum_log_(np.ones((3, size), np.float32)) == 0.0
    assert _sum_log_(np.full((1, size), 2.0, np.float32)) == pytest.approx(size * np.log(2.0), rel=1e-6)
