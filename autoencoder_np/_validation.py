"""Checks at the API boundary: clear errors instead of shape errors deep inside NumPy."""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["as_data", "check_positive_int", "check_nonneg_float", "check_unit_interval"]


def as_data(X, n_features, dtype, name="X", allow_1d=False):
    """Validate and convert a data matrix.

    Parameters
    ----------
    X : array-like, (m, n) (or (n,) when ``allow_1d``)
    n_features : int or None
        Required number of columns ``n`` (None: any).
    dtype : numpy dtype
        The model's dtype; ``X`` is converted to it (parameters are never upcast).

    Returns
    -------
    X : (m, n) array of ``dtype`` (or (n,) when given 1-D and allowed)
    """
    if isinstance(X, (str, bytes)) or X is None:
        raise TypeError(f"{name} must be a numeric array of shape (m, {n_features or 'n'}); got {type(X).__name__}")
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be a numeric array of shape (m, {n_features or 'n'}): {exc}") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must hold numbers; got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"{name} must be real-valued; got dtype {arr.dtype}")
    ok_ndim = (1, 2) if allow_1d else (2,)
    if arr.ndim not in ok_ndim:
        want = f"(m, {n_features or 'n'})" + (f" or ({n_features or 'n'},)" if allow_1d else "")
        raise ValueError(f"{name} must have shape {want} (examples are rows); got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}); need at least one example")
    if n_features is not None and arr.shape[-1] != n_features:
        raise ValueError(
            f"{name} has {arr.shape[-1]} features (columns) but the model expects {n_features}; got shape {arr.shape}"
        )
    with np.errstate(over="ignore"):  # a value too large for the dtype becomes inf, reported just below
        arr = np.asarray(arr, dtype=dtype)
    # min and max propagate NaN and reach +-inf: a finiteness check without an (m, n) bool temporary
    if arr.dtype.kind == "f" and not (np.isfinite(arr.min()) and np.isfinite(arr.max())):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s) (as {np.dtype(dtype).name}); "
                         "clean the data first")
    return arr


def check_positive_int(value, name):
    """An int > 0 (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive integer; got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer; got {value}")
    return int(value)


def check_nonneg_float(value, name):
    """A finite real >= 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a non-negative number; got {value!r}")
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0; got {value}")
    return float(value)


def check_unit_interval(value, name, open_=True):
    """A real in (0, 1) (or [0, 1] when ``open_`` is False)."""
    value = check_nonneg_float(value, name)
    if (open_ and not 0 < value < 1) or (not open_ and value > 1):
        raise ValueError(f"{name} must be in {'(0, 1)' if open_ else '[0, 1]'}; got {value}")
    return value
