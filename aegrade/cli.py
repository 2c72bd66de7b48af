"""The ``aegrade`` command line (also ``python -m aegrade``)."""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from . import defaults
from .commands import cmd_autograde, cmd_feedback, cmd_grades, cmd_release, cmd_selfcheck
from .course import SOURCE_DIR
from .options import GradingOptions

DESCRIPTION = ("Release, autograde, feedback and grades for an nbgrader course, with submissions "
               "that cannot fool the grader: static scan, sandboxed kernels, parallel workers.")


def _grading_options(p: argparse.ArgumentParser, *, scan_switch: bool) -> None:
    p.add_argument("--cell-timeout", type=int, default=None,
                   help=f"seconds per cell (default {defaults.CELL_TIMEOUT})")
    p.add_argument("--wall-limit", type=float, default=None,
                   help=f"seconds per notebook (default {defaults.WALL_LIMIT:g})")
    p.add_argument("--workers", type=int, default=None, help="submissions graded at once")
    p.add_argument("--isolation", choices=("auto", "full", "uid", "none"), default=None)
    if scan_switch:
        p.add_argument("--no-scan", action="store_true",
                       help="after a manual review only: run submissions the static scan would "
                            "flag (the sandbox still applies)")


def _distributed_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--broker", default=None,
                   help="grade on Celery workers (aegrade worker) listening to this Redis URL")
    p.add_argument("--db", default=None,
                   help="the gradebook's database URL (any nbgrader accepts, e.g. "
                        "postgresql://USER@HOST:5432/DB); only this run writes it")
    p.add_argument("--force", action="store_true",
                   help="with --broker/--db: regrade submissions already recorded")
    p.add_argument("--lost-after", type=float, default=None,
                   help="with --broker: as the workers' --lost-after")
    p.add_argument("--stall-after", type=float, default=None,
                   help="with --broker: stop (naming what is not graded) when no result came for "
                        "this many seconds")


def _distributed_args(args) -> dict:
    from .distributed.app import DEFAULT_LOST_AFTER_S

    if not (args.broker or args.db):
        if args.force:
            raise SystemExit("aegrade autograde: --force goes with --broker or --db (a plain run "
                             "always grades everything)")
        return {}
    return {"broker": args.broker, "db": args.db, "force": args.force,
            "lost_after": args.lost_after or DEFAULT_LOST_AFTER_S, "stall_after": args.stall_after}


def _worker(course, args) -> int:
    from .distributed.app import DEFAULT_LOST_AFTER_S
    from .distributed.commands import cmd_worker

    return cmd_worker(course, args.broker, options_from_args(args), args.concurrency,
                      args.lost_after or DEFAULT_LOST_AFTER_S, args.name)


def _grade_one(course, args) -> int:
    from .distributed.commands import cmd_grade_one

    return cmd_grade_one(course, args.notebook, args.assignment, args.student, args.out,
                         options_from_args(args))


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="aegrade", description=DESCRIPTION)
    ap.add_argument("--course", type=Path, default=None,
                    help=f"course root, the folder holding {SOURCE_DIR}/ and nbgrader_config.py "
                         "(default: the current folder)")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("release", help="regenerate exercises/ from solutions/ (nbgrader generate_assignment)")
    p = sub.add_parser("autograde", help="autograde every submission")
    p.add_argument("--submitted", type=Path, default=None,
                   help="submissions: <dir>/<student>/<ps>/*.ipynb or a folder of collected "
                        "files (default: <course>/submitted)")
    _grading_options(p, scan_switch=True)
    _distributed_options(p)
    p = sub.add_parser("grade-one", help="grade one submission; write its result as JSON")
    p.add_argument("notebook", type=Path, help="the submitted notebook (or a folder holding it)")
    p.add_argument("--assignment", required=True, help="the problem set (a folder of solutions/)")
    p.add_argument("--student", required=True, help="the student id")
    p.add_argument("--out", type=Path, required=True, help="where the JSON result goes")
    _grading_options(p, scan_switch=False)
    p = sub.add_parser("worker", help="a Celery worker grading submissions sent by `autograde --broker`")
    p.add_argument("--broker", required=True, help="Redis URL, e.g. redis://HOST:6379/0")
    p.add_argument("--concurrency", type=int, default=None,
                   help="submissions graded at once (default: one more than the CPUs)")
    p.add_argument("--name", default=None, help="the worker's name (default aegrade-PID@HOST)")
    p.add_argument("--lost-after", type=float, default=None,
                   help="seconds after which a task of a vanished worker goes to another one "
                        "(the same on every worker of a broker)")
    p.add_argument("--isolation", choices=("auto", "full", "uid", "none"), default=None)
    p = sub.add_parser("selfcheck", help="autograde the reference solutions; fail unless full marks")
    _grading_options(p, scan_switch=False)
    p = sub.add_parser("feedback", help="nbgrader generate_feedback without the hidden tests")
    p.add_argument("--db", default=None, help="the gradebook's database URL, as given to autograde "
                   "(default: the course's gradebook.db)")
    p = sub.add_parser("grades", help="CSV: one column per problem, per-assignment and overall totals")
    p.add_argument("--out", type=Path, default=Path("grades.csv"))
    p.add_argument("--db", default=None, help="the gradebook's database URL, as given to autograde "
                   "(default: the course's gradebook.db)")
    return ap


def options_from_args(args) -> GradingOptions:
    """The :class:`GradingOptions` the command line asked for."""
    given = {"cell_timeout": getattr(args, "cell_timeout", None),
             "wall_limit": getattr(args, "wall_limit", None),
             "workers": getattr(args, "workers", None),
             "isolation": getattr(args, "isolation", None)}
    opts = GradingOptions(**{k: v for k, v in given.items() if v is not None})
    if getattr(args, "no_scan", False):
        opts.static_scan = False
    return opts


COMMANDS = {
    "release": lambda course, args: cmd_release(course),
    "autograde": lambda course, args: cmd_autograde(course, args.submitted, options_from_args(args),
                                                    **_distributed_args(args)),
    "grade-one": _grade_one,
    "worker": _worker,
    "feedback": lambda course, args: cmd_feedback(course, args.db),
    "grades": lambda course, args: cmd_grades(course, args.out, args.db),
    "selfcheck": lambda course, args: cmd_selfcheck(course, options_from_args(args)),
}


def main(argv=None) -> int:
    """Command-line entry point; returns the exit code."""
    args = parser().parse_args(argv)
    course = (args.course or Path.cwd()).resolve()
    if not (course / SOURCE_DIR).is_dir():
        print(f"aegrade: {course} is not a course folder: it has no {SOURCE_DIR}/ "
              f"(run it in the course's root, or pass --course DIR)", file=sys.stderr)
        return 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nbgrader's SQLAlchemy warnings
        return COMMANDS[args.command](course, args)
