"""A worker's read-only snapshot of the course: what grading needs, frozen when the worker starts.

A worker grades against ``solutions/`` and ``nbgrader_config.py`` copied at start-up into a folder
of its own (files read-only), never against the live course folder (an instructor editing a
problem set mid-run cannot change half a class's grading) and never near a gradebook. Each problem
set's checksum (:func:`aegrade.one.source_checksum`) goes with every result, and the coordinator
refuses a result graded against another version.
"""
from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from ..course import SOURCE_DIR, assignments_in, copy_tree_regular
from ..one import source_checksum


def snapshot_course(course_dir: Path, dest: Path) -> dict:
    """Copy what grading reads into ``dest`` (created, then made read-only).

    Parameters
    ----------
    course_dir : path
        The course: ``solutions/<ps>/`` and ``nbgrader_config.py``.
    dest : path
        A folder that does not exist yet.

    Returns
    -------
    dict
        ``{assignment: source checksum}`` of the snapshot.
    """
    course_dir, dest = Path(course_dir), Path(dest)
    assignments = assignments_in(course_dir)
    if not assignments:
        raise ValueError(f"no problem sets in {course_dir / SOURCE_DIR}")
    dest.mkdir(parents=True)
    for a in assignments:
        copy_tree_regular(course_dir / SOURCE_DIR / a, dest / SOURCE_DIR / a)
    config = course_dir / "nbgrader_config.py"
    if config.is_file():
        shutil.copyfile(config, dest / config.name)
    for path in sorted(dest.rglob("*"), reverse=True):
        if path.is_file():
            os.chmod(path, stat.S_IRUSR | stat.S_IRGRP)
    return {a: source_checksum(dest, a) for a in assignments}


def remove_snapshot(dest: Path) -> None:
    """Remove a snapshot (its files are read-only; their folders are not)."""
    shutil.rmtree(dest, ignore_errors=True)
