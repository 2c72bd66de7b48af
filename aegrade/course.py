"""The course folder as the grader reads it, and the process environment nbgrader needs."""
from __future__ import annotations

import contextlib
import os
import shutil
import sys
from pathlib import Path

#: The instructor's source notebooks, inside the course: ``solutions/<ps>/<ps>.ipynb``.
SOURCE_DIR = "solutions"
#: The student release generated from them.
RELEASE_DIR = "exercises"


def log(msg: str) -> None:
    """A progress or warning line for the instructor (stderr)."""
    print(msg, file=sys.stderr, flush=True)


def assignments_in(course_dir: Path) -> list[str]:
    """The problem sets, in course order: folders ``solutions/<ps>/`` that contain a notebook."""
    src = Path(course_dir) / SOURCE_DIR
    if not src.is_dir():
        raise FileNotFoundError(f"{src} does not exist (expected {SOURCE_DIR}/<ps>/<ps>.ipynb)")
    return sorted(p.name for p in src.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and any(p.glob("*.ipynb")))


def source_notebooks(course_dir: Path, assignment: str) -> list[Path]:
    """The source notebooks of one problem set."""
    return sorted((Path(course_dir) / SOURCE_DIR / assignment).glob("*.ipynb"))


def env_bin_first(env: dict | None = None) -> dict:
    """``env`` (default: this process's) with this interpreter's ``bin/`` first on ``PATH``:
    nbgrader runs ``alembic`` as a program, which must be the environment's own."""
    env = dict(os.environ if env is None else env)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "/usr/bin:/bin")])
    return env


@contextlib.contextmanager
def environment(**updates):
    """Set environment variables for the duration of a ``with`` block."""
    old = {k: os.environ.get(k) for k in updates}
    os.environ.update({k: str(v) for k, v in updates.items()})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def bin_first_on_path():
    """``with bin_first_on_path():`` runs nbgrader with the environment's ``alembic``."""
    return environment(PATH=env_bin_first()["PATH"])


def inside(path: Path, parent: Path) -> bool:
    """Whether ``path`` is ``parent`` or below it (after resolving links)."""
    try:
        Path(path).resolve().relative_to(Path(parent).resolve())
        return True
    except ValueError:
        return False


def copy_tree_regular(src: Path, dst: Path) -> None:
    """Copy the regular files of ``src`` to ``dst`` (symlinks, checkpoints and caches skipped)."""
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if any(p.startswith(".ipynb_checkpoints") or p == "__pycache__" for p in rel.parts):
            continue
        if path.is_symlink():
            continue
        if path.is_dir():
            (dst / rel).mkdir(parents=True, exist_ok=True)
        elif path.is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dst / rel)
