"""First-order optimizers that update a dict of parameter arrays in place.

Each optimizer has ``step(params, grads)``; ``params`` and ``grads`` are dicts keyed alike. The
updates are done in place and keep each parameter's dtype (float32 stays float32). A step is
``begin_step()`` then ``update(name, p, g, rows)`` for each parameter; ``update`` touches only
``p[rows]``, so the fused training step (:mod:`autoencoder_np.fused`) updates blocks of rows in
parallel, each right after its gradient is computed. Full-batch
L-BFGS is not here: it lives in :func:`autoencoder_np.training.fit_lbfgs`, through SciPy.
"""
from __future__ import annotations

import numpy as np

__all__ = ["SGD", "Momentum", "Adam", "OPTIMIZERS", "make_optimizer"]


def _state(store, name, like, fill=None):
    """``store[name]``, made once like ``like`` (zeros if ``fill == 0``); never re-allocated per step."""
    if name not in store:
        store[name] = np.empty_like(like) if fill is None else np.zeros_like(like)
    return store[name]


class SGD:
    """Plain (minibatch) gradient descent: ``p <- p - lr * g``."""

    def __init__(self, lr):
        self.lr, self.scratch = lr, {}

    def begin_step(self, params):
        """Start a step: make any missing state for ``params`` (before threads share it)."""
        for name, p in params.items():
            _state(self.scratch, name, p)

    def update(self, name, p, g, rows=slice(None)):
        """Update ``p[rows]`` in place from ``g[rows]`` (``p``, ``g``: one parameter, whole)."""
        update = _state(self.scratch, name, p)[rows]  # no allocation per step
        np.multiply(g[rows], p.dtype.type(self.lr), out=update)
        block = p[rows]   # a view: ``p[rows] -= ...`` would also copy the block back onto itself
        block -= update

    def step(self, params, grads):
        """Update every parameter in ``params`` (dict of arrays) from ``grads`` (dict alike)."""
        self.begin_step(params)
        for name, p in params.items():
            self.update(name, p, grads[name])


class Momentum(SGD):
    """Heavy-ball momentum: ``v <- mu v - lr g``; ``p <- p + v``."""

    def __init__(self, lr, momentum=0.9):
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1); got {momentum}")
        super().__init__(lr)
        self.momentum, self.velocity = momentum, {}

    def begin_step(self, params):
        """Make any missing state for ``params`` (velocities start at zero)."""
        for name, p in params.items():
            _state(self.velocity, name, p, fill=0)
            _state(self.scratch, name, p)

    def update(self, name, p, g, rows=slice(None)):
        v = _state(self.velocity, name, p, fill=0)[rows]
        lr_g = _state(self.scratch, name, p)[rows]
        v *= p.dtype.type(self.momentum)
        np.multiply(g[rows], p.dtype.type(self.lr), out=lr_g)
        v -= lr_g
        block = p[rows]
        block += v


class Adam(SGD):
    """Adam (Kingma and Ba 2015) with bias-corrected first and second moments."""

    def __init__(self, lr, beta1=0.9, beta2=0.999, eps=1e-8):
        super().__init__(lr)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.m, self.v, self.t = {}, {}, 0

    def begin_step(self, params):
        """Count the step (the bias corrections depend on it) and make any missing state."""
        self.t += 1
        for name, p in params.items():
            _state(self.m, name, p, fill=0)
            _state(self.v, name, p, fill=0)

    def update(self, name, p, g, rows=slice(None)):
        c1 = 1 - self.beta1 ** self.t
        c2 = 1 - self.beta2 ** self.t
        g = g[rows]
        m = _state(self.m, name, p, fill=0)[rows]
        v = _state(self.v, name, p, fill=0)[rows]
        m *= self.beta1
        m += (1 - self.beta1) * g
        v *= self.beta2
        v += (1 - self.beta2) * (g * g)
        block = p[rows]
        block -= p.dtype.type(self.lr / c1) * m / (np.sqrt(v / c2) + p.dtype.type(self.eps))


#: name -> optimizer class; ``fit(optimizer=...)`` also accepts "lbfgs" (full batch, SciPy)
OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "adam": Adam}


def make_optimizer(name, lr, **options):
    """Build an optimizer by name, with an error listing the valid names."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; valid names are {list(OPTIMIZERS) + ['lbfgs']}")
    if not (isinstance(lr, (int, float, np.floating)) and np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive finite number; got {lr!r}")
    return OPTIMIZERS[name](lr, **options)
