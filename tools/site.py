"""Build the course website: the executed lectures, the released problem sets, notation, API reference.

    python -m tools.site [--fast] [--out build/site]

``make course`` executes the lectures and keeps them as ``build/lectures/<name>.ipynb``; this
command publishes those (it never executes anything), the problem sets as students receive them
(``exercises/``; nothing under ``solutions/`` is ever published), the pages in ``site/`` and one
API page per module of ``autoencoder_np``, with Sphinx + myst-nb + sphinx-book-theme (the stack of
Jupyter Book 1). MathJax 2.7 comes from the PyPI package ``jupyter-server-mathjax`` and is served by
the site itself: the build fails if any page would load a script, style sheet, font or image
from another host.
"""
from __future__ import annotations

import argparse
import os
import pkgutil
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat

from tools.site_checks import external_loads

REPO = Path(__file__).resolve().parents[1]
PAGES = REPO / "site"                 # conf.py, the hand-written pages, _static
SOLUTIONS = REPO / "solutions"        # the instructor's notebooks: never published
LECTURES = REPO / "lectures"
EXERCISES = REPO / "exercises"
RELEASE_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")


class SiteError(Exception):
    """The site cannot be built as asked; the message says what is wrong and what to do."""


def lecture_paths():
    """The lecture notebooks, in course order (their file names start with the lecture number)."""
    return sorted(p for p in LECTURES.glob("[0-9][0-9]*.ipynb") if not p.name.endswith(".executed.ipynb"))


def problem_set_paths():
    """The released problem sets, ``exercises/<ps>/<ps>.ipynb``, in course order."""
    return sorted(p for p in EXERCISES.glob("*/*.ipynb") if p.stem == p.parent.name)


def refuse_solutions(path: Path) -> Path:
    """Return ``path`` if it may be published; raise ``SiteError`` for anything under ``solutions/``."""
    resolved = Path(path).resolve()
    if resolved == SOLUTIONS.resolve() or SOLUTIONS.resolve() in resolved.parents:
        raise SiteError(f"refusing to publish {path}: nothing under solutions/ goes on the site "
                        "(publish the student release from exercises/ instead)")
    return Path(path)


def _sources(nb):
    return [(c.cell_type, c.source) for c in nb.cells]


def executed_lecture(source: Path, executed_dir: Path, allow_unexecuted: bool):
    """The executed copy of lecture ``source`` from ``executed_dir``, checked to be of the current source.

    With ``allow_unexecuted`` a lecture without an up-to-date executed copy is published from the
    committed notebook (no outputs) instead of stopping the build.
    """
    clean = nbformat.read(source, as_version=4)
    executed_path = executed_dir / source.name
    problem = None
    if not executed_path.exists():
        problem = f"{executed_path} does not exist"
    else:
        executed = nbformat.read(executed_path, as_version=4)
        if _sources(executed) != _sources(clean):
            problem = f"{executed_path} was executed from another version of {source.relative_to(REPO)}"
    if problem is None:
        return executed, True
    if allow_unexecuted:
        print(f"note: {problem}; {source.name} is published without outputs", file=sys.stderr)
        return clean, False
    raise SiteError(f"{problem}. The site publishes the lectures as `make course` executed them: "
                    "run `make course` (or `make course-fast`) first, which builds the site at its end.")


def _note_cell(text: str):
    return nbformat.v4.new_markdown_cell(text)


def lecture_note(name: str, fast: bool, executed: bool) -> str:
    outputs = ("These outputs come from a *fast* run (small data, few epochs); a full run gives "
               "other numbers." if fast and executed else
               "" if executed else "This page shows the lecture without its outputs.")
    return (":::{admonition} Run this lecture yourself\n:class: tip run-locally\n\n"
            f"Download {{download}}`the notebook <../_notebooks/{name}>` (without outputs). "
            "It needs the course's library `autoencoder_np`: in a copy of the course repository, "
            "`make lab` creates the course's environment and opens JupyterLab at the lectures "
            f"(or `pip install -e \".[dev]\"`, then `jupyter lab lectures/{name}`). "
            "Every claim the lecture makes is checked by an `assert` as the notebook runs. "
            f"{outputs}\n:::")


PROBLEM_SET_NOTE = (":::{{admonition}} Work on this problem set\n:class: tip run-locally\n\n"
                    "Download {{download}}`the notebook <../_notebooks/{name}>` and open it in JupyterLab "
                    "in the course's environment (`make lab` in a copy of the course repository). Write "
                    "your answers where it says `YOUR CODE HERE` / `YOUR ANSWER HERE`, run the test cell "
                    "after each answer, and *Restart & Run All* before you hand it in. The autograder also "
                    "runs hidden tests.\n:::")


def _insert_after_title(nb, cell):
    nb.cells.insert(1 if nb.cells and nb.cells[0].cell_type == "markdown" else 0, cell)
    return nb


def stage_lectures(src: Path, executed_dir: Path, fast: bool, allow_unexecuted: bool) -> int:
    (src / "lectures").mkdir(parents=True)
    published = 0
    for path in lecture_paths():
        refuse_solutions(path)
        nb, executed = executed_lecture(path, executed_dir, allow_unexecuted)
        published += executed
        # tools.notebooks records the mode a notebook was executed in; --fast is for older copies
        run_fast = nb.metadata.get("aecourse", {}).get("fast", fast)
        shutil.copyfile(path, src / "_notebooks" / path.name)            # the clean notebook to download
        for cell in nb.cells:  # a lecture's link to its problem set points at the site's page
            if cell.cell_type == "markdown":
                cell.source = EXERCISE_LINK.sub(r"../problem-sets/\1.ipynb", cell.source)
        nbformat.write(_insert_after_title(nb, _note_cell(lecture_note(path.name, run_fast, executed))),
                       src / "lectures" / path.name)
    return published


