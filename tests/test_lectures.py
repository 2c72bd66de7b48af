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


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_lecture_executes_in_fast_mode(path):
    nb = execute(path, fast=True, timeout=600)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
