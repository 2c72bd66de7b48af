"""Scan a whole submission: every cell that will run with student-written source."""
from __future__ import annotations

from typing import Mapping, Sequence

from ..notebooks import cell_source, nbgrader_meta, strip_hidden
from .context import build_context
from .rules import Finding
from .visitor import scan_source

def _trusted_sources(reference: Mapping) -> set:
    """Sources of the reference's locked code cells (nbgrader restores these)."""
    out = set()
    for cell in reference.get("cells", []):
        nbg = nbgrader_meta(cell)
        locked = bool(nbg.get("grade") and not nbg.get("solution")) or (
            bool(nbg.get("locked")) and not nbg.get("solution"))
        if cell.get("cell_type") == "code" and nbg.get("grade_id") and locked:
            src = cell_source(cell)
            out.add(src)
            out.add(strip_hidden(src))  # as released (before nbgrader restores them)
    return out



def _is_trusted(source: str, trusted: set) -> bool:
    if source in trusted:
        return True
    # a test cell re-added by ``OverwriteCells.add_missing_cells`` carries a comment prefix
    for ref in trusted:
        if ref and source.endswith(ref):
            prefix = source[: len(source) - len(ref)]
            if all(not ln.strip() or ln.lstrip().startswith("#") for ln in prefix.splitlines()):
                return True
    return False


def cells_to_scan(notebook: Mapping, reference: Mapping) -> list[int]:
    """Indices of the code cells whose source is not a restored reference cell.

    Meant for the notebook *after* nbgrader's sanitising step (``OverwriteCells`` has
    put the reference source back into every locked cell), i.e. exactly the code that
    will execute.  A code cell is skipped only if its source is identical to a locked
    code cell of the reference (optionally preceded by nbgrader's "this cell was
    missing" comment); everything else -- solution cells, cells the student added,
    cells whose metadata was stripped -- is scanned.
    """
    trusted = _trusted_sources(reference)
    return [i for i, cell in enumerate(notebook.get("cells", []))
            if cell.get("cell_type") == "code" and not _is_trusted(cell_source(cell), trusted)]


def scan_notebook(submission: Mapping, reference: Mapping, *,
                  extra_allowed_imports: Sequence[str] = ()) -> list[Finding]:
    """Scan every cell of a submission that will run with student-written source.

    Parameters
    ----------
    submission : dict-like notebook
        The submitted notebook (nbformat 4).
    reference : dict-like notebook
        The instructor's source notebook for the same assignment.
    extra_allowed_imports : sequence of str
        Additional importable top-level modules.

    Returns
    -------
    list of Finding
        Empty when the submission may run.
    """
    if not isinstance(submission, Mapping) or not isinstance(submission.get("cells"), list):
        raise TypeError("submission must be a notebook dict with a 'cells' list")
    ctx = build_context(reference, extra_allowed_imports=extra_allowed_imports)
    aliases = set(ctx.module_aliases)
    findings: list[Finding] = []
    cells = submission["cells"]
    for idx in cells_to_scan(submission, reference):
        cell = cells[idx]
        source = cell_source(cell)
        lines = source.splitlines() or [""]
        gid = nbgrader_meta(cell).get("grade_id")
        for lineno, rule, message in scan_source(source, ctx, aliases=aliases):
            line = lines[lineno - 1].strip() if 0 < lineno <= len(lines) else ""
            findings.append(Finding(idx, gid, lineno, line[:200], rule, message))
    # de-duplicate identical (cell, line, rule, message)
    unique, seen = [], set()
    for f in findings:
        key = (f.cell_index, f.lineno, f.rule, f.message)
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique
