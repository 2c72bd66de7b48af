"""A grading run: every submission in a folder, graded without writing the course folder.

1. Submissions are found and *staged* (:mod:`aegrade.submissions`) into a private copy of the
   course inside ``work_dir`` (mode 700); the course folder is only read.
2. nbgrader 0.9.6 grades for real, through its Python API, with the hardened pipeline of
   :mod:`aegrade.preprocessors`: locked and test cells and their nbgrader flags are restored,
   the static scan (:mod:`aegrade.scan`) holds suspicious code back before anything runs, and
   the notebook executes in a sandboxed kernel (:mod:`aegrade.sandbox`) with a wall-clock
   budget and capped output.
3. Several submissions are graded at once by forked workers (:mod:`aegrade.workers`).
4. Results are read back from the run's gradebook (:mod:`aegrade.gradebook`); submissions that
   were flagged or could not be graded are removed from it, so nothing exports them as a
   silent zero.

Steps that do not depend on the submissions (the private course, nbgrader's release into its
gradebook, the sandbox's settings, the isolation probe) are :func:`prepare_course`; grading a
folder of submissions is :meth:`PreparedCourse.grade`. :func:`autograde_dir` does both once; a
Celery worker's grading process prepares once and then grades one submission per task, its forked
nbgrader process kept alive between tasks (:class:`aegrade.workers.GradingPool`).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .course import SOURCE_DIR, assignments_in, copy_tree_regular, env_bin_first, environment, inside, log
from .gradebook import gradebook_results, read_status, remove_submissions
from .isolation import isolation_level, warn_unisolated
from .nbgrader_setup import (GradingSetup, nbgrader_config, quiet_logger, unsynced_gradebooks,
                             use_inprocess_alembic_head)
from .options import GradingOptions
from .report import failure_reason, format_finding
from .sandbox_setup import matplotlib_cache, write_sandbox
from .submissions import Submission, discover_submissions, stage
from .workers import GradingPool


@dataclass
class GradingRun:
    """What :func:`autograde_dir` returns.

    Attributes
    ----------
    results : dict
        ``{student: {assignment: record}}`` (see :func:`autograde_dir`).
    meta : dict
        ``isolation``, ``isolation_detail``, ``static_scan``, ``seconds``, ``workers``,
        ``warnings``.
    """

    results: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)


def autograde_dir(submitted_dir, *, course_dir, work_dir, options: GradingOptions | None = None,
                  gradebook_seed=None, progress=None, **overrides) -> GradingRun:
    """Autograde every submission in ``submitted_dir`` without writing the course folder.

    Parameters
    ----------
    submitted_dir : path
        ``<dir>/<student>/<ps>/<ps>.ipynb`` (nbgrader layout), ``<dir>/<student>/<ps>.ipynb``,
        or a flat folder of ``<student>_<ps>.ipynb`` files.
    course_dir : path
        The course (reads ``solutions/<ps>/`` and ``nbgrader_config.py``; never written).
    work_dir : path
        Where the private nbgrader course, gradebook, logs and report go (created, mode
        700).  Must not be inside the course or the submission folder.
    options : GradingOptions, optional
        Limits and switches; keyword ``overrides`` replace single fields.
    gradebook_seed : path, optional
        Existing gradebook to start from (keeps earlier manual grades).
    progress : callable, optional
        Called with each worker result as it arrives.

    Returns
    -------
    GradingRun
        ``.results`` is ``{student: {assignment: record}}`` where ``record`` has ``status``
        (``"graded"``, ``"flagged"`` or ``"ungraded"``), ``problems``
        (``{grade_id: {"score": float or None, "max": float, "manual": bool, ...}}``;
        ``manual`` marks manually graded cells such as written answers, whose score is
        ``None`` until a person grades them), ``total`` (sum of known scores),
        ``max_total`` (sum of the maxima of the *autograded* problems), ``reason``
        (flagged/ungraded), ``findings`` (flagged), ``notes`` and ``seconds``.
        Flagged and ungraded records have empty ``problems`` and ``total`` ``None``.
        ``.meta`` says how the run went. Both are also written to ``work_dir/report.json``.
    """
    t_start = time.monotonic()
    submitted_dir = Path(submitted_dir).resolve()
    with prepare_course(course_dir, work_dir, options=options, hidden=[submitted_dir],
                        gradebook_seed=gradebook_seed, **overrides) as prepared:
        run = prepared.grade(submitted_dir, progress=progress)
    run.meta["seconds"] = round(time.monotonic() - t_start, 2)
    (prepared.work / "report.json").write_text(json.dumps({"meta": run.meta, "results": run.results}, indent=1))
    return run


def prepare_course(course_dir, work_dir, *, options: GradingOptions | None = None, hidden=(),
                   gradebook_seed=None, **overrides) -> "PreparedCourse":
    """Everything a grading run needs before the first submission, done once.

    A private nbgrader course in ``work_dir`` with the problem sets released into its own
    gradebook, the sandbox's settings and kernelspec, the isolation level. Use it as a context
    manager; :meth:`PreparedCourse.grade` grades a folder of submissions and may be called any
    number of times (a Celery worker grades one submission per call, with its grading processes
    kept alive between calls).

    Parameters
    ----------
    course_dir, work_dir, options, gradebook_seed
        As for :func:`autograde_dir`.
    hidden : list of path
        Folders the submissions will come from: never visible inside the sandbox, and
        ``work_dir`` must not be inside them.
    """
    opts = options or GradingOptions()
    if overrides:
        opts = GradingOptions(**{**asdict(opts), **overrides})
    course_dir = Path(course_dir).resolve()
    work = Path(work_dir).resolve()
    hidden = [Path(h).resolve() for h in hidden]
    pairs = [(work, course_dir, "course")]
    for h in hidden:
        pairs += [(work, h, "submission folder"), (h, work, "work folder")]
    for x, y, what in pairs:
        if inside(x, y):
            raise ValueError(f"{x} must not be inside the {what} {y}")
    assignments = assignments_in(course_dir)
    if not assignments:
        raise ValueError(f"no assignments in {course_dir / SOURCE_DIR}")
    prepared = PreparedCourse(course_dir, work, opts, hidden)
    try:
        prepared._prepare(assignments, gradebook_seed)
    except BaseException:
        prepared.close()
        raise
    return prepared


class PreparedCourse:
    """A private course ready to grade (made by :func:`prepare_course`)."""

    def __init__(self, course_dir: Path, work: Path, opts: GradingOptions, hidden: list):
        self.course_dir, self.work, self.opts, self.hidden = course_dir, work, opts, hidden
        self.root = work / "course"
        self._stack = contextlib.ExitStack()
        self.pool: GradingPool | None = None
        self.graded: set = set()          # (student, assignment) graded in this private course

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        """End the grading processes; undo the environment changes of :func:`prepare_course`."""
        if self.pool is not None:
            self.pool.close()
            self.pool = None
        self._stack.close()

    def _prepare(self, assignments, gradebook_seed) -> None:
        opts, work = self.opts, self.work
        with warnings.catch_warnings():
            # nbgrader's own SQLAlchemy warnings are not the caller's business (and a caller
            # such as pytest may turn them into errors)
            warnings.simplefilter("ignore")
            self.root, self.known = _private_course(self.course_dir, work, assignments, gradebook_seed)
            self.level, self.detail = isolation_level(opts.isolation)
            if self.level != "full":
                warn_unisolated(self.level, self.detail)
            os.chmod(work / "scratch", 0o711 if self.level == "uid" else 0o700)
            self.env = {"PATH": env_bin_first()["PATH"], "JUPYTER_PATH": str(work / "jupyter"),
                        "AEGRADE_SANDBOX_CONFIG": str(work / "sandbox.json")}
            self.n_workers = opts.n_workers(os.cpu_count())
            self._stack.enter_context(environment(PATH=self.env["PATH"]))
            self._stack.enter_context(unsynced_gradebooks(self.root))
            _release_in_private_course(self.course_dir, self.root, work, opts, self.level, assignments)
            write_sandbox(self.course_dir, work, opts, self.level, self.hidden,
                          matplotlib_cache(self.course_dir, work))

    def grade(self, submitted_dir, progress=None) -> GradingRun:
        """Grade every submission in ``submitted_dir`` (a folder given in ``hidden``).

        Returns a :class:`GradingRun` as :func:`autograde_dir` does; the graded submissions stay in
        the private course's gradebook and ``autograded/`` until :meth:`forget` removes them.
        """
        t_start = time.monotonic()
        opts, work = self.opts, self.work
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            subs, found = discover_submissions(Path(submitted_dir), self.known)
            for w in found:
                log(f"grading: {w}")
            again = [sub.key for sub in subs if sub.key in self.graded]
            if again:                             # graded before in this course: start clean
                remove_submissions(self.root, again)
            for sub in subs:
                self._clear(sub.key)
            stage(subs, self.root, opts, self.known)
            outcomes = self._grade(subs, progress)
            results = _collect(subs, self.root, work, outcomes)
            self.graded.update(sub.key for sub in subs)
        meta = {"isolation": self.level, "isolation_detail": self.detail, "static_scan": opts.static_scan,
                "seconds": round(time.monotonic() - t_start, 2), "workers": self.n_workers,
                "warnings": found}
        return GradingRun(results, meta)

    def forget(self, keys) -> None:
        """Remove graded submissions ``[(student, assignment)]`` from the private course's folders
        (their gradebook rows stay until the same submission is graded again: removing them costs
        a gradebook session per call)."""
        for key in keys:
            self._clear(key)

    def _clear(self, key) -> None:
        student, assignment = key
        for folder in ("submitted", "autograded"):
            shutil.rmtree(self.root / folder / student / assignment, ignore_errors=True)
            with contextlib.suppress(OSError):
                (self.root / folder / student).rmdir()      # when no other problem set is there
        self._remove_status(student, assignment)
        (self.work / "logs" / f"{student}__{assignment}.log").unlink(missing_ok=True)

    def _remove_status(self, student: str, assignment: str) -> None:
        """The preprocessors' status records of one submission (see :func:`read_status`)."""
        for path in (self.work / "status").glob(f"{student}__{assignment}__*.json"):
            path.unlink()

    def _grade(self, subs, progress) -> dict:
        """Grade the staged submissions with the pool; ``{(student, assignment): outcome}``."""
        tasks = [{"student": s.student, "assignment": s.assignment} for s in subs
                 if not s.problem and not s.flagged]
        if not tasks:
            return {}
        opts, work, level = self.opts, self.work, self.level
        status_dir = work / "status"

        def cfg_factory(runtime_dir):
            return nbgrader_config(self.course_dir, root=self.root,
                                   grading=GradingSetup(opts, status_dir, level, runtime_dir))

        def retry(res):
            """Failures that the submission's own code did not cause are retried once."""
            statuses = read_status(status_dir, res["student"], res["assignment"])
            if any(st.get("status") in ("flagged", "ungraded") for st in statuses):
                return False
            self._remove_status(res["student"], res["assignment"])
            log(f"grading: retrying {res['student']}/{res['assignment']} after: {failure_reason(res)}")
            return True

        if self.pool is None:
            hard_limit = opts.wall_limit + opts.startup_timeout + 60
            self.pool = GradingPool(self.n_workers, hard_limit, cfg_factory, work, level, self.env)
        return self.pool.run(tasks, progress, retry)


