"""Gradient checking with centred finite differences, as CS231n prints it.

``relative_error(a, b) = |a - b| / max(|a| + |b|, floor)``: in float64 with ``h = 1e-5`` a
correct gradient gives about 1e-8 or less on entries that are not tiny. In float32 the finite
difference subtracts two nearly equal losses carrying ~7 significant digits, so the default step
is far too small (errors up to 1); with ``h`` near ``eps^(1/3)`` (about 5e-3) the best float32
can do is about 1e-3. Entries whose true gradient is tiny compared with the rest always show
larger relative errors: judge them by their absolute error, or compare whole arrays.
"""
from __future__ import annotations

import numpy as np

__all__ = ["relative_error", "numerical_gradient", "gradient_check", "check_gradients"]


def relative_error(a, b, floor=1e-12):
    """Elementwise ``|a - b| / max(|a| + |b|, floor)`` (0 where both are exactly 0)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), floor)


def numerical_gradient(f, x, h=1e-5, indices=None):
    """Centred differences ``(f(x + h e_i) - f(x - h e_i)) / 2h``.

    Parameters
    ----------
    f : callable
        ``f()`` -> float, reading ``x`` (which is perturbed in place and restored).
    x : array
        The variable, modified in place during the check and restored after.
    h : float
        Step.
    indices : list of index tuples or None
        Where to evaluate (default: every entry).

    Returns
    -------
    grad : array like ``x`` (all entries) or (len(indices),) array
    """
    if indices is None:
        indices = list(np.ndindex(x.shape))
        out = np.zeros(x.shape, dtype=np.float64)
        put = lambda i, v: out.__setitem__(i, v)  # noqa: E731
    else:
        out = np.zeros(len(indices), dtype=np.float64)
        positions = {tuple(i): j for j, i in enumerate(indices)}
        put = lambda i, v: out.__setitem__(positions[tuple(i)], v)  # noqa: E731
    for i in indices:
        old = x[i]
        x[i] = old + h
        fp = f()
        x[i] = old - h
        fm = f()
        x[i] = old
        put(i, (fp - fm) / (2 * h))
    return out


def gradient_check(f, x, analytic, *, h=1e-5, num_checks=None, seed=0, verbose=False, name="x"):
    """Compare an analytic gradient with centred finite differences.

    Parameters
    ----------
    f : callable
        ``f()`` -> float, evaluated at the current contents of ``x``.
    x : array
        The variable (perturbed in place, restored afterwards).
    analytic : array, shape of ``x``
        The gradient to check.
    h : float
        Finite-difference step.
    num_checks : int or None
        Sparse mode: check only this many random entries (fast for big matrices).
    seed : int
        Which entries the sparse mode picks.
    verbose : bool
        Print ``numerical``, ``analytic`` and ``relative error`` for each checked entry.

    Returns
    -------
    max_rel_error : float
    """
    analytic = np.asarray(analytic)
    if analytic.shape != x.shape:
        raise ValueError(f"analytic gradient has shape {analytic.shape} but the variable {name} has {x.shape}")
    if num_checks is None:
        indices = list(np.ndindex(x.shape))
    else:
        rng = np.random.default_rng(seed)
        flat = rng.choice(x.size, size=min(num_checks, x.size), replace=False)
        indices = [np.unravel_index(i, x.shape) for i in flat]
    num = numerical_gradient(f, x, h, indices)
    ana = np.array([analytic[i] for i in indices], dtype=np.float64)
    err = relative_error(num, ana)
    if verbose:
        for i, n_, a_, e_ in zip(indices, num, ana, err):
            print(f"{name}{tuple(int(j) for j in i)}: numerical {n_: .10e}  analytic {a_: .10e}  relative error {e_:.3e}")
    return float(err.max()) if err.size else 0.0


def check_gradients(model, X, target=None, *, h=1e-5, num_checks=None, seed=0, verbose=False):
    """Check every gradient of ``model.loss_and_grads`` against finite differences.

    Parameters
    ----------
    model : Autoencoder
    X : (m, n) array
    target : (m, n) array or None
    h, num_checks, seed, verbose
        As :func:`gradient_check`.

    Returns
    -------
    errors : dict of str -> float
        The largest relative error for each parameter.
    """
    _, grads = model.loss_and_grads(X, target)
    errors = {}
    for name, p in model.params.items():
        errors[name] = gradient_check(lambda: model.loss_and_grads(X, target)[0], p, grads[name], h=h,
                                      num_checks=num_checks, seed=seed, verbose=verbose, name=name)
    return errors
