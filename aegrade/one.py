"""Grade one submission: the unit that a Celery worker (or anyone) runs, with a stable JSON result.

:func:`grade_one` puts one student's submission into a folder of its own and grades it with
:func:`aegrade.run.autograde_dir` (static scan, sandboxed kernel, limits: the same hardening
as a whole class), in a work folder of its own, against the course folder it is given (a
worker gives it a read-only snapshot, :mod:`aegrade.distributed.snapshot`), never against a live
gradebook. The result is a plain dict that :func:`json.dumps` writes as is:

=====================  ==========================================================================
``schema``             ``"aegrade.result/1"`` (:data:`RESULT_SCHEMA`)
``student``            the student id
``assignment``         the problem set
``status``             ``"graded"``, ``"flagged"`` (static scan: never executed) or ``"ungraded"``
``reason``             why it is flagged or ungraded (``""`` when graded)
``findings``           the static scan's findings (flagged)
``problems``           ``{grade_id: {"notebook", "score", "max", "manual", "needs_manual_grade"}}``
                       (graded; ``score`` is ``None`` for a written answer not yet graded by hand)
``total``              sum of the known scores (``None`` unless graded)
``max_total``          sum of the maxima of the autograded problems (``None`` unless graded)
``notes``              what the pipeline noted (restored cells, capped output, ...)
``autograded``         ``{notebook file name: the autograded notebook as JSON text}`` (graded)
``source_sha256``      checksum of the problem set's source notebooks the grading used
``submission_sha256``  checksum of the submitted files
``timings``            ``{"grading_s": nbgrader's autograde, "total_s": the whole call}`` (and
                       ``"task_s"``, the whole Celery task, when a worker graded it)
``host``, ``isolation``  where it ran and the sandbox level it got
=====================  ==========================================================================
"""
from __future__ import annotations

import hashlib
import json
import shutil
import socket
import tempfile
import time
from pathlib import Path

from .course import SOURCE_DIR, assignments_in, inside, source_notebooks
from .defaults import STUDENT_ID_PATTERN
from .notebooks import nbgrader_meta
from .options import GradingOptions
from .run import autograde_dir
from .submissions import STUDENT_ID

#: The result's format; a reader refuses any other.
RESULT_SCHEMA = "aegrade.result/1"
_SKIPPED_PARTS = (".ipynb_checkpoints", "__pycache__")


def tree_checksum(files: dict) -> str:
    """SHA-256 over ``{relative name: path}``: names and contents, in name order."""
    h = hashlib.sha256()
    for rel in sorted(files):
        h.update(rel.encode() + b"\0")
        h.update(hashlib.sha256(Path(files[rel]).read_bytes()).digest())
    return h.hexdigest()


def source_checksum(course_dir: Path, assignment: str) -> str:
    """Checksum of ``solutions/<assignment>/`` (its regular files): the version of the problem set
    a result was graded against (its release and hidden tests come from these files)."""
    folder = Path(course_dir) / SOURCE_DIR / assignment
    if not folder.is_dir():
        raise FileNotFoundError(f"no problem set {assignment!r}: {folder} does not exist")
    files = {str(p.relative_to(folder)): p for p in folder.rglob("*")
             if p.is_file() and not p.is_symlink()
             and not any(part in _SKIPPED_PARTS for part in p.relative_to(folder).parts)}
    return tree_checksum(files)


def problem_notebooks(course_dir: Path, assignment: str) -> dict:
    """``{grade_id: notebook name}`` for the graded cells of a problem set's source notebooks."""
    out = {}
    for path in source_notebooks(course_dir, assignment):
        for cell in json.loads(path.read_text())["cells"]:
            meta = nbgrader_meta(cell)
            if meta.get("grade") and meta.get("grade_id"):
                out[meta["grade_id"]] = path.stem
    return out


def _place_submission(submission: Path, dest: Path, course_dir: Path, assignment: str) -> None:
    """Copy a notebook (named as the problem set's notebook when it has only one) or a folder."""
    dest.mkdir(parents=True)
    submission = Path(submission)
    if submission.is_dir():
        for path in sorted(submission.rglob("*")):
            rel = path.relative_to(submission)
            if path.is_symlink() or any(part.startswith(".ipynb_checkpoints") for part in rel.parts):
                continue
            if path.is_file():
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, dest / rel)
        return
    if not submission.is_file():
        raise FileNotFoundError(f"submission {submission} does not exist (expected a notebook "
                                "file or a folder holding the problem set's notebook)")
    names = [p.name for p in source_notebooks(course_dir, assignment)]
    name = names[0] if len(names) == 1 else submission.name
    shutil.copyfile(submission, dest / name)


