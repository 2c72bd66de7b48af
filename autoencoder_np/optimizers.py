"""First-order optimizers that update a dict of parameter arrays in place.

Each optimizer has ``step(params, grads)``; ``params`` and ``grads`` are dicts keyed alike. The
updates are done in place and keep each parameter's dtype (float32 stays float32). Full-batch
L-BFGS is not here: it lives in :func:`autoencoder_np.training.fit_lbfgs`, through SciPy.
"""
from __future__ import annotations

import numpy as np

__all__ = ["SGD", "Momentum", "Adam", "OPTIMIZERS", "make_optimizer"]


class SGD:
    """Plain (minibatch) gradient descent: ``p <- p - lr * g``."""

    def __init__(self, lr):
        self.lr, self.scratch = lr, {}

    def step(self, params, grads):
        for name, p in params.items():
            update = self.scratch.setdefault(name, np.empty_like(p))  # no allocation per step
            np.multiply(grads[name], p.dtype.type(self.lr), out=update)
            p -= update


class Momentum:
    """Heavy-ball momentum: ``v <- mu v - lr g``; ``p <- p + v``."""

    def __init__(self, lr, momentum=0.9):
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1); got {momentum}")
        self.lr, self.momentum, self.velocity = lr, momentum, {}

    def step(self, params, grads):
        for name, p in params.items():
            v = self.velocity.setdefault(name, np.zeros_like(p))
            v *= p.dtype.type(self.momentum)
            v -= p.dtype.type(self.lr) * grads[name]
            p += v


class Adam:
    """Adam (Kingma and Ba 2015) with bias-corrected first and second moments."""

    def __init__(self, lr, beta1=0.9, beta2=0.999, eps=1e-8):
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.m, self.v, self.t = {}, {}, 0

    def step(self, params, grads):
        self.t += 1
        c1 = 1 - self.beta1 ** self.t
        c2 = 1 - self.beta2 ** self.t
        for name, p in params.items():
            g = grads[name]
            m = self.m.setdefault(name, np.zeros_like(p))
            v = self.v.setdefault(name, np.zeros_like(p))
            m *= self.beta1
            m += (1 - self.beta1) * g
            v *= self.beta2
            v += (1 - self.beta2) * (g * g)
            p -= p.dtype.type(self.lr / c1) * m / (np.sqrt(v / c2) + p.dtype.type(self.eps))


#: name -> optimizer class; ``fit(optimizer=...)`` also accepts "lbfgs" (full batch, SciPy)
OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "adam": Adam}


def make_optimizer(name, lr, **options):
    """Build an optimizer by name, with an error listing the valid names."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; valid names are {list(OPTIMIZERS) + ['lbfgs']}")
    if not (isinstance(lr, (int, float, np.floating)) and np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive finite number; got {lr!r}")
    return OPTIMIZERS[name](lr, **options)
