"""Paired ``*_forward`` / ``*_backward`` functions with a cache carried between them.

These are the building blocks the :class:`~autoencoder_np.model.Autoencoder` chains together,
in the style of CS231n's ``layers.py``: each backward sits right under its forward, so the two can
be checked against each other on one screen. Examples are rows throughout.
"""
from __future__ import annotations

__all__ = ["dense_forward", "dense_backward", "activation_backward"]


def dense_forward(X, W, b):
    """Affine map ``Z = X W + b``.

    Parameters
    ----------
    X : (m, n_in) array
    W : (n_in, n_out) array
    b : (n_out,) array

    Returns
    -------
    Z : (m, n_out) array
    cache : tuple
        ``(X, W)``, what :func:`dense_backward` needs.
    """
    Z = X @ W
    Z += b
    return Z, (X, W)


def dense_backward(dZ, cache, need_dX=True):
    """Backward pass of :func:`dense_forward`.

    Parameters
    ----------
    dZ : (m, n_out) array
        Upstream gradient ``dL/dZ``.
    cache : tuple
        ``(X, W)`` from the forward pass.
    need_dX : bool
        Skip the input gradient (one matrix product) for the first layer.

    Returns
    -------
    dX : (m, n_in) array or None
        ``dZ W^T``.
    dW : (n_in, n_out) array
        ``X^T dZ``.
    db : (n_out,) array
        ``dZ`` summed over the examples.
    """
    X, W = cache
    dW = X.T @ dZ
    db = dZ.sum(axis=0)
    dX = dZ @ W.T if need_dX else None
    return dX, dW, db


def activation_backward(dH, cache):
    """Backward of the elementwise ``H = g(Z)`` (``activation.forward``): ``dZ = dH * g'(Z)``.

    Parameters
    ----------
    dH : (m, k) array
    cache : tuple ``(Z, H, activation)``
        ``Z, H : (m, k)`` arrays from the forward pass; the derivative may read either (see
        :mod:`autoencoder_np.activations`).

    Returns
    -------
    dZ : (m, k) array
    """
    Z, H, activation = cache
    return dH * activation.deriv(Z, H)
