"""The instructor workflow around nbgrader, on a small toy course.

``aegrade release | autograde | feedback | grades | selfcheck`` run against a
throwaway course made by ``grading_corpus.write_toy_course`` (three autograded problems,
one written answer), with the course's real ``nbgrader_config.py``.  The real problem sets are
graded by ``tests/test_problem_sets.py`` and attacked by ``tests/test_grader_security.py``.
"""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from aegrade import GradingOptions, autograde_dir, discover_submissions, reference_submission
from aegrade.cli import main as aegrade_main
from aegrade.course import env_bin_first
from aegrade.nbgrader_setup import load_course_config
from aegrade.notebooks import hidden_lines, html_text
from grading_corpus import (find_target, honest_class, toy_source_notebook, wrong_submission,
                            write_submission, write_toy_course)

pytestmark = pytest.mark.slow  # starts Jupyter kernels (make test-fast leaves these out)

REPO = Path(__file__).resolve().parents[1]
FAST = dict(cell_timeout=10, wall_limit=60)


def _env():
    return env_bin_first()


# ---------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A toy course with the course's nbgrader_config.py, released with `release`."""
    root = write_toy_course(tmp_path_factory.mktemp("toycourse") / "course", REPO / "nbgrader_config.py")
    assert aegrade_main(["--course", str(root), "release"]) == 0
    return root


@pytest.fixture(scope="module")
def graded_class(course, tmp_path_factory):
    """A class graded with the CLI (`autograde --submitted DIR`), in one run."""
    source = toy_source_notebook()
    release = json.loads((course / "exercises" / "toy" / "toy.ipynb").read_text())
    target = find_target(source, "toy")  # row_means
    sub = tmp_path_factory.mktemp("submitted")
    for name, (nb, _) in honest_class(source, release, target).items():
        write_submission(sub, name, "toy", nb)
    ref = reference_submission(source, release)
    # other layouts: <student>/<ps>.ipynb and a flat collected file
    (sub / "dave").mkdir()
    (sub / "dave" / "toy.ipynb").write_text(json.dumps(wrong_submission(ref, target)))
    (sub / "carol_toy.ipynb").write_text(json.dumps(ref))
    # held back by name: a hostile one (flagged) and two that cannot be graded
    hostile = json.loads(json.dumps(ref))
    hostile["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                             "source": "import os\nos._exit(0)"})
    write_submission(sub, "mallory", "toy", hostile)
    write_submission(sub, "eve", "toy", "not json at all")
    write_submission(sub, "bad id!", "toy", ref)
    import io
    from contextlib import redirect_stdout

    out = io.StringIO()
    with redirect_stdout(out):
        code = aegrade_main(["--course", str(course), "autograde", "--submitted", str(sub),
                             "--cell-timeout", "10", "--wall-limit", "60"])
    assert code == 0
    report = json.loads((course / "autograded" / ".grading" / "report.json").read_text())
    return {"stdout": out.getvalue(), "report": report["results"], "meta": report["meta"],
            "submitted": sub}


# ---------------------------------------------------------------------------- configuration
def test_course_config_has_the_hardening_other_code_relies_on():
    from traitlets.config.loader import PyFileConfigLoader

    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(REPO)).load_config()
    assert Path(cfg.CourseDirectory.root) == REPO
    assert cfg.CourseDirectory.source_directory == "solutions"
    assert cfg.CourseDirectory.release_directory == "exercises"
    assert cfg.Execute.timeout > 0 and cfg.Execute.raise_on_iopub_timeout is False
    assert cfg.Execute.interrupt_on_timeout is True
    assert cfg.OverwriteCells.add_missing_cells is True
    assert cfg.Execute.skip_cells_with_tag != "skip-execution"
    names = [c.__name__ for c in cfg.Autograde.autograde_preprocessors]
    assert names.index("StaticScan") < names.index("SandboxedExecute") < names.index("SaveAutoGrades")
    assert "CapOutput" in names and "Execute" not in names
    sanitize = [c.__name__ for c in cfg.Autograde.sanitize_preprocessors]
    assert sanitize.index("RestoreCellMetadata") < sanitize.index("OverwriteCells")
    assert "HideHiddenTests" in [c.__name__ for c in cfg.GenerateFeedback.preprocessors]
    ignored = (REPO / ".gitignore").read_text()
    for folder in ("/submitted/", "/autograded/", "/feedback/", "/gradebook.db"):
        assert folder in ignored