def grade_one(submission, *, assignment: str, student: str, course_dir, work_dir=None,
              options: GradingOptions | None = None, prepared=None, **overrides) -> dict:
    """Grade one student's submission of one problem set; the JSON-ready result (module doc).

    Parameters
    ----------
    submission : path
        The submitted notebook (it is graded as the problem set's notebook whatever its file
        name), or a folder with the notebook and any other files the student handed in.
    assignment : str
        The problem set, a folder of ``<course_dir>/solutions/``.
    student : str
        The student id (letters, digits and ``_.@+-``, at most 64 characters).
    course_dir : path
        The course (or a snapshot of it): only read.
    work_dir : path, optional
        Where grading happens (created; must not exist yet). Default: a temporary folder,
        removed afterwards.
    options : GradingOptions, optional
        Limits and switches (``workers`` is always 1 here); ``overrides`` replace single fields.
    prepared : aegrade.run.PreparedCourse, optional
        A course prepared once for many calls (:func:`aegrade.run.prepare_course`; a Celery
        worker keeps one per grading process). Its options are used; ``work_dir`` is then
        required and must lie inside one of the folders it was prepared to hide. The submission
        is removed from the prepared course afterwards.

    Returns
    -------
    dict
        The result (see the module docstring).
    """
    t0 = time.monotonic()
    course_dir = Path(course_dir).resolve()
    if assignment not in assignments_in(course_dir):
        raise ValueError(f"unknown problem set {assignment!r}: expected one of "
                         f"{', '.join(assignments_in(course_dir))}")
    if not STUDENT_ID.match(student):
        raise ValueError(f"invalid student id {student!r}: expected {STUDENT_ID_PATTERN}")
    if prepared is not None:
        if Path(prepared.course_dir) != course_dir:
            raise ValueError(f"the prepared course is {prepared.course_dir}, not {course_dir}")
        if work_dir is None or not any(inside(Path(work_dir).resolve(), h) for h in prepared.hidden):
            raise ValueError("with a prepared course, work_dir must be given and lie inside a folder "
                             f"it hides ({', '.join(map(str, prepared.hidden))})")
    own_tmp = work_dir is None
    base = Path(tempfile.mkdtemp(prefix="aegrade-one-")) if own_tmp else Path(work_dir).resolve()
    if not own_tmp:
        base.mkdir(parents=True, exist_ok=False)
    try:
        folder = base / "submitted" / student / assignment
        _place_submission(submission, folder, course_dir, assignment)
        files = {str(p.relative_to(folder)): p for p in folder.rglob("*") if p.is_file()}
        if prepared is None:
            overrides["workers"] = 1
            run = autograde_dir(base / "submitted", course_dir=course_dir, work_dir=base / "work",
                                options=options, **overrides)
            out_dir = base / "work" / "course" / "autograded" / student / assignment
            return _result(run, student, assignment, out_dir, course_dir, files, t0)
        try:
            run = prepared.grade(base / "submitted")
            out_dir = prepared.root / "autograded" / student / assignment
            return _result(run, student, assignment, out_dir, course_dir, files, t0)
        finally:
            prepared.forget([(student, assignment)])
    finally:
        if own_tmp:
            shutil.rmtree(base, ignore_errors=True)


def _result(run, student: str, assignment: str, out_dir: Path, course_dir: Path, files: dict,
            t0: float) -> dict:
    """The result of one submission's grading run (module doc)."""
    rec = run.results.get(student, {}).get(assignment) or {
        "status": "ungraded", "reason": "the grader found no submission", "problems": {},
        "total": None, "max_total": None, "notes": [], "seconds": None}
    autograded = {}
    if rec["status"] == "graded":
        autograded = {p.name: p.read_text() for p in sorted(out_dir.glob("*.ipynb"))}
    where = problem_notebooks(course_dir, assignment)
    return {
        "schema": RESULT_SCHEMA,
        "student": student,
        "assignment": assignment,
        "status": rec["status"],
        "reason": rec.get("reason", "") if rec["status"] != "graded" else "",
        "findings": rec.get("findings", []),
        "problems": {gid: {"notebook": where.get(gid, assignment), **p}
                     for gid, p in rec.get("problems", {}).items()},
        "total": rec.get("total"),
        "max_total": rec.get("max_total"),
        "notes": rec.get("notes", []),
        "autograded": autograded,
        "source_sha256": source_checksum(course_dir, assignment),
        "submission_sha256": tree_checksum(files),
        "timings": {"grading_s": rec.get("seconds"), "total_s": round(time.monotonic() - t0, 3)},
        "host": socket.gethostname(),
        "isolation": run.meta.get("isolation"),
    }


def check_result(result: dict) -> dict:
    """``result`` if it is a grade-one result this version reads; a clear error otherwise."""
    if not isinstance(result, dict) or result.get("schema") != RESULT_SCHEMA:
        got = result.get("schema") if isinstance(result, dict) else type(result).__name__
        raise ValueError(f"not a grading result of format {RESULT_SCHEMA} (got {got!r})")
    missing = {"student", "assignment", "status", "problems", "source_sha256"} - set(result)
    if missing:
        raise ValueError(f"grading result without {', '.join(sorted(missing))}")
    if result["status"] not in ("graded", "flagged", "ungraded"):
        raise ValueError(f"grading result with unknown status {result['status']!r}")
    return result


def write_result(result: dict, out) -> Path:
    """Write a result as JSON (atomically: a reader never sees half a file)."""
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(check_result(result), indent=1))
    tmp.replace(out)
    return out
