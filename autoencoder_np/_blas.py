"""BLAS thread control through threadpoolctl: read the thread count, or run a block single-threaded."""
from __future__ import annotations

import contextlib

_CACHED = None


def blas_controllers(fresh=False):
    """threadpoolctl's controllers of the loaded BLAS libraries.

    The lookup scans the process, so it is done once and cached; ``fresh=True`` scans again (for
    a library loaded since, such as SciPy's own OpenBLAS).
    """
    global _CACHED
    if _CACHED is None or fresh:
        try:
            from threadpoolctl import ThreadpoolController
            _CACHED = [c for c in ThreadpoolController().lib_controllers if c.user_api == "blas"]
        except Exception:  # pragma: no cover - threadpoolctl missing or a BLAS it cannot drive
            _CACHED = []
    return _CACHED


def blas_threads():
    """The number of threads NumPy's BLAS is set to use (1 if it cannot be read)."""
    counts = [c.num_threads for c in blas_controllers()]
    return max(counts) if counts else 1


@contextlib.contextmanager
def single_threaded(controllers=None):
    """Run the block with the given BLAS libraries (default: all) on one thread, then restore them."""
    controllers = blas_controllers() if controllers is None else list(controllers)
    saved = [c.num_threads for c in controllers]
    try:
        for c in controllers:
            c.set_num_threads(1)
        yield
    finally:
        for c, n in zip(controllers, saved):
            c.set_num_threads(n)
