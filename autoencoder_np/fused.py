"""A fused, allocation-free training step for the common one-hidden-layer autoencoder.

The general path (:meth:`Autoencoder._loss_and_grads`) is written for reading: one layer at a
time, fresh arrays everywhere. Training spends its time in that step, so for the common case
(one hidden layer, tied or untied, optionally L2 weight decay) :class:`FusedStep` computes the
SAME loss and gradients with every buffer allocated once per batch size and every elementwise
operation done in place, in the model's dtype (float32 stays float32 end to end). A step is then
five matrix products plus about twenty passes of in-place elementwise work.

The tests check it against the general path to rounding error; :func:`fused_supported` says
which models it handles (the others train on the general path).
"""
from __future__ import annotations

import numpy as np

__all__ = ["FusedStep", "fused_supported"]


# in-place activations: forward overwrites its argument; the derivative is computed from the
# OUTPUT H = g(A) (for these four, g'(A) is a function of g(A))
def _sigmoid_(A):
    # sigmoid(a) = (1 + tanh(a/2)) / 2: no exp, so no overflow at any logit
    A *= 0.5
    np.tanh(A, out=A)
    A *= 0.5
    A += 0.5


def _sigmoid_deriv(H, out):
    np.subtract(1, H, out=out)
    out *= H


def _tanh_(A):
    np.tanh(A, out=A)


def _tanh_deriv(H, out):
    np.multiply(H, H, out=out)
    np.subtract(1, out, out=out)


def _relu_(A):
    np.maximum(A, 0, out=A)


def _relu_deriv(H, out):
    np.greater(H, 0, out=out)


def _linear_(A):
    pass


_INPLACE = {
    "sigmoid": (_sigmoid_, _sigmoid_deriv),
    "tanh": (_tanh_, _tanh_deriv),
    "relu": (_relu_, _relu_deriv),
    "linear": (_linear_, None),  # derivative 1: nothing to multiply
}


def fused_supported(model):
    """True when :class:`FusedStep` computes this model's objective exactly.

    A subclass that overrides ``_loss_and_grads`` (a different objective) is never fused.
    """
    from .model import Autoencoder

    return (type(model)._loss_and_grads is Autoencoder._loss_and_grads
            and len(model.hidden_sizes) == 1 and model.sparsity == 0 and model.contraction == 0
            and model.encoder in _INPLACE and model.decoder in _INPLACE)


class FusedStep:
    """``step(X, T) -> (loss, grads)`` with the model's objective, without allocations.

    The returned gradient arrays are buffers that the next call overwrites: consume them (an
    optimizer step) before calling again.

    Parameters
    ----------
    model : Autoencoder
        A model for which :func:`fused_supported` is true.
    """

    def __init__(self, model):
        if not fused_supported(model):
            raise ValueError(f"{model!r} is not supported by the fused step; use model.loss_and_grads")
        self.model = model
        self.encode_, self.encode_deriv = _INPLACE[model.encoder]
        self.decode_, self.decode_deriv = _INPLACE[model.decoder]
        self.cross_entropy = model.loss_name == "cross_entropy"
        dt = model.dtype
        self.grads = {name: np.empty_like(p) for name, p in model.params.items()}
        n, k = model.n_visible, model.n_hidden
        self.scratch_W = np.empty((n, k), dtype=dt)  # tied: the decoder path's dW, transposed
        self.buffers = {}

    def _buffers(self, m):
        if m not in self.buffers:
            n, k, dt = self.model.n_visible, self.model.n_hidden, self.model.dtype
            self.buffers[m] = tuple(np.empty(shape, dtype=dt) for shape in [(m, k), (m, k), (m, k), (m, n), (m, n)])
        return self.buffers[m]

    def __call__(self, X, T):
        model, p, g = self.model, self.model.params, self.grads
        m = X.shape[0]
        H, dH, D, Z, S = self._buffers(m)
        W = p["W"]
        W_dec = W.T if model.tied else p["W_dec"]
        inv_m = model.dtype.type(1.0 / m)

        # forward: H = g(X W + b); Z = H W_dec + c
        np.matmul(X, W, out=H)
        H += p["b"]
        self.encode_(H)
        np.matmul(H, W_dec, out=Z)
        Z += p["c"]

        if self.cross_entropy:
            # loss = (1/m) sum [max(z, 0) - t z + log1p(exp(-|z|))], max(z, 0) = (z + |z|) / 2
            np.abs(Z, out=S)
            sum_abs = float(S.sum(dtype=np.float64))
            np.negative(S, out=S)
            np.exp(S, out=S)
            np.log1p(S, out=S)
            total = float(S.sum(dtype=np.float64)) + 0.5 * (float(Z.sum(dtype=np.float64)) + sum_abs)
            loss = (total - float(np.vdot(T, Z))) / m
            # dL/dZ = (sigmoid(Z) - T) / m
            self.decode_(Z)
            Z -= T
            Z *= inv_m
        else:
            # loss = (1/m) sum (f(Z) - T)^2; dL/dZ = (2/m) (f(Z) - T) f'(Z)
            self.decode_(Z)
            if self.decode_deriv is not None:
                self.decode_deriv(Z, S)
            Z -= T
            loss = float(np.vdot(Z, Z)) / m
            if self.decode_deriv is not None:
                Z *= S
            Z *= 2 * inv_m
        dZ = Z

        # backward through the decoder
        if model.tied:
            np.matmul(dZ.T, H, out=self.scratch_W)       # decoder path of dW, (n, k)
        else:
            np.matmul(H.T, dZ, out=g["W_dec"])
        np.sum(dZ, axis=0, out=g["c"])
        np.matmul(dZ, W_dec.T, out=dH)
        # backward through the encoder: dA = dH * g'(A), g' from the output H
        if self.encode_deriv is not None:
            self.encode_deriv(H, D)
            dH *= D
        np.matmul(X.T, dH, out=g["W"])
        np.sum(dH, axis=0, out=g["b"])
        if model.tied:
            g["W"] += self.scratch_W

        if model.weight_decay > 0:
            lam = model.weight_decay
            for name in ("W",) if model.tied else ("W", "W_dec"):
                loss += 0.5 * lam * float(np.vdot(p[name], p[name]))
                g[name] += model.dtype.type(lam) * p[name]
        if not np.isfinite(loss):
            raise FloatingPointError(
                f"the loss became {loss}: the parameters or data overflowed (try a smaller learning rate)")
        return loss, g
