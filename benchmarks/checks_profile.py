"""Where a problem set's checks spend their time: calls into the kernel, per test cell.

    python benchmarks/checks_profile.py ps1_forward_and_losses ps2_backprop

Runs the reference notebook in a plain kernel (no sandbox, no nbgrader) and decides each test cell
the way the grader does (``aegrade.checks``), printing per test cell: passed, seconds, how many
calls went into the kernel and how long they took.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def profile(assignment: str) -> None:
    from jupyter_client.manager import KernelManager

    import aegrade.checks.remote as remote
    from aegrade.checks import TrustedTests
    from aegrade.notebooks import cell_source, nbgrader_meta, strip_hidden, strip_solution_markers

    calls = {"n": 0, "seconds": 0.0}
    plain_call = remote.StudentKernel.call

    def counted(self, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return plain_call(self, *args, **kwargs)
        finally:
            calls["n"] += 1
            calls["seconds"] += time.perf_counter() - t0

    remote.StudentKernel.call = counted
    nb = json.loads((REPO / "solutions" / assignment / f"{assignment}.ipynb").read_text())
    km = KernelManager(kernel_name="python3")
    km.start_kernel()
    kc = km.blocking_client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    cells, solutions, tests = {}, set(), set()
    for c in nb["cells"]:
        m = nbgrader_meta(c)
        if m.get("grade_id"):
            cells[m["grade_id"]] = (cell_source(c), c["cell_type"], bool(m.get("locked")))
            if m.get("solution"):
                solutions.add(m["grade_id"])
            elif m.get("grade"):
                tests.add(m["grade_id"])
    kernel = remote.StudentKernel(km, lambda: time.monotonic() + 120)
    trusted = TrustedTests(cells, solutions, tests, kernel)
    total = 0.0
    try:
        for c in nb["cells"]:
            if c["cell_type"] != "code":
                continue
            m = nbgrader_meta(c)
            gid = m.get("grade_id")
            source = strip_solution_markers(cell_source(c))
            kc.execute_interactive(strip_hidden(source) if gid in tests else source, timeout=300,
                                   output_hook=lambda msg: None)
            if gid in tests:
                n0, s0, t0 = calls["n"], calls["seconds"], time.perf_counter()
                verdict = trusted.check(gid)
                dt = time.perf_counter() - t0
                total += dt
                print(f"  {gid:34s} {'passed' if verdict.passed else 'FAILED'} {dt:6.2f} s, "
                      f"{calls['n'] - n0} calls, {calls['seconds'] - s0:5.2f} s in them")
            elif gid and not m.get("solution"):
                trusted.setup(gid)
        print(f"{assignment}: checks {total:.2f} s")
    finally:
        remote.StudentKernel.call = plain_call
        kernel.close()
        kc.stop_channels()
        km.shutdown_kernel(now=True)


if __name__ == "__main__":
    for name in sys.argv[1:] or [p.name for p in sorted((REPO / "solutions").iterdir()) if p.is_dir()]:
        profile(name)
