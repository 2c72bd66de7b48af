"""``RestoreCellMetadata``: every nbgrader flag and cell type back from the gradebook."""
from __future__ import annotations

from nbgrader.api import Gradebook
from nbgrader.preprocessors import NbGraderPreprocessor

from ..notebooks import strip_hidden
from .status import _StatusMixin

class RestoreCellMetadata(_StatusMixin, NbGraderPreprocessor):
    """Reset every nbgrader flag from the gradebook and drop what the gradebook does not know.

    Runs after ``DeduplicateIds`` and *before* ``OverwriteCells``, whose own checks crash
    (and so make a submission ungradable) on tampered metadata: an unknown ``grade_id``
    with ``grade: true`` (KeyError), the empty metadata ``DeduplicateIds`` leaves on a
    duplicate (KeyError), or a test cell re-flagged as an answer ("Inconsistent
    checksums").  Cell tags are removed as well (``skip-execution``).
    """

    def preprocess(self, nb, resources):
        notebook_id = resources["nbgrader"]["notebook"]
        assignment_id = resources["nbgrader"]["assignment"]
        restored: list[str] = []
        with Gradebook(resources["nbgrader"]["db_url"]) as gb:
            source_nb = gb.find_notebook(notebook_id, assignment_id)
            sources = {c.name: c for c in source_nb.source_cells}
            grades = {c.name: c for c in source_nb.grade_cells}
            solutions = {c.name for c in source_nb.solution_cells}
            tasks = {c.name for c in source_nb.task_cells}
            for cell in nb.cells:
                meta = cell.metadata
                if meta.get("tags"):
                    restored.append("removed cell tags " + ", ".join(map(str, meta["tags"]))[:100])
                meta.pop("tags", None)
                nbg = meta.get("nbgrader")
                if nbg is None:
                    continue
                gid = nbg.get("grade_id") if isinstance(nbg, dict) else None
                if not gid or gid not in sources:
                    if nbg:
                        restored.append(f"removed nbgrader metadata of unknown cell {gid!r}")
                    del meta["nbgrader"]
                    continue
                src = sources[gid]
                if cell.cell_type != src.cell_type:
                    restored.append(f"{gid}: restored cell type {src.cell_type}")
                    _set_cell_type(cell, src.cell_type)
                want = {"grade": gid in grades, "solution": gid in solutions,
                        "locked": bool(src.locked)}
                if gid in tasks:
                    want["task"] = True
                for key, value in want.items():
                    if bool(nbg.get(key, False)) != value:
                        restored.append(f"{gid}: restored '{key}'")
                    nbg[key] = value
                if gid not in tasks:
                    nbg.pop("task", None)
                if gid in grades:
                    if float(nbg.get("points", -1)) != float(grades[gid].max_score):
                        restored.append(f"{gid}: restored points")
                    nbg["points"] = float(grades[gid].max_score)
                else:
                    nbg.pop("points", None)
                if src.locked and cell.source != src.source:
                    if cell.source != strip_hidden(src.source):  # (the release lacks hidden tests)
                        restored.append(f"{gid}: restored the edited locked cell")
                    cell.source = src.source
                nbg["checksum"] = src.checksum
                nbg.setdefault("schema_version", 3)
        if restored:
            self._update_status(resources, notes=restored)
        return nb, resources


def _set_cell_type(cell, cell_type: str) -> None:
    cell.cell_type = cell_type
    if cell_type == "code":
        cell.outputs = []
        cell.execution_count = None
        cell.pop("attachments", None)
    else:
        cell.pop("outputs", None)
        cell.pop("execution_count", None)
