"""Training loops: seeded minibatch optimisation and full-batch L-BFGS (through SciPy).

Both record a history: ``history["epoch"]`` (1, 2, ...), ``history["loss"]`` and one list per
callback. For minibatch optimizers ``loss[e]`` is the mean of the batch objectives seen during
epoch ``e`` (weighted by batch size; with denoising, on corrupted inputs). For L-BFGS an "epoch"
is one iteration and ``loss[e]`` is the full-batch objective after it.
"""
from __future__ import annotations

import sys

import numpy as np

from ._blas import blas_controllers, single_threaded
from ._validation import as_data, check_positive_int
from .fused import FusedStep, fused_supported
from .optimizers import OPTIMIZERS, make_optimizer
from .regularizers import corrupt

__all__ = ["fit", "fit_lbfgs"]


def _progress_bar(total, progress, desc):
    """A tqdm bar: ``progress=None`` shows it only on a terminal, True always, False never."""
    from tqdm import tqdm

    disable = (not sys.stderr.isatty()) if progress is None else (not progress)
    return tqdm(total=total, desc=desc, disable=disable, leave=False, unit="epoch")


def _check_callbacks(callbacks):
    if callbacks is None:
        return {}
    if not isinstance(callbacks, dict) or not all(callable(f) for f in callbacks.values()):
        raise TypeError("callbacks must be a dict {name: function(model) -> value}; each value is recorded "
                        "in history[name] after every epoch")
    reserved = {"epoch", "loss"} & set(callbacks)
    if reserved:
        raise ValueError(f"callback names {sorted(reserved)} clash with history keys; rename them")
    return callbacks


def fit(model, X, *, epochs, batch_size=None, lr=0.1, optimizer="sgd", target=None, seed=None,
        shuffle=True, callbacks=None, progress=None, **optimizer_options):
    """Train ``model`` on ``X``.

    Parameters
    ----------
    model : Autoencoder
    X : (m, n) array
        Training inputs.
    epochs : int
        Passes over the data (L-BFGS: maximum number of iterations).
    batch_size : int or None
        Minibatch size; None means the full batch. Ignored by L-BFGS (always full batch).
    lr : float
        Learning rate (not used by L-BFGS).
    optimizer : {"sgd", "momentum", "adam", "lbfgs"}
    target : (m, n) array or None
        Targets (default ``X``); row ``i`` of ``target`` goes with row ``i`` of ``X``.
    seed : int or None
        Seed of the shuffling and the corruption noise (default: the model's seed).
    shuffle : bool
        Visit the examples in a new random order each epoch.
    callbacks : dict of str -> callable or None
        ``{name: fn(model)}``; ``fn`` is called after every epoch and its value appended to
        ``history[name]``.
    progress : bool or None
        tqdm progress bar: None shows it on a terminal only, True always, False never.
    **optimizer_options
        Passed to the optimizer (``momentum=`` for "momentum"; ``beta1, beta2, eps`` for "adam";
        ``maxcor`` for "lbfgs").

    Returns
    -------
    history : dict of str -> list
    """
    epochs = check_positive_int(epochs, "epochs")
    X = as_data(X, model.n_visible, model.dtype)
    T = X if target is None else model._check_target(target, X.shape[0])
    callbacks = _check_callbacks(callbacks)
    rng = np.random.default_rng(model.seed if seed is None else seed)
    if optimizer == "lbfgs":
        return fit_lbfgs(model, X, T, maxiter=epochs, rng=rng, callbacks=callbacks, progress=progress,
                         **optimizer_options)
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; valid names are {list(OPTIMIZERS) + ['lbfgs']}")
    opt = make_optimizer(optimizer, lr, **optimizer_options)
    m = X.shape[0]
    batch_size = m if batch_size is None else min(check_positive_int(batch_size, "batch_size"), m)
    history = {"epoch": [], "loss": [], **{name: [] for name in callbacks}}
    # the fused step computes the same objective and update without allocations, on every core
    # that BLAS would use (see autoencoder_np.fused)
    fused = FusedStep(model) if fused_supported(model) else None
    with _progress_bar(epochs, progress, "training") as bar:
        for epoch in range(1, epochs + 1):
            order = rng.permutation(m) if shuffle else None
            total = 0.0
            for start in range(0, m, batch_size):
                # without shuffling a batch is a view (no copy); with it, a gather of its rows
                idx = slice(start, start + batch_size) if order is None else order[start:start + batch_size]
                Tb = T[idx]
                Xb = Tb if T is X else X[idx]
                if model.corruption is not None:
                    Xb = corrupt(Xb, model.corruption, model.corruption_level, rng)
                if fused is not None:
                    loss = fused.train_step(Xb, Tb, opt)
                else:
                    loss, grads = model._loss_and_grads(Xb, Tb)
                    opt.step(model.params, grads)
                model.apply_constraints()
                total += loss * len(Tb)
            history["epoch"].append(epoch)
            history["loss"].append(total / m)
            for name, fn in callbacks.items():
                history[name].append(fn(model))
            bar.set_postfix(loss=f"{total / m:.5g}")
            bar.update(1)
    return history


