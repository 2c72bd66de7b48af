"""Where the time of one fused training step goes (784-500-784, sigmoid/cross-entropy, float32, SGD).

    python benchmarks/profile_step.py [--batch 128] [--rounds 15]

Times, in one process, with single-threaded BLAS (as inside the step):

* one worker's share of each phase run alone (phase 1: its rows of the batch; phase 2: its rows
  of the gradients and their update), and the same share's matrix products alone: the
  difference is the elementwise work, the reductions and the update;
* the whole step split between the workers, and the step's matrix products split the same way
  without anything else: the difference between "parallel" and "alone" is what running side by
  side costs (thread hand-offs, the GIL, and cores slowing each other down).

Each figure is the best of ``--rounds`` rounds of 20 calls, rounds alternating between the
measurements so that a slow spell of a shared machine hits them alike.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from autoencoder_np import Autoencoder  # noqa: E402
from autoencoder_np._blas import blas_threads, single_threaded  # noqa: E402
from autoencoder_np.fused import FusedStep  # noqa: E402
from autoencoder_np.optimizers import SGD  # noqa: E402

N_VIS, N_HID, LR = 784, 500, 0.01


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args(argv)
    m = args.batch
    rng = np.random.default_rng(0)
    X = (rng.random((m, N_VIS)) < 0.2).astype(np.float32)
    model = Autoencoder(N_VIS, N_HID, dtype=np.float32, seed=0)
    step, opt = FusedStep(model), SGD(LR)
    step.train_step(X, X, opt)   # buffers made, lr folded as in training
    buf = step._plan(m)
    workers, p, g = buf["workers"], model.params, step.grads
    scale = np.float32(LR / m)
    r, i, j = buf["rows"][0], buf["vis"][0], buf["hid"][0]
    # the products alone write into buffers of their own (the step's must stay consistent)
    H, Z, dH = (np.empty_like(buf[name]) for name in ("H", "Z", "dH"))
    gW, gW_dec = np.empty_like(g["W"]), np.empty_like(g["W_dec"])
    params = {name: value.copy() for name, value in p.items()}   # the update alone works on a copy

    def gemms1(w):
        rw = buf["rows"][w]
        np.matmul(X[rw], params["W"], out=H[rw])
        np.matmul(H[rw], params["W_dec"], out=Z[rw])
        np.matmul(Z[rw], params["W_dec"].T, out=dH[rw])

    def gemms2(w):
        iw, jw = buf["vis"][w], buf["hid"][w]
        np.matmul(X[:, iw].T, dH, out=gW[iw])
        np.matmul(H[:, jw].T, Z, out=gW_dec[jw])

    def whole(w):
        gemms1(w)
        gemms2(w)

    def update(w):
        iw, jw = buf["vis"][w], buf["hid"][w]
        for name, rows in (("W", iw), ("b", jw), ("c", iw), ("W_dec", jw)):
            block = params[name][rows]
            block -= g[name][rows]

    np.matmul(X, params["W"], out=H)
    np.matmul(H, params["W_dec"], out=Z)
    np.matmul(Z, params["W_dec"].T, out=dH)
    measurements = {
        "phase 1 share alone": lambda: step._rows(X, X, buf, r, scale),
        "  its 3 matrix products": lambda: gemms1(0),
        "phase 2 share alone (gradients)": lambda: step._grads(X, buf, i, j, None, LR),
        "  its 2 matrix products": lambda: gemms2(0),
        "  its update (p -= lr g)": lambda: update(0),
        "step, split between workers": lambda: step.train_step(X, X, opt),
        "  its matrix products, split alike": lambda: (step._run(gemms1, workers), step._run(gemms2, workers)),
        "  one share of them alone": lambda: whole(0),
    }
    best = {}
    with single_threaded():
        for _ in range(args.rounds):
            for name, fn in measurements.items():
                fn()
                t0 = time.perf_counter()
                for _ in range(20):
                    fn()
                ms = (time.perf_counter() - t0) / 20 * 1e3
                best[name] = min(best.get(name, ms), ms)
    print(f"batch {m}, {workers} workers (BLAS would use {blas_threads()} threads); ms per call, best of "
          f"{args.rounds} rounds x 20\n")
    for name, ms in best.items():
        print(f"{name:38s} {ms:7.3f}")
    t = list(best.values())
    own = t[0] - t[1] + t[2] - t[3] + t[4]
    print(f"\nelementwise work, reductions and update of one share: {own:.3f} ms "
          f"(phase 1 {t[0] - t[1]:.3f}, phase 2 {t[2] - t[3]:.3f}, update {t[4]:.3f})")
    print(f"matrix products: {t[6] / t[5]:.0%} of the step; running side by side costs "
          f"{t[5] - (t[0] + t[2] + t[4]):.3f} ms over one share alone ({t[6] - t[7]:.3f} of it for the products alone)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
