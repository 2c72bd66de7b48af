"""Every lecture executes headless in fast mode without an error (its asserts are its claims)."""
import json
from pathlib import Path

import pytest

from tools.notebooks import execute

LECTURES = sorted((Path(__file__).resolve().parents[1] / "lectures").glob("[0-9][0-9]_*.ipynb"))


def test_there_are_eight_lectures():
    assert len(LECTURES) == 8, [p.name for p in LECTURES]


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_lecture_is_committed_clean(path):
    nb = json.loads(path.read_text())
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; run `python -m tools.notebooks strip {path}`"


@pytest.mark.slow
@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_lecture_executes_in_fast_mode(path):
    nb = execute(path, fast=True, timeout=600)  # raises at the first cell that fails (an assert: a claim)
    code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    assert code, f"{path.name} has no code"
    not_run = [i for i, c in enumerate(code) if not c.get("execution_count")]
    assert not not_run, f"{path.name}: code cells {not_run} did not run"
