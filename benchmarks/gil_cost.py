"""What running NumPy's elementwise calls on two threads costs, against one thread and two processes.

    python benchmarks/gil_cost.py [--rounds 15]

The fused step (autoencoder_np/fused.py) splits its elementwise work between threads. NumPy
releases the GIL inside each call, but a thread must take it back between calls, and when the
other thread holds it at that moment, the wait (a futex wake-up of the other core, costly in a
VM) is paid per call. This script measures:

1. the cross-entropy block of one worker's share (64 x 784 float32, the same 17 NumPy calls as
   the step) run alone, run on two threads at once (each on its own data), and run in two
   processes at once: the processes share nothing, so their time is what two threads would take
   without the GIL;
2. ``a *= a`` on float32 arrays of several sizes, the same total number of elements, alone and on
   two threads: the extra time per call is the price of a call made side by side.

Each figure is the best of ``--rounds`` rounds (the machine is shared; the minimum is the least
noisy estimate of a cost).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from autoencoder_np._helper_threads import HelperThreads  # noqa: E402

SHARE, N_VIS, CALLS_PER_ROUND = 64, 784, 10


def make_share(seed):
    rng = np.random.default_rng(seed)
    Z = (3 * rng.standard_normal((SHARE, N_VIS))).astype(np.float32)
    return {"Z0": Z, "Z": Z.copy(), "S": np.empty_like(Z), "U": np.empty_like(Z), "F": np.empty_like(Z),
            "T": (rng.random((SHARE, N_VIS)) < 0.2).astype(np.float32)}


SHARES = [make_share(0), make_share(1)]


def cross_entropy_block(w):
    """The loss and dL/dZ of one share, call for call as in FusedStep._rows (the log taken directly)."""
    b = SHARES[w]
    Z, S, U, F, T = b["Z"], b["S"], b["U"], b["F"], b["T"]
    np.copyto(Z, b["Z0"])
    np.greater_equal(Z, 0, out=F)
    total = float(np.vdot(Z, F)) - float(np.vdot(T, Z))
    np.abs(Z, out=S)
    np.negative(S, out=S)
    np.exp(S, out=S)
    np.add(S, 1, out=U)
    np.subtract(U, 1, out=Z)
    np.subtract(S, Z, out=Z)
    total += float(Z.sum())
    np.maximum(S, F, out=F)
    np.divide(F, U, out=Z)
    total += float(np.log(U, out=U).sum())
    np.subtract(Z, T, out=Z)
    Z *= np.float32(1 / 128)
    return total


def repeated(w):
    for _ in range(CALLS_PER_ROUND):
        cross_entropy_block(w)


def best_us(fn, rounds):
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) / CALLS_PER_ROUND * 1e6)
    return min(times)


def in_two_processes(rounds):
    """Best time per block in each of two forked processes running at once."""
    readers = []
    for w in range(2):
        r, wfd = os.pipe()
        if os.fork() == 0:  # child: its own interpreter, its own GIL
            os.close(r)
            os.write(wfd, repr(best_us(lambda: repeated(w), rounds)).encode())
            os._exit(0)
        os.close(wfd)
        readers.append(r)
    results = []
    for r in readers:
        with os.fdopen(r) as f:
            results.append(float(f.read()))
    for _ in readers:
        os.wait()
    return results


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args(argv)
    crew = HelperThreads(1)
    alone = min(best_us(lambda: repeated(0), args.rounds) for _ in range(2))
    threads = min(best_us(lambda: crew.run(repeated, 2), args.rounds) for _ in range(2))
    procs = in_two_processes(args.rounds) if hasattr(os, "fork") else [float("nan")] * 2
    print(f"cross-entropy block of one share ({SHARE} x {N_VIS} float32, 17 NumPy calls), us per block:")
    print(f"  alone                     {alone:7.1f}")
    print(f"  two threads at once       {threads:7.1f}   ({threads / alone - 1:+.0%})")
    print(f"  two processes at once     {max(procs):7.1f}   ({max(procs) / alone - 1:+.0%}, the slower one)")
    print("\n'a *= a' side by side on two threads: extra time per NumPy call")
    total = 2_000_000
    for size in (2_000, 10_000, 50_000, 200_000):
        arrays = [np.ones(size, np.float32) for _ in range(2)]
        calls = total // size

        def work(w, a=arrays, calls=calls):
            for _ in range(calls):
                np.multiply(a[w], a[w], out=a[w])

        one = min(_seconds(lambda: work(0)) for _ in range(args.rounds))
        two = min(_seconds(lambda: crew.run(work, 2)) for _ in range(args.rounds))
        print(f"  {size:7d} elements x {calls:4d} calls: alone {one * 1e3:6.2f} ms, two threads "
              f"{two * 1e3:6.2f} ms, {(two - one) / calls * 1e6:5.2f} us more per call")
    crew.close()
    return 0


def _seconds(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    sys.exit(main())