def test_grading_options_are_validated():
    with pytest.raises(ValueError, match="isolation"):
        GradingOptions(isolation="docker")
    with pytest.raises(ValueError, match="positive"):
        GradingOptions(cell_timeout=0)
    with pytest.raises(ValueError, match="workers"):
        GradingOptions(workers=-1)


def test_work_dir_must_not_be_inside_the_course(course, tmp_path):
    (tmp_path / "sub").mkdir()
    with pytest.raises(ValueError, match="must not be inside"):
        autograde_dir(tmp_path / "sub", course_dir=course, work_dir=course / "work")
    with pytest.raises(FileNotFoundError):
        autograde_dir(tmp_path / "missing", course_dir=course, work_dir=tmp_path / "w")


def test_discover_submissions_layouts(tmp_path):
    nb = json.dumps(toy_source_notebook())
    (tmp_path / "alice" / "toy").mkdir(parents=True)
    (tmp_path / "alice" / "toy" / "toy.ipynb").write_text(nb)
    (tmp_path / "alice" / "toy" / "data.csv").write_text("1,2\n")
    (tmp_path / "alice" / "toy" / "link.ipynb").symlink_to("/etc/passwd")
    (tmp_path / "bob").mkdir()
    (tmp_path / "bob" / "toy.ipynb").write_text(nb)
    (tmp_path / "carol_toy.ipynb").write_text(nb)
    (tmp_path / "toy-dave.ipynb").write_text(nb)
    (tmp_path / "notes.ipynb").write_text(nb)
    (tmp_path / "erin" / "other_ps").mkdir(parents=True)
    subs, warnings = discover_submissions(tmp_path, ["toy"])
    found = {(s.student, s.assignment): s for s in subs}
    assert set(found) == {("alice", "toy"), ("bob", "toy"), ("carol", "toy"), ("dave", "toy")}
    assert set(found[("alice", "toy")].files) == {"toy.ipynb", "data.csv"}  # the symlink is not staged
    assert any("symbolic link" in w for w in warnings)
    assert any("notes.ipynb" in w for w in warnings) and any("other_ps" in w for w in warnings)


# ---------------------------------------------------------------------------- release
def test_release_writes_a_student_version(course):
    nb = json.loads((course / "exercises" / "toy" / "toy.ipynb").read_text())
    text = json.dumps(nb)
    assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
    assert "type(got) is list" not in text  # a hidden assertion of the toy
    assert "raise NotImplementedError()" in text
    tests = [c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade")
             and c["cell_type"] == "code"]
    assert len(tests) == 3 and all("assert" in "".join(c["source"]) for c in tests)
    assert (course / "gradebook.db").exists()


# ---------------------------------------------------------------------------- autograde
def test_autograde_prints_the_table_and_names_held_submissions(graded_class):
    out = graded_class["stdout"]
    head = out.splitlines()[0].split()
    assert head[:4] == ["student", "assignment", "status", "score"]
    assert "FLAGGED for manual review (not executed): 1" in out
    assert "mallory / toy" in out and "`os._exit(0)`" in out
    assert "UNGRADED" in out and "eve / toy" in out and "bad id! / toy" in out
    assert "graded: 5, flagged: 1, ungraded: 2" in out


