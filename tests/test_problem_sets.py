"""The graded problem sets: one source of truth, and a grader that gets them right.

* ``exercises/`` is exactly what ``nbgrader generate_assignment`` makes from ``solutions/`` now.
* The notebooks are well formed: one autograded test cell after each answer, visible asserts then
  hidden tests, no test cell ending in a bare expression, no ``autoencoder_np``, committed clean.
* The reference solutions execute without an error or a byte of stderr.
* Autograded with nbgrader (all submissions in ONE class, graded together): the reference
  solutions score full marks, the unanswered release scores zero, and each wrong submission of
  ``problem_set_mutations.MUTATIONS`` (one realistic mistake each) loses points on exactly the
  problem it breaks and keeps full marks on every other one. Submissions are built from the
  released notebooks, whose hidden tests are stripped, so a mutant that only the hidden tests catch
  (several are) shows that grading restored them.

Grading goes through ``aegrade.autograde_dir``, the course's hardened nbgrader pipeline (the
one ``make autograde`` uses), in one call for the whole class.
"""
from __future__ import annotations

import ast
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import nbformat
import pytest

from aegrade import assignments_in, autograde_dir, reference_submission
from aegrade.checks import helpers as check_helpers
from aegrade.notebooks import cell_source, hidden_lines, nbgrader_meta, strip_hidden
from aegrade.course import env_bin_first
from problem_set_mutations import MUTATIONS, apply_edits

pytestmark = pytest.mark.slow  # starts Jupyter kernels (make test-fast leaves these out)

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = REPO / "solutions"
EXERCISES = REPO / "exercises"
ASSIGNMENTS = tuple(assignments_in(REPO))
NBGRADER = [sys.executable, "-m", "nbgrader"]
COURSE_OPTS = [
    "--CourseDirectory.source_directory=solutions",
    "--CourseDirectory.release_directory=exercises",
]


# ---------------------------------------------------------------------------- helpers

def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


_source = cell_source   # one way to read a cell, the grader's
_meta = nbgrader_meta


def _source_nb(assignment: str) -> dict:
    return _read(SOLUTIONS / assignment / f"{assignment}.ipynb")


def _release_nb(assignment: str) -> dict:
    return _read(EXERCISES / assignment / f"{assignment}.ipynb")


def _test_cells(nb: dict) -> dict:
    """grade_id -> points of the autograded test cells (grade cells that are not answers)."""
    return {_meta(c)["grade_id"]: float(_meta(c)["points"]) for c in nb["cells"]
            if c["cell_type"] == "code" and _meta(c).get("grade") and not _meta(c).get("solution")}


def _env() -> dict:
    return env_bin_first()


def _nbgrader(args: list, cwd: Path) -> None:
    proc = subprocess.run(NBGRADER + args, cwd=cwd, env=_env(), capture_output=True, text=True)
    assert proc.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"


