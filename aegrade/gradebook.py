"""Reading and publishing grades: a run's gradebook, the course's report, the grades table."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Iterable

from .course import assignments_in
from .defaults import REPORT_DIR, RESULTS_TABLE
from .report import fmt
from .submissions import Submission


def gradebook_results(root: Path, subs: list[Submission]) -> dict:
    """``{(student, assignment): {grade_id: {"score", "max", "manual", "needs_manual_grade"}}}``
    from a run's gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    out = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        manual_ids = {}
        for a in gb.assignments:
            names = set()
            for nb in a.notebooks:
                grade_names = {c.name for c in nb.grade_cells}
                names |= {c.name for c in nb.solution_cells if c.name in grade_names}
            manual_ids[a.name] = names
        for sub in subs:
            try:
                s = gb.find_submission(sub.assignment, sub.student)
            except MissingEntry:
                continue
            problems = {}
            for nb in s.notebooks:
                for g in nb.grades:
                    d = g.to_dict()
                    manual = d["name"] in manual_ids.get(sub.assignment, set())
                    score = d["manual_score"] if d["manual_score"] is not None else d["auto_score"]
                    problems[d["name"]] = {
                        "score": None if score is None else float(score),
                        "max": float(d["max_score"]),
                        "manual": manual,
                        "needs_manual_grade": bool(d["needs_manual_grade"]),
                    }
            out[(sub.student, sub.assignment)] = problems
    return out


def remove_submissions(root: Path, keys: Iterable[tuple[str, str]]) -> None:
    """Remove submissions from a run's gradebook (flagged/ungraded: never exported as zero)."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        for student, assignment in keys:
            try:
                gb.remove_submission(assignment, student)
            except MissingEntry:
                pass


def read_status(status_dir: Path, student: str, assignment: str) -> list[dict]:
    """The status records the preprocessors wrote for one submission (one per notebook)."""
    out = []
    for path in sorted(status_dir.glob(f"{student}__{assignment}__*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        data["notebook"] = path.stem.split("__", 2)[-1]
        out.append(data)
    return out



def recorded_results(db: str) -> dict:
    """``{student: {assignment: record}}`` from a gradebook's ``aegrade_results`` table (written by
    ``autograde --db`` / ``--broker``); empty when it has none."""
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(db)
    try:
        if RESULTS_TABLE not in inspect(engine).get_table_names():
            return {}
        out: dict = {}
        with engine.connect() as conn:
            for student, assignment, record in conn.execute(
                    text(f"SELECT student, assignment, record FROM {RESULTS_TABLE}")):
                out.setdefault(student, {})[assignment] = json.loads(record)
        return out
    finally:
        engine.dispose()


def report_path(course_dir: Path) -> Path:
    """``<course>/autograded/.grading/report.json``: every submission's status and reason."""
    return Path(course_dir) / "autograded" / REPORT_DIR / "report.json"


def load_report(course_dir: Path) -> dict:
    """The course's report (``{"meta": ..., "results": ...}``; empty when there is none)."""
    path = report_path(course_dir)
    if path.exists():
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            pass
    return {"meta": {}, "results": {}}


def publish(results: dict, work_dir: Path, course_dir: Path) -> None:
    """Copy a run's results into the course: ``autograded/``, ``gradebook.db`` and the report."""
    work_root = Path(work_dir) / "course"
    course_dir = Path(course_dir)
    for student, per in results.items():
        for a, rec in per.items():
            dest = course_dir / "autograded" / student / a
            if dest.exists():
                shutil.rmtree(dest)
            src = work_root / "autograded" / student / a
            if rec["status"] == "graded" and src.is_dir():
                shutil.copytree(src, dest)
    gb = work_root / "gradebook.db"
    if gb.exists():
        tmp = course_dir / ".gradebook.db.tmp"
        shutil.copyfile(gb, tmp)
        os.replace(tmp, course_dir / "gradebook.db")
    report = load_report(course_dir)
    for student, per in results.items():
        report["results"].setdefault(student, {}).update(per)
    meta_path = Path(work_dir) / "report.json"
    if meta_path.exists():
        report["meta"] = json.loads(meta_path.read_text()).get("meta", {})
    path = report_path(course_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1))



def grades_rows(course_dir: Path, db: str | None = None) -> tuple[list[str], list[dict]]:
    """Header and rows of the grades CSV (one column per problem, per-assignment totals,
    the overall total); flagged/ungraded submissions are marked, never scored as zero.

    ``db`` is the gradebook's database URL (default: the course's ``gradebook.db``); the status
    of each submission comes from its results table when the distributed grader wrote one,
    otherwise from the course's report."""
    from nbgrader.api import Gradebook, MissingEntry

    report = load_report(course_dir)["results"]
    if db is None and (Path(course_dir) / "gradebook.db").exists():
        db = f"sqlite:///{Path(course_dir) / 'gradebook.db'}"
    assignments = assignments_in(course_dir)
    columns, rows = ["student"], []
    problems: dict = {}
    scores: dict = {}
    if db:
        for student, per in recorded_results(db).items():
            report.setdefault(student, {}).update(per)
    students = set(report)
    if db:
        with Gradebook(db) as gb:
            for a in assignments:
                try:
                    assignment = gb.find_assignment(a)
                except MissingEntry:
                    problems[a] = []
                    continue
                problems[a] = [(nb.name, c.name, float(c.max_score))
                               for nb in assignment.notebooks for c in nb.grade_cells]
                for sub in assignment.submissions:
                    students.add(sub.student.id)
                    vals = {}
                    for nb in sub.notebooks:
                        for g in nb.grades:
                            d = g.to_dict()
                            score = d["manual_score"] if d["manual_score"] is not None else d["auto_score"]
                            vals[d["name"]] = score
                    scores[(sub.student.id, a)] = vals
    for a in assignments:
        if a not in problems:
            problems[a] = []
    for a in assignments:
        columns.append(f"{a}:status")
        columns += [f"{a}:{gid}" for _, gid, _ in problems[a]]
        columns += [f"{a}:total", f"{a}:max"]
    columns += ["total", "max_total"]
    for student in sorted(students):
        row = {"student": student}
        total = max_total = 0.0
        for a in assignments:
            rec = report.get(student, {}).get(a)
            status = rec["status"] if rec else ("graded" if (student, a) in scores else "missing")
            maxima = sum(m for _, _, m in problems[a])
            row[f"{a}:status"] = status
            row[f"{a}:max"] = fmt(maxima)
            max_total += maxima
            if status == "graded" and (student, a) in scores:
                vals = scores[(student, a)]
                subtotal = 0.0
                for _, gid, _ in problems[a]:
                    v = vals.get(gid)
                    row[f"{a}:{gid}"] = "" if v is None else fmt(float(v))
                    subtotal += float(v or 0.0)
                row[f"{a}:total"] = fmt(subtotal)
                total += subtotal
            else:
                for _, gid, _ in problems[a]:
                    row[f"{a}:{gid}"] = ""
                row[f"{a}:total"] = ""
        held = [a for a in assignments if row[f"{a}:status"] in ("flagged", "ungraded")]
        # a held submission has no score yet: no overall total rather than a silent zero
        row["total"] = "" if held else fmt(total)
        row["max_total"] = fmt(max_total)
        rows.append(row)
    return columns, rows