def test_class_scores(graded_class):
    report = graded_class["report"]
    full = {"test_square": 2.0, "test_row_means": 3.0, "test_sigmoid": 2.0}

    def auto(student):
        rec = report[student]["toy"]
        assert rec["status"] == "graded", rec
        return {g: p["score"] for g, p in rec["problems"].items() if not p["manual"]}

    assert auto("honest-reference") == full
    assert auto("carol") == full  # flat collected file
    assert auto("honest-unanswered") == {g: 0.0 for g in full}
    for wrong in ("honest-wrong", "dave"):  # one mistake: loses row_means only
        assert auto(wrong) == dict(full, test_row_means=0.0)
    rec = report["honest-reference"]["toy"]
    assert rec["total"] == 7.0 and rec["max_total"] == 7.0
    written = rec["problems"]["why_stable"]
    assert written["manual"] and written["score"] is None and written["max"] == 1.0


def test_held_submissions_have_reasons_and_no_scores(graded_class):
    report = graded_class["report"]
    mallory = report["mallory"]["toy"]
    assert mallory["status"] == "flagged" and mallory["total"] is None and not mallory["problems"]
    assert any(f["line"] == "os._exit(0)" for f in mallory["findings"])
    assert report["eve"]["toy"]["status"] == "ungraded"
    assert "not a readable notebook" in report["eve"]["toy"]["reason"]
    assert "invalid student id" in report["bad id!"]["toy"]["reason"]
    assert graded_class["meta"]["isolation"] in ("full", "uid", "none")


def test_gradebook_holds_only_graded_submissions(course, graded_class):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        students = {s.student.id for s in gb.find_assignment("toy").submissions}
    assert students == {"honest-reference", "honest-unanswered", "honest-wrong", "dave", "carol"}
    autograded = {p.name for p in (course / "autograded").iterdir() if not p.name.startswith(".")}
    assert autograded == students