def _course_copy(dest: Path) -> Path:
    """A throwaway course root with the sources and the course's nbgrader configuration."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(SOLUTIONS, dest / "solutions")
    if (REPO / "nbgrader_config.py").exists():  # (it imports the installed aegrade)
        shutil.copy(REPO / "nbgrader_config.py", dest / "nbgrader_config.py")
    return dest


def _generate_all(root: Path) -> None:
    """generate_assignment for every assignment of the course copy, in ONE nbgrader process
    (importing nbgrader costs seconds; the assignment id is a glob)."""
    _nbgrader(["generate_assignment", "*", f"--CourseDirectory.root={root}", *COURSE_OPTS, "--force"],
              cwd=root)


# ---------------------------------------------------------------------------- structure

def test_the_five_problem_sets_exist():
    assert ASSIGNMENTS == ("ps1_forward_and_losses", "ps2_backprop", "ps3_pca",
                           "ps4_energy_and_conservativeness", "ps5_regularizers")
    assert sorted(p.name for p in SOLUTIONS.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))) \
        == sorted(ASSIGNMENTS)
    for a in ASSIGNMENTS:
        assert sorted(p.name for p in (SOLUTIONS / a).iterdir()) == [f"{a}.ipynb"]
        assert sorted(p.name for p in (EXERCISES / a).iterdir()) == [f"{a}.ipynb"]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_each_answer_is_followed_by_its_own_test_cell(assignment):
    cells = [c for c in _source_nb(assignment)["cells"] if c["cell_type"] == "code"]
    answers = [i for i, c in enumerate(cells) if _meta(c).get("solution")]
    assert len(answers) >= 4, "a problem set has several problems"
    for i in answers:
        gid = _meta(cells[i])["grade_id"]
        assert "### BEGIN SOLUTION" in _source(cells[i]) and "### END SOLUTION" in _source(cells[i]), gid
        test = cells[i + 1]
        meta = _meta(test)
        assert meta.get("grade_id") == f"test_{gid}", f"{gid} must be followed by test_{gid}"
        assert meta.get("grade") and meta.get("locked") and not meta.get("solution"), meta
        assert meta.get("schema_version") == 3 and float(meta["points"]) > 0, meta
        src = _source(test)
        assert src.count("### BEGIN HIDDEN TESTS") == 1 and src.count("### END HIDDEN TESTS") == 1, gid
        visible = src.split("### BEGIN HIDDEN TESTS")[0]
        assert "assert" in visible, f"test_{gid} needs visible asserts before the hidden tests"
    # every test cell belongs to an answer
    assert len(_test_cells(_source_nb(assignment))) == len(answers)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_hidden_tests_take_their_helpers_from_the_grader_never_a_pasted_copy(assignment):
    """The helpers live once, in aegrade.checks.helpers: a hidden region imports them and
    defines none of them (a pasted copy could drift, and would not call into the kernel)."""
    shared = set(check_helpers.__all__)
    for cell in _source_nb(assignment)["cells"]:
        region = "\n".join(hidden_lines(_source(cell)))
        if not region:
            continue
        tree = ast.parse(region)
        defined = {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        assert not defined & shared, f"{_meta(cell)['grade_id']} defines {defined & shared} itself"
        imports = [n for n in tree.body if isinstance(n, ast.ImportFrom) and n.module == "aegrade.checks.helpers"]
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} & shared
        imported = {a.name for n in imports for a in n.names}
        assert used <= imported, f"{_meta(cell)['grade_id']} uses {used - imported} without importing them"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_test_cells_end_with_a_statement_not_an_expression(assignment):
    """nbgrader turns a test cell's final value into a (partial) score: forbid one, in the full
    cell (graded) and in its visible part (what a student sees and runs)."""
    for cell in _source_nb(assignment)["cells"]:
        if not (_meta(cell).get("grade") and cell["cell_type"] == "code"):
            continue
        full = _source(cell)
        visible = strip_hidden(full)
        for name, src in (("full", full), ("visible", visible)):
            body = ast.parse(src).body
            assert body, f"{_meta(cell)['grade_id']}: empty"
            assert not isinstance(body[-1], ast.Expr), (
                f"{_meta(cell)['grade_id']} ({name}) ends in a bare expression on line {body[-1].lineno}")


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_problem_sets_never_import_the_library(assignment):
    for cell in _source_nb(assignment)["cells"]:
        if cell["cell_type"] != "code":
            continue
        for node in ast.walk(ast.parse(_source(cell))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n.split(".")[0] in ("autoencoder_np", "sklearn", "torch") for n in names), (
                f"{assignment}: a cell imports {names}")


@pytest.mark.parametrize("folder", [SOLUTIONS, EXERCISES], ids=["solutions", "exercises"])
def test_notebooks_are_committed_clean(folder):
    for a in ASSIGNMENTS:
        nb = _read(folder / a / f"{a}.ipynb")
        dirty = [i for i, c in enumerate(nb["cells"])
                 if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count") is not None)]
        assert not dirty, f"{folder.name}/{a}: cells {dirty} carry outputs or execution counts"
        nbformat.validate(nbformat.from_dict(nb))


def test_written_answers_are_manually_graded_with_a_rubric():
    written = {}
    for a in ASSIGNMENTS:
        for cell in _source_nb(a)["cells"]:
            meta = _meta(cell)
            if cell["cell_type"] == "markdown" and meta.get("solution"):
                assert meta.get("grade") and float(meta["points"]) > 0, meta
                assert "**Rubric" in _source(cell) and "**Model answer.**" in _source(cell), meta["grade_id"]
                written[a] = meta["grade_id"]
        for cell in _release_nb(a)["cells"]:  # the rubric never reaches the students
            assert "Rubric" not in _source(cell) and "Model answer" not in _source(cell), a
    assert sorted(written) == ["ps3_pca", "ps4_energy_and_conservativeness"], written


# ---------------------------------------------------------------------------- one source of truth

def test_exercises_are_exactly_what_nbgrader_generates_from_solutions(tmp_path):
    root = _course_copy(tmp_path / "course")
    _generate_all(root)
    for a in ASSIGNMENTS:
        fresh = _read(root / "exercises" / a / f"{a}.ipynb")
        committed = _release_nb(a)
        assert fresh == committed, (
            f"exercises/{a} is stale: run `make release` (nbgrader generate_assignment {a})")
        # and it really is a student version: no solutions, no hidden tests
        text = json.dumps(committed)
        assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text, a
    assert sorted(p.name for p in (root / "exercises").iterdir()) == sorted(ASSIGNMENTS)


# ---------------------------------------------------------------------------- reference runs clean

def _execute_all(paths):
    """Execute notebooks concurrently (kernel start-up dominates); return the executed notebooks.

    Each kernel talks over ipc sockets under its own prefix: kernels started at once on TCP can
    pick the same free port and one of them dies ("Address already in use", seen here once).
    """
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient

    async def run(path, sockets):
        nb = nbformat.read(path, as_version=4)
        km = AsyncKernelManager(kernel_name="python3", transport="ipc", ip=sockets)
        client = NotebookClient(nb, km=km, timeout=120, kernel_name="python3", allow_errors=True,
                                resources={"metadata": {"path": str(path.parent)}})
        await client.async_execute()
        return nb

    async def main(tmp):
        return await asyncio.gather(*(run(p, os.path.join(tmp, f"k{i}")) for i, p in enumerate(paths)))

    with tempfile.TemporaryDirectory() as tmp:
        return asyncio.run(main(tmp))


def test_reference_solutions_run_without_errors_or_stderr():
    paths = [SOLUTIONS / a / f"{a}.ipynb" for a in ASSIGNMENTS]
    bad = []
    for path, nb in zip(paths, _execute_all(paths)):
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            for out in cell.outputs:
                if out.output_type == "error" or (out.output_type == "stream" and out.name == "stderr"):
                    bad.append((path.stem, cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", cell.id),
                                out.get("ename") or out.get("text", "")[:200]))
                if out.output_type == "execute_result" and _meta(cell).get("grade"):
                    bad.append((path.stem, _meta(cell)["grade_id"], "a test cell produced a value"))
    assert not bad, bad


# ---------------------------------------------------------------------------- autograding

def test_every_mutation_applies_exactly_once_and_targets_a_test_cell():
    names = [m.name for m in MUTATIONS]
    assert len(names) == len(set(names)) and len(MUTATIONS) >= 15
    assert {m.assignment for m in MUTATIONS} == set(ASSIGNMENTS), "every problem set has wrong submissions"
    for m in MUTATIONS:
        tests = _test_cells(_source_nb(m.assignment))
        assert m.breaks in tests, f"{m.name}: {m.breaks} is not a test cell of {m.assignment}"
        submission = reference_submission(_source_nb(m.assignment), _release_nb(m.assignment))
        mutated = apply_edits(submission, m)  # asserts each edit matches exactly once
        assert mutated != submission, m.name


def _build_class(submitted: Path) -> dict:
    """submitted/<student>/<assignment>/<assignment>.ipynb for the whole class; returns
    {student: [assignments]}."""
    roster = {}

    def put(student, assignment, nb):
        folder = submitted / student / assignment
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{assignment}.ipynb").write_text(json.dumps(nb, indent=1), encoding="utf-8")
        roster.setdefault(student, []).append(assignment)

    for a in ASSIGNMENTS:
        release, source = _release_nb(a), _source_nb(a)
        put("reference", a, reference_submission(source, release))
        put("unanswered", a, release)
    for m in MUTATIONS:
        put(m.name, m.assignment, apply_edits(reference_submission(_source_nb(m.assignment), _release_nb(m.assignment)), m))
    return roster


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The whole class (reference, unanswered, every mutant) autograded in one go."""
    work = tmp_path_factory.mktemp("grading")
    roster = _build_class(work / "submitted")
    with warnings.catch_warnings():
        # pytest's `error::RuntimeWarning` must not reach nbgrader (grading workers are forked
        # from this process): SQLAlchemy's SAWarning, which nbgrader triggers, is a RuntimeWarning.
        warnings.simplefilter("default")
        results = autograde_dir(work / "submitted", course_dir=REPO, work_dir=work / "work").results
    problems = [f"{student}/{a}: " + ("missing from the results" if a not in results.get(student, {}) else
                                       f"{results[student][a]['status']} ({results[student][a].get('reason', '')})")
                for student, assignments in roster.items() for a in assignments
                if results.get(student, {}).get(a, {}).get("status") != "graded"]
    assert not problems, "not graded:\n" + "\n".join(problems)
    return results


