"""Reconstruction losses and their gradients, written by hand.

Reduction, for every loss here: the MEAN over the ``m`` examples (rows) of the per-example loss,
which is the SUM over the ``n`` features. There is NO factor 1/2:

* squared error   ``L = (1/m) sum_i sum_j (xhat_ij - t_ij)^2``
* cross-entropy   ``L = -(1/m) sum_i sum_j [t_ij log xhat_ij + (1 - t_ij) log(1 - xhat_ij)]``

Each loss is a function ``(Z, Xhat, T, decoder) -> (loss, dZ)``: it receives the decoder's
pre-activation ``Z`` (the logits), its output ``Xhat = f(Z)``, the target ``T`` and the decoder's
:class:`~autoencoder_np.activations.Activation`, and returns the loss and ``dL/dZ``, the gradient
with respect to the PRE-activation, ready for backpropagation into the decoder's weights.

Cross-entropy is computed from the logits, ``log(1 + e^z) - t z`` per entry, with a stable
softplus, so it is finite and exact at logits of +-1e4 where ``log(sigmoid(z))`` would be
``log(0)``. Its gradient with respect to the logits collapses to ``(xhat - t) / m``: the
``sigma'(z)`` of the decoder cancels the ``1 / (xhat (1 - xhat))`` of the loss.
"""
from __future__ import annotations

import numpy as np


__all__ = [
    "squared_error", "squared_error_grad", "cross_entropy_from_logits",
    "cross_entropy_from_logits_grad", "LOSSES", "LOSS_NAMES",
]


def squared_error(Xhat, T):
    """Squared error, mean over examples of the sum over features, no 1/2.

    Parameters
    ----------
    Xhat : (m, n) array
        Reconstructions.
    T : (m, n) array
        Targets.

    Returns
    -------
    loss : float
        ``(1/m) sum_i sum_j (Xhat_ij - T_ij)^2``.
    """
    D = Xhat - T
    return float(np.vdot(D, D)) / Xhat.shape[0]


def squared_error_grad(Xhat, T):
    """Gradient of :func:`squared_error` with respect to ``Xhat``: ``2 (Xhat - T) / m``, (m, n)."""
    return (2.0 / Xhat.shape[0]) * (Xhat - T)


def cross_entropy_from_logits(Z, T):
    """Binary cross-entropy from logits, mean over examples of the sum over features.

    Parameters
    ----------
    Z : (m, n) array
        Logits; ``xhat = sigmoid(Z)``. Any finite value, +-1e4 included.
    T : (m, n) array
        Targets in [0, 1].

    Returns
    -------
    loss : float
        ``(1/m) sum_ij [softplus(Z_ij) - T_ij Z_ij]``, which equals
        ``-(1/m) sum_ij [T log xhat + (1 - T) log(1 - xhat)]`` without ever taking ``log(0)``.
    """
    # max(z, 0) - t z + log1p(exp(-|z|)): the large terms cancel exactly first, so a confident
    # correct prediction costs log1p(exp(-|z|)) to full relative precision, not 0 by cancellation
    return float(np.sum(np.maximum(Z, 0) - T * Z + np.log1p(np.exp(-np.abs(Z))))) / Z.shape[0]


def cross_entropy_from_logits_grad(Z, Xhat, T):
    """Gradient of :func:`cross_entropy_from_logits` w.r.t. the logits: ``(Xhat - T) / m``, (m, n)."""
    return (Xhat - T) * (1.0 / Z.shape[0])


def _squared_error_loss(Z, Xhat, T, decoder):
    # chain rule through the decoder: dL/dZ = dL/dXhat * f'(Z)
    dZ = squared_error_grad(Xhat, T)
    dZ *= decoder.deriv(Z, Xhat)
    return squared_error(Xhat, T), dZ


def _cross_entropy_loss(Z, Xhat, T, decoder):
    if decoder.name != "sigmoid":
        raise ValueError(
            f"loss='cross_entropy' needs decoder='sigmoid' (outputs must be probabilities); got decoder={decoder.name!r}"
        )
    return cross_entropy_from_logits(Z, T), cross_entropy_from_logits_grad(Z, Xhat, T)


#: name -> function ``(Z, Xhat, T, decoder_activation) -> (loss, dL/dZ)``
LOSSES = {
    "squared_error": _squared_error_loss,
    "cross_entropy": _cross_entropy_loss,
}
LOSS_NAMES = tuple(LOSSES)
