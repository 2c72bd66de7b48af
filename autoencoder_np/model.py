"""The autoencoder: forward pass, hand-written backward pass, Jacobian and energy.

Notation (the whole course): examples are rows. ``X`` is ``(m, n)``. One encoder layer computes
``H = g(X W + b)`` with ``W`` of shape ``(n, k)``; the decoder computes ``Xhat = f(H W_dec + c)``
with ``W_dec`` of shape ``(k, n)``. Tied weights mean ``W_dec = W.T``. In the notation of Im,
Belghazi and Memisevic (2016), ``r(x) = R h(W^T x + b) + c``, their ``W`` is our ``W`` and their
``R`` is our ``W_dec.T``.

Deeper stacks: ``n_hidden=(k1, k2, ...)`` gives encoder layers ``W1 (n, k1), W2 (k1, k2), ...``
and either a mirrored decoder (``decoder_depth="mirror"``: layers ``W_dec2 (k2, k1)``,
``W_dec1 (k1, n)``, the hidden ones with the encoder's activation) or one layer
(``decoder_depth="single"``: ``W_dec (k_last, n)``).
"""
from __future__ import annotations

import copy as _copy
import numbers

import numpy as np

from ._validation import as_data, check_nonneg_float, check_positive_int, check_unit_interval
from .activations import DECODER_ACTIVATIONS, ENCODER_ACTIVATIONS, get_activation
from .layers import activation_backward, dense_backward, dense_forward
from .losses import LOSS_NAMES, LOSSES
from .regularizers import (
    CORRUPTIONS, contractive_penalty, project_weight_length, reconstruction_contractive_penalty,
    sparsity_penalty, weight_decay_penalty,
)
from .training import fit as _fit

__all__ = ["Autoencoder"]

_DTYPES = (np.float32, np.float64)


class _Layer:
    """One affine layer plus activation. ``transposed`` means it uses ``params[weight].T`` (tying)."""

    __slots__ = ("weight", "bias", "transposed", "activation")

    def __init__(self, weight, bias, transposed, activation):
        self.weight, self.bias, self.transposed, self.activation = weight, bias, transposed, activation


