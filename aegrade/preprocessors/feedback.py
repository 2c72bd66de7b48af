"""``HideHiddenTests``: feedback without the hidden tests' source."""
from __future__ import annotations

from traitlets import Unicode

from nbgrader.preprocessors import NbGraderPreprocessor

from ..notebooks import HIDDEN_BEGIN, HIDDEN_END

class HideHiddenTests(NbGraderPreprocessor):
    """Remove hidden tests (source *and* traceback lines) from feedback notebooks."""

    begin = Unicode(HIDDEN_BEGIN).tag(config=True)
    end = Unicode(HIDDEN_END).tag(config=True)

    def preprocess_cell(self, cell, resources, cell_index):
        source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
        if self.begin not in source:
            return cell, resources
        lines, keep, inside = source.split("\n"), [], False
        for line in lines:
            if self.begin in line:
                inside = True
                continue
            if self.end in line:
                inside = False
                continue
            if not inside:
                keep.append(line)
        keep.append("# (hidden tests are not shown)")
        cell.source = "\n".join(keep)
        if cell.cell_type == "code":
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    # the traceback quotes the failing (possibly hidden) test line
                    out["traceback"] = [f"{out.get('ename', 'Error')}: {str(out.get('evalue', ''))[:500]}"]
        return cell, resources