def _scipy_blas_single_threaded():
    """Run SciPy's own BLAS on one thread (NumPy's, which computes the gradients, is untouched).

    L-BFGS-B calls BLAS on vectors of the parameters' length many times per iteration; with
    OpenBLAS threads each call pays a thread wake-up that dwarfs the arithmetic (measured here:
    300 iterations on 252 parameters took 8 s with 2 threads and 0.14 s with 1).
    """
    return single_threaded([c for c in blas_controllers(fresh=True)
                            if "scipy.libs" in c.filepath or "scipy/.libs" in c.filepath])


def fit_lbfgs(model, X, T, *, maxiter, rng=None, callbacks=None, progress=None, maxcor=20):
    """Full-batch L-BFGS (``scipy.optimize.minimize(method="L-BFGS-B")``) on the model's own gradient.

    The stopping tolerances are switched off (``ftol = gtol = 0``): on the lecture's normalised data
    the loss and the gradients are tiny, and SciPy's defaults would stop long before convergence.
    It stops after ``maxiter`` iterations or when the line search can make no more progress (SciPy
    then says "ABNORMAL_TERMINATION_IN_LNSRCH" or "REL_REDUCTION_OF_F <= FACTR*EPSMCH": at machine
    precision, that is the expected end, not a failure). Convergence can still be slow on data
    scaled down by ``1/sqrt(m)``: the biases' curvature does not shrink with the data while the
    weights' does, which makes the problem ill-conditioned; centred (unscaled) data trains faster
    and has the same minimisers. With
    a denoising model, the inputs are corrupted once (a fixed noisy copy), since L-BFGS needs a
    deterministic objective. The weight-length constraint is not supported here (a projection
    after each step would break the quasi-Newton updates).

    Parameters
    ----------
    model : Autoencoder
    X, T : (m, n) arrays
        Validated inputs and targets.
    maxiter : int
    rng : numpy.random.Generator
    callbacks : dict
    progress : bool or None
    maxcor : int
        Number of stored correction pairs.

    Returns
    -------
    history : dict
        As :func:`fit`, plus ``"message"``: SciPy's reason for stopping.
    """
    from scipy.optimize import minimize

    if model.weight_length is not None:
        raise ValueError("optimizer='lbfgs' does not support weight_length; use 'sgd', 'momentum' or 'adam'")
    callbacks = callbacks or {}
    if model.corruption is not None:
        X = corrupt(X, model.corruption, model.corruption_level, rng)
    names = list(model.params)
    shapes = [model.params[n].shape for n in names]
    sizes = [int(np.prod(s)) for s in shapes]

    def unpack(theta):
        out, start = {}, 0
        for name, shape, size in zip(names, shapes, sizes):
            out[name] = theta[start:start + size].reshape(shape)
            start += size
        return out

    loss_and_grads = FusedStep(model) if fused_supported(model) else model._loss_and_grads

    def objective(theta):
        model.set_params(unpack(theta))
        loss, grads = loss_and_grads(X, T)
        return loss, np.concatenate([grads[n].ravel() for n in names]).astype(np.float64)

    history = {"epoch": [], "loss": [], **{name: [] for name in callbacks}}
    with _progress_bar(maxiter, progress, "L-BFGS") as bar:
        def record(intermediate_result):
            model.set_params(unpack(intermediate_result.x))
            history["epoch"].append(len(history["epoch"]) + 1)
            history["loss"].append(float(intermediate_result.fun))
            for name, fn in callbacks.items():
                history[name].append(fn(model))
            bar.update(1)

        theta0 = np.concatenate([model.params[n].ravel() for n in names]).astype(np.float64)
        with _scipy_blas_single_threaded():
            result = minimize(objective, theta0, jac=True, method="L-BFGS-B", callback=record,
                              options={"maxiter": maxiter, "maxfun": 20 * maxiter + 100, "ftol": 0.0,
                                       "gtol": 0.0, "maxcor": maxcor})
    model.set_params(unpack(result.x))
    history["message"] = str(result.message)
    return history
