"""Finding submissions in a folder, and staging the gradable ones into a private course copy.

Staging copies only regular files (no symlinks), validates student ids and notebooks (an
unreadable or oversized notebook is reported ``ungraded`` by name), and runs the static scan's
first pass on the raw file (a finding marks the submission ``flagged``: it is never executed).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from .defaults import STUDENT_ID_PATTERN
from .options import GradingOptions
from .scan import scan_notebook

STUDENT_ID = re.compile(STUDENT_ID_PATTERN)


@dataclass
class Submission:
    """One student's submission of one problem set.

    Attributes
    ----------
    student, assignment : str
    files : dict
        Path relative to the submission folder -> the file.
    problem : str
        Non-empty when it cannot be graded: why (it is reported ``ungraded``).
    flagged : list of dict
        Static-scan findings (it is reported ``flagged`` and not executed).
    """

    student: str
    assignment: str
    files: dict
    problem: str = ""
    flagged: list = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        return self.student, self.assignment


def discover_submissions(submitted_dir: Path, assignments: Iterable[str]) -> tuple[list[Submission], list[str]]:
    """Find submissions in a folder.

    Layouts accepted:

    * nbgrader's ``DIR/<student>/<ps>/<notebook>.ipynb`` (plus any other files);
    * ``DIR/<student>/<ps>.ipynb``;
    * a flat folder of collected files whose names contain the assignment id and the
      student id, e.g. ``alice_ps1_forward_and_losses.ipynb`` or
      ``ps1_forward_and_losses-alice.ipynb``.

    Returns
    -------
    (submissions, warnings)
    """
    submitted_dir = Path(submitted_dir)
    if not submitted_dir.is_dir():
        raise FileNotFoundError(f"submission folder {submitted_dir} does not exist")
    assignments = sorted(assignments, key=len, reverse=True)
    subs: dict[tuple[str, str], Submission] = {}
    warnings: list[str] = []

    def add(student, assignment, files, problem=""):
        key = (student, assignment)
        if key in subs:
            warnings.append(f"duplicate submission for {student}/{assignment}: kept the first")
            return
        if not STUDENT_ID.match(student):
            problem = problem or f"invalid student id {student!r}"
        subs[key] = Submission(student, assignment, files, problem)

    for entry in sorted(submitted_dir.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_symlink():
            warnings.append(f"ignored symbolic link {entry.name}")
            continue
        if entry.is_dir():
            student = entry.name
            for sub in sorted(entry.iterdir()):
                if sub.is_symlink() or sub.name.startswith("."):
                    continue
                if sub.is_dir() and sub.name in assignments:
                    files = {}
                    for path in sorted(sub.rglob("*")):
                        rel = path.relative_to(sub)
                        if any(part.startswith(".ipynb_checkpoints") for part in rel.parts):
                            continue
                        if path.is_symlink():
                            warnings.append(f"{student}/{sub.name}: ignored symbolic link {rel}")
                            continue
                        if path.is_file():
                            files[str(rel)] = path
                    if not any(k.endswith(".ipynb") for k in files):
                        add(student, sub.name, files, "no notebook in the submission folder")
                    else:
                        add(student, sub.name, files)
                elif sub.is_file() and sub.suffix == ".ipynb" and sub.stem in assignments:
                    add(student, sub.stem, {f"{sub.stem}.ipynb": sub})
                else:
                    warnings.append(f"ignored {student}/{sub.name} (not a known assignment)")
        elif entry.is_file() and entry.suffix == ".ipynb":
            stem = entry.stem
            for a in assignments:
                if a in stem:
                    student = stem.replace(a, "", 1).strip("_-. ")
                    if student:
                        add(student, a, {f"{a}.ipynb": entry})
                        break
            else:
                warnings.append(f"ignored {entry.name} (no assignment id in the file name)")
    return sorted(subs.values(), key=lambda s: (s.student, s.assignment)), warnings



def check_notebook(path: Path, max_bytes: int) -> str:
    """Return a reason why ``path`` cannot be graded, or '' if it looks fine."""
    import nbformat

    try:
        size = path.stat().st_size
    except OSError as exc:
        return f"cannot read {path.name}: {exc}"
    if size > max_bytes:
        return f"{path.name} is {size} bytes (limit {max_bytes})"
    try:
        import warnings

        with warnings.catch_warnings(), open(path, encoding="utf-8") as fh:
            warnings.simplefilter("ignore")
            nb = nbformat.read(fh, as_version=4)
    except Exception as exc:  # noqa: BLE001
        return f"{path.name} is not a readable notebook ({type(exc).__name__}: {str(exc)[:200]})"
    if not isinstance(nb.get("cells"), list):
        return f"{path.name} has no cells"
    return ""


def stage(subs: list[Submission], root: Path, opts: GradingOptions, known_notebooks: dict) -> None:
    """Copy valid submissions into ``root/submitted``; set ``problem`` (cannot be graded) or
    ``flagged`` (static scan findings) on the others."""
    for sub in subs:
        if sub.problem:
            continue
        total = sum(p.stat().st_size for p in sub.files.values() if p.exists())
        if total > opts.max_submission_bytes:
            sub.problem = f"submission is {total} bytes (limit {opts.max_submission_bytes})"
            continue
        notebooks = [rel for rel in sub.files if rel.endswith(".ipynb") and "/" not in rel]
        expected = known_notebooks.get(sub.assignment, set())
        if not any(Path(rel).stem in expected for rel in notebooks):
            sub.problem = (f"no notebook named {', '.join(sorted(n + '.ipynb' for n in expected))} "
                           f"in the submission (found: {', '.join(sorted(notebooks)) or 'none'})")
            continue
        for rel in notebooks:
            if Path(rel).stem in expected:
                reason = check_notebook(sub.files[rel], opts.max_notebook_bytes)
                if reason:
                    sub.problem = reason
                    break
        if sub.problem:
            continue
        if opts.static_scan:
            # first pass on the raw file (cheap, no nbgrader, no kernel); the pipeline's
            # StaticScan checks again what really executes after sanitising
            findings = []
            for rel in notebooks:
                stem = Path(rel).stem
                if stem in expected:
                    ref = json.loads((root / "source" / sub.assignment / f"{stem}.ipynb").read_text())
                    raw = json.loads(sub.files[rel].read_text(encoding="utf-8"))
                    findings += [f.to_dict() | {"notebook": stem} for f in scan_notebook(raw, ref)]
            if findings:
                sub.flagged = findings
                continue
        dest = root / "submitted" / sub.student / sub.assignment
        dest.mkdir(parents=True, exist_ok=True)
        for rel, src in sub.files.items():
            out = dest / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            st = os.lstat(src)
            if not stat.S_ISREG(st.st_mode):
                continue
            shutil.copyfile(src, out, follow_symlinks=False)
