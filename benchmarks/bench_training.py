"""Speed benchmark: one epoch of a 784-500-784 sigmoid/cross-entropy autoencoder, NumPy vs PyTorch.

    make bench                      # installs the optional 'bench' extra (PyTorch, CPU) and runs this
    python benchmarks/bench_training.py [--repeats 5] [--quick]

Everything is measured in the same run, so the ratios do not depend on the machine:

* the machine's float32 GEMM rate for exactly the five matrix products of a step
  (2 forward, 2 weight gradients, 1 hidden gradient), hence the epoch's floor
  ``10 * m * 784 * 500`` flops at that rate;
* one epoch of plain minibatch SGD (batch 128, float32, no shuffling) in autoencoder_np and in
  PyTorch on the CPU, from the same initial weights over the same batches; the two must reach the
  same loss within 1% (nothing may be faster by skipping work);
* float64 vs float32, batch sizes 32 / 128 / 512, tied vs untied;
* the peak memory of a full-MNIST-sized run (60,000 x 784) against the size of the data.

Times are the best of ``--repeats`` runs (the minimum is the least noisy estimate of the cost).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from autoencoder_np import Autoencoder  # noqa: E402
from autoencoder_np.datasets import MnistNotFoundError, load_mnist  # noqa: E402

N_VIS, N_HID, LR = 784, 500, 0.1


def load_data():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            X, _ = load_mnist(split=None)
        return X, "MNIST"
    except MnistNotFoundError:
        rng = np.random.default_rng(0)
        return (rng.random((10000, N_VIS)) < 0.13).astype(np.float64), "random binary images (MNIST not found)"


def best_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def gemm_floor(m, batch, dtype, repeats):
    """Seconds for the five GEMMs of every step of one epoch, measured with the step's shapes."""
    rng = np.random.default_rng(0)
    X = rng.random((batch, N_VIS)).astype(dtype)
    W = rng.random((N_VIS, N_HID)).astype(dtype)
    Wd = rng.random((N_HID, N_VIS)).astype(dtype)
    H = np.empty((batch, N_HID), dtype)
    Z = np.empty((batch, N_VIS), dtype)
    gW, gWd, dH = np.empty_like(W), np.empty_like(Wd), np.empty_like(H)

    def five():
        np.matmul(X, W, out=H)
        np.matmul(H, Wd, out=Z)
        np.matmul(H.T, Z, out=gWd)
        np.matmul(Z, Wd.T, out=dH)
        np.matmul(X.T, dH, out=gW)

    steps = -(-m // batch)
    for _ in range(3):
        five()
    per_step = best_time(lambda: [five() for _ in range(20)], repeats) / 20
    flops = 10 * batch * N_VIS * N_HID
    return per_step * steps, flops / per_step


def numpy_epoch(X, batch, dtype, tied, repeats):
    def run():
        model = Autoencoder(N_VIS, N_HID, dtype=dtype, tied=tied, seed=0)
        model.fit(X, epochs=1, batch_size=batch, lr=LR, optimizer="sgd", shuffle=False, progress=False)
        return model

    Xd = X.astype(dtype)
    run()  # warm-up
    seconds = best_time(lambda: run(), repeats)
    return seconds, run()


def torch_epoch(X, batch, dtype, tied, repeats, init):
    import torch

    tdtype = {np.float32: torch.float32, np.float64: torch.float64}[dtype]
    Xt = torch.from_numpy(X.astype(dtype))

    def run():
        W = torch.tensor(init["W"], dtype=tdtype, requires_grad=True)
        b = torch.zeros(N_HID, dtype=tdtype, requires_grad=True)
        c = torch.zeros(N_VIS, dtype=tdtype, requires_grad=True)
        params = [W, b, c]
        if not tied:
            Wd = torch.tensor(init["W_dec"], dtype=tdtype, requires_grad=True)
            params.append(Wd)
        opt = torch.optim.SGD(params, lr=LR)
        loss_fn = torch.nn.BCEWithLogitsLoss(reduction="sum")
        for start in range(0, len(Xt), batch):
            xb = Xt[start:start + batch]
            h = torch.sigmoid(xb @ W + b)
            z = h @ (W.T if tied else Wd) + c
            loss = loss_fn(z, xb) / len(xb)   # mean over examples of the sum over features
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return {"W": W.detach().numpy(), "b": b.detach().numpy(), "c": c.detach().numpy(),
                **({} if tied else {"W_dec": Wd.detach().numpy()})}

    with torch.no_grad():
        pass
    run()  # warm-up
    seconds = best_time(run, repeats)
    return seconds, run()


def full_loss(params, X, dtype, tied):
    model = Autoencoder(N_VIS, N_HID, dtype=np.float64, tied=tied, seed=0)
    model.set_params({k: np.asarray(v, dtype=np.float64) for k, v in params.items()})
    return model.loss(X)


def peak_memory(X, batch, repeats_data=6):
    """Peak traced memory of one float32 epoch on a 60,000 x 784 set (tiled from X if smaller)."""
    big = np.ascontiguousarray(np.tile(X, (-(-60000 // len(X)), 1))[:60000].astype(np.float32))
    model = Autoencoder(N_VIS, N_HID, dtype=np.float32, seed=0)
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    model.fit(big, epochs=1, batch_size=batch, lr=LR, optimizer="sgd", progress=False)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return big.nbytes, peak


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="fewer repeats, skip the memory run")
    args = ap.parse_args(argv)
    repeats = 2 if args.quick else args.repeats
    try:
        import torch
    except ImportError:
        sys.exit("PyTorch is not installed: run `make bench`, or pip install -e '.[bench]'")
    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    from threadpoolctl import threadpool_info

    X, source = load_data()
    m = len(X)
    blas = ", ".join(f"{d['internal_api']} {d.get('version')} ({d.get('architecture')}, {d['num_threads']} threads)"
                     for d in threadpool_info() if d["user_api"] == "blas")
    print(f"data: {source}, {m} x {N_VIS}; model {N_VIS}-{N_HID}-{N_VIS} sigmoid/cross-entropy, plain SGD lr={LR}")
    print(f"numpy {np.__version__} [{blas}]; torch {torch.__version__} ({torch.get_num_threads()} threads); best of {repeats}\n")

    rows = []
    configs = [(128, np.float32, False)]
    if not args.quick:
        configs += [(32, np.float32, False), (512, np.float32, False), (128, np.float64, False), (128, np.float32, True)]
    for batch, dtype, tied in configs:
        floor, rate = gemm_floor(m, batch, dtype, repeats)
        t_np, model = numpy_epoch(X, batch, dtype, tied, repeats)
        init = Autoencoder(N_VIS, N_HID, dtype=dtype, tied=tied, seed=0).params
        t_torch, torch_params = torch_epoch(X, batch, dtype, tied, repeats, init)
        loss_np = full_loss(model.params, X, dtype, tied)
        loss_torch = full_loss(torch_params, X, dtype, tied)
        gap = abs(loss_np - loss_torch) / abs(loss_torch)
        rows.append((batch, np.dtype(dtype).name, "tied" if tied else "untied", t_np, t_torch, t_np / t_torch,
                     floor / t_np, rate / 1e9, loss_np, loss_torch, gap))
        if gap > 0.01:
            print(f"WARNING: losses differ by {gap:.2%} (> 1%): the comparison is void", file=sys.stderr)

    head = ("batch", "dtype", "weights", "numpy s", "torch s", "numpy/torch", "of GEMM floor", "GEMM GFLOP/s",
            "loss numpy", "loss torch", "loss gap")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.3f} | {r[4]:.3f} | {r[5]:.2f}x | {r[6]:.0%} | {r[7]:.1f} | "
              f"{r[8]:.3f} | {r[9]:.3f} | {r[10]:.1e} |")
    if not args.quick:
        data_bytes, peak = peak_memory(X, 128)
        print(f"\npeak memory of a 60,000 x 784 float32 epoch (batch 128), beyond the data: {peak / 2**20:.1f} MiB "
              f"= {peak / data_bytes:.1%} of the data's own {data_bytes / 2**20:.1f} MiB")
    headline = rows[0]
    print(f"\nheadline (batch 128, float32, untied): numpy epoch = {headline[5]:.2f}x PyTorch's time, "
          f"{headline[6]:.0%} of the GEMM floor (goal: <= 0.80x and >= 75%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
