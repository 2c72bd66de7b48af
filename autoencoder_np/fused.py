"""A fused, allocation-free, multi-core training step for the common one-hidden-layer autoencoder.

The general path (:meth:`Autoencoder._loss_and_grads`) is written for reading: one layer at a
time, fresh arrays everywhere. Training spends its time in that step, so for the common case
(one hidden layer, tied or untied, optionally L2 weight decay) :class:`FusedStep` computes the
SAME loss and gradients (and, in :meth:`FusedStep.train_step`, the optimizer's update too):

* every buffer is allocated once per batch size and every elementwise operation is done in
  place, in the model's dtype (float32 stays float32 end to end);
* the output sigmoid and the cross-entropy share one ``e = exp(-|z|)``: ``sigmoid(z) = 1/(1+e)``
  (z >= 0) or ``e/(1+e)`` (z < 0), and ``log1p(e) = log(u) + (e - (u - 1))`` with ``u = 1 + e``
  rounded (the second term puts back what the rounding of ``u`` lost; both subtractions are
  exact), which keeps full relative precision for tiny ``e`` where NumPy's own float32
  ``log1p``, not vectorised, is six times slower than ``log``; and the loss needs only the sum
  of the ``log(u)``, taken as the log of products of 32 values each (:func:`_sum_log_`);
* plain SGD's learning rate is taken into ``dL/dZ`` (every gradient is a product of it), so its
  update is one pass per parameter;
* the work is split between ``workers`` threads (NumPy releases the GIL in matrix products and
  in ufuncs), each running single-threaded BLAS on its own share. Phase 1 splits the batch by
  rows (forward, loss, backward to the hidden layer: every row is independent). Phase 2 splits
  the weight gradients by rows of the gradient (``dW[i] = X[:, i].T @ dA`` needs every example
  but only column ``i`` of ``X``) and applies the optimizer's update to the same rows at once.
  The products run about as fast this way as on two BLAS threads; what is gained is that the
  elementwise passes, single-threaded in NumPy, are split too (``benchmarks/README.md`` has the
  measurements, ``benchmarks/profile_step.py`` the breakdown of a step). The helper threads
  persist between steps and are handed their shares through plain locks
  (:class:`autoencoder_np._helper_threads.HelperThreads`).

Thread count: as many workers as NumPy's BLAS is set to use (``OPENBLAS_NUM_THREADS``, or
``threadpoolctl.threadpool_limits(1)`` around ``fit`` for one), at most ``MAX_DEFAULT_WORKERS``,
and never fewer than ``MIN_ROWS_PER_WORKER`` rows of the batch each.

The tests check it against the general path to rounding error, with one worker and with several;
:func:`fused_supported` says which models it handles (the others train on the general path).
"""
from __future__ import annotations

import contextlib
import weakref

import numpy as np

from ._blas import blas_threads, single_threaded
from ._helper_threads import HelperThreads
from .optimizers import SGD

__all__ = ["FusedStep", "fused_supported", "blas_threads"]

#: fewest batch rows per worker; smaller shares make the matrix products inefficient
#: (single-threaded float32 GEMM here: 63 / 75 / 80 / 82 GFLOP/s for 16 / 32 / 64 / 128 rows)
MIN_ROWS_PER_WORKER = 16
#: most workers by default. Every NumPy call of every worker takes the GIL for a moment; with many
#: workers those moments add up to a serial bottleneck. Measured only on 2 cores, so the cap is a
#: guess for larger machines; FusedStep(model, workers=N) overrides it.
MAX_DEFAULT_WORKERS = 4


# --------------------------------------------------------------------------- in-place activations
# forward(A) overwrites A with g(A);
# deriv(H, out) writes g'(A) computed from the OUTPUT H = g(A) (for these four, g' is a function of g)
def _sigmoid_(A):
    """A <- sigmoid(A) = 1 / (1 + exp(-A)), in four passes.

    exp(-a) overflows to inf below a = -88.7 (float32; -709 in float64), and 1 / (1 + inf) = 0
    there, which is the sigmoid rounded to the dtype (a subnormal at most): the overflow is
    expected and silenced. The relative error is that of exp everywhere (no cancellation).
    """
    np.negative(A, out=A)
    _sigmoid_of_negated_(A)