def test_grades_csv_has_one_column_per_problem(course, graded_class, tmp_path):
    out = tmp_path / "grades.csv"
    assert aegrade_main(["--course", str(course), "grades", "--out", str(out)]) == 0
    rows = {r["student"]: r for r in csv.DictReader(out.open())}
    cols = list(next(iter(rows.values())).keys())
    for gid in ("test_square", "test_row_means", "test_sigmoid", "why_stable"):
        assert f"toy:{gid}" in cols
    assert {"toy:status", "toy:total", "toy:max", "total", "max_total"} <= set(cols)
    ref = rows["honest-reference"]
    assert (ref["toy:test_row_means"], ref["toy:total"], ref["toy:max"], ref["total"]) == ("3", "7", "8", "7")
    assert ref["toy:why_stable"] == ""  # waits for a person
    assert rows["dave"]["toy:test_row_means"] == "0" and rows["dave"]["total"] == "4"
    assert rows["mallory"]["toy:status"] == "flagged"
    assert rows["mallory"]["toy:total"] == "" and rows["mallory"]["total"] == ""  # never a silent zero
    assert rows["eve"]["toy:status"] == "ungraded" and rows["eve"]["total"] == ""
    # the module entry point gives the same file
    out2 = tmp_path / "grades2.csv"
    proc = subprocess.run([sys.executable, "-m", "aegrade", "--course", str(course), "grades",
                           "--out", str(out2)], cwd=REPO, env=_env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert out2.read_text() == out.read_text()
    assert "FLAGGED: mallory / toy" in proc.stdout


# ---------------------------------------------------------------------------- feedback
def _hidden_lines():
    return [line.strip() for cell in toy_source_notebook()["cells"]
            for line in hidden_lines("".join(cell["source"]) if isinstance(cell["source"], list)
                                     else cell["source"])]


def test_feedback_never_shows_hidden_tests(course, graded_class):
    from nbgrader.apps.api import NbGraderAPI
    from traitlets.config import Config

    assert aegrade_main(["--course", str(course), "feedback"]) == 0
    wrong = course / "feedback" / "honest-wrong" / "toy" / "toy.html"
    text = html_text(wrong.read_text())
    hidden = [" ".join(h.split()) for h in _hidden_lines()]
    assert len(hidden) >= 6
    assert not [h for h in hidden if h in text]
    assert "AssertionError" in text  # the student still sees that the test failed
    # control: nbgrader's default feedback pipeline does print the hidden tests
    cfg = Config()
    cfg.merge(load_course_config(course))
    cfg.CourseDirectory.root = str(course)
    cfg.CourseDirectory.source_directory = "solutions"
    cfg.CourseDirectory.feedback_directory = "feedback_default"
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import GetGrades

    cfg.GenerateFeedback.preprocessors = [GetGrades, CSSHTMLHeaderPreprocessor]
    cfg.Exchange.root = str(course / "exchange")
    (course / "exchange").mkdir(exist_ok=True)
    res = NbGraderAPI(config=cfg).generate_feedback("toy", "honest-wrong")
    assert res["success"], res
    default = html_text((course / "feedback_default" / "honest-wrong" / "toy" / "toy.html").read_text())
    assert [h for h in hidden if h in default], "control failed: default feedback hides the tests already?"


# ---------------------------------------------------------------------------- selfcheck
def test_selfcheck_passes_on_the_reference_and_fails_on_a_broken_one(course, tmp_path, capsys):
    assert aegrade_main(["--course", str(course), "selfcheck", "--cell-timeout", "10"]) == 0
    assert "selfcheck: the reference solutions score full marks" in capsys.readouterr().out
    broken = write_toy_course(tmp_path / "broken", REPO / "nbgrader_config.py")
    path = broken / "solutions" / "toy" / "toy.ipynb"
    text = path.read_text().replace("X.sum(axis=1) / X.shape[1]", "X.sum(axis=1) / X.shape[0]")
    path.write_text(text)
    assert aegrade_main(["--course", str(broken), "selfcheck", "--cell-timeout", "10"]) == 1
    out = capsys.readouterr().out
    assert "SELFCHECK FAILED" in out and "toy/test_row_means: 0/3" in out


# ---------------------------------------------------------------------------- no isolation
def test_unisolated_grading_still_works_and_warns_once(course, tmp_path, capfd):
    source = toy_source_notebook()
    sub = tmp_path / "sub"
    write_submission(sub, "ann", "toy", reference_submission(source))
    write_submission(sub, "ben", "toy", reference_submission(source))
    results = autograde_dir(sub, course_dir=course, work_dir=tmp_path / "work", isolation="none", **FAST).results
    err = capfd.readouterr().err
    assert err.count("SUBMISSIONS RUN UNISOLATED") == 1
    for student in ("ann", "ben"):
        assert results[student]["toy"]["status"] == "graded"
        assert results[student]["toy"]["total"] == 7.0


# ---------------------------------------------------------------------------- plain nbgrader
def test_plain_nbgrader_autograde_uses_the_hardened_pipeline(course, tmp_path):
    """`nbgrader autograde` with the course config alone (no aegrade command): the test cell of a
    wrong answer tagged `skip-execution` still runs, and a 1 MB single-line print is capped."""
    import shutil

    root = tmp_path / "plain"
    shutil.copytree(course / "solutions", root / "solutions")
    shutil.copy(course / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copy(course / "gradebook.db", root / "gradebook.db")
    source = toy_source_notebook()
    target = find_target(source, "toy")
    nb = wrong_submission(reference_submission(source), target)
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == target.test_id:
            cell["metadata"]["tags"] = ["skip-execution"]
    nb["cells"][2]["source"] += "\nprint('y' * 1_000_000)\n"
    write_submission(root / "submitted", "sam", "toy", nb)
    env = _env()
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", "toy", "--force",
                           f"--CourseDirectory.root={root}"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "unavailable" not in proc.stderr
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        grades = {g.name: g.score for g in gb.find_submission_notebook("toy", "toy", "sam").grades}
    assert grades["test_row_means"] == 0 and grades["test_square"] == 2
    size = (root / "autograded" / "sam" / "toy" / "toy.ipynb").stat().st_size
    assert size < 200_000, size
