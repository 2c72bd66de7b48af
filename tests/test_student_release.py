"""The students' distribution (``make student-release``): what a student needs, nothing of the
instructor's, not one line of a reference answer or a hidden test, and a quickstart that works
from a fresh copy.

The leak search (:func:`tools.student_release.find_leaks`) looks for every line of every solution
region and every hidden-test line of ``solutions/`` in every file of the release, notebook JSON
included (raw text and each cell's source). Not searched for, and listed in
``tools/student_release.py``: lines shorter than ``MIN_CHARS`` (20) characters (``try:``,
``m = X.shape[0]``, ``import numpy as np``, ...) and the ``GENERIC_LINES`` (random set-up of
tests, formulas printed in the exercises' text), each with its reason. Three
answers of ps1 (the stable sigmoid, its derivative, the encoder) are handed out as given code by
ps2, ps4 and ps5 (``GIVEN_LATER``): they are allowed in those notebooks only, and a release of ps1
alone contains none of them.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tools import student_release
from tools.student_release import (ARCHIVE_ROOT, GENERIC_LINES, GIVEN_LATER, MIN_CHARS, build,
                                   find_leaks, secret_lines)

REPO = Path(__file__).resolve().parents[1]
PS1 = "ps1_forward_and_losses"
PROBLEM_SETS = sorted(p.name for p in (REPO / "solutions").iterdir() if p.is_dir())


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """The release built by the same function as ``make student-release``: (folder, zip)."""
    out = tmp_path_factory.mktemp("release") / "student"
    archive = build(out)
    return out, archive


@pytest.fixture(scope="module")
def secrets():
    lines, ignored = secret_lines(REPO / "solutions")
    return lines, ignored


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def test_release_holds_what_a_student_needs(release):
    out, _ = release
    files = _files(out)
    for name in ("README.md", "Makefile", "pyproject.toml", "environment.yml", ".gitignore",
                 "tests/conftest.py", "tools/notebooks.py", "autoencoder_np/__init__.py",
                 "autoencoder_np/model.py"):
        assert name in files, name
    lectures = sorted(p.name for p in (REPO / "lectures").glob("[0-9][0-9]_*.ipynb"))
    assert sorted(f.split("/")[1] for f in files if f.startswith("lectures/") and f.endswith(".ipynb")) == lectures
    for ps in PROBLEM_SETS:
        rel = f"exercises/{ps}/{ps}.ipynb"
        assert (out / rel).read_bytes() == (REPO / rel).read_bytes(), rel
    assert (out / "README.md").read_text() == (REPO / "student" / "README.md").read_text()
    readme = (out / "README.md").read_text()
    for words in ("make test", "make lab", "nbgrader validate", "nbgrader submit", "Validate",
                  "Submit", "Fetch Feedback", "YOUR CODE HERE"):
        assert words in readme, words
    # the student's README names every problem set and lecture it ships
    for ps in PROBLEM_SETS:
        assert ps in readme
    tests = {f for f in files if f.startswith("tests/test_")}
    assert tests == {f"tests/{t}" for t in student_release.STUDENT_TESTS}


def test_release_holds_nothing_of_the_instructor(release):
    out, archive = release
    files = _files(out)
    forbidden = [f for f in files if f.split("/")[0] in ("solutions", "submitted", "autograded",
                                                          "feedback", "source", "release", ".ci")
                 or Path(f).name in ("gradebook.db", "nbgrader_config.py", "grading.py",
                                     "grading_corpus.py", "grading_scan.py", "kernel_sandbox.py",
                                     "grading_preprocessors.py", "problem_set_mutations.py",
                                     "test_grader_security.py", "test_problem_sets.py",
                                     "test_grading_pipeline.py")
                 or "grading" in f or f.endswith((".db", ".sqlite"))]
    assert not forbidden
    # no notebook carries outputs (nothing of an instructor's run)
    for f in files:
        if f.endswith(".ipynb"):
            nb = json.loads((out / f).read_text())
            assert not any(c.get("outputs") for c in nb["cells"]), f
    # the zip holds exactly the folder, byte for byte
    with zipfile.ZipFile(archive) as zf:
        names = {n[len(ARCHIVE_ROOT) + 1:] for n in zf.namelist() if not n.endswith("/")}
        assert names == files
        for f in files:
            assert zf.read(f"{ARCHIVE_ROOT}/{f}") == (out / f).read_bytes(), f


def test_no_solution_or_hidden_test_line_is_in_the_release(release, secrets):
    out, _ = release
    lines, ignored = secrets
    kinds = {s.kind for s in lines}
    assert kinds == {"solution", "hidden test"}
    assert len(lines) > 400, "the search must cover the reference answers and hidden tests"
    assert len(ignored) < 0.25 * (len(lines) + len(ignored)), "too much is ignored to mean anything"
    assert all(len(t) >= MIN_CHARS for t in GENERIC_LINES)
    assert set(GENERIC_LINES) <= set(ignored), "a generic line that is no longer in solutions/"
    print(f"\nsearched for {len(lines)} lines; not searched for: {len(ignored)}")
    for text, reason in sorted(ignored.items()):
        print(f"  ignored ({reason}): {text}")
    leaks = find_leaks(out, lines)
    assert not leaks, "\n".join(f"{f}: {s.kind} of {s.where}: {s.text}" for f, s in leaks)


def test_ps1_answers_handed_out_by_later_problem_sets_are_only_there(release, secrets, tmp_path):
    out, _ = release
    lines, _ = secrets
    seen = {(f, s.text) for f, s in find_leaks(out, lines, given_later={})}
    expected = {(f"exercises/{h}/{h}.ipynb", text)
                for text, (_, holders) in GIVEN_LATER.items() for h in holders}
    assert seen == expected
    # released alone (before the later problem sets), ps1 gives none of its answers away
    alone = tmp_path / "ps1-only"
    build(alone, problem_sets=[PS1], archive=tmp_path / "ps1-only.zip")
    assert sorted(_files(alone / "exercises")) == [f"{PS1}/{PS1}.ipynb"]
    assert find_leaks(alone, lines, given_later={}) == []


def test_the_search_finds_lines_planted_anywhere(release, secrets, tmp_path):
    """The search is not vacuous: planted lines are found in notebook JSON (quotes escaped),
    in Python files (other indentation), in Markdown, and given-later answers in the wrong place."""
    out, _ = release
    lines, _ = secrets
    copy = tmp_path / "planted"
    shutil.copytree(out, copy)
    quoted = next(s for s in lines if s.kind == "solution" and '"' in s.text)
    hidden = next(s for s in lines if s.kind == "hidden test")
    written = next(s for s in lines if s.kind == "solution" and s.text.startswith("**Model answer"))
    given = next(iter(GIVEN_LATER))
    lecture = copy / "lectures" / "01_autoencoders.ipynb"
    nb = json.loads(lecture.read_text())
    nb["cells"][-1]["source"] += "\n" + quoted.text
    lecture.write_text(json.dumps(nb, indent=1))
    with open(copy / "autoencoder_np" / "analysis.py", "a") as fh:
        fh.write("\n\ndef _planted():\n        " + hidden.text + "\n")
    with open(copy / "README.md", "a") as fh:
        fh.write("\n" + written.text + "\n")
    ps1 = copy / "exercises" / PS1 / f"{PS1}.ipynb"
    nb = json.loads(ps1.read_text())
    nb["cells"][0]["source"] = nb["cells"][0]["source"] + ["\n", "    " + given]
    ps1.write_text(json.dumps(nb))
    found = {(f, s.text) for f, s in find_leaks(copy, lines)}
    assert ("lectures/01_autoencoders.ipynb", quoted.text) in found
    assert ("autoencoder_np/analysis.py", hidden.text) in found
    assert ("README.md", written.text) in found
    assert (f"exercises/{PS1}/{PS1}.ipynb", given) in found
    assert len(found) == 4


def test_the_builder_refuses_a_release_with_a_leak(tmp_path, secrets):
    lines, _ = secrets
    repo = tmp_path / "repo"
    for rel in student_release.COPIED + ("solutions",):
        src, dest = REPO / rel, repo / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dest)
        else:
            shutil.copyfile(src, dest)
    shutil.copytree(REPO / "tests", repo / "tests")
    secret = next(s for s in lines if s.kind == "hidden test")
    with open(repo / "tools" / "notebooks.py", "a") as fh:
        fh.write(f"\n# {secret.text}\n")
    with pytest.raises(RuntimeError, match="tools/notebooks.py"):
        build(tmp_path / "out", repo=repo)
    assert not (tmp_path / f"{ARCHIVE_ROOT}-student.zip").exists()
    with pytest.raises(ValueError, match="not in exercises"):
        build(tmp_path / "out2", repo=repo, problem_sets=["ps9_missing"])
    with pytest.raises(ValueError, match="outside the repository"):
        build(repo / "lectures", repo=repo)


def test_make_student_release_is_wired():
    makefile = (REPO / "Makefile").read_text()
    assert "student-release:" in makefile and "tools.student_release" in makefile


@pytest.mark.slow
def test_student_quickstart_works_from_a_fresh_copy(release, tmp_path):
    """Unzip the release as a student downloads it and run its own ``make test``.

    To stay cheap the copy's ``.venv`` is not installed from PyPI: it is a bare venv whose one
    ``.pth`` line reaches this environment's site-packages (the same packages ``pip install -e
    .[dev]`` would install), with the Makefile's stamp in place so ``make`` does not reinstall.
    The course package itself is imported from the copy (checked), and ``make test`` runs the
    copy's library tests for the losses, activations and model, and its lecture checks that do
    not execute a lecture (``tests/test_lectures.py`` executes every lecture in this repository).
    """
    if shutil.which("make") is None:
        pytest.skip("needs make")
    _, archive = release
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(tmp_path)
    copy = tmp_path / ARCHIVE_ROOT
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(copy / ".venv")], check=True)
    site = next((copy / ".venv" / "lib").glob("python*/site-packages"))
    (site / "course_environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    (copy / ".venv" / ".installed").touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "VIRTUAL_ENV"))}
    where = subprocess.run([str(copy / ".venv" / "bin" / "python"), "-c",
                            "import autoencoder_np, tools.notebooks; print(autoencoder_np.__file__)"],
                           cwd=copy, env=env, capture_output=True, text=True)
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).resolve().is_relative_to(copy.resolve())
    args = ("-q -p no:cacheprovider tests/test_losses_and_activations.py tests/test_model.py "
            "tests/test_lectures.py -k 'not executes_in_fast_mode'")
    run = subprocess.run(["make", "test", f"PYTEST_ARGS={args}"], cwd=copy, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "pip install" not in run.stdout, "make reinstalled the environment"
    assert " passed" in run.stdout and "failed" not in run.stdout
    # the help and the argument check of `make validate` speak to a student
    bad = subprocess.run(["make", "validate"], cwd=copy, env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and "make validate PS=ps1_forward_and_losses" in bad.stdout
