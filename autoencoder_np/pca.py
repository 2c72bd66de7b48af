"""PCA tools for the linear-autoencoder lecture: normalisation, PCA, principal angles.

Examples are rows: ``X`` is ``(m, n)``.
"""
from __future__ import annotations

import numpy as np

from ._validation import as_data, check_positive_int

__all__ = ["normalize", "pca", "principal_angles", "eckart_young_loss", "project"]


def normalize(X):
    """The lecture's normalisation ``(x_ij - mean_j) / sqrt(m)``.

    After it, ``X^T X`` is the (biased, 1/m) covariance matrix of the data.

    Parameters
    ----------
    X : (m, n) array

    Returns
    -------
    Xn : (m, n) float64 array
    """
    X = as_data(X, None, np.float64)
    return (X - X.mean(axis=0)) / np.sqrt(X.shape[0])


def pca(X, k):
    """Principal components through the SVD of the centred data.

    Parameters
    ----------
    X : (m, n) array
    k : int
        Number of components, ``1 <= k <= min(m, n)``.

    Returns
    -------
    components : (n, k) array
        Orthonormal columns, sorted by decreasing variance; each column's sign is fixed so that
        its largest-magnitude entry is positive.
    variances : (k,) array
        The variance along each component, ``s^2 / (m - 1)`` (scikit-learn's
        ``explained_variance_``; for ``m = 1`` divided by 1).
    """
    X = as_data(X, None, np.float64)
    k = check_positive_int(k, "k")
    m, n = X.shape
    if k > min(m, n):
        raise ValueError(f"k must be at most min(m, n) = {min(m, n)} for X of shape {X.shape}; got {k}")
    _, s, Vt = np.linalg.svd(X - X.mean(axis=0), full_matrices=False)
    V = Vt[:k].T
    signs = np.sign(V[np.argmax(np.abs(V), axis=0), np.arange(k)])
    V = V * np.where(signs == 0, 1, signs)
    return V, s[:k] ** 2 / max(m - 1, 1)


def project(X, components):
    """Project onto the span of orthonormal ``components`` (n, k): returns codes ``(m, k)``."""
    return np.asarray(X) @ components


def _orthonormal_basis(A, name):
    A = as_data(A, None, np.float64, name=name)
    if A.shape[1] > A.shape[0]:
        raise ValueError(f"{name} must be (n, k) with k <= n columns spanning a subspace of R^n; got {A.shape}")
    Q, R = np.linalg.qr(A)
    if np.min(np.abs(np.diag(R))) < 1e-12 * max(1.0, np.max(np.abs(np.diag(R)))):
        raise ValueError(f"the columns of {name} are linearly dependent; they do not span a {A.shape[1]}-dimensional subspace")
    return Q


def principal_angles(A, B):
    """Principal angles between the column spaces of ``A`` and ``B``, in radians, ascending.

    Small angles are computed from sines (accurate down to ~1e-16), large ones from cosines, as
    Björck and Golub (1973) recommend.

    Parameters
    ----------
    A : (n, p) array
    B : (n, q) array

    Returns
    -------
    angles : (min(p, q),) array
        In [0, pi/2], ascending.
    """
    Qa, Qb = _orthonormal_basis(A, "A"), _orthonormal_basis(B, "B")
    if Qa.shape[0] != Qb.shape[0]:
        raise ValueError(f"A and B must live in the same space: A has {Qa.shape[0]} rows, B has {Qb.shape[0]}")
    if Qa.shape[1] < Qb.shape[1]:
        Qa, Qb = Qb, Qa
    cos = np.clip(np.linalg.svd(Qa.T @ Qb, compute_uv=False), 0.0, 1.0)        # descending
    sin = np.clip(np.linalg.svd(Qb - Qa @ (Qa.T @ Qb), compute_uv=False), 0.0, 1.0)[::-1]  # ascending
    small = np.arcsin(sin)
    large = np.arccos(cos)
    return np.sort(np.where(cos ** 2 >= 0.5, small, large))


def eckart_young_loss(X, k):
    """The smallest possible squared-error loss of a rank-``k`` reconstruction of ``X``.

    By Eckart-Young, ``min_{rank <= k} (1/m) ||X - Xhat||_F^2 = (1/m) sum_{i > k} s_i^2`` with
    ``s`` the singular values of ``X`` (not centred: centre or normalise first, as the lecture
    does). Same reduction as :func:`autoencoder_np.losses.squared_error`.

    Parameters
    ----------
    X : (m, n) array
    k : int

    Returns
    -------
    loss : float
    """
    X = as_data(X, None, np.float64)
    k = check_positive_int(k, "k")
    s = np.linalg.svd(X, compute_uv=False)
    return float(np.sum(s[k:] ** 2)) / X.shape[0]
