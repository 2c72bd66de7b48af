"""Test cells decided in the grader's process, never in the student's kernel.

For each notebook under grading, :class:`TrustedTests` keeps a namespace in the grader's own
process: the instructor's setup cells run there, every name the reference solution defines is a
:class:`~aegrade.checks.helpers.StudentFunction`, and each test cell's full source (visible tests
and hidden tests, as the gradebook holds them) runs there when its turn comes. The cell's score is
whether that code raised: the student's kernel only ever computes function values on the inputs
the tests choose, and expected values never leave the grader.
"""
from __future__ import annotations

import ast
import builtins
import linecache
import sys
from dataclasses import dataclass

from ..notebooks import HIDDEN_BEGIN, HIDDEN_END, strip_solution_markers
from . import helpers
from .remote import CheckTimeout, KernelGone, StudentCodeError


@dataclass
class Verdict:
    """A test cell's outcome: ``passed``, and what the student may read about it."""

    passed: bool
    message: str = ""
    ename: str = ""


def _hidden_line_range(source: str) -> range:
    lines = source.split("\n")
    begin = next((i for i, ln in enumerate(lines) if HIDDEN_BEGIN in ln), None)
    end = next((i for i, ln in enumerate(lines) if HIDDEN_END in ln), None)
    if begin is None or end is None:
        return range(0)
    return range(begin + 1, end + 2)  # 1-based line numbers of the region


def top_level_names(source: str) -> set:
    """Names a cell binds at module level (functions, classes, imports, assignments)."""
    try:
        tree = ast.parse(strip_solution_markers(source))
    except SyntaxError:
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                names |= {n.id for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names


class TrustedTests:
    """The instructor's test code of one notebook, run in the grader's process.

    Parameters
    ----------
    cells : dict
        ``grade_id -> (source, cell_type, locked)`` of the reference notebook (from the gradebook).
    solutions, tests : set of str
        The grade ids of the answer cells and of the autograded test cells.
    kernel : StudentKernel
        Calls into the student's kernel.
    """

    def __init__(self, cells: dict, solutions: set, tests: set, kernel):
        self.cells, self.tests, self.kernel = cells, tests, kernel
        self.ns = {"__name__": "aegrade_tests", "__builtins__": builtins}
        self.ns.update({name: getattr(helpers, name) for name in helpers.__all__})
        for gid in solutions:
            source, cell_type, _ = cells[gid]
            if cell_type == "code":
                for name in top_level_names(source):
                    self.ns[name] = helpers.StudentFunction(name, kernel)

    def setup(self, gid: str) -> None:
        """Run a locked instructor cell that is neither an answer nor a test (imports, data)."""
        source, cell_type, locked = self.cells[gid]
        if cell_type == "code" and locked and gid not in self.tests:
            exec(compile(source, f"<setup {gid}>", "exec"), self.ns)  # noqa: S102 - the instructor's code

    def check(self, gid: str) -> Verdict:
        """Run test cell ``gid``'s full source; passed unless it raised."""
        source = self.cells[gid][0]
        filename = f"<test {gid}>"
        # the source is known to linecache, so that in_kernel() can send a test's function
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        token = helpers._GRADING.set(True)
        try:
            exec(compile(source, filename, "exec"), self.ns)  # noqa: S102 - the instructor's code
        except KernelGone:
            raise
        except BaseException as exc:  # noqa: BLE001 - any failure fails the test
            line = _last_line_in(sys.exc_info()[2], filename)
            hidden = line in _hidden_line_range(source)
            return Verdict(False, _message(exc, hidden), type(exc).__name__)
        finally:
            helpers._GRADING.reset(token)
        return Verdict(True)


def _last_line_in(tb, filename: str) -> int:
    line = 0
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _message(exc: BaseException, hidden: bool) -> str:
    """What the student reads: a visible test's own message; of a hidden test, only that it
    failed (its message may hold expected values), unless their own code raised."""
    if isinstance(exc, CheckTimeout):
        return "your function did not return within the time limit"
    if isinstance(exc, StudentCodeError):
        return str(exc)
    if hidden:
        if isinstance(exc, AssertionError):
            return "a hidden test failed"
        return f"a hidden test failed: your code raised {type(exc).__name__}"
    return f"{exc}"