#: ``../exercises/<ps>/<ps>.ipynb`` in a lecture (right in the repository and the student release)
EXERCISE_LINK = re.compile(r"\.\./exercises/([\w-]+)/\1\.ipynb")


def stage_problem_sets(src: Path) -> None:
    (src / "problem-sets").mkdir(parents=True)
    for path in problem_set_paths():
        refuse_solutions(path)
        text = path.read_text(encoding="utf-8")
        marker = next((m for m in RELEASE_MARKERS if m in text), None)
        if marker:
            raise SiteError(f"refusing to publish {path}: it contains {marker!r}, so it is not a student "
                            "release; regenerate exercises/ with `make release`")
        shutil.copyfile(path, src / "_notebooks" / path.name)
        nb = nbformat.reads(text, as_version=4)
        nbformat.write(_insert_after_title(nb, _note_cell(PROBLEM_SET_NOTE.format(name=path.name))),
                       src / "problem-sets" / path.name)


def library_modules():
    """The public modules of ``autoencoder_np``, in alphabetical order."""
    import autoencoder_np

    return sorted(m.name for m in pkgutil.iter_modules(autoencoder_np.__path__) if not m.name.startswith("_"))


def stage_api(src: Path) -> None:
    api = src / "api"
    api.mkdir(exist_ok=True)
    for module in library_modules():
        (api / f"{module}.md").write_text(
            f"# {module}\n\nThe module `autoencoder_np.{module}`.\n\n```{{eval-rst}}\n.. automodule:: autoencoder_np.{module}\n"
            "   :members:\n```\n", encoding="utf-8")


def stage_mathjax(src: Path) -> None:
    """Copy MathJax 2.7 as the PyPI package ``jupyter-server-mathjax`` ships it into ``_static/mathjax``."""
    try:
        import jupyter_server_mathjax
    except ImportError:
        raise SiteError("MathJax is missing: the site serves it from the PyPI package jupyter-server-mathjax; "
                        "install the course's dev extra (pip install -e \".[dev]\")") from None
    def unused(folder, names):
        # the package ships the SVG output's fonts (2.8 MB) but not the SVG output itself
        return ["SVG"] if Path(folder).as_posix().endswith("jax/output") else []

    shutil.copytree(Path(jupyter_server_mathjax.__file__).parent / "static", src / "_static" / "mathjax", ignore=unused)


def stage(src: Path, executed_dir: Path, fast: bool, allow_unexecuted: bool) -> int:
    """Lay out the Sphinx source folder ``src``; return how many lectures carry their outputs."""
    if src.exists():
        shutil.rmtree(src)
    shutil.copytree(PAGES, src, ignore=shutil.ignore_patterns("__pycache__"))
    (src / "_notebooks").mkdir()
    executed = stage_lectures(src, executed_dir, fast, allow_unexecuted)
    stage_problem_sets(src)
    stage_api(src)
    stage_mathjax(src)
    return executed


def sphinx_build(src: Path, out: Path, jobs: int) -> None:
    if out.exists():
        shutil.rmtree(out)
    argv = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-W", "--keep-going", "-j", str(jobs),
            "-d", str(src / ".doctrees"), str(src), str(out)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    result = subprocess.run(argv, cwd=REPO, env=env)
    if result.returncode:
        raise SiteError(f"sphinx-build failed (exit {result.returncode}); its warnings are above")


def size_of(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def build(out: Path, *, executed_dir: Path, src: Path, fast: bool = False, allow_unexecuted: bool = False,
          jobs: int = 1) -> dict:
    """Stage and build the site into ``out``; check it; return timings and sizes."""
    t0 = time.perf_counter()
    executed = stage(src, executed_dir, fast, allow_unexecuted)
    sphinx_build(src, out, jobs)
    external = external_loads(out)
    if external:
        raise SiteError("the site would load these from another host (it must serve everything itself):\n  "
                        + "\n  ".join(external))
    return {"seconds": time.perf_counter() - t0, "bytes": size_of(out),
            "mathjax_bytes": size_of(out / "_static" / "mathjax"), "lectures": len(lecture_paths()),
            "executed_lectures": executed, "problem_sets": len(problem_set_paths())}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "build" / "site", help="the site (default build/site)")
    ap.add_argument("--executed", type=Path, default=REPO / "build" / "lectures",
                    help="where `make course` keeps the executed lectures (default build/lectures)")
    ap.add_argument("--src", type=Path, default=REPO / "build" / "site-src", help="staging folder for Sphinx")
    ap.add_argument("--fast", action="store_true", default=os.environ.get("AECOURSE_FAST") == "1",
                    help="the lectures were executed in fast mode: the pages say so (for executed notebooks "
                         "that do not record their mode themselves)")
    ap.add_argument("--allow-unexecuted", action="store_true",
                    help="publish a lecture without outputs when it has no up-to-date executed copy")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="Sphinx worker processes")
    args = ap.parse_args(argv)
    try:
        report = build(args.out.resolve(), executed_dir=args.executed.resolve(), src=args.src.resolve(),
                       fast=args.fast, allow_unexecuted=args.allow_unexecuted, jobs=args.jobs)
    except SiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"site built in {report['seconds']:.1f} s: {args.out} ({report['bytes'] / 2**20:.1f} MiB, of which "
          f"MathJax {report['mathjax_bytes'] / 2**20:.1f} MiB); {report['executed_lectures']} of "
          f"{report['lectures']} lectures with outputs, {report['problem_sets']} problem sets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
