"""Reading nbgrader notebooks: cell sources, nbgrader's markers, and the reference answers.

One home for what the grader, the preprocessors, the scan and the tests all need to read
from a notebook (nbformat 4, as plain dicts or ``NotebookNode``).
"""
from __future__ import annotations

import copy
import html
import json
import re
from pathlib import Path
from typing import Mapping

SOLUTION_BEGIN = "BEGIN SOLUTION"
SOLUTION_END = "END SOLUTION"
HIDDEN_BEGIN = "BEGIN HIDDEN TESTS"
HIDDEN_END = "END HIDDEN TESTS"
#: Secret lines (solutions, hidden tests) shorter than this, whitespace collapsed, are too generic
#: to give anything away on their own (``except ValueError:``, ``return grad``): the feedback leak
#: check, the student release and the course website do not search for them.
MIN_SECRET_LINE = 20


def cell_source(cell: Mapping) -> str:
    """A cell's source as one string (nbformat allows a list of lines)."""
    src = cell.get("source", "")
    if isinstance(src, list):
        return "".join(str(s) for s in src)
    return str(src)


def nbgrader_meta(cell: Mapping) -> dict:
    """The cell's ``metadata.nbgrader`` (``{}`` when absent or malformed)."""
    meta = cell.get("metadata", {}) or {}
    nbg = meta.get("nbgrader", {}) if isinstance(meta, Mapping) else {}
    return nbg if isinstance(nbg, Mapping) else {}


def _regions(source: str, begin: str, end: str):
    """``(inside, line)`` for every line of ``source``; marker lines themselves are ``None``."""
    inside = False
    for line in source.split("\n"):
        if begin in line:
            inside = True
            yield None, line
        elif end in line:
            inside = False
            yield None, line
        else:
            yield inside, line


def strip_hidden(source: str) -> str:
    """``source`` without its ``### BEGIN/END HIDDEN TESTS`` regions (as nbgrader releases it)."""
    return "\n".join(line for inside, line in _regions(source, HIDDEN_BEGIN, HIDDEN_END)
                     if inside is False)


def hidden_lines(source: str) -> list[str]:
    """The lines inside ``source``'s hidden-test regions."""
    return [line for inside, line in _regions(source, HIDDEN_BEGIN, HIDDEN_END) if inside]


def solution_lines(source: str) -> list[str]:
    """The lines inside ``source``'s ``### BEGIN/END SOLUTION`` regions."""
    return [line for inside, line in _regions(source, SOLUTION_BEGIN, SOLUTION_END) if inside]


def hidden_from_students(nb: Mapping) -> list[tuple[str, str, str]]:
    """``(kind, line, grade_id)`` for every line of a source notebook that its student release
    hides: the lines of ``### BEGIN/END SOLUTION`` regions and whole Markdown answer cells (kind
    ``"solution"``; nbgrader replaces such a cell whole) and of hidden-test regions (kind
    ``"hidden test"``). The one reader of this that the feedback check, the student release and
    the course site share."""
    out = []
    for cell in nb["cells"]:
        meta, source = nbgrader_meta(cell), cell_source(cell)
        gid = str(meta.get("grade_id", "?"))
        if cell.get("cell_type") == "markdown" and meta.get("solution"):
            out += [("solution", line, gid) for line in source.split("\n")]
            continue
        out += [("solution", line, gid) for line in solution_lines(source)]
        out += [("hidden test", line, gid) for line in hidden_lines(source)]
    return out


def strip_solution_markers(source: str) -> str:
    """Drop nbgrader's ``### BEGIN/END SOLUTION`` marker lines (a student never sees them)."""
    return "\n".join(line for line in source.split("\n")
                     if SOLUTION_BEGIN not in line and SOLUTION_END not in line)


def hidden_test_lines(source_notebooks) -> list[str]:
    """The stripped lines of every hidden-test region of the given source notebooks (paths or
    dicts) that would give something away: at least ``MIN_SECRET_LINE`` characters long, and not
    also a line of the notebook outside its hidden regions (``import numpy as np`` in the hidden
    tests is no secret when the set-up cell imports it too, and a line of the reference answer
    may be the student's own)."""
    notebooks = [nb if isinstance(nb, Mapping) else json.loads(Path(nb).read_text())
                 for nb in source_notebooks]
    # lines outside the hidden regions: what the release shows, and the reference answers, which a
    # student's own code (shown in their feedback) may well contain too
    shown = {ln.strip() for nb in notebooks for cell in nb["cells"]
             for ln in strip_hidden(cell_source(cell)).split("\n")}
    return [ln.strip() for nb in notebooks for cell in nb["cells"]
            for ln in hidden_lines(cell_source(cell))
            if len(ln.strip()) >= MIN_SECRET_LINE and ln.strip() not in shown]


def reference_submission(source_nb: Mapping, release_nb: Mapping | None = None) -> dict:
    """A student-like submission that answers everything with the reference solution.

    Parameters
    ----------
    source_nb : dict
        The nbgrader source notebook (``solutions/<ps>/<ps>.ipynb``).
    release_nb : dict, optional
        The released notebook; when given, its cells (and metadata) are used and only the
        answer cells are replaced.  Without it the release is imitated from the source:
        hidden tests are removed from test cells.

    Returns
    -------
    dict
        The notebook as a student would submit it (no outputs).
    """
    answers = {}
    for cell in source_nb["cells"]:
        meta = nbgrader_meta(cell)
        if meta.get("solution"):
            answers[meta["grade_id"]] = strip_solution_markers(cell_source(cell))
    nb = copy.deepcopy(dict(release_nb if release_nb is not None else source_nb))
    for cell in nb["cells"]:
        meta = nbgrader_meta(cell)
        if release_nb is None and meta.get("grade") and not meta.get("solution"):
            cell["source"] = strip_hidden(cell_source(cell))
        if meta.get("solution") and meta.get("grade_id") in answers:
            cell["source"] = answers[meta["grade_id"]]
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    return nb


def html_text(page: str) -> str:
    """The visible text of an HTML page, whitespace collapsed (code is split into
    highlighted ``<span>`` tokens, so tags must go before looking for a source line)."""
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    return " ".join(text.split())
