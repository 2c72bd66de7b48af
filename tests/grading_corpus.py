"""Submissions for testing and benchmarking the grader: honest, wrong and hostile.

Everything is built from a reference (nbgrader *source*) notebook, so it works with the
real problem sets (``solutions/ps1_forward_and_losses``) and with the small toy course
that :func:`write_toy_course` creates.

* :func:`find_target` picks the answer cell to attack (the second answer that defines a
  function and is followed by its own test cell, so there is an earlier problem that
  must keep its marks and later ones).
* :func:`adversarial_corpus` returns :class:`Case` objects: the five cheats of issue 7,
  fork/memory bombs, a 50 MB single-line print, ``os._exit``, a SIGINT-ignoring loop,
  writes into the course, reads of other students' work and of the hidden tests,
  sockets, deleted / edited / markdown-ified test cells, metadata games, broken
  notebooks and more, each with the outcome the grader must produce.
* With ``scan=False`` the OS-level attacks are written so that the answer is *correct
  only if the attack failed*: full marks then prove the sandbox contained it even
  without the static scan.
"""
from __future__ import annotations

import copy
import json
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from aegrade.notebooks import cell_source, nbgrader_meta, reference_submission

__all__ = ["Case", "Target", "adversarial_corpus", "find_target", "honest_class", "in_kernel_cheats",
           "toy_source_notebook", "write_submission", "write_toy_course", "wrong_submission"]


# --------------------------------------------------------------------------- notebooks
_meta = nbgrader_meta   # the grader's own readers


_src = cell_source


def _find(nb, grade_id):
    for i, cell in enumerate(nb["cells"]):
        if _meta(cell).get("grade_id") == grade_id:
            return i, cell
    raise KeyError(grade_id)


def _code_cell(source: str, nbgrader: dict | None = None) -> dict:
    meta = {"nbgrader": nbgrader} if nbgrader is not None else {}
    return {"cell_type": "code", "execution_count": None, "metadata": meta, "outputs": [],
            "source": source}


