"""The instructor's commands: ``release``, ``autograde``, ``feedback``, ``grades``, ``selfcheck``.

Each returns a process exit code and prints what the instructor needs to read.
"""
from __future__ import annotations

import csv
import json
import shutil
import tempfile
import time
from pathlib import Path

from .course import RELEASE_DIR, assignments_in, bin_first_on_path, log, source_notebooks
from .gradebook import grades_rows, publish
from .nbgrader_setup import course_api, use_inprocess_alembic_head
from .notebooks import hidden_test_lines, html_text, reference_submission
from .options import GradingOptions
from .report import fmt, format_summary, format_table
from .run import autograde_dir


def _nbgrader_failed(what: str, res: dict) -> int:
    log(res.get("log", ""))
    log(res.get("error", ""))
    log(f"{what} FAILED")
    return 1


def cmd_release(course_dir: Path) -> int:
    """Regenerate ``exercises/`` from ``solutions/`` (nbgrader generate_assignment --force)."""
    with bin_first_on_path():
        api = course_api(course_dir)
        use_inprocess_alembic_head()
        for a in assignments_in(course_dir):
            res = api.generate_assignment(a, force=True, create=True)
            if not res.get("success"):
                return _nbgrader_failed(f"release: nbgrader generate_assignment {a}", res)
            print(f"released {a} -> {RELEASE_DIR}/{a}/")
    return 0


def cmd_autograde(course_dir: Path, submitted: Path | None, opts: GradingOptions, **distributed) -> int:
    """Grade every submission, publish into the course, print the table and the summary.

    With ``broker`` (Celery workers) or ``db`` (a gradebook database URL) in ``distributed``,
    :func:`aegrade.distributed.commands.cmd_autograde_distributed` grades and records instead.
    """
    submitted = Path(submitted) if submitted else Path(course_dir) / "submitted"
    if not submitted.is_dir():
        log(f"autograde: no submissions: {submitted} does not exist "
            "(expected <student>/<ps>/<ps>.ipynb, or use --submitted DIR)")
        return 1
    if distributed.get("broker") or distributed.get("db"):
        from .distributed.commands import cmd_autograde_distributed

        return cmd_autograde_distributed(course_dir, submitted, opts, **distributed)
    work = Path(tempfile.mkdtemp(prefix="aegrade-"))
    try:
        t0 = time.monotonic()
        run = autograde_dir(submitted, course_dir=course_dir, work_dir=work, options=opts,
                            gradebook_seed=Path(course_dir) / "gradebook.db")
        publish(run.results, work, course_dir)
        print(format_table(run.results))
        print()
        print(format_summary(run.results))
        print(f"isolation: {run.meta.get('isolation')} ({run.meta.get('isolation_detail')}); "
              f"{time.monotonic() - t0:.1f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def feedback_leaks(course_dir: Path) -> list[tuple[Path, str]]:
    """``(feedback page, hidden-test line)`` for every hidden-test line found in ``feedback/``."""
    course_dir = Path(course_dir)
    hidden = {a: hidden_test_lines(source_notebooks(course_dir, a)) for a in assignments_in(course_dir)}
    leaks = []
    for path in sorted((course_dir / "feedback").rglob("*.html")):
        text = html_text(path.read_text(errors="ignore"))
        for line in hidden.get(path.parent.name, []):
            if " ".join(line.split()) in text:
                leaks.append((path, line))
    return leaks


def cmd_feedback(course_dir: Path, db: str | None = None) -> int:
    """nbgrader generate_feedback for every assignment (from the gradebook at ``db``, default the
    course's ``gradebook.db``), then check no hidden test leaked."""
    with bin_first_on_path():
        api = course_api(course_dir, db)
        for a in assignments_in(course_dir):
            if not any((Path(course_dir) / "autograded").glob(f"*/{a}")):
                continue
            res = api.generate_feedback(a, force=True)
            if not res.get("success"):
                return _nbgrader_failed(f"feedback: nbgrader generate_feedback {a}", res)
    leaks = feedback_leaks(course_dir)
    if leaks:
        for path, line in leaks[:20]:
            log(f"feedback: hidden test line leaked into {path}: {line}")
        return 1
    n = len(list((Path(course_dir) / "feedback").rglob("*.html")))
    print(f"feedback: {n} HTML file(s) in feedback/ (hidden tests removed)")
    return 0


def cmd_grades(course_dir: Path, out: Path, db: str | None = None) -> int:
    """Write the grades CSV (from the gradebook at ``db``, default the course's ``gradebook.db``);
    name the submissions held back (no score exported for them)."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        columns, rows = grades_rows(course_dir, db)
    except SQLAlchemyError as exc:               # a bad or unreachable database URL
        if db is None:
            raise
        from .distributed.store import redact

        log(f"grades: cannot read the gradebook database {redact(db)}: {type(exc).__name__}: "
            f"{str(exc).splitlines()[0]} (expected e.g. sqlite:///gradebook.db or "
            "postgresql://USER@HOST:5432/DBNAME)")
        return 2
    out = Path(out)
    with open(out, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {out}: {len(rows)} student(s), {len(columns)} column(s)")
    odd = [(r["student"], c.split(":")[0], r[c]) for r in rows for c in columns
           if c.endswith(":status") and r[c] in ("flagged", "ungraded")]
    for s, a, st in odd:
        print(f"  {st.upper()}: {s} / {a} (no score exported)")
    return 0


def write_reference_class(course_dir: Path, submitted: Path, student: str = "reference") -> None:
    """``submitted/<student>/<ps>/<ps>.ipynb``: every problem set answered by the reference."""
    course_dir = Path(course_dir)
    for a in assignments_in(course_dir):
        for src_path in source_notebooks(course_dir, a):
            source = json.loads(src_path.read_text())
            rel_path = course_dir / RELEASE_DIR / a / src_path.name
            release = json.loads(rel_path.read_text()) if rel_path.exists() else None
            dest = submitted / student / a
            dest.mkdir(parents=True, exist_ok=True)
            (dest / src_path.name).write_text(json.dumps(reference_submission(source, release)))


def cmd_selfcheck(course_dir: Path, opts: GradingOptions) -> int:
    """Autograde the reference solutions as a fake student; non-zero unless full marks."""
    course_dir = Path(course_dir)
    tmp = Path(tempfile.mkdtemp(prefix="aegrade-selfcheck-"))
    try:
        write_reference_class(course_dir, tmp / "submitted")
        run = autograde_dir(tmp / "submitted", course_dir=course_dir, work_dir=tmp / "work", options=opts)
        print(format_table(run.results))
        bad = []
        for a, rec in run.results.get("reference", {}).items():
            if rec["status"] != "graded":
                bad.append(f"{a}: {rec['status']} ({rec.get('reason', '')})")
                continue
            for gid, p in rec["problems"].items():
                if not p["manual"] and p["score"] != p["max"]:
                    bad.append(f"{a}/{gid}: {fmt(p['score'])}/{fmt(p['max'])}")
        missing = set(assignments_in(course_dir)) - set(run.results.get("reference", {}))
        bad += [f"{a}: not graded" for a in sorted(missing)]
        print(f"isolation: {run.meta.get('isolation')}; {run.meta.get('seconds')} s")
        if bad:
            print("SELFCHECK FAILED: the reference solutions do not score full marks:")
            for b in bad:
                print(f"  {b}")
            return 1
        print("selfcheck: the reference solutions score full marks on every autograded problem")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
