"""Which sandbox level a run uses, and the loud warning when it is less than ``full``."""
from __future__ import annotations

from .course import log
from .sandbox.probe import probe_level, python_usable_by_other_uid

LEVELS = {"none": 0, "uid": 1, "full": 2}


def isolation_level(requested: str = "auto") -> tuple[str, str]:
    """The sandbox level grading will use, and why (probed now: a fork, a few ms)."""
    best, detail = probe_level()
    if requested == "auto":
        return best, detail
    if requested not in LEVELS:
        raise ValueError(f"isolation must be one of auto, {', '.join(LEVELS)}; not {requested!r}")
    if LEVELS[requested] > LEVELS[best]:
        raise RuntimeError(f"isolation {requested!r} requested but only {best!r} is possible: {detail}")
    if requested == "uid":
        why = python_usable_by_other_uid()
        if why:
            raise RuntimeError(f"isolation 'uid' is not usable here: {why}")
    return requested, f"{requested} requested ({detail})"


def warn_unisolated(level: str, detail: str) -> None:
    """Tell the instructor, loudly, what a level below ``full`` leaves open."""
    bar = "!" * 78
    if level == "none":
        what = ("SUBMISSIONS RUN UNISOLATED: same user as the grader, network reachable,\n"
                "!! every file the grader can read is readable; only resource limits apply.")
    else:
        what = ("SUBMISSIONS RUN PARTLY ISOLATED: own unprivileged uid and resource limits,\n"
                "!! but no private file system view and the network is reachable.")
    log(f"{bar}\n!! {what}\n!! Reason: {detail}\n{bar}")
