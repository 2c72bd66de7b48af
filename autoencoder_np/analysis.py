"""Analysis tools for the conservativeness lectures: symmetricity, curl, circulation.

A vector field ``v(x) = r(x) - x`` is conservative (the gradient of an energy) on a simply
connected domain exactly when its Jacobian is symmetric everywhere; in 2-D that is a zero curl,
and every closed-loop line integral (circulation) vanishes.
"""
from __future__ import annotations

import numpy as np

__all__ = ["symmetricity", "asymmetry_share", "curl_2d", "circulation", "grid_2d"]


def _square_matrices(A, name="A"):
    A = np.asarray(A, dtype=np.float64)
    if A.ndim not in (2, 3) or A.shape[-1] != A.shape[-2]:
        raise ValueError(f"{name} must be a square matrix (n, n) or a stack of them (m, n, n); got shape {A.shape}")
    if not np.isfinite(A).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return A


def symmetricity(A):
    """``sym(A) = ||(A + A^T)/2||_F^2 / ||A||_F^2``: 1 for symmetric, 0 for antisymmetric.

    The measure of Im, Belghazi and Memisevic (2016). Since ``||A||^2 = ||sym part||^2 +
    ||antisym part||^2``, it lies in [0, 1]. A zero matrix (say, the Jacobian of a ReLU model
    at a point where every unit is off) is symmetric, so its symmetricity is defined as 1.

    Parameters
    ----------
    A : (n, n) array or (m, n, n) array

    Returns
    -------
    s : float, or (m,) array for a stack
    """
    A = _square_matrices(A)
    S = 0.5 * (A + np.swapaxes(A, -1, -2))
    num = np.sum(S * S, axis=(-2, -1))
    den = np.sum(A * A, axis=(-2, -1))
    # a zero matrix is symmetric: define sym(0) = 1 rather than 0/0
    s = np.where(den > 0, num / np.where(den > 0, den, 1.0), 1.0)
    return float(s) if s.ndim == 0 else s


def asymmetry_share(J):
    """Scale-free curl measure ``||(J - J^T)/2||_F / ||J - I||_F`` of a reconstruction Jacobian.

    ``J - I`` is the Jacobian of the vector field ``r(x) - x``; the share is the fraction of it
    (in Frobenius norm) that is antisymmetric, which does not change when the field is scaled.

    Parameters
    ----------
    J : (n, n) array or (m, n, n) array
        Jacobians of the reconstruction ``r``.

    Returns
    -------
    share : float, or (m,) array
        0 where ``J = I`` exactly (no field, so no antisymmetric part).
    """
    J = _square_matrices(J, "J")
    n = J.shape[-1]
    F = J - np.eye(n)
    anti = 0.5 * (J - np.swapaxes(J, -1, -2))
    den = np.sqrt(np.sum(F * F, axis=(-2, -1)))
    num = np.sqrt(np.sum(anti * anti, axis=(-2, -1)))
    # where J = I the field's Jacobian is zero and has no antisymmetric part: share 0, not 0/0
    s = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
    return float(s) if s.ndim == 0 else s


def grid_2d(lo=-1.0, hi=1.0, size=100):
    """A square grid: returns ``(x, y, P)`` with ``x, y`` of shape (size,) and points ``P`` (size*size, 2).

    ``P`` is ordered so that ``P[:, 0].reshape(size, size)[i, j] == x[j]`` and
    ``P[:, 1].reshape(size, size)[i, j] == y[i]`` (``meshgrid`` "xy" indexing): rows of a grid
    image go along y, columns along x.
    """
    x = np.linspace(lo, hi, size)
    y = np.linspace(lo, hi, size)
    Xg, Yg = np.meshgrid(x, y)
    return x, y, np.column_stack([Xg.ravel(), Yg.ravel()])


def curl_2d(U, V, x, y):
    """Scalar curl ``dV/dx - dU/dy`` of a 2-D vector field sampled on a grid.

    Parameters
    ----------
    U, V : (len(y), len(x)) arrays
        The field's x- and y-components, ``U[i, j]`` at the point ``(x[j], y[i])`` (``meshgrid``
        "xy" indexing, as :func:`grid_2d` orders it).
    x : (nx,) array
        Increasing grid coordinates along x (columns).
    y : (ny,) array
        Increasing grid coordinates along y (rows).

    Returns
    -------
    curl : (len(y), len(x)) array
        Second-order central differences inside, one-sided at the edges (``numpy.gradient``).
    """
    U, V = np.asarray(U, dtype=np.float64), np.asarray(V, dtype=np.float64)
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 1 or y.ndim != 1 or len(x) < 2 or len(y) < 2:
        raise ValueError(f"x and y must be 1-D with at least 2 points; got shapes {x.shape} and {y.shape}")
    if U.shape != (len(y), len(x)) or V.shape != U.shape:
        raise ValueError(f"U and V must have shape (len(y), len(x)) = {(len(y), len(x))}; got {U.shape} and {V.shape}")
    if np.any(np.diff(x) <= 0) or np.any(np.diff(y) <= 0):
        raise ValueError("x and y must be strictly increasing")
    dV_dx = np.gradient(V, x, axis=1)
    dU_dy = np.gradient(U, y, axis=0)
    return dV_dx - dU_dy


def circulation(field, center=(0.0, 0.0), radius=1.0, n_points=2000):
    """Line integral of a 2-D field around a circle (counter-clockwise), by the trapezoid rule.

    Zero (up to quadrature error) for a conservative field; ``2 pi radius^2`` times the mean curl
    inside for a rotation.

    Parameters
    ----------
    field : callable
        ``field(P)`` with ``P`` of shape (N, 2) returns the field at those points, (N, 2).
    center : (2,) sequence
    radius : float > 0
    n_points : int
        Quadrature points on the circle.

    Returns
    -------
    value : float
    """
    if radius <= 0:
        raise ValueError(f"radius must be > 0; got {radius}")
    t = np.linspace(0.0, 2 * np.pi, n_points, endpoint=False)
    P = np.column_stack([center[0] + radius * np.cos(t), center[1] + radius * np.sin(t)])
    dP = np.column_stack([-radius * np.sin(t), radius * np.cos(t)])  # dP/dt
    F = np.asarray(field(P), dtype=np.float64)
    if F.shape != P.shape:
        raise ValueError(f"field(P) must return shape {P.shape}; got {F.shape}")
    return float(np.sum(F * dP) * (2 * np.pi / n_points))
