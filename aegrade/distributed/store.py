"""The one writer: results into the gradebook (any database nbgrader accepts) and a results table.

Only the coordinating ``autograde`` run writes here; workers never see the database. Per
submission it keeps a row of ``aegrade_results`` (status, reason, scores, the checksums of
the problem set and the submission, the task that produced it) beside nbgrader's own tables:
a row is the mark that a submission is done, written *after* its grades, so a run that is
interrupted and started again grades what has no row and nothing twice. A result whose task id
is already recorded is a duplicate and is ignored.

Graded submissions get their scores in nbgrader's gradebook as nbgrader's own ``SaveAutoGrades``
would set them (manual scores already there are kept); flagged and ungraded ones are taken out
of it (never exported as a silent zero), as in a local run.
"""
from __future__ import annotations

import datetime
import json
import re
from pathlib import Path

from ..defaults import RESULTS_TABLE
from ..gradebook import recorded_results
from ..nbgrader_setup import use_inprocess_alembic_head


class DatabaseUnreachable(RuntimeError):
    """The gradebook's database cannot be reached (raised before any grading starts)."""


def redact(url: str) -> str:
    """A database URL without its password."""
    return re.sub(r"(//[^:/@]+):[^@/]*@", r"\1:***@", str(url))


def _results_table(metadata):
    from sqlalchemy import Column, DateTime, Float, String, Table, Text

    return Table(RESULTS_TABLE, metadata,
                 Column("student", String(128), primary_key=True),
                 Column("assignment", String(128), primary_key=True),
                 Column("status", String(16), nullable=False),
                 Column("reason", Text, nullable=False, default=""),
                 Column("total", Float), Column("max_total", Float),
                 Column("source_sha256", String(64), nullable=False),
                 Column("submission_sha256", String(64), nullable=False),
                 Column("task_id", String(160), nullable=False),
                 Column("worker", String(255), nullable=False, default=""),
                 Column("record", Text, nullable=False),
                 Column("recorded_at", DateTime, nullable=False))