def _sigmoid_of_negated_(N):
    """N <- sigmoid(-N) = 1 / (1 + exp(N)): :func:`_sigmoid_` for an input already negated."""
    with np.errstate(over="ignore"):
        np.exp(N, out=N)
    N += 1
    np.reciprocal(N, out=N)


def _sigmoid_deriv(H, out):
    np.multiply(H, H, out=out)
    np.subtract(H, out, out=out)            # H - H^2 = H (1 - H)


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


#: :func:`_sum_log_` multiplies halves together this many times before taking logs
LOG_PRODUCT_DEPTH = 5


def _sum_log_(U):
    """``sum(log(U))`` for a contiguous U with values in [1, 2]; U is overwritten.

    The log of products of 2**LOG_PRODUCT_DEPTH = 32 values each: the second half of the values
    is multiplied into the first, five times over, and one value in 32 is left to take the log
    of. NumPy's float32 ``log`` costs 2-3 ns per element here, a multiplication about 0.1 ns, so
    this takes about a quarter of the time of ``log(U).sum()``. The products stay below
    ``2**32`` (no overflow in float32). Each of the 31 multiplications of a product rounds once
    (relative error ``2**-24`` in float32), so the absolute error of the sum is at most about
    one rounding unit of 1 per element, like that of the direct sum's logs; the tests check it,
    and the whole loss against the general path.
    """
    u = U.reshape(-1)
    length = u.size
    for _ in range(LOG_PRODUCT_DEPTH):
        half = length // 2                     # u[:half] *= the last ``half`` values; with an odd
        np.multiply(u[:half], u[length - half:length], out=u[:half])   # length the middle one stays
        length -= half
    return float(np.log(u[:length], out=u[:length]).sum())


def fused_supported(model):
    """True when :class:`FusedStep` computes this model's objective exactly.

    A subclass that overrides ``_loss_and_grads`` (a different objective) is never fused: the
    model says so itself (``has_standard_objective``), so this module needs no import of it.
    """
    return (model.has_standard_objective()
            and len(model.hidden_sizes) == 1 and model.sparsity == 0 and model.contraction == 0
            and model.encoder in _INPLACE and model.decoder in _INPLACE)


