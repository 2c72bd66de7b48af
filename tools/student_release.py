"""The students' distribution of the course, built without a single reference answer or hidden test.

``make student-release`` (``python -m tools.student_release``) builds

* ``build/student/``: a folder ready to publish as the students' repository: the library
  (``autoencoder_np/``), the lectures, the released exercises (``exercises/``, nbgrader's student
  version: answer cells emptied, hidden tests removed), the environment files
  (``pyproject.toml``, ``environment.yml``), the library and lecture tests with the notebook
  runner they use (``tests/``, ``tools/notebooks.py``), and the student files of ``student/``
  (``README.md``, ``Makefile``, ``tests/conftest.py``, ``.gitignore``);
* ``build/autoencoders-from-scratch-student.zip``: the same folder as one archive.

What goes in is an allow-list (:data:`COPIED`, :data:`STUDENT_TESTS`): ``solutions/``, the
gradebook, ``nbgrader_config.py``, the grading engine and its test corpus never do. Before the
archive is written every file of the folder is searched for every line of every solution region
and every hidden-test line of ``solutions/`` (:func:`secret_lines`, :func:`find_leaks`); the build
fails, naming file and line, if one is found.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from aegrade.notebooks import MIN_SECRET_LINE, hidden_from_students

REPO = Path(__file__).resolve().parents[1]
STUDENT_FILES = REPO / "student"
ARCHIVE_ROOT = "autoencoders-from-scratch"

#: Repository paths copied as they are (folders recursively, caches skipped).
COPIED = ("autoencoder_np", "lectures", "exercises", "pyproject.toml", "environment.yml",
          "tools/__init__.py", "tools/notebooks.py")
#: The library and lecture tests (everything else in tests/ is about grading).
STUDENT_TESTS = ("test_analysis.py", "test_helper_threads.py", "test_datasets.py", "test_gradients.py",
                 "test_lectures.py", "test_losses_and_activations.py", "test_model.py",
                 "test_pca.py", "test_reconstruction_contractive.py")
#: ``student/<name>`` -> path in the release.
TEMPLATES = {"README.md": "README.md", "Makefile": "Makefile", "conftest.py": "tests/conftest.py",
             "gitignore": ".gitignore"}
SKIPPED = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache"}

#: Secret lines shorter than this (whitespace collapsed) are too short to mean anything on their
#: own (``try:``, ``else:``, ``m = X.shape[0]``, ``return grad``): they are not searched for.
MIN_CHARS = MIN_SECRET_LINE
#: Longer secret lines that mean nothing on their own, each with the reason it is not a leak.
#: Only these are ignored (besides the short ones); the test lists where each one was seen.
GENERIC_LINES = {
    "rng = np.random.default_rng(seed)": "random set-up, also in the library and its tests",
    "X = rng.normal(size=(m, n))": "random set-up of a test",
    "X = rng.uniform(size=(m, n))": "random set-up of a test",
    "X, W, b = rng.normal(size=(m, n)), rng.normal(size=(n, k)), rng.normal(size=k)":
        "random set-up, the same in the visible tests",
    "X, W, b, c = rng.normal(size=(m, n)), rng.normal(size=(n, k)), rng.normal(size=k), "
    "rng.normal(size=n)": "random set-up, the same in the visible tests",
    "W, b, W_dec, c = rng.normal(size=(n, k)), rng.normal(size=k), rng.normal(size=(k, n)), "
    "rng.normal(size=n)": "random set-up, the same in the visible tests",
    'W, b, W_dec, c = params["W"], params["b"], params["W_dec"], params["c"]':
        "unpacking the parameters, as the lectures do",
    "A = np.asarray(A, dtype=np.float64)": "input conversion, as the library does",
    "H = sigmoid(X @ W + b)": "the encoder's formula, printed in the exercises' text and the lectures",
    "Xc = X - X.mean(axis=0)": "centring, taught in lecture 03",
    "R = X @ W @ W_dec - X": "the residual's formula, printed in ps3's text",
    "loss, grads = loss_and_grads(X, params)": "calling the function the exercise defines, as its text shows",
    "rotation = lambda P: np.column_stack([-P[:, 1], P[:, 0]])":
        "the rotation field, also the library's own test of its curl",
}
#: Answers of a problem set that a LATER problem set hands out as given code (its helper cells):
#: ``{line: (problem set it answers, release notebooks allowed to hold it)}``.  Found anywhere
#: else they are leaks; a release of the earlier problem set alone does not contain them
#: (publish the later problem sets after the earlier one's due date).
GIVEN_LATER = {
    "return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))":
        ("ps1_forward_and_losses", ("ps2_backprop", "ps4_energy_and_conservativeness", "ps5_regularizers")),
    "return s * (1.0 - s)":
        ("ps1_forward_and_losses", ("ps2_backprop", "ps4_energy_and_conservativeness", "ps5_regularizers")),
    "return sigmoid(X @ W + b)":
        ("ps1_forward_and_losses", ("ps4_energy_and_conservativeness",)),
}

__all__ = ["SecretLine", "build", "find_leaks", "main", "secret_lines"]


@dataclass(frozen=True)
class SecretLine:
    """One line a student must not see: ``kind`` is ``"solution"`` or ``"hidden test"``."""

    text: str  # whitespace collapsed
    kind: str
    where: str  # solutions/<ps>/<ps>.ipynb, cell <grade_id>


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _source(cell: dict) -> str:
    return cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])


def secret_lines(solutions_dir: Path = REPO / "solutions") -> tuple[list[SecretLine], dict]:
    """Every line of every solution region and hidden-test region of ``solutions_dir``.

    A code answer cell's solution region is what lies between ``### BEGIN SOLUTION`` and
    ``### END SOLUTION``; a Markdown answer cell (a written answer) is a solution region as a
    whole (nbgrader replaces it in the release); a hidden-test region lies between
    ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``.

    Returns
    -------
    (lines, ignored)
        ``lines``: the :class:`SecretLine` objects to search for (deduplicated); ``ignored``: the
        dict ``{collapsed line: reason}`` of the lines not searched for (shorter than
        :data:`MIN_CHARS`, or in :data:`GENERIC_LINES`).
    """
    solutions_dir = Path(solutions_dir)
    notebooks = sorted(solutions_dir.glob("*/*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no notebooks in {solutions_dir} (expected <ps>/<ps>.ipynb)")
    found: dict[str, SecretLine] = {}
    ignored: dict[str, str] = {}

    def keep(line: str, kind: str, where: str) -> None:
        text = _collapse(line)
        if not text:
            return
        if len(text) < MIN_CHARS:
            ignored[text] = f"shorter than {MIN_CHARS} characters"
        elif text in GENERIC_LINES:
            ignored[text] = GENERIC_LINES[text]
        else:
            found.setdefault(text, SecretLine(text, kind, where))

    for path in notebooks:
        nb = json.loads(path.read_text(encoding="utf-8"))
        for kind, line, gid in hidden_from_students(nb):
            keep(line, kind, f"{path.relative_to(solutions_dir.parent)}, cell {gid}")
    return list(found.values()), ignored


def _texts(path: Path) -> list[str]:
    """The texts of one file to search: its raw text, plus each cell's source for a notebook
    (JSON escapes quotes and backslashes, so the raw text alone could hide a line)."""
    raw = path.read_bytes().decode("utf-8", errors="replace")
    texts = [raw]
    if path.suffix == ".ipynb":
        try:
            nb = json.loads(raw)
        except ValueError:
            return texts
        for cell in nb.get("cells", []):
            texts.append(_source(cell))
            for out in cell.get("outputs", []):
                texts.append(json.dumps(out, ensure_ascii=False))
    return texts


def _handed_out(rel: Path, text: str, given_later: dict) -> bool:
    """Whether ``text`` is an earlier answer that the release notebook ``rel`` hands out."""
    if text not in given_later or len(rel.parts) < 3 or rel.parts[0] != "exercises":
        return False
    return rel.parts[1] in given_later[text][1]


def find_leaks(release_dir: Path, lines: list[SecretLine], *,
               given_later: dict = GIVEN_LATER) -> list[tuple[str, SecretLine]]:
    """``[(file, line)]`` for every secret line found in a file under ``release_dir`` (any file,
    any type; lines compared with whitespace collapsed).  A line of ``given_later`` found in the
    release notebook of a problem set that hands it out is not reported (pass ``{}`` to see it)."""
    release_dir = Path(release_dir)
    leaks = []
    for path in sorted(p for p in release_dir.rglob("*") if p.is_file()):
        if path.suffix == ".zip":
            continue  # the archive is written from the folder after this check
        rel = path.relative_to(release_dir)
        haystack = "\n".join(_collapse(line) for text in _texts(path) for line in text.split("\n"))
        for secret in lines:
            if secret.text in haystack and not _handed_out(rel, secret.text, given_later):
                leaks.append((str(rel), secret))
    return leaks


def _copy(src: Path, dest: Path) -> None:
    if src.is_dir():
        shutil.copytree(src, dest, ignore=lambda d, names: [n for n in names if n in SKIPPED
                                                            or n.endswith(".pyc")])
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)


def _clean_notebooks(folder: Path) -> None:
    """Fail unless every notebook is committed clean (no outputs: nothing of the instructor's runs)."""
    for path in folder.rglob("*.ipynb"):
        nb = json.loads(path.read_text(encoding="utf-8"))
        dirty = [i for i, c in enumerate(nb["cells"]) if c.get("outputs") or c.get("execution_count")]
        if dirty:
            raise RuntimeError(f"{path} has outputs in cells {dirty}: strip it first "
                               f"(python -m tools.notebooks strip {path})")


def _students_pyproject(path: Path) -> None:
    """The students' ``pyproject.toml`` installs the library only: the grading engine (``aegrade``
    and its command) stays with the instructor."""
    text = path.read_text()
    text = re.sub(r'(?ms)^packages = \[.*?\]', 'packages = ["autoencoder_np"]', text)
    text = re.sub(r"(?ms)^\[project\.scripts\]\n.*?(?=^\[)", "", text)
    if re.search(r'"aegrade|^aegrade\s*=', text, re.M):
        raise RuntimeError("the students' pyproject.toml still installs aegrade")
    path.write_text(text)


def build(out_dir: Path = REPO / "build" / "student", *, repo: Path = REPO,
          problem_sets: list[str] | None = None, archive: Path | None = None) -> Path:
    """Build the student release into ``out_dir`` (replaced) and its zip; return the zip's path.

    Parameters
    ----------
    out_dir : Path
        The folder to build (outside the repository, or under its ``build/``).
    problem_sets : list of str, optional
        The released exercises to include (default: every one in ``exercises/``): a class that
        publishes problem sets one at a time rebuilds the release with one more each time.
    archive : Path, optional
        The zip to write (default: ``<out_dir>/../autoencoders-from-scratch-student.zip``).

    Raises
    ------
    RuntimeError
        If a secret line of ``solutions/`` is found in the release, or a notebook has outputs.
    """
    repo, out_dir = Path(repo), Path(out_dir)
    r, o = repo.resolve(), out_dir.resolve()
    if o == r or o in r.parents or (r in o.parents and o.relative_to(r).parts[0] != "build"):
        raise ValueError(f"out_dir {out_dir} must be outside the repository or under its build/")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    released = sorted(p.name for p in (repo / "exercises").iterdir() if p.is_dir()
                      and not p.name.startswith(".") and p.name not in SKIPPED)
    chosen = released if problem_sets is None else list(problem_sets)
    unknown = sorted(set(chosen) - set(released))
    if unknown or not chosen:
        raise ValueError(f"problem sets {unknown or chosen} are not in exercises/ "
                         f"(released: {', '.join(released)})")
    for rel in COPIED:
        if rel != "exercises":
            _copy(repo / rel, out_dir / rel)
    _students_pyproject(out_dir / "pyproject.toml")
    for ps in chosen:
        _copy(repo / "exercises" / ps, out_dir / "exercises" / ps)
    for name in STUDENT_TESTS:
        _copy(repo / "tests" / name, out_dir / "tests" / name)
    for name, rel in TEMPLATES.items():
        _copy(STUDENT_FILES / name, out_dir / rel)
    _clean_notebooks(out_dir)
    lines, _ = secret_lines(repo / "solutions")
    leaks = find_leaks(out_dir, lines)
    if leaks:
        shown = "\n".join(f"  {f}: {s.kind} line of {s.where}: {s.text}" for f, s in leaks[:20])
        raise RuntimeError(f"the student release contains {len(leaks)} line(s) of solutions/:\n{shown}")
    archive = Path(archive) if archive else out_dir.parent / f"{ARCHIVE_ROOT}-student.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(out_dir.rglob("*")):
            zf.write(path, f"{ARCHIVE_ROOT}/{path.relative_to(out_dir)}")
    return archive


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.student_release", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "build" / "student",
                    help="folder to build (replaced; default build/student)")
    ap.add_argument("--problem-sets", default="",
                    help="comma-separated problem sets to include (default: every one in exercises/)")
    args = ap.parse_args(argv)
    chosen = [p for p in args.problem_sets.split(",") if p] or None
    try:
        archive = build(args.out, problem_sets=chosen)
    except (RuntimeError, ValueError, FileNotFoundError) as exc:
        print(f"student-release: {exc}", file=sys.stderr)
        return 1
    lines, ignored = secret_lines(REPO / "solutions")
    files = sum(1 for p in args.out.rglob("*") if p.is_file())
    print(f"student release: {args.out} ({files} files) and {archive}")
    print(f"checked: none of {len(lines)} solution and hidden-test lines of solutions/ is in it "
          f"({len(ignored)} short or generic lines not searched for; {len(GIVEN_LATER)} answers of "
          "ps1 are handed out as given code by later problem sets)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
