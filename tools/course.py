"""Build the course: the library demo, the lectures executed to HTML, the exercises, the grading self-check.

    python -m tools.course [--fast]

Everything goes to ``build/`` (git-ignored), except ``exercises/``, which is regenerated from
``solutions/`` by nbgrader (and must then equal what is committed).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from aegrade.course import env_bin_first

REPO = Path(__file__).resolve().parents[1]


def step(title, argv):
    print(f"\n=== {title}\n$ {' '.join(argv)}", flush=True)
    t0 = time.perf_counter()
    subprocess.run(argv, cwd=REPO, env=env_bin_first(), check=True)
    print(f"--- {title}: {time.perf_counter() - t0:.1f} s", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--fast", action="store_true", default=os.environ.get("AECOURSE_FAST") == "1",
                    help="small data and few epochs everywhere (what the tests run)")
    args = ap.parse_args(argv)
    fast = ["--fast"] if args.fast else []
    py = sys.executable
    t0 = time.perf_counter()
    step("library demo", [py, "-m", "autoencoder_np.demo", "--out", "build/demo.png", *fast])
    lectures = sorted(str(p.relative_to(REPO)) for p in (REPO / "lectures").glob("[0-9][0-9]_*.ipynb"))
    step("lectures", [py, "-m", "tools.notebooks", "run", *lectures, "--html", "build/lectures", *fast])
    if (REPO / "solutions").is_dir():
        step("exercises (nbgrader generate_assignment)", [py, "-m", "aegrade", "release"])
        step("autograde the reference solutions", [py, "-m", "aegrade", "selfcheck"])
    step("course website", [py, "-m", "tools.site", *fast])
    print(f"\ncourse built in {time.perf_counter() - t0:.0f} s: build/demo.png, build/lectures/*.html, exercises/, build/site/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