def toy_source_notebook() -> dict:
    """A small nbgrader source notebook: three autograded problems and a written answer."""
    def md(gid, **kw):
        d = {"grade": False, "solution": False, "locked": False, "grade_id": gid, "schema_version": 3}
        d.update(kw)
        return d

    cells = [
        {"cell_type": "markdown", "metadata": {"nbgrader": md("intro", locked=True)},
         "source": "# Toy problem set\n\nThree small functions and one written answer."},
        _code_cell("import math\n\nimport numpy as np", md("setup", locked=True)),
        _code_cell(textwrap.dedent('''\
            def square(x):
                """Elementwise square of an array of float64."""
                ### BEGIN SOLUTION
                return np.asarray(x, dtype=float) ** 2
                ### END SOLUTION'''), md("square", solution=True)),
        _code_cell(textwrap.dedent('''\
            out = square(np.array([1.0, -2.0]))
            assert isinstance(out, np.ndarray) and out.shape == (2,)
            ### BEGIN HIDDEN TESTS
            got = square(np.array([3.0, -0.5, 0.0])).tolist()
            assert type(got) is list and all(type(v) is float for v in got)
            assert got == [9.0, 0.25, 0.0], got
            ### END HIDDEN TESTS'''), md("test_square", grade=True, locked=True, points=2)),
        _code_cell(textwrap.dedent('''\
            def row_means(X):
                """Mean of each row of an (m, n) array: an (m,) array."""
                ### BEGIN SOLUTION
                X = np.asarray(X, dtype=float)
                return X.sum(axis=1) / X.shape[1]
                ### END SOLUTION'''), md("row_means", solution=True)),
        _code_cell(textwrap.dedent('''\
            X = np.arange(6.0).reshape(2, 3)
            assert row_means(X).shape == (2,)
            ### BEGIN HIDDEN TESTS
            got = row_means(np.array([[1.0, 2.0, 6.0], [0.0, 0.0, 3.0]])).tolist()
            assert type(got) is list and len(got) == 2
            assert all(type(v) is float for v in got) and got == [3.0, 1.0], got
            ### END HIDDEN TESTS'''), md("test_row_means", grade=True, locked=True, points=3)),
        _code_cell(textwrap.dedent('''\
            def sigmoid(z):
                """Numerically stable logistic function, elementwise."""
                ### BEGIN SOLUTION
                z = np.asarray(z, dtype=float)
                e = np.exp(-np.abs(z))
                return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
                ### END SOLUTION'''), md("sigmoid", solution=True)),
        _code_cell(textwrap.dedent('''\
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a correct answer never loses points to a warning
                s = sigmoid(np.array([-1000.0, 0.0, 1000.0]))
            assert s.shape == (3,)
            ### BEGIN HIDDEN TESTS
            vals = s.tolist()
            assert all(type(v) is float for v in vals)
            assert vals[1] == 0.5 and 0.0 <= vals[0] < 1e-300 and vals[2] == 1.0, vals
            assert not math.isnan(sum(vals))
            ### END HIDDEN TESTS'''), md("test_sigmoid", grade=True, locked=True, points=2)),
        {"cell_type": "markdown",
         "metadata": {"nbgrader": md("why_stable", solution=True, grade=True, points=1)},
         "source": "Why is the two-branch sigmoid stable?\n\n### BEGIN SOLUTION\n"
                   "Because exp is only evaluated at non-positive arguments.\n### END SOLUTION"},
    ]
    return {"cells": cells, "metadata": {"kernelspec": {"display_name": "Python 3 (ipykernel)",
                                                        "language": "python", "name": "python3"},
                                         "language_info": {"name": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def write_toy_course(dest: Path, config_from: Path | None = None) -> Path:
    """Create ``dest/solutions/toy/toy.ipynb`` (+ the course's ``nbgrader_config.py``)."""
    import nbformat

    dest = Path(dest)
    (dest / "solutions" / "toy").mkdir(parents=True, exist_ok=True)
    nb = nbformat.from_dict(toy_source_notebook())
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"toy-cell-{i}"
    nbformat.write(nb, dest / "solutions" / "toy" / "toy.ipynb")
    if config_from is not None and Path(config_from).exists():
        (dest / "nbgrader_config.py").write_text(Path(config_from).read_text())
    return dest


def write_submission(submitted: Path, student: str, assignment: str, nb) -> Path:
    """Write ``submitted/<student>/<assignment>/<assignment>.ipynb``."""
    folder = Path(submitted) / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{assignment}.ipynb"
    path.write_text(nb if isinstance(nb, str) else json.dumps(nb, indent=1), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- targets
@dataclass
class Target:
    """The problem the corpus attacks."""

    assignment: str
    solution_id: str
    test_id: str
    function: str
    tests: list  # every autograded test cell id, in notebook order

    @property
    def earlier(self) -> list:
        return self.tests[: self.tests.index(self.test_id)]

    @property
    def later(self) -> list:
        return self.tests[self.tests.index(self.test_id) + 1:]


def find_target(source_nb: dict, assignment: str, which: int = 1) -> Target:
    """Pick the ``which``-th (0-based) answer cell that defines a function and is
    immediately followed (among code cells) by an autograded test cell."""
    import ast

    code = [c for c in source_nb["cells"] if c["cell_type"] == "code"]
    tests = [_meta(c)["grade_id"] for c in code if _meta(c).get("grade") and not _meta(c).get("solution")]
    found = []
    for i, cell in enumerate(code[:-1]):
        m = _meta(cell)
        nxt = _meta(code[i + 1])
        if m.get("solution") and nxt.get("grade") and not nxt.get("solution"):
            try:
                funcs = [n.name for n in ast.parse(_src(cell)).body if isinstance(n, ast.FunctionDef)]
            except SyntaxError:
                continue
            if funcs:
                found.append(Target(assignment, m["grade_id"], nxt["grade_id"], funcs[0], tests))
    if len(found) <= which:
        raise ValueError(f"{assignment}: no answer cell #{which} followed by its test cell")
    return found[which]


# the helper a cheating cell uses to make the answer wrong (no forbidden construct in it)
_WRONG = textwrap.dedent('''\
    def _aeg_wrong(v):
        if isinstance(v, dict):
            return {k: _aeg_wrong(x) for k, x in v.items()}
        if isinstance(v, (tuple, list)):
            return type(v)(_aeg_wrong(x) for x in v)
        return v * 0.5 + 0.25
    ''')


def _wrap(target: Target, condition: str = "True") -> str:
    """Code that replaces the target function by a wrong one when ``condition`` holds."""
    f = target.function
    return (_WRONG + f"_aeg_orig = {f}\n"
            f"def {f}(*args, **kwargs):\n"
            f"    value = _aeg_orig(*args, **kwargs)\n"
            f"    return _aeg_wrong(value) if ({condition}) else value\n")


def _append(nb: dict, grade_id: str, code: str) -> dict:
    nb = copy.deepcopy(nb)
    _, cell = _find(nb, grade_id)
    cell["source"] = _src(cell).rstrip("\n") + "\n\n" + code
    return nb


def _insert_after(nb: dict, grade_id: str, code: str, nbgrader: dict | None = None) -> dict:
    nb = copy.deepcopy(nb)
    i, _ = _find(nb, grade_id)
    nb["cells"].insert(i + 1, _code_cell(code, nbgrader))
    return nb


def wrong_submission(reference: dict, target: Target) -> dict:
    """An honest mistake: the target function returns wrong values."""
    return _append(reference, target.solution_id, _wrap(target))


# --------------------------------------------------------------------------- corpus
@dataclass
class Case:
    """One submission of the adversarial corpus and what the grader must do with it.

    ``expect`` is ``"flagged"``, ``"ungraded"`` or ``"graded"``; for graded cases
    ``scores`` says which tests keep full marks: ``"full"`` (all), ``"target_zero"``
    (only the attacked problem loses its points) or ``"unresponsive"`` (problems before
    the attacked one keep their marks, it and every later one score zero).
    """

    name: str
    what: str
    expect: str
    scores: str | None = None
    reason: str = ""           # substring of the reason (flagged / ungraded)
    notebook: object = None    # dict, or str for a raw (broken) file
    extra_files: dict = field(default_factory=dict)  # relative name -> bytes / ("symlink", target)
    layer: str = ""            # which defence decides: scan, sandbox, nbgrader, pipeline


def _attack_module(target: Target, body: str) -> str:
    """Attack code whose *success* makes the target answer wrong."""
    return ("def _aeg_attack():\n"
            + textwrap.indent(textwrap.dedent(body).strip() + "\nreturn False", "    ")
            + "\n\n_aeg_breached = []\ntry:\n    _aeg_breached.append(_aeg_attack())\n"
            "except BaseException as exc:  # the attack failed: fine\n    _aeg_breached.append(False)\n"
            + _wrap(target, "_aeg_breached[0]"))


def adversarial_corpus(source_nb: dict, release_nb: dict | None, target: Target, *,
                       paths: dict, scan: bool = True, big_print_bytes: int = 50_000_000,
                       wall_sleep: float = 0.0) -> list[Case]:
    """Build the corpus.

    Parameters
    ----------
    source_nb, release_nb : dict
        Reference source notebook and its release (``None`` imitates the release).
    target : Target
        Problem to attack (:func:`find_target`).
    paths : dict
        Real locations an attacker would go for: ``course`` (course root), ``work``
        (grader work folder), ``submitted`` (submission folder), ``victim`` (another
        student's id), ``port`` (a TCP port listening on the host's 127.0.0.1), ``repo``
        (the checkout the tests run from, whose ``solutions/`` are the real answers).
    scan : bool
        ``True``: the corpus for a run with the static scan (most attacks are flagged).
        ``False``: the OS-level attacks only, written so that full marks prove the
        sandbox contained them.
    big_print_bytes : int
        Size of the single-line print.
    wall_sleep : float
        Seconds each of five cells sleeps in the wall-clock case (0: no such case).
    """
    a = target.assignment
    ref = reference_submission(source_nb, release_nb)
    f = target.function
    course, work, submitted = paths["course"], paths["work"], paths["submitted"]
    victim, port = paths["victim"], paths["port"]
    repo = paths["repo"]  # the real checkout the tests run from (wherever it is)
    sol, test = target.solution_id, target.test_id
    cases: list[Case] = []

    def add(name, what, expect, nb, scores=None, reason="", layer="", **kw):
        cases.append(Case(name, what, expect, scores, reason, nb, layer=layer, **kw))

    if scan:
        # ----------------------------------------------------------- the five cheats
        add("cheat-allclose", "monkeypatches numpy.allclose/array_equal + wrong answer",
            "flagged", _append(ref, sol, "np.allclose = lambda *a, **k: True\n"
                                         "np.array_equal = lambda *a, **k: True\n" + _wrap(target)),
            reason="monkeypatch", layer="scan")
        add("cheat-testing", "monkeypatches numpy.testing through an alias + wrong answer",
            "flagged", _append(ref, sol, "t = np.testing\nt.assert_allclose = lambda *a, **k: None\n"
                                         + _wrap(target)), reason="monkeypatch", layer="scan")
        add("cheat-input-transformer", "IPython input transformer that empties every later cell",
            "flagged", _append(ref, sol, "get_ipython().input_transformers_cleanup.append("
                                         "lambda lines: [])\n" + _wrap(target)),
            reason="get_ipython", layer="scan")
        add("cheat-ast-transformer", "AST transformer that deletes the asserts of the tests",
            "flagged", _append(ref, sol, textwrap.dedent('''\
                import ast
                class _NoAsserts(ast.NodeTransformer):
                    def visit_Assert(self, node):
                        return None
                get_ipython().ast_transformers.append(_NoAsserts())
                ''') + _wrap(target)), reason="ast", layer="scan")
        add("cheat-read-hidden-tests", "reads the hidden tests from ../../../source/",
            "flagged", _append(ref, sol, f"_t = open('../../../source/{a}/{a}.ipynb').read()\n"),
            reason="path", layer="scan")
        add("cheat-gradebook", "writes manual_score=1000 into gradebook.db with sqlite3",
            "flagged", _append(ref, sol, "import sqlite3\n"
                                         "_db = sqlite3.connect('../../../gradebook.db')\n"
                                         "_db.execute('UPDATE grade SET manual_score=1000')\n_db.commit()\n"),
            reason="sqlite3", layer="scan")
        add("cheat-nbgrader-env", "behaves differently when NBGRADER_EXECUTION is set",
            "flagged", _append(ref, sol, "import os\n"
                                         "_grading = os.environ.get('NBGRADER_EXECUTION') is not None\n"
                                         + _wrap(target, "not _grading")),
            reason="NBGRADER", layer="scan")
        add("cheat-env-obfuscated", "reads the environment through __import__ and a split name",
            "flagged", _append(ref, sol, "_grading = __import__('o' + 's').getenv('NB' + 'GRADER_EXECUTION')\n"
                                         + _wrap(target, "not _grading")),
            reason="__import__", layer="scan")
        add("cheat-shadow-builtin", "redefines isinstance/abs so the tests' checks always pass",
            "flagged", _append(ref, sol, "def isinstance(*args):\n    return True\nabs = lambda x: 0\n"
                                         + _wrap(target)), reason="shadowing", layer="scan")
        add("cheat-always-equal", "returns an object whose __eq__ is always True",
            "flagged", _append(ref, sol, "class _Any:\n    def __eq__(self, other):\n        return True\n"
                                         "    def tolist(self):\n        return self\n"
                                         f"def {f}(*args, **kwargs):\n    return _Any()\n"),
            reason="__eq__", layer="scan")
        add("cheat-caller-frame", "inspects the test's frame to read the expected values",
            "flagged", _append(ref, sol, "import inspect\n"
                                         f"_real = {f}\ndef {f}(*args, **kwargs):\n"
                                         "    inspect.currentframe().f_back.f_locals\n"
                                         "    return _real(*args, **kwargs)\n"),
            reason="inspect", layer="scan")
        add("cheat-shell-escape", "runs shell commands with ! and %%bash magics",
            "flagged", _insert_after(ref, sol, "!cat /etc/passwd\n"), reason="magic", layer="scan")
        # ----------------------------------------------------------- OS attacks, flagged
        add("fork-bomb", "os.fork() in a loop", "flagged",
            _append(ref, sol, "import os\nwhile True:\n    os.fork()\n"), reason="fork", layer="scan")
        add("os-exit", "kills its own kernel with os._exit", "flagged",
            _append(ref, sol, "import os\nos._exit(1)\n"), reason="_exit", layer="scan")
        add("sigint-ignored", "ignores SIGINT then loops forever", "flagged",
            _append(ref, sol, "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                              "while True:\n    pass\n"), reason="signal", layer="scan")
        add("write-course", "writes into the course folder", "flagged",
            _append(ref, sol, f"open({str(Path(course) / 'solutions' / 'pwned.txt')!r}, 'w').write('x')\n"),
            reason="path", layer="scan")
        add("read-other-student", "reads another student's submission", "flagged",
            _append(ref, sol, f"_other = open('../../{victim}/{a}/{a}.ipynb').read()\n"),
            reason="path", layer="scan")
        add("socket", "opens a network connection", "flagged",
            _append(ref, sol, "import socket\n"
                              f"socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"),
            reason="socket", layer="scan")
        # ----------------------------------------------------------- runtime, graded
        add("memory-bomb", "allocates until memory runs out, inside the answer", "graded",
            _append(ref, sol, f"_aeg_orig = {f}\ndef {f}(*args, **kwargs):\n"
                              "    hog = []\n    while True:\n        hog.append(np.ones(10 ** 7))\n"),
            scores="target_zero", layer="sandbox (RLIMIT_AS)")
        add("infinite-loop", "an interruptible infinite loop in the answer", "graded",
            _append(ref, sol, f"def {f}(*args, **kwargs):\n    while True:\n        pass\n"),
            scores="target_zero", layer="nbgrader (Execute.timeout)")
        add("print-50mb", f"prints {big_print_bytes // 1_000_000} MB on a single line (correct answer)",
            "graded", _append(ref, sol, f"print('x' * {big_print_bytes})\n"),
            scores="full", layer="output cap")
        add("warning-correct", "a correct answer that emits a RuntimeWarning", "graded",
            _append(ref, sol, "import warnings\n"
                              f"_aeg_orig = {f}\ndef {f}(*args, **kwargs):\n"
                              "    warnings.warn('just a warning', RuntimeWarning)\n"
                              "    return _aeg_orig(*args, **kwargs)\n"),
            scores="full", layer="pipeline (IgnorePattern drops warning-only stderr)")
        deleted = copy.deepcopy(wrong_submission(ref, target))
        deleted["cells"] = [c for c in deleted["cells"] if _meta(c).get("grade_id") != test]
        add("delete-test-cell", "deletes the test cell of a wrong answer", "graded", deleted,
            scores="target_zero", layer="nbgrader (add_missing_cells)")
        edited = wrong_submission(ref, target)
        _, cell = _find(edited, test)
        cell["source"] = "pass  # tests? what tests?"
        add("edit-locked-cell", "replaces its (locked) test cell by `pass`", "graded", edited,
            scores="target_zero", layer="nbgrader (OverwriteCells)")
        md = wrong_submission(ref, target)
        _, cell = _find(md, test)
        cell["cell_type"] = "markdown"
        cell.pop("outputs", None)
        cell.pop("execution_count", None)
        add("test-to-markdown", "turns its test cell into Markdown", "graded", md,
            scores="target_zero", layer="nbgrader (OverwriteCells)")
        tagged = wrong_submission(ref, target)
        _, cell = _find(tagged, test)
        cell["metadata"]["tags"] = ["skip-execution"]
        add("skip-execution-tag", "tags its test cell `skip-execution` (nbclient would skip it)",
            "graded", tagged, scores="target_zero", layer="pipeline (RestoreCellMetadata)")
        solution_flag = wrong_submission(ref, target)
        _, cell = _find(solution_flag, test)
        cell["metadata"]["nbgrader"].update({"solution": True, "locked": False})
        add("test-as-answer", "marks its test cell as an answer cell (manual grading)", "graded",
            solution_flag, scores="target_zero", layer="pipeline (RestoreCellMetadata)")
        points = copy.deepcopy(ref)
        _, cell = _find(points, test)
        cell["metadata"]["nbgrader"]["points"] = 1000
        add("inflate-points", "sets its test cell to 1000 points", "graded", points,
            scores="full", layer="nbgrader (OverwriteCells)")
        fake = _insert_after(ref, sol, "pass\n", {"grade": True, "solution": False, "locked": True,
                                                  "grade_id": "bonus", "points": 100,
                                                  "schema_version": 3})
        add("fake-grade-cell", "adds its own 100-point test cell", "graded", fake,
            scores="full", layer="pipeline (RestoreCellMetadata)")
        dup = wrong_submission(ref, target)
        i, real = _find(dup, test)
        fake_cell = _code_cell("pass\n", copy.deepcopy(real["metadata"]["nbgrader"]))
        dup["cells"].insert(1, fake_cell)
        add("duplicate-test-id", "puts a `pass` cell with its test cell's id first", "graded", dup,
            scores="target_zero", layer="nbgrader (DeduplicateIds)")
        add("not-a-notebook", "the submitted file is not JSON", "ungraded", "{ this is not a notebook",
            reason="not a readable notebook", layer="staging")
        add("symlink-to-solutions", "ships a symbolic link to the course's solutions", "graded", ref,
            scores="full", extra_files={"leak.ipynb": ("symlink", str(Path(course) / "solutions"))},
            layer="staging")
        if wall_sleep:
            slow = copy.deepcopy(ref)
            i, _ = _find(slow, sol)
            for _k in range(5):
                slow["cells"].insert(i + 1, _code_cell(f"import time\ntime.sleep({wall_sleep})\n"))
            add("wall-clock", "five cells that each sleep just under the cell timeout", "ungraded",
                slow, reason="wall-clock", layer="pipeline (SandboxedExecute.wall_limit)")
        return cases

    # --------------------------------------------------------------- scan disabled:
    # every attack below makes the answer wrong if (and only if) it succeeds
    hidden_paths = [
        f"{course}/solutions/{a}/{a}.ipynb", f"../../../source/{a}/{a}.ipynb",
        f"{work}/course/source/{a}/{a}.ipynb", f"{work}/course/gradebook.db",
        f"{course}/gradebook.db", f"{repo}/solutions",
    ]
    add("os-read-hidden-tests", "reads the hidden tests (course solutions, nbgrader source)",
        "graded", _append(ref, sol, _attack_module(target, f'''
            import os
            for p in {hidden_paths!r}:
                try:
                    if os.path.isdir(p):
                        os.listdir(p)
                    else:
                        open(p, 'rb').read(100)
                    return True
                except OSError:
                    pass
            own = [n for n in os.listdir('.') if n.endswith('.ipynb')]
            return bool(own)  # the notebook under grading (with hidden tests) is not visible either
            ''')), scores="full", layer="sandbox (mount namespace)")
    others = [f"{work}/course/submitted/{victim}/{a}/{a}.ipynb", f"{submitted}/{victim}/{a}/{a}.ipynb",
              f"../../{victim}/{a}/{a}.ipynb", f"{work}/course/autograded"]
    add("os-read-other-student", "reads another student's submission", "graded",
        _append(ref, sol, _attack_module(target, f'''
            import os
            for p in {others!r}:
                try:
                    if os.path.isdir(p):
                        os.listdir(p)
                    else:
                        open(p, 'rb').read(100)
                    return True
                except OSError:
                    pass
            ''')), scores="full", layer="sandbox (mount namespace)")
    targets = [f"{course}/solutions/pwned.txt", f"{course}/pwned.txt", f"{work}/course/pwned.txt",
               f"{submitted}/pwned.txt", f"{repo}/pwned.txt", f"/tmp/..{repo}/pwned.txt"]
    add("os-write-course", "writes into the course, work and submission folders", "graded",
        _append(ref, sol, _attack_module(target, f'''
            for p in {targets!r}:
                try:
                    with open(p, 'w') as fh:
                        fh.write('pwned')
                    return True
                except OSError:
                    pass
            ''')), scores="full", layer="sandbox (mount namespace, uid)")
    add("os-gradebook", "opens the gradebook with sqlite3 and sets manual_score=1000", "graded",
        _append(ref, sol, _attack_module(target, f'''
            import sqlite3
            for p in {[f"{work}/course/gradebook.db", f"{course}/gradebook.db", "../../../gradebook.db"]!r}:
                try:
                    db = sqlite3.connect(p)
                    db.execute('UPDATE grade SET manual_score=1000')
                    db.commit()
                    return True
                except Exception:
                    pass
            ''')), scores="full", layer="sandbox (mount namespace)")
    add("os-socket", "connects to a TCP server on the host's 127.0.0.1 and to the internet", "graded",
        _append(ref, sol, _attack_module(target, f'''
            import socket
            for addr in [('127.0.0.1', {port}), ('1.1.1.1', 53), ('8.8.8.8', 53)]:
                try:
                    socket.create_connection(addr, timeout=2).close()
                    return True
                except OSError:
                    pass
            ''')), scores="full", layer="sandbox (network namespace)")
    add("os-environment", "looks for NBGRADER_* / grader variables and root privileges", "graded",
        _append(ref, sol, _attack_module(target, '''
            import os
            if any(k.startswith(('NBGRADER', 'AEGRADE')) for k in os.environ):
                return True
            return os.getuid() == 0 or os.geteuid() == 0
            ''')), scores="full", layer="sandbox (clean env, uid)")
    add("os-processes", "looks for the grader's processes in /proc", "graded",
        _append(ref, sol, _attack_module(target, '''
            import os
            for pid in os.listdir('/proc'):
                if pid.isdigit():
                    try:
                        cmd = open(f'/proc/{pid}/cmdline', 'rb').read()
                    except OSError:
                        continue
                    # the grader: pytest, nbgrader, or the aegrade command (the sandbox's own
                    # launcher, .../aegrade/sandbox/launcher.py, is the namespace's init)
                    if b'pytest' in cmd or b'nbgrader' in cmd or b'aegrade' + bytes(1) in cmd:
                        return True
            ''')), scores="full", layer="sandbox (PID namespace)")
    add("os-disk-fill", "writes a 1 GB file", "graded",
        _append(ref, sol, _attack_module(target, '''
            with open('big.bin', 'wb') as fh:
                for _ in range(1024):
                    fh.write(b'\\0' * (1 << 20))
            return True
            ''')), scores="full", layer="sandbox (RLIMIT_FSIZE, tmpfs)")
    add("os-fork-bomb", "forks until it cannot (the kernel must survive)", "graded",
        _append(ref, sol, textwrap.dedent('''\
            import os
            import time
            _kids = 0
            try:
                while True:
                    if os.fork() == 0:
                        time.sleep(3600)  # every child stays alive (and would fork on)
                        os._exit(0)
                    _kids += 1
            except OSError:
                pass
            ''')), scores="full", layer="sandbox (RLIMIT_NPROC, PID namespace)")
    add("os-memory-bomb", "allocates until memory runs out, at module level", "graded",
        _append(ref, sol, textwrap.dedent('''\
            _hog = []
            try:
                while True:
                    _hog.append(np.ones(10 ** 7))
            except MemoryError:
                pass
            del _hog
            ''')), scores="full", layer="sandbox (RLIMIT_AS)")
    add("os-exit", "kills its own kernel with os._exit", "ungraded",
        _append(ref, sol, "import os\nos._exit(3)\n"), reason="kernel died", layer="pipeline")
    add("os-sigint-ignored", "ignores SIGINT and loops forever inside the answer", "graded",
        _append(ref, sol, "import signal\n"
                          f"def {f}(*args, **kwargs):\n"
                          "    signal.signal(signal.SIGINT, signal.SIG_IGN)  # ipykernel resets it per cell\n"
                          "    while True:\n        pass\n"),
        scores="unresponsive", layer="pipeline (kernel killed)")
    add("os-input-transformer", "an in-kernel cheat with the scan off: every later cell emptied "
        "(the tests decided outside the kernel see no right value)", "graded",
        _append(ref, sol, "get_ipython().input_transformers_cleanup.append(lambda lines: [])\n"
                + _wrap(target)), scores="unresponsive", layer="verdicts outside the kernel")
    return cases


def in_kernel_cheats(source_nb: dict, release_nb: dict | None, target: Target) -> list:
    """Run 3: cheats that never leave the kernel, each with a wrong answer, graded with the static
    scan OFF. Tests are decided in the grader's process, so each must score zero on the attacked
    problem (``scores="attacked_zero"``: earlier problems keep their marks, later ones may suffer
    from the cheat's side effects)."""
    ref = reference_submission(source_nb, release_nb)
    f, sol = target.function, target.solution_id
    cases: list[Case] = []

    def add(name, what, code):
        cases.append(Case(name, what, "graded", "attacked_zero", "", _append(ref, sol, code + _wrap(target)),
                          layer="verdicts outside the kernel"))

    add("formatter-input-transformer", "reaches the shell through string.Formatter().get_field "
        "(no name the scan knows) and turns every later cell into `pass`", textwrap.dedent(f'''\
            import string
            _ns = string.Formatter().get_field("0._" + "_globals__", ({f},), {{}})[0]
            _ns["get_" + "ipython"]().input_transformers_post.append(lambda lines: ["pass\\n"])
            '''))
    add("namespace-ast-transformer", "an AST transformer that deletes every assert, registered "
        "through the namespace's shell", textwrap.dedent('''\
            import ast
            class _NoAsserts(ast.NodeTransformer):
                def visit_Assert(self, node):
                    return None
            globals()["get_ipython"]().ast_transformers.append(_NoAsserts())
            '''))
    add("monkeypatch-numpy", "numpy's comparisons and testing helpers always succeed",
        "np.allclose = lambda *a, **k: True\nnp.array_equal = lambda *a, **k: True\n"
        "np.testing.assert_allclose = lambda *a, **k: None\n")
    add("rebind-builtins", "rebinds isinstance, abs, all and type in the namespace and in builtins",
        "import builtins\ndef isinstance(*a):\n    return True\nabs = lambda x: 0\n"
        "all = lambda it: True\nbuiltins.all = all\nbuiltins.abs = abs\n")
    add("frame-inspection", "reads the caller's frame (whatever calls the function) and returns "
        "what it finds there", textwrap.dedent(f'''\
            import inspect
            _real_{f} = {f}
            def _peek(*args, **kwargs):
                frame = inspect.currentframe().f_back
                for value in list(frame.f_locals.values()) + list(frame.f_globals.values()):
                    if isinstance(value, dict) and "want" in value:
                        return value["want"]
                return _real_{f}(*args, **kwargs)
            {f} = _peek
            '''))
    add("settrace", "sys.settrace rewrites the locals of every frame that holds a result",
        textwrap.dedent('''\
            import sys
            def _tracer(frame, event, arg):
                if event == "return" and "value" in frame.f_locals:
                    frame.f_locals["ok"] = True
                return _tracer
            sys.settrace(_tracer)
            '''))
    add("fake-results", "prints results that look like the grader's, and forges a well-formed reply "
        "to every call of the grader's (it cannot know the values)", textwrap.dedent('''\
            import json, re
            print("aegrade result: test_" + "passed " * 20)
            def _forge(lines):
                text = "".join(lines)
                m = re.search(r"'_NONCE': '([0-9a-f]+)'", text)
                if not m:
                    return lines
                reply = json.dumps({"value": {"__float__": (1.0).hex()}, "args": [], "kwargs": {"__dict__": []}})
                return ["input(%r)\\n" % (m.group(1) + " R " + reply)]
            get_ipython().input_transformers_post.append(_forge)
            '''))
    return cases


def honest_class(source_nb: dict, release_nb: dict | None, target: Target) -> dict:
    """``{student: (notebook, expected_scores)}`` for a reference, an unanswered release and
    an honest mistake."""
    ref = reference_submission(source_nb, release_nb)
    unanswered = release_nb if release_nb is not None else _imitate_release(source_nb)
    return {"honest-reference": (ref, "full"),
            "honest-unanswered": (unanswered, "zero"),
            "honest-wrong": (wrong_submission(ref, target), "target_zero")}


def _imitate_release(source_nb: dict) -> dict:
    from aegrade.notebooks import strip_hidden as _strip_hidden

    nb = copy.deepcopy(source_nb)
    for cell in nb["cells"]:
        m = _meta(cell)
        if m.get("solution"):
            if cell["cell_type"] == "code":
                lines, out, inside = _src(cell).split("\n"), [], False
                for line in lines:
                    if "BEGIN SOLUTION" in line:
                        inside = True
                        indent = line[: len(line) - len(line.lstrip())]
                        out.append(f"{indent}# YOUR CODE HERE\n{indent}raise NotImplementedError()")
                    elif "END SOLUTION" in line:
                        inside = False
                    elif not inside:
                        out.append(line)
                cell["source"] = "\n".join(out)
            else:
                cell["source"] = "YOUR ANSWER HERE"
        elif m.get("grade"):
            cell["source"] = _strip_hidden(_src(cell))
    return nb
