"""The helpers the problem sets' tests use, in one place (the tests call them by name).

The tests run in the grader's process (:mod:`.verdict`), where each function a student writes is
a :class:`StudentFunction`: calling it calls the student's function in their kernel and returns
its value as plain data. The same helpers work on ordinary functions too (an instructor running
the reference notebook). They compare plain Python floats, never through NumPy's comparisons.
"""
from __future__ import annotations

import contextvars
import inspect
import textwrap
import warnings

import numpy as np

from .codec import KernelCode

#: Inside ``_call(..., stable=True)``: a student's function must not overflow, divide by zero or
#: produce an invalid value (FloatingPointError), nor warn.
STABLE = contextvars.ContextVar("aegrade_stable", default=False)

__all__ = ["StudentFunction", "_array", "_call", "_close", "_flat", "_scalar", "in_kernel"]


class StudentFunction:
    """Stands, in the grader's process, for the function ``name`` of the student's notebook.

    Calling it calls the student's function in their kernel (``kernel.call``) on copies of the
    arguments, and writes the arguments' state after the call back into the grader's arrays, so a
    test that checks an input was left unmodified checks what the student's code did.
    """

    def __init__(self, name: str, kernel):
        self.__name__ = name
        self._kernel = kernel

    def __repr__(self) -> str:
        return f"<the student's {self.__name__}>"

    def __call__(self, *args, **kwargs):
        stable = STABLE.get()
        try:
            value, args_after, kwargs_after = self._kernel.call(self.__name__, args, kwargs, stable=stable)
        except (FloatingPointError, RuntimeWarning) as err:
            if stable:
                raise AssertionError(f"{self.__name__} is not numerically stable: {err}") from None
            raise
        for before, after in zip(args, args_after):
            _write_back(before, after)
        for key, before in kwargs.items():
            _write_back(before, kwargs_after.get(key))
        return value


def _write_back(before, after) -> None:
    """Copy the kernel's post-call state of one argument into the grader's object."""
    if isinstance(before, np.ndarray):
        if isinstance(after, np.ndarray) and after.shape == before.shape and before.flags.writeable:
            before[...] = after.astype(before.dtype, copy=False)
    elif isinstance(before, dict) and isinstance(after, dict):
        for key in before:
            _write_back(before[key], after.get(key))
    elif isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for i, (b, a) in enumerate(zip(before, after)):
            if isinstance(b, (np.ndarray, dict, list)):
                _write_back(b, a)
            else:
                before[i] = a


def _call(f, *args, stable=False):
    """f(*args) with warnings kept off stderr; stable=True turns any overflow, division by zero
    or invalid operation inside f (or inside the student's functions f calls) into a failed test."""
    token = STABLE.set(bool(stable))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error" if stable else "ignore")
            with np.errstate(all="raise" if stable else "ignore", under="ignore"):
                try:
                    return f(*args)
                except (FloatingPointError, RuntimeWarning) as err:
                    name = getattr(f, "__name__", "the function")
                    raise AssertionError(f"{name} is not numerically stable: {err}") from None
    finally:
        STABLE.reset(token)


def _flat(v):
    return [x for u in v for x in _flat(u)] if type(v) is list else [v]


def _close(got, want, rtol=1e-9, atol=0.0):
    """Entrywise |got - want| <= rtol * max|want| + atol; got must hold Python floats."""
    g, w = _flat(got), _flat(want)
    tol = rtol * max(abs(x) for x in w) + atol
    return len(g) == len(w) and all(type(a) is float and abs(a - b) <= tol for a, b in zip(g, w))


def _array(a, shape):
    """a must be a float64 ndarray of this shape; returns it as nested Python lists."""
    assert type(a) is np.ndarray, f"expected a numpy array, got {type(a).__name__}"
    assert a.shape == shape, f"expected shape {shape}, got {a.shape}"
    assert str(a.dtype) == "float64", f"expected dtype float64, got {a.dtype}"
    return a.tolist()


def _scalar(v):
    assert type(v) in (float, np.float64), f"expected a float, got {type(v).__name__}"
    return float(v)


def in_kernel(fn):
    """Send the test's function ``fn`` into the student's kernel as source, to be called there
    (for a given such as the loss a training loop calls thousands of times; the grader's own
    functions are otherwise called back, one round trip per call). Outside grading (an
    instructor running the reference notebook) it is ``fn`` itself."""
    if not _GRADING.get():
        return fn
    return KernelCode(textwrap.dedent(inspect.getsource(fn)), fn.__name__)


#: True while tests run in the grader's process (set by :mod:`.verdict`).
_GRADING = contextvars.ContextVar("aegrade_grading", default=False)
