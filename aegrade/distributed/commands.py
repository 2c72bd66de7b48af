"""The command-line side of grading past one machine: ``grade-one``, ``worker`` and ``autograde``
with ``--broker`` / ``--db`` / ``--force``."""
from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

from ..course import log
from ..options import GradingOptions
from ..report import format_summary, format_table

#: Exit code of a run that stopped with submissions not graded (named in its output).
EXIT_NOT_GRADED = 3


def cmd_grade_one(course_dir: Path, notebook: Path, assignment: str, student: str, out: Path,
                  opts: GradingOptions) -> int:
    """Grade one submission; write its JSON result to ``out``; print one line."""
    from ..one import grade_one, write_result

    try:
        result = grade_one(notebook, assignment=assignment, student=student, course_dir=course_dir,
                           options=opts)
    except (ValueError, FileNotFoundError) as exc:
        log(f"grade-one: {exc}")
        return 2
    write_result(result, out)
    score = f"{result['total']:g}/{result['max_total']:g}" if result["status"] == "graded" else result["reason"]
    print(f"{student} / {assignment}: {result['status']} {score} -> {out}")
    return 0


def cmd_worker(course_dir: Path, broker: str, opts: GradingOptions, concurrency: int | None,
               lost_after: float, name: str | None) -> int:
    """Start a Celery worker for this course."""
    from .worker import run_worker

    return run_worker(course_dir, broker, options=opts, concurrency=concurrency, lost_after=lost_after,
                      name=name)


def _print_run(results: dict, not_graded: dict, skipped: list, seconds: float) -> None:
    if results:
        print(format_table(results))
        print()
        print(format_summary(results))
    print(f"recorded: {sum(len(v) for v in results.values())}, already recorded (skipped): {len(skipped)}, "
          f"not graded: {len(not_graded)}; {seconds:.1f} s")
    if not_graded:
        print(f"NOT GRADED (nothing recorded; run the same command again to grade them): {len(not_graded)}")
        for (s, a), why in sorted(not_graded.items()):
            print(f"  {s} / {a}: {why}")


def cmd_autograde_distributed(course_dir: Path, submitted: Path, opts: GradingOptions, *, broker: str | None,
                              db: str | None, force: bool, lost_after: float, stall_after: float | None) -> int:
    """``autograde`` with a broker (Celery workers) and/or a database URL (one writer)."""
    from .coordinator import BrokerUnreachable, autograde_distributed, publish_report
    from .store import DatabaseUnreachable, redact

    db = db or f"sqlite:///{Path(course_dir) / 'gradebook.db'}"
    t0 = time.monotonic()
    try:
        if broker:
            run = autograde_distributed(course_dir, submitted, broker=broker, db=db, options=opts, force=force,
                                        lost_after=lost_after, stall_after=stall_after)
        else:
            run = autograde_local_into_db(course_dir, submitted, db=db, options=opts, force=force)
    except (DatabaseUnreachable, BrokerUnreachable, ValueError) as exc:
        log(f"autograde: {exc}")
        return 2
    except KeyboardInterrupt:
        log("autograde: interrupted; what was recorded stays recorded: run the same command again "
            "to grade the rest")
        return 130
    publish_report(course_dir, run, {"db": redact(db), "broker": broker or ""})
    _print_run(run.results, run.not_graded, run.skipped, time.monotonic() - t0)
    return EXIT_NOT_GRADED if run.not_graded else 0


def autograde_local_into_db(course_dir: Path, submitted: Path, *, db: str, options: GradingOptions,
                            force: bool = False):
    """The local pool (one :func:`aegrade.run.autograde_dir` call for what is missing), recorded into
    ``db`` by the same writer as the distributed mode."""
    from ..course import assignments_in
    from ..one import problem_notebooks, source_checksum, tree_checksum
    from ..run import autograde_dir
    from ..submissions import discover_submissions
    from .coordinator import DistributedRun, task_id_for
    from .store import GradebookWriter

    course_dir = Path(course_dir).resolve()
    out = DistributedRun(meta={"tasks": 0, "duplicates": 0, "refused": 0})
    with GradebookWriter(db) as writer:
        assignments = assignments_in(course_dir)
        versions = {a: source_checksum(course_dir, a) for a in assignments}
        subs, out.meta["warnings"] = discover_submissions(submitted, assignments)
        done = writer.rows()
        todo = {}
        for sub in subs:
            sha = tree_checksum(sub.files)
            row = done.get(sub.key)
            if not force and row and (row["source_sha256"], row["submission_sha256"]) == (versions[sub.assignment], sha):
                out.skipped.append(sub.key)
            else:
                todo[sub.key] = (sub, sha)
        if not todo:
            return out
        tmp = Path(tempfile.mkdtemp(prefix="aegrade-local-"))
        try:
            for (student, a), (sub, _) in todo.items():
                for rel, path in sub.files.items():
                    dest = tmp / "submitted" / student / a / rel
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(path, dest)
            run = autograde_dir(tmp / "submitted", course_dir=course_dir, work_dir=tmp / "work", options=options)
            writer.prepare(course_dir, sorted({a for _, a in todo}))
            salt = str(time.time()) if force else ""
            for (student, a), (sub, sha) in sorted(todo.items()):
                rec = run.results.get(student, {}).get(a)
                if rec is None:
                    continue
                where = problem_notebooks(course_dir, a)
                folder = tmp / "work" / "course" / "autograded" / student / a
                result = {**rec, "student": student, "assignment": a,
                          "problems": {g: {"notebook": where.get(g, a), **p} for g, p in rec["problems"].items()},
                          "autograded": {p.name: p.read_text() for p in sorted(folder.glob("*.ipynb"))},
                          "source_sha256": versions[a], "submission_sha256": sha,
                          "timings": {"grading_s": rec.get("seconds")}}
                record = writer.record(result, task_id_for(student, a, versions[a], sha, salt))
                if record is not None:
                    out.results.setdefault(student, {})[a] = record
                    dest = course_dir / "autograded" / student / a
                    shutil.rmtree(dest, ignore_errors=True)
                    if rec["status"] == "graded":
                        shutil.copytree(folder, dest)
            out.meta["isolation"] = run.meta.get("isolation")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return out