def _private_course(course_dir: Path, work: Path, assignments: list[str], gradebook_seed):
    """``work/course``: the source notebooks (and a seed gradebook); the known notebook names."""
    work.mkdir(parents=True, exist_ok=True)
    os.chmod(work, 0o700)
    for d in ("status", "logs", "scratch", "exchange"):
        (work / d).mkdir(exist_ok=True)
    root = work / "course"
    if root.exists():
        shutil.rmtree(root)
    (root / "source").mkdir(parents=True)
    known = {}
    for a in assignments:
        copy_tree_regular(course_dir / SOURCE_DIR / a, root / "source" / a)
        known[a] = {p.stem for p in (root / "source" / a).glob("*.ipynb")}
    if gradebook_seed and Path(gradebook_seed).exists():
        shutil.copyfile(gradebook_seed, root / "gradebook.db")
    return root, known


def _release_in_private_course(course_dir, root, work, opts, level, assignments) -> None:
    """nbgrader ``generate_assignment`` in the private copy: its gradebook and release."""
    from nbgrader.apps.api import NbGraderAPI

    use_inprocess_alembic_head()
    setup = GradingSetup(opts, work / "status", level)
    api = NbGraderAPI(config=nbgrader_config(course_dir, root=root, grading=setup),
                      log=quiet_logger("aegrade.setup"))
    for a in assignments:
        res = api.generate_assignment(a, force=True, create=True)
        if not res.get("success"):
            raise RuntimeError(f"nbgrader generate_assignment {a} failed:\n"
                               f"{res.get('log', '')}\n{res.get('error', '')}")