def _split(length, parts):
    """``parts`` contiguous slices covering ``range(length)``, sizes differing by at most one."""
    edges = np.linspace(0, length, parts + 1).round().astype(int)
    return [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


# --------------------------------------------------------------------------- the step
class FusedStep:
    """``step(X, T) -> (loss, grads)`` with the model's objective, without allocations.

    The returned gradient arrays are buffers that the next call overwrites: consume them (an
    optimizer step) before calling again. :meth:`train_step` also applies an optimizer's update,
    inside the parallel phase.

    Parameters
    ----------
    model : Autoencoder
        A model for which :func:`fused_supported` is true.
    workers : int or None
        Threads sharing a step. None: as many as NumPy's BLAS is set to use (so
        ``OPENBLAS_NUM_THREADS=1`` means one), at most ``MAX_DEFAULT_WORKERS``. Never fewer than
        ``MIN_ROWS_PER_WORKER`` batch rows each. With more than one worker, BLAS runs single-threaded
        inside the step (and is restored after it).
    """

    def __init__(self, model, workers=None):
        if not fused_supported(model):
            raise ValueError(f"{model!r} is not supported by the fused step; use model.loss_and_grads")
        if workers is None:
            workers = min(blas_threads(), MAX_DEFAULT_WORKERS)
        elif isinstance(workers, bool) or not (isinstance(workers, (int, np.integer)) and workers >= 1):
            raise ValueError(f"workers must be a positive integer; got {workers!r}")
        self.model, self.max_workers = model, int(workers)
        self.encode_, self.encode_deriv = _INPLACE[model.encoder]
        # a sigmoid encoder needs -(X W + b) = (-b) - X W: one pass over H instead of two, with -b
        # made once per step
        self.neg_b = np.empty_like(model.params["b"]) if model.encoder == "sigmoid" else None
        self.decode_, self.decode_deriv = _INPLACE[model.decoder]
        self.cross_entropy = model.loss_name == "cross_entropy"
        self.grads = {name: np.empty_like(p) for name, p in model.params.items()}
        n, k = model.n_visible, model.n_hidden
        self.scratch_W = np.empty((n, k), dtype=model.dtype) if model.tied else None  # decoder path of dW
        self.buffers = {}
        # helper threads, started at the first step that is split and stopped with this object
        self._helpers = HelperThreads(self.max_workers - 1)
        weakref.finalize(self, self._helpers.close)

    # -- buffers and work shares, made once per batch size
    def _plan(self, m):
        if m not in self.buffers:
            n, k, dt = self.model.n_visible, self.model.n_hidden, self.model.dtype
            workers = max(1, min(self.max_workers, m // MIN_ROWS_PER_WORKER))
            self.buffers[m] = {
                "H": np.empty((m, k), dt), "dH": np.empty((m, k), dt), "D": np.empty((m, k), dt),
                "Z": np.empty((m, n), dt), "S": np.empty((m, n), dt),
                "U": np.empty((m, n), dt), "F_z": np.empty((m, n), dt),
                "workers": workers, "rows": _split(m, workers), "vis": _split(n, workers),
                "hid": _split(k, workers),
            }
        return self.buffers[m]

    def _run(self, fn, workers):
        """fn(0), ..., fn(workers - 1), the first on this thread; their results in order."""
        return self._helpers.run(fn, workers)

    # -- phase 1: rows r of the batch, forward to the loss and backward to the hidden layer
    def _rows(self, X, T, buf, r, scale):
        model, p = self.model, self.model.params
        W = p["W"]
        W_dec = W.T if model.tied else p["W_dec"]
        H, dH, Z, S, U = (buf[name][r] for name in ("H", "dH", "Z", "S", "U"))
        X, T = X[r], T[r]

        np.matmul(X, W, out=H)                         # H = g(X W + b)
        if self.neg_b is not None:
            np.subtract(self.neg_b, H, out=H)
            _sigmoid_of_negated_(H)
        else:
            H += p["b"]
            self.encode_(H)
        np.matmul(H, W_dec, out=Z)                     # Z = H W_dec + c
        Z += p["c"]

        if self.cross_entropy:
            # sum over the rows of max(z, 0) - t z + log1p(e), e = exp(-|z|); then the sigmoid from
            # the same e: 1 / (1 + e) for z >= 0, e / (1 + e) for z < 0, i.e. F / (1 + e) with the
            # numerator F = max(e, [z >= 0]) (e <= 1, and e = 1 at z = 0): no overflow, no
            # cancellation, and no masked ufunc (NumPy's ``where=`` loops are not vectorised)
            F = buf["F_z"][r]
            np.greater_equal(Z, 0, out=F)              # F = [z >= 0], so max(z, 0) = z F
            total = float(np.vdot(Z, F)) - float(np.vdot(T, Z))
            np.abs(Z, out=S)
            np.negative(S, out=S)
            np.exp(S, out=S)                           # S = e = exp(-|z|), in (0, 1]
            np.add(S, 1, out=U)                        # U = 1 + e, rounded
            np.subtract(U, 1, out=Z)                   # Z is free now: log1p(e) = log(U) + (e - (U - 1)),
            np.subtract(S, Z, out=Z)                   # where U - 1 and e - (U - 1) are exact
            total += float(Z.sum())
            np.maximum(S, F, out=F)                    # sigmoid(z) = F / (1 + e), F = max(e, [z >= 0])
            np.divide(F, U, out=Z)
            total += _sum_log_(U)                      # + sum of log(U); U is used up
            np.subtract(Z, T, out=Z)                   # dL/dZ = (sigmoid(Z) - T) / m
            Z *= scale                                 # (scale = 1/m, or lr/m for plain SGD)
        else:
            # sum over the rows of (f(z) - t)^2; dL/dZ = (2/m) (f(Z) - T) f'(Z)
            self.decode_(Z)
            if self.decode_deriv is not None:
                self.decode_deriv(Z, S)
            Z -= T
            total = float(np.vdot(Z, Z))
            if self.decode_deriv is not None:
                Z *= S
            Z *= 2 * scale
        np.matmul(Z, W_dec.T, out=dH)                  # dL/dH, then dL/dA = dL/dH * g'(A)
        if self.encode_deriv is not None:
            D = buf["D"][r]
            self.encode_deriv(H, D)
            dH *= D
        return total

    # -- phase 2: rows of the gradients (visible units i, hidden units j), then the update
    def _grads(self, X, buf, i, j, optimizer, lr):
        """Gradient rows i (W, c) and j (W_dec, b), times ``lr`` (see :meth:`_step`); then the update.

        ``lr`` is 1 unless plain SGD's learning rate was taken into dL/dZ.
        """
        model, p, g = self.model, self.model.params, self.grads
        H, dH, dZ = buf["H"], buf["dH"], buf["Z"]
        np.matmul(X[:, i].T, dH, out=g["W"][i])        # dW = X^T dA          (n, k)
        if model.tied:
            np.matmul(dZ[:, i].T, H, out=self.scratch_W[i])   # + the decoder's (H^T dZ)^T
            g["W"][i] += self.scratch_W[i]
        else:
            np.matmul(H[:, j].T, dZ, out=g["W_dec"][j])      # dW_dec = H^T dZ      (k, n)
        np.sum(dH[:, j], axis=0, out=g["b"][j])
        np.sum(dZ[:, i], axis=0, out=g["c"][i])
        blocks = (("W", i), ("b", j), ("c", i)) + (() if model.tied else (("W_dec", j),))
        penalty = 0.0
        if model.weight_decay > 0:
            decay = model.dtype.type(lr * model.weight_decay)
            for name, rows in blocks:
                if name.startswith("W"):
                    block = p[name][rows]
                    penalty += float(np.vdot(block, block))
                    g[name][rows] += decay * block
            penalty *= 0.5 * model.weight_decay
        if optimizer is not None:
            for name, rows in blocks:
                if lr != 1:   # plain SGD, learning rate already in the gradient: p <- p - (lr g)
                    block = p[name][rows]
                    block -= g[name][rows]
                else:
                    optimizer.update(name, p[name], g[name], rows)
        return penalty

    def _step(self, X, T, optimizer):
        m = X.shape[0]
        buf = self._plan(m)
        workers = buf["workers"]
        # plain SGD (not a subclass with its own rule) takes its learning rate into dL/dZ, which
        # every gradient is a product of: the update is then one pass, p -= g, per parameter
        lr = optimizer.lr if optimizer is not None and type(optimizer).update is SGD.update else 1
        scale = self.model.dtype.type(lr / m)
        # BLAS stays single-threaded even for a batch too small to split (the last one of an
        # epoch, say): woken OpenBLAS threads keep spinning for a while and would compete with
        # the workers of the following steps
        if self.neg_b is not None:
            np.negative(self.model.params["b"], out=self.neg_b)
        with single_threaded() if self.max_workers > 1 else contextlib.nullcontext():
            totals = self._run(lambda w: self._rows(X, T, buf, buf["rows"][w], scale), workers)
            loss = sum(totals) / m
            if not np.isfinite(loss):
                raise FloatingPointError(
                    f"the loss became {loss}: the parameters or data overflowed (try a smaller learning rate)")
            if optimizer is not None:
                optimizer.begin_step(self.model.params)
            penalties = self._run(
                lambda w: self._grads(X, buf, buf["vis"][w], buf["hid"][w], optimizer, lr), workers)
        return loss + sum(penalties)

    def __call__(self, X, T):
        """The loss and the gradients of the model's objective on inputs ``X``, targets ``T``.

        Parameters
        ----------
        X, T : (m, n) arrays
            Validated inputs and targets, in the model's dtype.

        Returns
        -------
        loss : float
        grads : dict of str -> array
            Buffers overwritten by the next call.
        """
        return self._step(X, T, None), self.grads

    def train_step(self, X, T, optimizer):
        """One optimisation step: the loss at the current parameters, then ``optimizer``'s update.

        The update is applied row block by row block inside the parallel phase (each block right
        after its gradient), through ``optimizer.begin_step(params)`` and ``optimizer.update(name, p, g,
        rows)``; the result equals ``optimizer.step(params, grads)`` after :meth:`__call__`. For
        plain SGD the learning rate is taken into ``dL/dZ`` instead (every gradient is a product of
        it), so the update is one pass per parameter; the gradient buffers then hold ``lr`` times
        the gradients.

        Returns
        -------
        loss : float
            The objective before the update.
        """
        return self._step(X, T, optimizer)
