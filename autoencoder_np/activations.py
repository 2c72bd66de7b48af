"""Elementwise activations as lookup tables (no if-chains).

Each activation is an :class:`Activation` record with

* ``forward(A)``: the output ``H = g(A)`` from the pre-activation ``A``;
* ``deriv(A, H)``: the derivative ``g'(A)``. It receives BOTH the pre-activation ``A`` and the
  output ``H = g(A)`` and uses whichever is cheaper and more stable (sigmoid and tanh use the
  output, relu and softplus the pre-activation);
* ``deriv2(A, H)``: the second derivative ``g''(A)`` (the contractive penalty needs it);
* ``antiderivative(A)``: a function ``G`` with ``G' = g`` (the energy of a tied autoencoder
  needs it), or ``None`` where no elementary closed form exists.

All functions are elementwise, keep the dtype of their input, and never overflow: the sigmoid is
evaluated through ``exp(-|a|)`` and softplus as ``max(a, 0) + log1p(exp(-|a|))``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

__all__ = ["Activation", "ACTIVATIONS", "get_activation", "sigmoid", "softplus", "log_cosh"]


def sigmoid(A):
    """Numerically stable logistic function ``1 / (1 + exp(-A))``.

    Parameters
    ----------
    A : array
        Pre-activations, any shape, any float dtype.

    Returns
    -------
    H : array, same shape and dtype as ``A``
        Values in [0, 1]; exactly 0 or 1 only where float rounding demands it, never NaN.
    """
    A = np.asarray(A)
    E = np.exp(-np.abs(A))  # in (0, 1]: never overflows
    return np.where(A >= 0, 1.0 / (1.0 + E), E / (1.0 + E)).astype(A.dtype, copy=False)


def softplus(A):
    """Numerically stable ``log(1 + exp(A))``, same shape and dtype as ``A``."""
    A = np.asarray(A)
    return np.maximum(A, 0) + np.log1p(np.exp(-np.abs(A)))


def log_cosh(A):
    """Numerically stable ``log(cosh(A)) = |A| + log1p(exp(-2|A|)) - log 2``."""
    A = np.asarray(A)
    absA = np.abs(A)
    return absA + np.log1p(np.exp(-2 * absA)) - np.log(2).astype(A.dtype)


def _relu(A):
    return np.maximum(A, 0)


@dataclass(frozen=True)
class Activation:
    """One elementwise activation: its value, derivatives and antiderivative."""

    name: str
    forward: Callable
    deriv: Callable          # g'(A), given (A, H = g(A))
    deriv2: Callable         # g''(A), given (A, H = g(A))
    antiderivative: Optional[Callable]


ACTIVATIONS = {
    "sigmoid": Activation(
        "sigmoid",
        forward=sigmoid,
        deriv=lambda A, H: H * (1 - H),                   # uses the output
        deriv2=lambda A, H: H * (1 - H) * (1 - 2 * H),    # uses the output
        antiderivative=softplus,                          # d/da softplus(a) = sigmoid(a)
    ),
    "tanh": Activation(
        "tanh",
        forward=np.tanh,
        deriv=lambda A, H: 1 - H * H,                     # uses the output
        deriv2=lambda A, H: -2 * H * (1 - H * H),         # uses the output
        antiderivative=log_cosh,                          # d/da log cosh(a) = tanh(a)
    ),
    "relu": Activation(
        "relu",
        forward=_relu,
        deriv=lambda A, H: (A > 0).astype(A.dtype),       # uses the pre-activation
        deriv2=lambda A, H: np.zeros_like(A),
        antiderivative=lambda A: 0.5 * _relu(A) ** 2,     # d/da relu(a)^2/2 = relu(a)
    ),
    "softplus": Activation(
        "softplus",
        forward=softplus,
        deriv=lambda A, H: sigmoid(A),                    # uses the pre-activation
        deriv2=lambda A, H: sigmoid(A) * (1 - sigmoid(A)),
        antiderivative=None,                              # -Li2(-e^a): not elementary
    ),
    "linear": Activation(
        "linear",
        forward=lambda A: A,
        deriv=lambda A, H: np.ones_like(A),
        deriv2=lambda A, H: np.zeros_like(A),
        antiderivative=lambda A: 0.5 * A * A,
    ),
}

ENCODER_ACTIVATIONS = ("sigmoid", "tanh", "relu", "softplus", "linear")
DECODER_ACTIVATIONS = ("sigmoid", "linear", "tanh")


def get_activation(name, allowed=ENCODER_ACTIVATIONS, role="activation"):
    """Look up an activation by name, with an error that lists the valid names.

    Parameters
    ----------
    name : str
        One of ``allowed``.
    allowed : tuple of str
        The names valid in this role.
    role : str
        Used in the error message ("encoder", "decoder").
    """
    if not isinstance(name, str):
        raise TypeError(f"{role} must be a string naming an activation, one of {list(allowed)}; got {type(name).__name__}")
    if name not in allowed:
        raise ValueError(f"unknown {role} activation {name!r}; valid names are {list(allowed)}")
    return ACTIVATIONS[name]
