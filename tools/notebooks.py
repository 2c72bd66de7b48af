"""Execute notebooks headless (nbclient), strip them clean, render them to HTML.

Used by the tests (fast mode), by ``make course`` (full size) and by hand:

    python -m tools.notebooks run lectures/01_autoencoders.ipynb --fast   # execute, report time
    python -m tools.notebooks strip lectures/*.ipynb                     # remove outputs in place
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"


def notebook_env(fast):
    """Environment for a kernel: fast mode flag, headless matplotlib, the shared MNIST if present."""
    env = dict(os.environ)
    env["AECOURSE_FAST"] = "1" if fast else "0"
    # many small matrix products: OpenBLAS threads cost more than they bring on 2 cores
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    env.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    if "AUTOENCODER_NP_DATA" not in env and SHARED_MNIST.is_dir():
        env["AUTOENCODER_NP_DATA"] = str(SHARED_MNIST)
    return env


def execute(path, *, fast, timeout=900, kernel_name="python3"):
    """Execute the notebook at ``path`` in its own folder; return the executed notebook (not saved)."""
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    saved, env = dict(os.environ), notebook_env(fast)
    os.environ.clear()
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        client = NotebookClient(nb, timeout=timeout, kernel_name=kernel_name,
                                resources={"metadata": {"path": str(path.parent)}})
        client.execute()
        nb.metadata["aecourse"] = {"fast": bool(fast)}  # the course site says which run its outputs come from
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return nb


def strip(path):
    """Remove outputs and execution counts in place; return True if the file changed."""
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    changed = False
    for cell in nb.cells:
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None):
            cell.outputs, cell.execution_count, changed = [], None, True
        if "execution" in cell.get("metadata", {}):
            del cell.metadata["execution"]
            changed = True
    if changed:
        nbformat.write(nb, path)
    return changed


def to_html(nb, out_path):
    """Render an executed notebook (figures embedded) to ``out_path``."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nb)
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    Path(out_path).write_text(body, encoding="utf-8")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="execute notebooks and report the time each took")
    run.add_argument("paths", nargs="+")
    run.add_argument("--fast", action="store_true", help="AECOURSE_FAST=1 (small data, few epochs)")
    run.add_argument("--html", metavar="DIR", help="also render each executed notebook to DIR/<name>.html and keep it "
                     "as DIR/<name>.ipynb (the course site is built from these)")
    run.add_argument("--save", action="store_true", help="write the executed notebook next to the source as <name>.executed.ipynb")
    st = sub.add_parser("strip", help="remove outputs and execution counts in place")
    st.add_argument("paths", nargs="+")
    args = ap.parse_args(argv)
    if args.cmd == "strip":
        for p in args.paths:
            print(("stripped " if strip(p) else "clean    ") + p)
        return 0
    failed = 0
    for p in args.paths:
        t0 = time.perf_counter()
        try:
            nb = execute(p, fast=args.fast)
        except Exception as exc:  # report and go on with the next notebook
            failed += 1
            print(f"FAILED {p} after {time.perf_counter() - t0:.1f} s:\n{exc}", file=sys.stderr)
            continue
        print(f"ok     {p}  {time.perf_counter() - t0:.1f} s ({'fast' if args.fast else 'full'} mode)", flush=True)
        if args.html:
            to_html(nb, Path(args.html) / (Path(p).stem + ".html"))
            nbformat.write(nb, Path(args.html) / Path(p).name)
        if args.save:
            nbformat.write(nb, Path(p).with_suffix(".executed.ipynb"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