def _scores(result: dict, assignment: str) -> dict:
    """grade_id -> (score, max) for the autograded test cells (written answers excluded)."""
    expected = _test_cells(_source_nb(assignment))
    problems = result["problems"]
    missing = set(expected) - set(problems)
    assert not missing, f"no score for {sorted(missing)}"
    for gid, points in expected.items():
        assert float(problems[gid]["max"]) == points, (gid, problems[gid], points)
    return {gid: (problems[gid]["score"], float(problems[gid]["max"])) for gid in expected}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_reference_solutions_score_full_marks(graded, assignment):
    scores = _scores(graded["reference"][assignment], assignment)
    lost = {gid: s for gid, s in scores.items() if s[0] != s[1]}
    assert not lost, f"the reference solution lost points: {lost}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_unanswered_release_scores_zero(graded, assignment):
    result = graded["unanswered"][assignment]
    scores = _scores(result, assignment)
    written = [_meta(c)["grade_id"] for c in _source_nb(assignment)["cells"]
               if c["cell_type"] == "markdown" and _meta(c).get("grade")]
    for gid in written:  # an untouched written answer is scored 0 by nbgrader, not left for review
        scores[gid] = (result["problems"][gid]["score"], float(result["problems"][gid]["max"]))
    scored = {gid: s for gid, s in scores.items() if s[0] != 0}
    assert not scored, f"an unanswered problem earned points: {scored}"


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.name)
def test_each_mistake_loses_points_exactly_where_it_is(graded, mutation):
    scores = _scores(graded[mutation.name][mutation.assignment], mutation.assignment)
    score, full = scores[mutation.breaks]
    assert score < full, f"{mutation.mistake!r} kept full marks on {mutation.breaks}"
    others = {gid: s for gid, s in scores.items() if gid != mutation.breaks and s[0] != s[1]}
    assert not others, f"{mutation.mistake!r} also lost points on {others}"
