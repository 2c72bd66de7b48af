"""One course website per test session, shared by tests/test_site.py and tests/test_site_browser.py.

Executing every lecture takes minutes even in fast mode (and tests/test_lectures.py already does
it), so the tests build the site from the committed notebooks plus **one** lecture executed in
fast mode: the first one, which has figures and formulas. Everything else about the site (pages,
problem sets, API reference, MathJax, search) is the same as after ``make course``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

from tools import site
from tools.notebooks import execute

REPO = Path(__file__).resolve().parents[1]
LECTURES = site.lecture_paths()
EXECUTED_LECTURE = LECTURES[0]


@dataclass
class BuiltSite:
    root: Path          # build/site of this test session
    executed: Path      # folder of the executed lecture(s)
    report: dict        # what tools.site.build returned
    execute_seconds: float


_built: BuiltSite | None = None


def built_site(tmp_path_factory) -> BuiltSite:
    """Build the site once per session (about a minute on 2 cores) and return where it is."""
    global _built
    if _built is None:
        work = tmp_path_factory.mktemp("course-site")
        executed = work / "executed"
        executed.mkdir()
        t0 = time.perf_counter()
        nbformat.write(execute(EXECUTED_LECTURE, fast=True, timeout=600), executed / EXECUTED_LECTURE.name)
        seconds = time.perf_counter() - t0
        report = site.build(work / "site", executed_dir=executed, src=work / "site-src", fast=True,
                            allow_unexecuted=True, jobs=2)
        _built = BuiltSite(work / "site", executed, report, seconds)
    return _built