def _record(sub: Submission, root: Path, work: Path, outcome: dict | None, scores: dict) -> dict:
    """One submission's record: graded with its scores, or flagged / ungraded with the reason."""
    rec = {"status": "ungraded", "problems": {}, "total": None, "max_total": None,
           "reason": "", "notes": [], "seconds": None}
    if sub.problem:
        rec["reason"] = sub.problem
        return rec
    if sub.flagged:
        rec["status"] = "flagged"
        rec["findings"] = sub.flagged
        rec["reason"] = "static scan: " + "; ".join(format_finding(f) for f in sub.flagged[:5]) + (
            f"; ... ({len(sub.flagged)} findings)" if len(sub.flagged) > 5 else "")
        return rec
    res = outcome or {"success": False, "error": "not graded (internal error)"}
    rec["seconds"] = res.get("seconds")
    statuses = read_status(work / "status", *sub.key)
    for st in statuses:
        rec["notes"].extend(st.get("notes", []))
    flagged = [st for st in statuses if st.get("status") == "flagged"]
    ungraded = [st for st in statuses if st.get("status") == "ungraded"]
    autograded = root / "autograded" / sub.student / sub.assignment
    if flagged:
        rec["status"] = "flagged"
        rec["reason"] = "; ".join(st.get("reason", "") for st in flagged)
        rec["findings"] = [f for st in flagged for f in st.get("findings", [])]
    elif ungraded:
        rec["reason"] = "; ".join(st.get("reason", "") for st in ungraded)
    elif res.get("success") and autograded.is_dir() and sub.key in scores:
        problems = scores[sub.key]
        rec["status"] = "graded"
        rec["problems"] = problems
        rec["total"] = float(sum(p["score"] for p in problems.values() if p["score"] is not None))
        rec["max_total"] = float(sum(p["max"] for p in problems.values() if not p["manual"]))
    else:
        rec["reason"] = (res.get("error") if res.get("watchdog") else failure_reason(res)) \
            or "nbgrader could not grade this submission"
    return rec


def _collect(subs: list[Submission], root: Path, work: Path, outcomes: dict) -> dict:
    """Every submission's record; those not graded leave the run's gradebook and autograded/."""
    scores = gradebook_results(root, subs)
    results: dict = {}
    drop = []
    for sub in subs:
        rec = _record(sub, root, work, outcomes.get(sub.key), scores)
        if rec["status"] != "graded":
            drop.append(sub.key)
            shutil.rmtree(root / "autograded" / sub.student / sub.assignment, ignore_errors=True)
        results.setdefault(sub.student, {})[sub.assignment] = rec
    if drop:
        remove_submissions(root, drop)
    return results
