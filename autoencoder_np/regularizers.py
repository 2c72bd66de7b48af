"""Regularizers, each with its hand-written gradient, and input corruption for denoising.

Every penalty is added to the reconstruction loss of a batch (which is a mean over examples),
so each one is stated with its own reduction below.
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "weight_decay_penalty", "sparsity_penalty", "contractive_penalty",
    "reconstruction_contractive_penalty", "corrupt",
    "CORRUPTIONS", "project_weight_length", "kl_bernoulli",
]


# ----------------------------------------------------------------------------- weight decay
def weight_decay_penalty(weights, lam):
    """L2 weight decay ``(lam / 2) sum_W ||W||_F^2`` over the weight matrices (not the biases).

    Parameters
    ----------
    weights : dict of str -> array
        The weight matrices, each counted once (a tied ``W`` is one matrix).
    lam : float
        Strength. The 1/2 makes the gradient ``lam W``.

    Returns
    -------
    penalty : float
    grads : dict of str -> array
        ``lam * W`` for each matrix.
    """
    penalty = 0.5 * lam * sum(float(np.vdot(W, W)) for W in weights.values())
    return penalty, {name: lam * W for name, W in weights.items()}


# ----------------------------------------------------------------------------- sparsity
def kl_bernoulli(rho, rho_hat):
    """``KL(rho || rho_hat) = rho log(rho/rho_hat) + (1-rho) log((1-rho)/(1-rho_hat))``, elementwise."""
    return rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat))


def sparsity_penalty(H, beta, rho):
    """KL sparsity penalty on the mean activation of each hidden unit over the batch.

    ``P = beta * sum_j KL(rho || rho_hat_j)``, ``rho_hat_j = (1/m) sum_i H_ij``: a sum over units,
    computed once per batch (not per example).

    Parameters
    ----------
    H : (m, k) array
        Code-layer activations, in (0, 1) (a sigmoid code layer).
    beta : float
        Strength.
    rho : float
        Target mean activation, in (0, 1).

    Returns
    -------
    penalty : float
    dH : (m, k) array
        ``dP/dH_ij = (beta / m) (-rho / rho_hat_j + (1 - rho) / (1 - rho_hat_j))``.
    """
    m = H.shape[0]
    tiny = np.finfo(H.dtype).tiny
    rho_hat = np.clip(H.mean(axis=0), tiny, 1 - np.finfo(H.dtype).eps)  # log/divide safety only
    penalty = beta * float(np.sum(kl_bernoulli(rho, rho_hat)))
    d_rho_hat = beta * (-rho / rho_hat + (1 - rho) / (1 - rho_hat))
    dH = np.broadcast_to((d_rho_hat / m).astype(H.dtype), H.shape)
    return penalty, dH


# ----------------------------------------------------------------------------- contractive
def contractive_penalty(X, W, A, H, activation, lam):
    """Contractive penalty: ``lam`` times the mean over examples of ``||dh(x)/dx||_F^2``.

    For one encoder layer ``h = g(x W + b)`` the Jacobian ``dh/dx = diag(g'(a)) W^T`` (k, n) has
    squared Frobenius norm ``sum_j g'(a_j)^2 ||W[:, j]||^2`` (closed form; for the sigmoid
    ``g' = h (1 - h)``). So ``P = (lam / m) sum_ij S_ij^2 w_j`` with ``S = g'(A)`` and
    ``w_j = ||W[:, j]||^2``.

    Parameters
    ----------
    X : (m, n) array
        Encoder input.
    W : (n, k) array
        Encoder weights.
    A : (m, k) array
        Pre-activations ``X W + b``.
    H : (m, k) array
        Activations ``g(A)``.
    activation : Activation
        The encoder's activation (its first and second derivatives are used).
    lam : float
        Strength.

    Returns
    -------
    penalty : float
    dW : (n, k) array
        ``(lam/m) [2 W * sum_i S_ij^2 + X^T (2 S g''(A) * w)]``.
    db : (k,) array
        ``(lam/m) sum_i 2 S_ij g''(A_ij) w_j``.
    """
    m = X.shape[0]
    S = activation.deriv(A, H)
    S2 = activation.deriv2(A, H)
    w = np.einsum("ij,ij->j", W, W)                    # (k,) squared column norms
    S_sq_sum = np.einsum("ij,ij->j", S, S)             # (k,)
    penalty = lam * float(S_sq_sum @ w) / m
    G = (2.0 * lam / m) * (S * S2 * w)                 # (m, k): d penalty / d A
    dW = X.T @ G
    dW += (2.0 * lam / m) * W * S_sq_sum
    db = G.sum(axis=0)
    return penalty, dW, db


def reconstruction_contractive_penalty(X, W, W_dec, A, H, activation, lam):
    """Reconstruction-contractive penalty: ``lam`` times the mean of ``||dr(x)/dx||_F^2``.

    For one hidden layer and a linear decoder, ``r(x) = g(x W + b) W_dec + c``, the Jacobian of the
    reconstruction is ``J(x) = W_dec^T diag(s) W^T`` (n, n) with ``s = g'(x W + b)`` (k,). Its squared
    Frobenius norm needs only k x k matrices:
    ``||J||_F^2 = tr(W diag(s) W_dec W_dec^T diag(s) W^T) = s^T M s``, ``M = (W_dec W_dec^T) * (W^T W)``
    (elementwise product). This is the penalty of Alain and Bengio (2014) and Equation 10 of Im,
    Belghazi and Memisevic (2016): ``P = (lam / m) sum_i s_i^T M s_i``.

    Parameters
    ----------
    X : (m, n) array
        Encoder input.
    W : (n, k) array
        Encoder weights.
    W_dec : (k, n) array
        Decoder weights (``W.T`` for a tied model; the caller adds the two paths).
    A : (m, k) array
        Pre-activations ``X W + b``.
    H : (m, k) array
        Activations ``g(A)``.
    activation : Activation
        The encoder's activation (its first and second derivatives are used).
    lam : float
        Strength.

    Returns
    -------
    penalty : float
    dW : (n, k) array
        ``X^T G + 2 W (C * (W_dec W_dec^T))`` with ``G = (2 lam / m) (S M) * g''(A)`` and
        ``C = (lam / m) S^T S``, ``S = g'(A)`` (m, k).
    db : (k,) array
        ``sum_i G_i``.
    dW_dec : (k, n) array
        ``2 (C * (W^T W)) W_dec``.
    """
    m = X.shape[0]
    S = activation.deriv(A, H)                          # (m, k)
    S2 = activation.deriv2(A, H)                        # (m, k)
    G_dec = W_dec @ W_dec.T                             # (k, k)
    G_enc = W.T @ W                                     # (k, k)
    SM = S @ (G_dec * G_enc)                            # (m, k): rows s_i^T M
    penalty = lam * float(np.einsum("ij,ij->", SM, S)) / m
    G = (2.0 * lam / m) * SM * S2                       # (m, k): d penalty / d A
    C = (lam / m) * (S.T @ S)                           # (k, k): d penalty / d M
    dW = X.T @ G + 2.0 * W @ (C * G_dec)
    dW_dec = 2.0 * (C * G_enc) @ W_dec
    db = G.sum(axis=0)
    return penalty, dW, db, dW_dec


# ----------------------------------------------------------------------------- corruption
def _mask(X, level, rng):
    keep = rng.random(X.shape) >= level
    return X * keep


def _gaussian(X, level, rng):
    return X + rng.standard_normal(X.shape).astype(X.dtype, copy=False) * X.dtype.type(level)


def _salt_and_pepper(X, level, rng):
    Xc = X.copy()
    hit = rng.random(X.shape) < level
    Xc[hit] = (rng.random(int(hit.sum())) < 0.5).astype(X.dtype)
    return Xc


#: name -> function ``(X, level, rng) -> corrupted copy``
CORRUPTIONS = {
    "mask": _mask,                    # each entry set to 0 with probability `level`
    "gaussian": _gaussian,            # add N(0, level^2) noise to each entry
    "salt_and_pepper": _salt_and_pepper,  # each entry set to 0 or 1 (fair coin) with probability `level`
}


def corrupt(X, kind, level, rng=None):
    """Return a corrupted copy of ``X`` (the input is never modified).

    Parameters
    ----------
    X : (m, n) array
    kind : {"mask", "gaussian", "salt_and_pepper"}
        Masking noise zeroes each entry with probability ``level``; Gaussian noise adds
        ``N(0, level^2)``; salt-and-pepper sets each entry, with probability ``level``, to 0 or 1.
    level : float
        Probability in [0, 1] (mask, salt_and_pepper) or standard deviation >= 0 (gaussian).
    rng : numpy.random.Generator or int or None
        Source of randomness (seeded for reproducibility).

    Returns
    -------
    X_tilde : (m, n) array, dtype of ``X``
    """
    if kind not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {kind!r}; valid kinds are {list(CORRUPTIONS)}")
    level = float(level)
    if not np.isfinite(level) or level < 0 or (kind != "gaussian" and level > 1):
        raise ValueError(
            f"corruption level for {kind!r} must be {'>= 0' if kind == 'gaussian' else 'a probability in [0, 1]'}; got {level}"
        )
    X = np.asarray(X)
    rng = np.random.default_rng(rng)
    return CORRUPTIONS[kind](X, level, rng)


# ----------------------------------------------------------------------------- weight length
def project_weight_length(W, alpha):
    """Rescale every column of ``W`` (one hidden unit's weights) to squared norm ``alpha``, in place.

    The weight-length constraint of Im, Belghazi and Memisevic (2016): ``||w_j||^2 = alpha`` for all
    hidden units ``j``. A zero column is left at zero (it has no direction to keep).

    Parameters
    ----------
    W : (n, k) array
        Encoder weights, modified in place.
    alpha : float
        Target squared norm, > 0.

    Returns
    -------
    W : (n, k) array
        The same array.
    """
    norms = np.sqrt(np.einsum("ij,ij->j", W, W))
    scale = np.where(norms > 0, np.sqrt(alpha) / np.where(norms > 0, norms, 1), 1).astype(W.dtype)
    W *= scale
    return W
