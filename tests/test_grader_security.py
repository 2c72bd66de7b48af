"""A grader that a hostile submission cannot fool or harm.

An adversarial corpus (``tests/grading_corpus.py``) is built from the reference solution of
``ps1_forward_and_losses`` (the toy course of ``grading_corpus`` if the problem set is
missing) and graded, together with honest students, in two runs of
``aegrade.autograde_dir``:

1. the production configuration (static scan on): every in-kernel cheat of the corpus and every OS-level
   attack is flagged before it runs, runtime abuse (memory bomb, 50 MB line, infinite loop,
   edited/deleted/re-typed/tagged test cells, ...) gets exactly the marks it deserves;
2. the static scan switched off: the OS-level attacks run, and each is written so that the
   answer is right only if the attack failed -- full marks prove that the sandbox alone
   contained it (reading hidden tests or other students, writing the course or the gradebook,
   network, environment, processes, disk, fork and memory bombs), ``os._exit`` is reported
   ungraded by name and an interrupt-ignoring loop scores zero from there on.

In both runs the honest students are graded correctly and the course files, the course
gradebook and the submissions are byte-identical before and after (checksums).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import sqlite3
from pathlib import Path

import pytest

from aegrade import autograde_dir, reference_submission
from aegrade.cli import main as aegrade_main
from aegrade.isolation import isolation_level
from aegrade.scan import build_context, scan_notebook, scan_source
from grading_corpus import (adversarial_corpus, find_target, honest_class, in_kernel_cheats,
                            toy_source_notebook, write_submission, write_toy_course)

pytestmark = pytest.mark.slow  # starts Jupyter kernels (make test-fast leaves these out)

REPO = Path(__file__).resolve().parents[1]
PS1 = "ps1_forward_and_losses"
REAL = (REPO / "solutions" / PS1 / f"{PS1}.ipynb").exists()
ASSIGNMENT = PS1 if REAL else "toy"
LIMITS = {"as_bytes": 1536 * 1024 ** 2, "cpu_seconds": 120, "nproc": 32,
          "fsize_bytes": 16 * 1024 ** 2, "nofile": 512}
RUN = dict(cell_timeout=10, wall_limit=30, limits=LIMITS)
WALL_SLEEP = 7  # five cells of 7 s > wall_limit of 30 s, each < cell_timeout of 10 s


def _source() -> dict:
    if REAL:
        return json.loads((REPO / "solutions" / PS1 / f"{PS1}.ipynb").read_text())
    return toy_source_notebook()


def _release():
    path = REPO / "exercises" / PS1 / f"{PS1}.ipynb"
    return json.loads(path.read_text()) if REAL and path.exists() else None


_DUMMY = {"course": "/c", "work": "/w", "submitted": "/s", "victim": "v", "port": 1, "repo": "/r"}
SCAN_CASES = [c.name for c in adversarial_corpus(_source(), _release(), find_target(_source(), ASSIGNMENT),
                                                 paths=_DUMMY, scan=True, wall_sleep=WALL_SLEEP)]
SANDBOX_CASES = [c.name for c in adversarial_corpus(_source(), _release(), find_target(_source(), ASSIGNMENT),
                                                    paths=_DUMMY, scan=False)]


def _tree_digest(root: Path) -> dict:
    out = {}
    for path in sorted(Path(root).rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = "symlink:" + os.readlink(path)
        elif path.is_file():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _gradebook_dump(db: Path) -> list:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        return [(t, sorted(map(repr, con.execute(f"SELECT * FROM {t}").fetchall()))) for t in tables]
    finally:
        con.close()


# ---------------------------------------------------------------------------- the class
@pytest.fixture(scope="module")
def arena(tmp_path_factory):
    """A course copy (with its own gradebook), a TCP server on the host loopback, checksums."""
    base = tmp_path_factory.mktemp("arena")
    course = base / "course"
    if REAL:
        (course / "solutions").mkdir(parents=True)
        shutil.copytree(REPO / "solutions" / PS1, course / "solutions" / PS1)
        shutil.copy(REPO / "nbgrader_config.py", course / "nbgrader_config.py")
    else:
        write_toy_course(course, REPO / "nbgrader_config.py")
    assert aegrade_main(["--course", str(course), "release"]) == 0  # exercises/ + gradebook.db
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    before = {"course": _tree_digest(course), "repo_solutions": _tree_digest(REPO / "solutions"),
              "gradebook": _gradebook_dump(course / "gradebook.db")}
    yield {"base": base, "course": course, "port": server.getsockname()[1], "before": before}
    server.close()


def _grade(arena, name: str, scan: bool):
    base, course = arena["base"], arena["course"]
    sub, work = base / f"submitted-{name}", base / f"work-{name}"
    source, release = _source(), _release()
    target = find_target(source, ASSIGNMENT)
    paths = {"course": str(course), "work": str(work), "submitted": str(sub),
             "victim": "honest-reference", "port": arena["port"], "repo": str(REPO)}
    if name == "in-kernel":
        cases = in_kernel_cheats(source, release, target)
    else:
        cases = adversarial_corpus(source, release, target, paths=paths, scan=scan,
                                   wall_sleep=WALL_SLEEP if scan else 0)
    for student, (nb, _) in honest_class(source, release, target).items():
        write_submission(sub, student, ASSIGNMENT, nb)
    for case in cases:
        path = write_submission(sub, case.name, ASSIGNMENT, case.notebook)
        for fname, content in case.extra_files.items():
            if isinstance(content, tuple) and content[0] == "symlink":
                os.symlink(content[1], path.parent / fname)
            else:
                (path.parent / fname).write_bytes(content)
    sub_digest = _tree_digest(sub)
    run = autograde_dir(sub, course_dir=course, work_dir=work, static_scan=scan, **RUN)
    return {"results": run.results, "cases": {c.name: c for c in cases}, "target": target,
            "work": work, "sub": sub, "sub_digest": sub_digest, "meta": run.meta}


@pytest.fixture(scope="module")
def scan_run(arena):
    return _grade(arena, "scan", scan=True)


@pytest.fixture(scope="module")
def in_kernel_run(arena):
    """Run 3: the static scan off, every in-kernel cheat on (each with a wrong answer)."""
    return _grade(arena, "in-kernel", scan=False)


@pytest.fixture(scope="module")
def sandbox_run(arena):
    level, detail = isolation_level()
    if level != "full":
        pytest.skip(f"OS-level sandbox unavailable here ({level}: {detail}); "
                    "only the static scan protects this machine")
    return _grade(arena, "sandbox", scan=False)


def _auto_scores(rec) -> dict:
    return {gid: p["score"] for gid, p in rec["problems"].items() if not p["manual"]}


def _expected(kind: str, target, maxima: dict) -> dict:
    exp = dict(maxima)
    if kind == "zero":
        exp = {g: 0.0 for g in maxima}
    elif kind == "target_zero":
        exp[target.test_id] = 0.0
    elif kind == "unresponsive":
        for g in [target.test_id] + target.later:
            exp[g] = 0.0
    elif kind == "attacked_zero":  # earlier problems keep their marks; later ones are not asserted
        exp = {g: m for g, m in maxima.items() if g not in target.later}
        exp[target.test_id] = 0.0
    return exp


def _maxima(run) -> dict:
    rec = run["results"]["honest-reference"][ASSIGNMENT]
    return {gid: p["max"] for gid, p in rec["problems"].items() if not p["manual"]}


def _check(run, name):
    case = run["cases"][name]
    rec = run["results"][name][ASSIGNMENT]
    if name == "memory-bomb" and rec["status"] == "ungraded":
        # the allocation can also kill the kernel under RLIMIT_AS (seen once in a clean-clone run):
        # then the submission must be reported by name with no score, never a silent zero
        assert rec["total"] is None and rec["problems"] == {} and rec.get("reason"), rec
        return
    assert rec["status"] == case.expect, (name, case.what, rec)
    if case.expect == "graded":
        want = _expected(case.scores, run["target"], _maxima(run))
        got = {g: v for g, v in _auto_scores(rec).items() if g in want}
        assert got == want, (name, rec)
    else:
        assert rec["total"] is None and rec["problems"] == {}, rec  # never a silent zero
        assert case.reason.lower() in rec["reason"].lower(), (case.reason, rec["reason"])


# ---------------------------------------------------------------------------- corpus
def test_the_corpus_is_large_and_covers_every_kind_of_attack():
    names = set(SCAN_CASES) | set(SANDBOX_CASES)
    assert len(SCAN_CASES) >= 20 and len(names) >= 30
    for required in ("cheat-allclose", "cheat-input-transformer", "cheat-ast-transformer",
                     "cheat-read-hidden-tests", "cheat-gradebook", "cheat-nbgrader-env", "fork-bomb",
                     "memory-bomb", "print-50mb", "os-exit", "sigint-ignored", "write-course",
                     "read-other-student", "socket", "delete-test-cell", "edit-locked-cell",
                     "test-to-markdown", "warning-correct", "os-fork-bomb", "os-sigint-ignored"):
        assert required in names, required


# ---------------------------------------------------------------------------- run 1: scan on
@pytest.mark.parametrize("name", SCAN_CASES)
def test_scan_run_outcome(scan_run, name):
    _check(scan_run, name)


def test_scan_run_grades_the_rest_of_the_class(scan_run):
    results, target, maxima = scan_run["results"], scan_run["target"], _maxima(scan_run)
    for student, (_, kind) in honest_class(_source(), _release(), target).items():
        rec = results[student][ASSIGNMENT]
        assert rec["status"] == "graded", rec
        assert _auto_scores(rec) == _expected(kind, target, maxima), student
    assert sum(maxima.values()) > 0 and len(maxima) >= 3


def test_flagged_submissions_quote_the_offending_lines_and_never_ran(scan_run):
    rec = scan_run["results"]["cheat-allclose"][ASSIGNMENT]
    assert any(f["line"].startswith("np.allclose = lambda") and f["rule"] == "monkeypatch"
               for f in rec["findings"])
    rec = scan_run["results"]["cheat-input-transformer"][ASSIGNMENT]
    assert any("input_transformers_cleanup" in f["line"] for f in rec["findings"])
    flagged = [n for n in SCAN_CASES if scan_run["cases"][n].expect == "flagged"]
    autograded = scan_run["work"] / "course" / "autograded"
    status = scan_run["work"] / "status"
    for name in flagged:  # no kernel ever started for them
        assert not (autograded / name).exists()
        assert not any(status.glob(f"{name}__*")), name


def test_output_is_capped(scan_run):
    nb = scan_run["work"] / "course" / "autograded" / "print-50mb" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    assert nb.stat().st_size < 1_000_000, nb.stat().st_size
    assert any("output truncated" in n for n in scan_run["results"]["print-50mb"][ASSIGNMENT]["notes"])


def test_work_gradebook_holds_only_honest_grades(scan_run):
    db = scan_run["work"] / "course" / "gradebook.db"
    con = sqlite3.connect(db)
    try:
        assert con.execute("SELECT COUNT(*) FROM grade WHERE manual_score IS NOT NULL").fetchone()[0] == 0
        students = {r[0] for r in con.execute("SELECT student_id FROM submitted_assignment")}
    finally:
        con.close()
    graded = {s for s, per in scan_run["results"].items() if per[ASSIGNMENT]["status"] == "graded"}
    assert students == graded


# ---------------------------------------------------------------------------- run 2: scan off
@pytest.mark.parametrize("name", SANDBOX_CASES)
def test_sandbox_run_outcome(sandbox_run, name):
    _check(sandbox_run, name)


# ---------------------------------------------------------------------------- run 3: in-kernel cheats
IN_KERNEL_CASES = [c.name for c in in_kernel_cheats(_source(), _release(), find_target(_source(), ASSIGNMENT))]


def test_the_in_kernel_corpus_covers_every_route():
    assert set(IN_KERNEL_CASES) >= {"formatter-input-transformer", "namespace-ast-transformer",
                                    "monkeypatch-numpy", "rebind-builtins", "frame-inspection",
                                    "settrace", "fake-results"}


@pytest.mark.parametrize("name", IN_KERNEL_CASES)
def test_in_kernel_cheat_scores_zero_on_the_attacked_problem(in_kernel_run, name):
    assert in_kernel_run["meta"]["static_scan"] is False
    _check(in_kernel_run, name)


def test_in_kernel_run_grades_the_rest_of_the_class(in_kernel_run):
    results, target, maxima = in_kernel_run["results"], in_kernel_run["target"], _maxima(in_kernel_run)
    for student, (_, kind) in honest_class(_source(), _release(), target).items():
        assert _auto_scores(results[student][ASSIGNMENT]) == _expected(kind, target, maxima), student


def test_feedback_of_a_failed_hidden_check_shows_no_expected_value(in_kernel_run):
    """The error a student reads for a failed hidden test names no expected value."""
    nb = json.loads((in_kernel_run["work"] / "course" / "autograded" / "honest-wrong" / ASSIGNMENT
                     / f"{ASSIGNMENT}.ipynb").read_text())
    target = in_kernel_run["target"]
    cell = next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == target.test_id)
    errors = [o for o in cell["outputs"] if o["output_type"] == "error"]
    assert len(errors) == 1, cell["outputs"]
    text = errors[0]["evalue"] + "".join(errors[0]["traceback"])
    assert not re.search(r"\d\.\d{3}", text), text  # no numbers from the reference


def test_sandbox_run_grades_the_rest_of_the_class(sandbox_run):
    results, target, maxima = sandbox_run["results"], sandbox_run["target"], _maxima(sandbox_run)
    for student, (_, kind) in honest_class(_source(), _release(), target).items():
        assert _auto_scores(results[student][ASSIGNMENT]) == _expected(kind, target, maxima), student
    assert sandbox_run["meta"]["isolation"] == "full"
    notes = results["os-sigint-ignored"][ASSIGNMENT]["notes"]
    assert any("ignored the interrupt" in n for n in notes), notes


def test_no_sandboxed_process_survives(sandbox_run):
    """Every uid this run's kernels had (logged by the launcher) is gone: fork-bomb children
    and all (other test suites may be grading at the same time, with other uids)."""
    import re
    import time

    log = (sandbox_run["work"] / "logs" / "sandbox.log").read_text()
    uids = {int(u) for u in re.findall(r"level=full uid=(\d+)", log)}
    assert len(uids) >= len(SANDBOX_CASES)  # one fresh uid per kernel
    assert all(u >= 1_900_000_000 for u in uids)
    leftovers = ["?"]
    for _ in range(40):  # the PID namespace teardown is asynchronous: allow a few seconds
        leftovers = []
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    if os.stat(f"/proc/{pid}").st_uid in uids:
                        leftovers.append(pid)
                except OSError:
                    continue
        if not leftovers:
            break
        time.sleep(0.25)
    assert not leftovers
    assert not (REPO / "pwned.txt").exists()


# ---------------------------------------------------------------------------- nothing changed
def test_course_gradebook_and_submissions_are_byte_identical(arena, scan_run, in_kernel_run, request):
    runs = [scan_run, in_kernel_run]
    level, _ = isolation_level()
    if level == "full":
        runs.append(request.getfixturevalue("sandbox_run"))
    before = arena["before"]
    assert _tree_digest(arena["course"]) == before["course"]
    assert _gradebook_dump(arena["course"] / "gradebook.db") == before["gradebook"]
    assert _tree_digest(REPO / "solutions") == before["repo_solutions"]
    for run in runs:
        assert _tree_digest(run["sub"]) == run["sub_digest"]


# ---------------------------------------------------------------------------- static scan unit
_REF = {"cells": [
    {"cell_type": "code", "source": "import math\nimport numpy as np\ndef _helper(x):\n    return x",
     "metadata": {"nbgrader": {"grade_id": "setup", "locked": True, "solution": False, "grade": False}}},
    {"cell_type": "code", "source": "def f(x):\n    ### BEGIN SOLUTION\n    return np.exp(x)\n    ### END SOLUTION",
     "metadata": {"nbgrader": {"grade_id": "f", "locked": False, "solution": True, "grade": False}}},
]}


@pytest.mark.parametrize("code", [
    "def f(x):\n    return np.asarray(x) ** 2",
    "def f(X):\n    total = 0\n    for row in X:\n        total += sum(row)\n    return total",
    "import numpy as np\nimport math\nfrom functools import reduce\nX = np.ones((3, 2))",
    "def f(x):\n    with np.errstate(over='ignore'):\n        return 1 / (1 + np.exp(-x))",
    "%timeit f(3)",
    "class Model:\n    def __init__(self, k):\n        self.k = k\n    def __repr__(self):\n        return 'M'",
    "data = open('data.csv').read()",
    "def f(x):\n    stack = np.stack([x, x])\n    return stack.sum()",
])
def test_scan_accepts_ordinary_answers(code):
    assert scan_source(code, build_context(_REF)) == []


@pytest.mark.parametrize("code, rule", [
    ("np.allclose = lambda *a, **k: True", "monkeypatch"),
    ("import numpy.testing as nt\nnt.assert_allclose = print", "monkeypatch"),
    ("math.isclose = lambda *a, **k: True", "monkeypatch"),
    ("get_ipython().ast_transformers.append(None)", "name"),
    ("import builtins\nbuiltins.abs = lambda x: 0", "import"),
    ("import sys\nsys.modules['numpy'] = None", "import"),
    ("__builtins__['len'] = None", "name"),
    ("def f(x):\n    return eval('x')", "name"),
    ("def f(x):\n    return getattr(np, 'all' + 'close')(x, x)", "name"),
    ("import importlib\nimportlib.reload(np)", "import"),
    ("import ctypes", "import"),
    ("import subprocess\nsubprocess.run(['ls'])", "import"),
    ("open('/etc/passwd').read()", "path"),
    ("np.load('../../gradebook.db')", "path"),
    ("path = 'x'\nopen(path).read()", "open"),
    ("def isinstance(*a):\n    return True", "shadowing"),
    ("def _helper(x):\n    return 0", "shadowing"),
    ("np = None", "shadowing"),
    ("class A:\n    def __eq__(self, o):\n        return True", "dunder-method"),
    ("class F(float):\n    pass", "subclass"),
    ("x = (1).__class__.__subclasses__()", "dunder"),
    ("print(__import__('os').environ)", "name"),
    ("flag = 'NBGRADER_EXECUTION'", "nbgrader"),
    ("!ls", "magic"),
    ("%%bash\necho hi", "magic"),
    ("%timeit get_ipython()", "name"),
    ("x = np.load('a.npy', allow_pickle=True)", "pickle"),
    ("def f(x):\n    return exit()", "name"),
    ("x = In[1]", "name"),
])
def test_scan_flags_dangerous_code(code, rule):
    hits = scan_source(code, build_context(_REF))
    assert rule in {h[1] for h in hits}, hits


@pytest.mark.parametrize("assignment", sorted(p.name for p in (REPO / "solutions").iterdir() if p.is_dir())
                         if (REPO / "solutions").is_dir() else [])
def test_reference_solutions_pass_the_scan(assignment):
    source = json.loads((REPO / "solutions" / assignment / f"{assignment}.ipynb").read_text())
    rel_path = REPO / "exercises" / assignment / f"{assignment}.ipynb"
    release = json.loads(rel_path.read_text()) if rel_path.exists() else None
    for nb in (reference_submission(source, release), source) + ((release,) if release else ()):
        assert scan_notebook(nb, source) == []


def test_scan_skips_restored_test_cells_but_not_student_cells():
    source = toy_source_notebook()
    ref = reference_submission(source)
    assert scan_notebook(ref, source) == []
    ref["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                         "source": "import os"})
    hits = scan_notebook(ref, source)
    assert [h.cell_index for h in hits] == [len(ref["cells"]) - 1]
    # a test cell stripped of its metadata is no longer trusted
    stripped = reference_submission(source)
    for cell in stripped["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "test_square":
            cell["metadata"] = {}
            cell["source"] += "\nimport os"
    assert scan_notebook(stripped, source)
