"""Autograding time for a generated class: the course's grader versus plain ``nbgrader autograde``.

    python benchmarks/grading_benchmark.py                      # 30 students x 5 problem sets
    python benchmarks/grading_benchmark.py --students 10 --assignments ps1_forward_and_losses
    python benchmarks/grading_benchmark.py --skip-plain --workers 3

The class is generated from the reference solutions: a third of the students submit the
reference, a third make one mistake in one answer, a third hand in the unanswered release.
Both graders get the same submissions:

* **ours**: ``aegrade.autograde_dir`` (static scan, sandboxed kernels, forked workers),
  in one call for the whole class;
* **plain**: ``nbgrader autograde <ps>`` (nbgrader 0.9.6 with its *default* configuration, no
  course hardening) run once per problem set on a copy of the course, as an instructor
  would, after ``nbgrader generate_assignment``.

Reported: wall-clock totals, seconds per notebook and per student, and the fixed costs
(importing nbgrader, creating the gradebook).  The scores of both graders are compared.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the class is built with the tests' corpus builder


def build_class(course: Path, assignments: list, n_students: int, out: Path) -> dict:
    """Write the submissions; return ``{student: kind}``."""
    from aegrade import reference_submission
    from grading_corpus import find_target, wrong_submission, write_submission

    kinds = {}
    for i in range(n_students):
        student = f"student{i:02d}"
        kind = ("reference", "wrong", "unanswered")[i % 3]
        kinds[student] = kind
        for a in assignments:
            source = json.loads((course / "solutions" / a / f"{a}.ipynb").read_text())
            rel = course / "exercises" / a / f"{a}.ipynb"
            release = json.loads(rel.read_text()) if rel.exists() else None
            ref = reference_submission(source, release)
            if kind == "reference":
                nb = ref
            elif kind == "wrong":
                nb = wrong_submission(ref, find_target(source, a, which=i % 2))
            else:
                nb = release if release is not None else ref
            write_submission(out, student, a, nb)
    return kinds


def run_ours(course: Path, submitted: Path, work: Path, workers: int) -> dict:
    t0 = time.perf_counter()
    import nbgrader.apps.api  # noqa: F401  (what autograde_dir imports)

    from aegrade import autograde_dir

    t_import = time.perf_counter() - t0
    t1 = time.perf_counter()
    run = autograde_dir(submitted, course_dir=course, work_dir=work, workers=workers)
    total = time.perf_counter() - t1
    results, meta = run.results, run.meta
    scores = {(s, a): rec["total"] for s, per in results.items() for a, rec in per.items()}
    statuses = {}
    for student, per in results.items():
        for a, rec in per.items():
            statuses[rec["status"]] = statuses.get(rec["status"], 0) + 1
            if rec["status"] != "graded":
                print(f"  not graded: {student}/{a}: {rec['status']}: {rec['reason']}")
    return {"import_s": round(t_import, 1), "grading_s": round(total, 1), "scores": scores,
            "statuses": statuses, "isolation": meta.get("isolation"), "workers": meta.get("workers")}


def run_plain(course: Path, submitted: Path, work: Path, assignments: list) -> dict:
    root = work / "plain"
    (root / "source").mkdir(parents=True)
    for a in assignments:
        shutil.copytree(course / "solutions" / a, root / "source" / a)
    shutil.copytree(submitted, root / "submitted")
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        "c.Execute.timeout = 60\n"
        f"c.Exchange.root = {str(work / 'exchange')!r}\n")
    (work / "exchange").mkdir(exist_ok=True)
    from aegrade.course import env_bin_first

    env = env_bin_first()
    env.pop("PYTHONPATH", None)
    nbgrader = [sys.executable, "-m", "nbgrader"]

    def call(args):
        t = time.perf_counter()
        proc = subprocess.run(nbgrader + args, cwd=root, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        return time.perf_counter() - t

    t0 = time.perf_counter()
    gen = [call(["generate_assignment", a, "--force"]) for a in assignments]
    t_gen = time.perf_counter() - t0
    t1 = time.perf_counter()
    per_assignment = [call(["autograde", a, "--force"]) for a in assignments]
    total = time.perf_counter() - t1
    t_import = call(["--version"])
    from nbgrader.api import Gradebook, MissingEntry

    scores = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        for student in sorted(p.name for p in (root / "submitted").iterdir()):
            for a in assignments:
                try:
                    sub = gb.find_submission(a, student)
                except MissingEntry:
                    scores[(student, a)] = None
                    continue
                scores[(student, a)] = float(sum(
                    g.score for nb in sub.notebooks for g in nb.grades
                    if g.cell.cell_type == "code" and not g.needs_manual_grade))
    return {"generate_s": round(t_gen, 1), "first_generate_s": round(gen[0], 1),
            "grading_s": round(total, 1), "per_assignment_s": [round(x, 1) for x in per_assignment],
            "startup_s": round(t_import, 1), "scores": scores}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--students", type=int, default=30)
    ap.add_argument("--assignments", default="all", help="comma-separated ids, or 'all'")
    ap.add_argument("--workers", type=int, default=0, help="ours: submissions at once (0 = per CPU)")
    ap.add_argument("--skip-plain", action="store_true")
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = ap.parse_args(argv)
    from aegrade import assignments_in

    assignments = assignments_in(REPO) if args.assignments == "all" else args.assignments.split(",")
    tmp = Path(tempfile.mkdtemp(prefix="grading-bench-"))
    try:
        submitted = tmp / "submitted"
        kinds = build_class(REPO, assignments, args.students, submitted)
        n_nb = args.students * len(assignments)
        print(f"class: {args.students} students x {len(assignments)} problem set(s) = {n_nb} notebooks "
              f"({sum(k == 'reference' for k in kinds.values())} reference, "
              f"{sum(k == 'wrong' for k in kinds.values())} one mistake, "
              f"{sum(k == 'unanswered' for k in kinds.values())} unanswered)")
        print(f"machine: {os.cpu_count()} CPUs, {platform.platform()}, load {os.getloadavg()}")
        ours = run_ours(REPO, submitted, tmp / "ours", args.workers)
        print(f"ours : {ours['grading_s']} s for {n_nb} notebooks = "
              f"{ours['grading_s'] / n_nb:.2f} s/notebook, {ours['grading_s'] / args.students:.1f} s/student "
              f"(isolation {ours['isolation']}, {ours['workers']} workers; importing nbgrader "
              f"{ours['import_s']} s before that); statuses {ours['statuses']}")
        result = {"students": args.students, "assignments": assignments, "notebooks": n_nb,
                  "cpus": os.cpu_count(), "ours": {k: v for k, v in ours.items() if k != "scores"}}
        if not args.skip_plain:
            plain = run_plain(REPO, submitted, tmp, assignments)
            print(f"plain: {plain['grading_s']} s for {n_nb} notebooks = "
                  f"{plain['grading_s'] / n_nb:.2f} s/notebook, {plain['grading_s'] / args.students:.1f} s/student "
                  f"(per problem set {plain['per_assignment_s']}; each nbgrader process starts in "
                  f"~{plain['startup_s']} s; generate_assignment {plain['generate_s']} s, "
                  f"the first one creating the gradebook {plain['first_generate_s']} s)")
            same = sum(1 for k, v in ours["scores"].items() if plain["scores"].get(k) == v)
            print(f"scores identical for {same}/{len(ours['scores'])} submissions")
            result["plain"] = {k: v for k, v in plain.items() if k != "scores"}
            result["same_scores"] = f"{same}/{len(ours['scores'])}"
        if args.json:
            args.json.write_text(json.dumps(result, indent=1))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
