"""Speed benchmark: one epoch of a 784-500-784 sigmoid/cross-entropy autoencoder, NumPy vs PyTorch.

    make bench                      # installs the optional 'bench' extra (PyTorch, CPU) and runs this
    python benchmarks/bench_training.py [--rounds 3] [--repeats 3] [--quick]

Everything is measured in the same run, so the ratios do not depend on the machine:

* the machine's GEMM rate (NumPy's BLAS, its default threads) for exactly the five matrix
  products of a step (2 forward, 2 weight gradients, 1 hidden gradient), hence the epoch's floor
  ``10 * m * 784 * 500`` flops at that rate;
* one epoch of plain minibatch SGD (batch 128, float32, no shuffling) in autoencoder_np and in
  PyTorch on the CPU, from the same initial weights over the same batches; the two must reach the
  same loss within 1% (nothing may be faster by skipping work);
* float64 vs float32, batch sizes 32 / 128 / 512, tied vs untied;
* the peak memory of a full-MNIST-sized run (60,000 x 784) against the size of the data.

Each measurement runs in its own Python process, one after the other: PyTorch's OpenMP threads
and OpenBLAS's threads keep spinning after a call, so timing one library in a process where the
other has run measures their contention, not the library (seen here: PyTorch's epoch varied
from 0.37 s to 0.67 s that way). The three measurements of a configuration alternate over
``--rounds`` rounds, each process timing ``--repeats`` runs after a warm-up run; a figure is the
best of them all (the minimum is the least noisy estimate of the cost on a shared machine, and
both libraries get the same chances). A time covers the epoch loop only, with the
data already in the right dtype on both sides (the NumPy side includes ``fit``'s input checks).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from autoencoder_np import Autoencoder  # noqa: E402
from autoencoder_np.datasets import MnistNotFoundError, load_mnist  # noqa: E402

N_VIS, N_HID, LR = 784, 500, 0.1
DTYPES = {"float32": np.float32, "float64": np.float64}


def load_data():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            X, _ = load_mnist(split=None)
        return X, "MNIST"
    except MnistNotFoundError:
        rng = np.random.default_rng(0)
        return (rng.random((10000, N_VIS)) < 0.13).astype(np.float64), "random binary images (MNIST not found)"


# --------------------------------------------------------------------------- measurements (children)
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

    for _ in range(3):
        five()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(20):
            five()
        times.append((time.perf_counter() - t0) / 20)
    per_step = min(times)
    return {"seconds": per_step * -(-m // batch), "rate": 10 * batch * N_VIS * N_HID / per_step}


def numpy_epoch(X, batch, dtype, tied, repeats):
    """Best time of ``model.fit`` for one epoch (input validation included, model creation not)."""
    from autoencoder_np.fused import FusedStep

    Xd = np.ascontiguousarray(X, dtype=dtype)
    times = []
    for _ in range(repeats + 1):  # the first run is a warm-up
        model = Autoencoder(N_VIS, N_HID, dtype=dtype, tied=tied, seed=0)
        t0 = time.perf_counter()
        model.fit(Xd, epochs=1, batch_size=batch, lr=LR, optimizer="sgd", shuffle=False, progress=False)
        times.append(time.perf_counter() - t0)
    workers = FusedStep(Autoencoder(N_VIS, N_HID, dtype=dtype, tied=tied, seed=0))._plan(batch)["workers"]
    return {"seconds": min(times[1:]), "workers": workers}, model.params


def torch_epoch(X, batch, dtype, tied, repeats):
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    init = Autoencoder(N_VIS, N_HID, dtype=dtype, tied=tied, seed=0).params
    tdtype = {np.float32: torch.float32, np.float64: torch.float64}[dtype]
    Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=dtype))

    def run():
        """One epoch; returns (seconds of the epoch loop alone, final parameters)."""
        W = torch.tensor(init["W"], dtype=tdtype, requires_grad=True)
        b = torch.zeros(N_HID, dtype=tdtype, requires_grad=True)
        c = torch.zeros(N_VIS, dtype=tdtype, requires_grad=True)
        params = [W, b, c]
        if not tied:
            Wd = torch.tensor(init["W_dec"], dtype=tdtype, requires_grad=True)
            params.append(Wd)
        opt = torch.optim.SGD(params, lr=LR)
        loss_fn = torch.nn.BCEWithLogitsLoss(reduction="sum")
        t0 = time.perf_counter()
        for start in range(0, len(Xt), batch):
            xb = Xt[start:start + batch]
            h = torch.sigmoid(xb @ W + b)
            z = h @ (W.T if tied else Wd) + c
            loss = loss_fn(z, xb) / len(xb)   # mean over examples of the sum over features
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        seconds = time.perf_counter() - t0
        return seconds, {"W": W.detach().numpy(), "b": b.detach().numpy(), "c": c.detach().numpy(),
                         **({} if tied else {"W_dec": Wd.detach().numpy()})}

    runs = [run() for _ in range(repeats + 1)]  # the first run is a warm-up
    info = {"seconds": min(seconds for seconds, _ in runs[1:]), "version": torch.__version__,
            "threads": torch.get_num_threads()}
    return info, runs[-1][1]


def peak_memory(X, batch):
    """Peak traced memory of one float32 epoch on a 60,000 x 784 set (tiled from X if smaller)."""
    big = np.ascontiguousarray(np.tile(X, (-(-60000 // len(X)), 1))[:60000].astype(np.float32))
    model = Autoencoder(N_VIS, N_HID, dtype=np.float32, seed=0)
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    model.fit(big, epochs=1, batch_size=batch, lr=LR, optimizer="sgd", progress=False)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return {"data_bytes": big.nbytes, "peak": peak}


def child(args):
    X, source = load_data()
    dtype = DTYPES[args.dtype]
    params = None
    if args.child == "gemm":
        info = gemm_floor(len(X), args.batch, dtype, args.repeats)
    elif args.child == "numpy":
        info, params = numpy_epoch(X, args.batch, dtype, args.tied, args.repeats)
    elif args.child == "torch":
        info, params = torch_epoch(X, args.batch, dtype, args.tied, args.repeats)
    else:
        info = peak_memory(X, args.batch)
    info["source"] = source
    if params is not None:
        np.savez(args.out + ".npz", **params)
    Path(args.out + ".json").write_text(json.dumps(info))


# --------------------------------------------------------------------------- the run (parent)
def measure(kind, batch, dtype, tied, repeats, workdir):
    out = str(Path(workdir) / f"{kind}-{batch}-{dtype}-{int(tied)}")
    cmd = [sys.executable, __file__, "--child", kind, "--batch", str(batch), "--dtype", dtype,
           "--repeats", str(repeats), "--out", out] + (["--tied"] if tied else [])
    subprocess.run(cmd, check=True)
    info = json.loads(Path(out + ".json").read_text())
    params = dict(np.load(out + ".npz")) if Path(out + ".npz").exists() else None
    return info, params


def full_loss(params, X, tied):
    model = Autoencoder(N_VIS, N_HID, dtype=np.float64, tied=tied, seed=0)
    model.set_params({k: np.asarray(v, dtype=np.float64) for k, v in params.items()})
    return model.loss(X)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, help="timed runs per measurement process, after a warm-up (default 3; 2 with --quick)")
    ap.add_argument("--rounds", type=int, help="alternating rounds of the three measurements (default 3; 2 with --quick)")
    ap.add_argument("--quick", action="store_true", help="only batch 128 float32 untied, no memory run, fewer runs")
    ap.add_argument("--child", choices=["gemm", "numpy", "torch", "memory"], help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, default=128, help=argparse.SUPPRESS)
    ap.add_argument("--dtype", default="float32", choices=list(DTYPES), help=argparse.SUPPRESS)
    ap.add_argument("--tied", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child(args)
    default = 2 if args.quick else 3
    repeats = default if args.repeats is None else args.repeats
    rounds = default if args.rounds is None else args.rounds
    if repeats < 1 or rounds < 1:
        sys.exit("--repeats and --rounds must be at least 1")
    try:
        import torch  # noqa: F401  (only checked here; every timing runs in its own process)
    except ImportError:
        sys.exit("PyTorch is not installed: run `make bench`, or pip install -e '.[bench]'")
    from threadpoolctl import threadpool_info

    X, source = load_data()
    blas = ", ".join(f"{d['internal_api']} {d.get('version')} ({d.get('architecture')}, {d['num_threads']} threads)"
                     for d in threadpool_info() if d["user_api"] == "blas")
    print(f"data: {source}, {len(X)} x {N_VIS}; model {N_VIS}-{N_HID}-{N_VIS} sigmoid/cross-entropy, plain SGD lr={LR}")
    print(f"numpy {np.__version__} [{blas}]; {os.cpu_count()} CPUs; best of {rounds} rounds x {repeats} runs after a warm-up; "
          f"each measurement in its own process\n")

    configs = [(128, "float32", False)]
    if not args.quick:
        configs += [(32, "float32", False), (512, "float32", False), (128, "float64", False), (128, "float32", True)]
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for batch, dtype, tied in configs:
            # rounds alternate the three measurements, so that a slow spell of a shared machine
            # hits both libraries alike; each takes its best over all rounds. The ratio is also
            # taken within each round (the two measured seconds apart): their spread shows
            # how far the machine's drift moves it
            best, per_round = {}, []
            for _ in range(rounds):
                seconds = {}
                for kind in ("gemm", "numpy", "torch"):
                    info, params = measure(kind, batch, dtype, tied, repeats, workdir)
                    seconds[kind] = info["seconds"]
                    if kind not in best or info["seconds"] < best[kind][0]["seconds"]:
                        best[kind] = (info, params)
                per_round.append(seconds["numpy"] / seconds["torch"])
            (floor, _), (np_info, np_params), (torch_info, torch_params) = best["gemm"], best["numpy"], best["torch"]
            loss_np, loss_torch = full_loss(np_params, X, tied), full_loss(torch_params, X, tied)
            gap = abs(loss_np - loss_torch) / abs(loss_torch)
            t_np, t_torch = np_info["seconds"], torch_info["seconds"]
            rows.append((batch, dtype, "tied" if tied else "untied", np_info["workers"], t_np, t_torch,
                         t_np / t_torch, floor["seconds"] / t_np, floor["rate"] / 1e9, loss_np, loss_torch, gap,
                         float(np.median(per_round)), min(per_round), max(per_round)))
            if gap > 0.01:
                print(f"WARNING: losses differ by {gap:.2%} (> 1%): the comparison is void", file=sys.stderr)
        memory = None if args.quick else measure("memory", 128, "float32", False, repeats, workdir)[0]

    print(f"torch {torch_info['version']} ({torch_info['threads']} threads)\n")
    head = ("batch", "dtype", "weights", "workers", "numpy s", "torch s", "numpy/torch", "of GEMM floor",
            "GEMM GFLOP/s", "loss numpy", "loss torch", "loss gap", "numpy/torch per round: median (range)")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]:.3f} | {r[5]:.3f} | {r[6]:.2f}x | {r[7]:.0%} | "
              f"{r[8]:.1f} | {r[9]:.3f} | {r[10]:.3f} | {r[11]:.1e} | {r[12]:.2f}x ({r[13]:.2f}-{r[14]:.2f}) |")
    if memory is not None:
        peak, data_bytes = memory["peak"], memory["data_bytes"]
        print(f"\npeak memory of a 60,000 x 784 float32 epoch (batch 128), beyond the data: {peak / 2**20:.1f} MiB "
              f"= {peak / data_bytes:.1%} of the data's own {data_bytes / 2**20:.1f} MiB")
    headline = rows[0]
    print(f"\nheadline (batch 128, float32, untied): numpy epoch = {headline[6]:.2f}x PyTorch's time "
          f"(per round: median {headline[12]:.2f}x, {headline[13]:.2f}-{headline[14]:.2f}x over {rounds} rounds), "
          f"{headline[7]:.0%} of the GEMM floor (goal: <= 0.80x and >= 75%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