class Autoencoder:
    """A fully connected autoencoder with hand-written backpropagation.

    Parameters
    ----------
    n_visible : int
        Number of input features ``n``.
    n_hidden : int or sequence of int
        Code size ``k``, or the sizes ``(k1, k2, ...)`` of a deeper encoder.
    encoder : {"sigmoid", "tanh", "relu", "softplus", "linear"}
        Hidden activation ``g`` (all encoder layers, and the hidden decoder layers of a mirror).
    decoder : {"sigmoid", "linear", "tanh"}
        Output activation ``f``.
    loss : {"cross_entropy", "squared_error"}
        Reconstruction loss, mean over examples of the sum over features (see
        :mod:`autoencoder_np.losses`). Cross-entropy needs ``decoder="sigmoid"``.
    tied : bool
        ``W_dec = W.T`` (for a deep mirror, every decoder layer is its encoder layer transposed).
    decoder_depth : {"mirror", "single"}
        For a deep encoder: mirror the encoder, or decode with one layer. Irrelevant for one layer.
    dtype : numpy.float32 or numpy.float64
        Dtype of every parameter; inputs are converted to it, parameters are never upcast.
    seed : int or None
        Seed of the weight initialisation (and the default seed of :meth:`fit`).
    init_scale : float
        Multiplies the Glorot-uniform bound ``sqrt(6 / (fan_in + fan_out))`` of the initial weights.
    weight_decay : float
        L2 penalty ``(weight_decay / 2) sum ||W||_F^2`` over the weight matrices.
    sparsity : float
        Strength ``beta`` of the KL sparsity penalty on the code layer (needs a sigmoid encoder).
    sparsity_target : float
        Target mean activation ``rho`` of each code unit.
    contraction : float
        Strength of the contractive penalty ``mean_i ||dh(x_i)/dx||_F^2`` (one encoder layer), or of
        ``mean_i ||dr(x_i)/dx||_F^2`` with ``contraction_of="reconstruction"``.
    contraction_of : {"code", "reconstruction"}
        Whose Jacobian the contractive penalty shrinks: the code's ``dh/dx`` (Rifai et al. 2011, the
        default) or the reconstruction's ``dr/dx`` (Alain and Bengio 2014; needs one hidden layer
        and a linear decoder).
    weight_length : float or None
        If set, every encoder column ``W[:, j]`` is kept at squared norm ``weight_length``
        (projected at initialisation and after every optimizer step).
    corruption : {None, "mask", "gaussian", "salt_and_pepper"}
        Denoising: :meth:`fit` corrupts each batch and reconstructs the clean target.
    corruption_level : float
        Masking probability, or standard deviation of the Gaussian noise.

    Attributes
    ----------
    params : dict of str -> array
        The arrays the optimizer updates: ``W, b, W_dec, c`` for one layer (no ``W_dec`` when
        tied); ``W1, b1, W2, b2, ..., W_dec2, c2, W_dec1, c1`` for a deep mirror.
    """

    def __init__(self, n_visible, n_hidden, *, encoder="sigmoid", decoder="sigmoid",
                 loss="cross_entropy", tied=False, decoder_depth="mirror", dtype=np.float64,
                 seed=None, init_scale=1.0, weight_decay=0.0, sparsity=0.0, sparsity_target=0.05,
                 contraction=0.0, contraction_of="code", weight_length=None, corruption=None,
                 corruption_level=0.0):
        self.n_visible = check_positive_int(n_visible, "n_visible")
        sizes = (n_hidden,) if isinstance(n_hidden, numbers.Integral) else tuple(n_hidden)
        if not sizes:
            raise ValueError("n_hidden must be a positive integer or a non-empty sequence of them")
        self.hidden_sizes = tuple(check_positive_int(k, "n_hidden") for k in sizes)
        self.n_hidden = self.hidden_sizes[-1]
        self.encoder_activation = get_activation(encoder, ENCODER_ACTIVATIONS, "encoder")
        self.decoder_activation = get_activation(decoder, DECODER_ACTIVATIONS, "decoder")
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; valid names are {list(LOSS_NAMES)}")
        if loss == "cross_entropy" and decoder != "sigmoid":
            raise ValueError(f"loss='cross_entropy' needs decoder='sigmoid' (outputs must be probabilities); got decoder={decoder!r}")
        self.encoder, self.decoder, self.loss_name = encoder, decoder, loss
        if decoder_depth not in ("mirror", "single"):
            raise ValueError(f"decoder_depth must be 'mirror' or 'single'; got {decoder_depth!r}")
        self.decoder_depth = decoder_depth
        self.tied = bool(tied)
        self.dtype = np.dtype(dtype)
        if self.dtype.type not in _DTYPES:
            raise TypeError(f"dtype must be numpy.float32 or numpy.float64; got {self.dtype}")
        self.seed = seed
        self.init_scale = check_nonneg_float(init_scale, "init_scale")
        self.weight_decay = check_nonneg_float(weight_decay, "weight_decay")
        self.sparsity = check_nonneg_float(sparsity, "sparsity")
        self.sparsity_target = check_unit_interval(sparsity_target, "sparsity_target")
        self.contraction = check_nonneg_float(contraction, "contraction")
        if contraction_of not in ("code", "reconstruction"):
            raise ValueError(f"contraction_of must be 'code' or 'reconstruction'; got {contraction_of!r}")
        self.contraction_of = contraction_of
        self.weight_length = None if weight_length is None else check_nonneg_float(weight_length, "weight_length")
        if self.weight_length == 0:
            raise ValueError("weight_length must be > 0 (the squared norm of each encoder column)")
        if corruption is not None and corruption not in CORRUPTIONS:
            raise ValueError(f"unknown corruption {corruption!r}; valid kinds are {[None] + list(CORRUPTIONS)}")
        self.corruption = corruption
        self.corruption_level = check_nonneg_float(corruption_level, "corruption_level")
        if corruption in ("mask", "salt_and_pepper") and self.corruption_level > 1:
            raise ValueError(f"corruption_level for {corruption!r} is a probability in [0, 1]; got {corruption_level}")
        deep = len(self.hidden_sizes) > 1
        if self.sparsity > 0 and encoder != "sigmoid":
            raise ValueError(f"the KL sparsity penalty needs activations in (0, 1): use encoder='sigmoid', not {encoder!r}")
        if self.contraction > 0 and deep:
            raise ValueError("the contractive penalty is implemented for one encoder layer; n_hidden must be an int")
        if self.contraction > 0 and contraction_of == "reconstruction" and decoder != "linear":
            raise ValueError("the reconstruction-contractive penalty (contraction_of='reconstruction') needs "
                             f"decoder='linear'; got decoder={decoder!r}")
        if self.tied and deep and decoder_depth == "single":
            raise ValueError("tied weights need a mirrored decoder; a deep encoder with decoder_depth='single' cannot be tied")
        self._build(np.random.default_rng(seed))

    # ------------------------------------------------------------------ construction
    def _build(self, rng):
        dims = (self.n_visible,) + self.hidden_sizes
        L = len(self.hidden_sizes)
        suffix = (lambda i: "") if L == 1 else str
        self.params = {}
        self.encoder_layers, self.decoder_layers = [], []
        g, f = self.encoder_activation, self.decoder_activation
        for i in range(1, L + 1):
            self.params[f"W{suffix(i)}"] = self._init_weight(rng, dims[i - 1], dims[i])
            self.params[f"b{suffix(i)}"] = np.zeros(dims[i], dtype=self.dtype)
            self.encoder_layers.append(_Layer(f"W{suffix(i)}", f"b{suffix(i)}", False, g))
        if L > 1 and self.decoder_depth == "single":
            self.params["W_dec"] = self._init_weight(rng, dims[-1], dims[0])
            self.params["c"] = np.zeros(dims[0], dtype=self.dtype)
            self.decoder_layers.append(_Layer("W_dec", "c", False, f))
        else:
            for i in range(L, 0, -1):  # mirror: decoder layer i undoes encoder layer i
                act = f if i == 1 else g
                if self.tied:
                    self.decoder_layers.append(_Layer(f"W{suffix(i)}", f"c{suffix(i)}", True, act))
                else:
                    self.params[f"W_dec{suffix(i)}"] = self._init_weight(rng, dims[i], dims[i - 1])
                    self.decoder_layers.append(_Layer(f"W_dec{suffix(i)}", f"c{suffix(i)}", False, act))
                self.params[f"c{suffix(i)}"] = np.zeros(dims[i - 1], dtype=self.dtype)
        self.apply_constraints()

    def _init_weight(self, rng, fan_in, fan_out):
        bound = self.init_scale * np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-bound, bound, size=(fan_in, fan_out)).astype(self.dtype)

    @property
    def layers(self):
        """All layers, encoder first, in the order of the forward pass."""
        return self.encoder_layers + self.decoder_layers

    def _weight(self, layer):
        W = self.params[layer.weight]
        return W.T if layer.transposed else W

    @property
    def W_dec(self):
        """The output layer's effective decoder weights ``(k_last_decoder_in, n)`` (``W.T`` when tied)."""
        return self._weight(self.decoder_layers[-1])

    def apply_constraints(self):
        """Project the encoder's first-layer columns to squared norm ``weight_length`` (if set)."""
        if self.weight_length is not None:
            project_weight_length(self.params[self.encoder_layers[0].weight], self.weight_length)

    def copy(self):
        """A deep copy (parameters included)."""
        return _copy.deepcopy(self)

    def set_params(self, params):
        """Overwrite parameters in place from a dict keyed like :attr:`params` (shapes must match)."""
        for name, value in params.items():
            if name not in self.params:
                raise KeyError(f"unknown parameter {name!r}; the model has {list(self.params)}")
            value = np.asarray(value)
            if value.shape != self.params[name].shape:
                raise ValueError(f"parameter {name!r} must have shape {self.params[name].shape}; got {value.shape}")
            self.params[name][...] = value
        return self

    def __repr__(self):
        sizes = self.hidden_sizes[0] if len(self.hidden_sizes) == 1 else self.hidden_sizes
        return (f"Autoencoder({self.n_visible}, {sizes}, encoder={self.encoder!r}, decoder={self.decoder!r}, "
                f"loss={self.loss_name!r}, tied={self.tied}, dtype={self.dtype.name})")

    # ------------------------------------------------------------------ forward
    def _forward(self, X, layers=None):
        """Run ``layers`` (default: all) on ``X``; returns the output and per-layer caches."""
        caches = []
        A = X
        for layer in (self.layers if layers is None else layers):
            Z, dense_cache = dense_forward(A, self._weight(layer), self.params[layer.bias])
            H = layer.activation.forward(Z)
            caches.append((dense_cache, Z, H))
            A = H
        return A, caches

    def encode(self, X):
        """Codes ``H = g(X W + b)`` (through every encoder layer).

        Parameters
        ----------
        X : (m, n) array, or (n,) for one example

        Returns
        -------
        H : (m, k) array (or (k,))
        """
        X = as_data(X, self.n_visible, self.dtype, allow_1d=True)
        return self._forward(np.atleast_2d(X), self.encoder_layers)[0].reshape(X.shape[:-1] + (-1,))

    def decode(self, H):
        """Reconstructions ``f(H W_dec + c)`` from codes ``H`` of shape ``(m, k)`` (or ``(k,)``)."""
        H = as_data(H, self.n_hidden, self.dtype, name="H", allow_1d=True)
        return self._forward(np.atleast_2d(H), self.decoder_layers)[0].reshape(H.shape[:-1] + (-1,))

    def reconstruct(self, X):
        """``r(X) = decode(encode(X))``: ``(m, n)`` from ``(m, n)`` (or ``(n,)`` from ``(n,)``)."""
        X = as_data(X, self.n_visible, self.dtype, allow_1d=True)
        return self._forward(np.atleast_2d(X))[0].reshape(X.shape)

    def vector_field(self, X):
        """The autoencoder's vector field ``r(X) - X``, same shape as ``X``."""
        X = as_data(X, self.n_visible, self.dtype, allow_1d=True)
        return self.reconstruct(X) - X

    # ------------------------------------------------------------------ loss and backward
    def _check_target(self, T, m):
        T = as_data(T, self.n_visible, self.dtype, name="target")
        if T.shape[0] != m:
            raise ValueError(f"target has {T.shape[0]} rows but X has {m}; they must match")
        if self.loss_name == "cross_entropy" and (T.min() < 0 or T.max() > 1):
            raise ValueError(
                f"cross-entropy targets must lie in [0, 1]; got values in [{T.min():.4g}, {T.max():.4g}]. "
                "Scale the data to [0, 1] or use loss='squared_error'"
            )
        return T

    def loss_and_grads(self, X, target=None):
        """Loss of a batch and its gradient with respect to every parameter.

        Parameters
        ----------
        X : (m, n) array
            Input batch (possibly corrupted).
        target : (m, n) array or None
            What the reconstruction is compared with; defaults to ``X``. A different target serves
            denoising (clean target, corrupted input) and fitting a given vector field.

        Returns
        -------
        loss : float
            Reconstruction loss (mean over examples of the sum over features) plus the penalties.
        grads : dict of str -> array
            Keyed like :attr:`params`, each of the parameter's shape and dtype. With tied weights
            the gradient of ``W`` is the sum of its encoder and decoder contributions.
        """
        X = as_data(X, self.n_visible, self.dtype)
        T = X if target is None else target
        T = self._check_target(T, X.shape[0])
        return self._loss_and_grads(X, T)

    def loss(self, X, target=None):
        """The objective of :meth:`loss_and_grads` without the gradients (float)."""
        return self.loss_and_grads(X, target)[0]

    def has_standard_objective(self) -> bool:
        """Whether this model computes :class:`Autoencoder`'s own objective (a subclass that
        overrides ``_loss_and_grads`` does not; the fused training step then stays off)."""
        return type(self)._loss_and_grads is Autoencoder._loss_and_grads

    def _loss_and_grads(self, X, T):
        """Unchecked core of :meth:`loss_and_grads` (``X`` and ``T`` already validated)."""
        Xhat, caches = self._forward(X)
        layers = self.layers
        loss, dZ = LOSSES[self.loss_name](caches[-1][1], Xhat, T, self.decoder_activation)
        grads = {name: None for name in self.params}

        def accumulate(name, g):
            grads[name] = g if grads[name] is None else grads[name] + g

        code_index = len(self.encoder_layers) - 1
        extra_dH = None
        if self.sparsity > 0:
            penalty, extra_dH = sparsity_penalty(caches[code_index][2], self.sparsity, self.sparsity_target)
            loss += penalty
        for i in range(len(layers) - 1, -1, -1):
            layer = layers[i]
            dense_cache, Z, H = caches[i]
            dA, dW, db = dense_backward(dZ, dense_cache, need_dX=i > 0)
            accumulate(layer.weight, dW.T if layer.transposed else dW)
            accumulate(layer.bias, db)
            if i == 0:
                break
            if i - 1 == code_index and extra_dH is not None:
                dA = dA + extra_dH
            _, Z_prev, H_prev = caches[i - 1]
            dZ = activation_backward(dA, (Z_prev, H_prev, layers[i - 1].activation))
        if self.contraction > 0 and self.contraction_of == "code":
            enc = self.encoder_layers[0]
            _, A1, H1 = caches[0]
            penalty, dW, db = contractive_penalty(
                X, self.params[enc.weight], A1, H1, self.encoder_activation, self.contraction)
            loss += penalty
            accumulate(enc.weight, dW)
            accumulate(enc.bias, db)
        elif self.contraction > 0:
            enc, dec = self.encoder_layers[0], layers[-1]
            _, A1, H1 = caches[0]
            penalty, dW, db, dW_dec = reconstruction_contractive_penalty(
                X, self.params[enc.weight], self.W_dec, A1, H1, self.encoder_activation, self.contraction)
            loss += penalty
            accumulate(enc.weight, dW)
            accumulate(enc.bias, db)
            accumulate(dec.weight, dW_dec.T if dec.transposed else dW_dec)
        if self.weight_decay > 0:
            weights = {name: self.params[name] for name in self.params if name.startswith("W")}
            penalty, wgrads = weight_decay_penalty(weights, self.weight_decay)
            loss += penalty
            for name, g in wgrads.items():
                accumulate(name, g)
        if not np.isfinite(loss):
            raise FloatingPointError(
                f"the loss became {loss}: the parameters or data overflowed (try a smaller learning rate)")
        return loss, grads

    # ------------------------------------------------------------------ training
    def fit(self, X, *, epochs, batch_size=None, lr=0.1, optimizer="sgd", target=None, **options):
        """Train the model; see :func:`autoencoder_np.training.fit` for every option.

        Returns
        -------
        history : dict
            ``"epoch"``, ``"loss"`` (one entry per epoch) and one list per callback.
        """
        return _fit(self, X, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
                   target=target, **options)

    # ------------------------------------------------------------------ analysis
    def jacobian(self, x):
        """Jacobian ``dr(x)/dx`` of the reconstruction, ``J[i, l] = d r_i / d x_l``.

        For one hidden layer, ``J = diag(f'(z)) W_dec^T diag(g'(a)) W^T`` (rows-as-examples
        notation; in the paper's, ``R D_h' W^T`` for a linear decoder).

        Parameters
        ----------
        x : (n,) array or (m, n) array

        Returns
        -------
        J : (n, n) array for one example, (m, n, n) for a batch
        """
        x = as_data(x, self.n_visible, self.dtype, name="x", allow_1d=True)
        X = np.atleast_2d(x)
        _, caches = self._forward(X)
        J = None
        for layer, (_, Z, H) in zip(self.layers, caches):
            d = layer.activation.deriv(Z, H)                 # (m, out)
            Wt = self._weight(layer).T                       # (out, in)
            J = Wt[None] * d[:, :, None] if J is None else (Wt @ J) * d[:, :, None]
        return J[0] if x.ndim == 1 else J

    def energy(self, X):
        """Energy ``F`` of a tied one-layer autoencoder with a linear decoder: ``grad F(x) = r(x) - x``.

        ``F(x) = sum_j G(x W + b)_j - ||x - c||^2 / 2`` where ``G`` is an antiderivative of the
        encoder activation: softplus for the sigmoid (the Gaussian RBM free energy), log cosh for
        tanh, ``relu(u)^2 / 2`` for relu, ``u^2 / 2`` for linear. Defined up to a constant.

        Parameters
        ----------
        X : (m, n) array, or (n,)

        Returns
        -------
        F : (m,) array (or a float for one example)
        """
        reasons = []
        if not self.tied:
            reasons.append("it is untied (an untied autoencoder is conservative only if its Jacobian is symmetric; see symmetricity)")
        if len(self.hidden_sizes) > 1:
            reasons.append("it has more than one hidden layer")
        if self.decoder != "linear":
            reasons.append(f"its decoder is {self.decoder!r}, not 'linear'")
        if self.encoder_activation.antiderivative is None:
            reasons.append(f"the {self.encoder!r} activation has no elementary antiderivative")
        if reasons:
            raise ValueError("energy() is defined here for tied one-layer autoencoders with a linear decoder "
                             "and an encoder in ('sigmoid', 'tanh', 'relu', 'linear'); this model has none because "
                             + "; ".join(reasons))
        x = as_data(X, self.n_visible, self.dtype, allow_1d=True)
        Xb = np.atleast_2d(x)
        U = Xb @ self.params["W"] + self.params["b"]
        D = Xb - self.params["c"]
        F = self.encoder_activation.antiderivative(U).sum(axis=1) - 0.5 * np.einsum("ij,ij->i", D, D)
        return float(F[0]) if x.ndim == 1 else F