class GradebookWriter:
    """The gradebook at ``db_url`` and the run's results table.

    Parameters
    ----------
    db_url : str
        SQLAlchemy URL nbgrader accepts: ``sqlite:///PATH``, ``postgresql://USER@HOST:PORT/DB``.
    course_id : str
        nbgrader's course id.
    """

    def __init__(self, db_url: str, course_id: str = "default_course"):
        from nbgrader.api import Gradebook
        from sqlalchemy import MetaData
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

        self.db_url = db_url
        use_inprocess_alembic_head()
        try:
            # nbgrader first: it stamps its schema version only into a database without tables
            self.gb = Gradebook(db_url, course_id=course_id)
        except OperationalError as exc:
            first = str(exc.orig if getattr(exc, "orig", None) else exc).strip().splitlines()[0]
            raise DatabaseUnreachable(f"cannot reach the gradebook database {redact(db_url)}: {first}. "
                                      "Nothing was graded.") from exc
        except (ArgumentError, NoSuchModuleError) as exc:
            raise DatabaseUnreachable(f"not a database URL nbgrader accepts: {redact(db_url)} ({exc}); "
                                      "expected e.g. sqlite:///gradebook.db or "
                                      "postgresql://USER@HOST:5432/DBNAME") from exc
        self.table = _results_table(MetaData())
        self.table.metadata.create_all(self.gb.engine)

    def close(self) -> None:
        self.gb.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------ reading
    def rows(self) -> dict:
        """``{(student, assignment): row as a dict}`` of every recorded result."""
        from sqlalchemy import select

        with self.gb.engine.connect() as conn:
            return {(r.student, r.assignment): dict(r._mapping) for r in conn.execute(select(self.table))}

    def records(self) -> dict:
        """``{student: {assignment: record}}`` (the records of :func:`aegrade.run.autograde_dir`)."""
        return recorded_results(self.db_url)

    # ------------------------------------------------------------------ writing
    def record(self, result: dict, task_id: str) -> dict | None:
        """Record one grade-one result; its record, or ``None`` when this task's result is already
        recorded (a duplicate)."""
        from sqlalchemy import delete, insert, select

        key = (result["student"], result["assignment"])
        with self.gb.engine.connect() as conn:
            row = conn.execute(select(self.table.c.task_id).where(
                self.table.c.student == key[0], self.table.c.assignment == key[1])).first()
        if row is not None and row.task_id == task_id:
            return None
        if result["status"] == "graded":
            self._write_grades(result)
        else:
            self._remove_submission(*key)
        record = {k: result.get(k) for k in ("status", "reason", "problems", "total", "max_total",
                                             "notes", "findings")}
        record["problems"] = {gid: {k: v for k, v in p.items() if k != "notebook"}
                              for gid, p in (record["problems"] or {}).items()}
        record["findings"] = record["findings"] or []
        record["seconds"] = (result.get("timings") or {}).get("grading_s")
        record["task_seconds"] = (result.get("timings") or {}).get("total_s")
        record["worker_task_seconds"] = (result.get("timings") or {}).get("task_s")
        if result["status"] != "flagged":
            record.pop("findings")
        values = {"student": key[0], "assignment": key[1], "status": result["status"],
                  "reason": result.get("reason") or "", "total": result.get("total"),
                  "max_total": result.get("max_total"), "source_sha256": result["source_sha256"],
                  "submission_sha256": result.get("submission_sha256") or "", "task_id": task_id,
                  "worker": str(result.get("worker") or result.get("host") or ""),
                  "record": json.dumps(record),
                  "recorded_at": datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)}
        with self.gb.engine.begin() as conn:
            conn.execute(delete(self.table).where(self.table.c.student == key[0],
                                                  self.table.c.assignment == key[1]))
            conn.execute(insert(self.table).values(**values))
        return record

    def _remove_submission(self, student: str, assignment: str) -> None:
        from nbgrader.api import MissingEntry

        try:
            self.gb.remove_submission(assignment, student)
        except MissingEntry:
            pass

    def _write_grades(self, result: dict) -> None:
        """Scores and "No response." comments as nbgrader's SaveAutoGrades sets them.

        The submission's grades and comments are read per notebook and matched to their cells by
        id (a few queries per notebook, not one per cell: this writer is the one serial step of a
        distributed run)."""
        import nbformat
        from nbgrader import utils
        from nbgrader.api import MissingEntry

        gb, student, a = self.gb, result["student"], result["assignment"]
        gb.update_or_create_student(student)
        try:
            submission = gb.find_submission(a, student)
        except MissingEntry:
            submission = gb.add_submission(a, student)
        grades, comments = {}, {}
        for snb in submission.notebooks:
            nb = snb.notebook
            graded = {c.id: c.name for c in list(nb.grade_cells) + list(nb.task_cells)}
            answered = {c.id: c.name for c in list(nb.solution_cells) + list(nb.task_cells)}
            grades.update({(nb.name, graded[g.cell_id]): g for g in snb.grades})
            comments.update({(nb.name, answered[c.cell_id]): c for c in snb.comments})
        for gid, p in result["problems"].items():
            grade = grades.get((p["notebook"], gid))
            if grade is None:
                raise ValueError(f"{student}/{a}: no grade cell {gid!r} in notebook {p['notebook']!r} "
                                 "of the gradebook (a result from another version of the problem set?)")
            grade.auto_score = p["score"]   # a worker has no manual scores: this is the autograder's
            grade.needs_manual_grade = grade.manual_score is not None or grade.auto_score is None
        for name, text in (result.get("autograded") or {}).items():
            notebook = nbformat.reads(text, as_version=4)
            for cell in notebook.cells:
                if not (utils.is_solution(cell) or utils.is_task(cell)):
                    continue
                comment = comments[(Path(name).stem, cell.metadata["nbgrader"]["grade_id"])]
                same = cell.metadata.nbgrader.get("checksum") == utils.compute_checksum(cell)
                comment.auto_comment = "No response." if same and not utils.is_task(cell) else None
        gb.db.commit()

    def prepare(self, course_dir: Path, assignments: list[str]) -> None:
        """Put the problem sets (notebooks, graded cells, maxima) into the gradebook: nbgrader's
        ``generate_assignment`` in a throw-away copy of the course, writing to this database."""
        import shutil
        import tempfile

        from nbgrader.apps.api import NbGraderAPI

        from ..course import SOURCE_DIR, copy_tree_regular
        from ..nbgrader_setup import nbgrader_config, quiet_logger

        tmp = Path(tempfile.mkdtemp(prefix="aegrade-prepare-"))
        try:
            for a in assignments:
                copy_tree_regular(Path(course_dir) / SOURCE_DIR / a, tmp / "course" / "source" / a)
            cfg = nbgrader_config(Path(course_dir), root=tmp / "course")
            cfg.CourseDirectory.db_url = self.db_url
            api = NbGraderAPI(config=cfg, log=quiet_logger("aegrade.prepare"))
            for a in assignments:
                res = api.generate_assignment(a, force=True, create=True)
                if not res.get("success"):
                    raise RuntimeError(f"nbgrader generate_assignment {a} into {redact(self.db_url)} "
                                       f"failed:\n{res.get('log', '')}\n{res.get('error', '')}")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
