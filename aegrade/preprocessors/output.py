"""``CapOutput``: the characters kept per cell, counted, not lines."""
from __future__ import annotations

import json

from nbformat.notebooknode import NotebookNode
from traitlets import Integer

from nbgrader.preprocessors import NbGraderPreprocessor

from ..defaults import MAX_CELL_CHARS

class CapOutput(NbGraderPreprocessor):
    """Cap the output kept per cell in characters (``LimitOutput`` counts lines only)."""

    max_cell_chars = Integer(MAX_CELL_CHARS, help="Characters of output kept per cell.").tag(config=True)
    max_traceback_chars = Integer(10000, help="Characters kept per traceback.").tag(config=True)

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type != "code" or not cell.get("outputs"):
            return cell, resources
        budget = self.max_cell_chars
        kept = []
        saw_stderr = False
        dropped_stderr = False
        for out in cell.outputs:
            kind = out.get("output_type")
            if kind == "stream":
                text = out.get("text", "")
                if isinstance(text, list):
                    text = "".join(text)
                if out.get("name") == "stderr":
                    saw_stderr = True
                if budget <= 0:
                    dropped_stderr |= out.get("name") == "stderr"
                    continue
                if len(text) > budget:
                    text = text[:budget] + f"\n... [output truncated: more than {self.max_cell_chars} characters]\n"
                    budget = 0
                else:
                    budget -= len(text)
                out["text"] = text
                kept.append(out)
            elif kind == "error":
                tb = out.get("traceback", [])
                total, new_tb = 0, []
                for line in tb:
                    if total + len(line) > self.max_traceback_chars:
                        new_tb.append("... [traceback truncated]")
                        break
                    new_tb.append(line)
                    total += len(line)
                out["traceback"] = new_tb
                out["evalue"] = str(out.get("evalue", ""))[:2000]
                kept.append(out)
            else:
                data = out.get("data", {})
                size = sum(len(v) if isinstance(v, str) else len(json.dumps(v)) for v in data.values())
                if size > budget:
                    out["data"] = {"text/plain": f"[output of {size} characters removed]"}
                    out["metadata"] = {}
                    budget = 0
                else:
                    budget -= size
                kept.append(out)
        if saw_stderr and dropped_stderr and not any(
                o.get("output_type") == "stream" and o.get("name") == "stderr" for o in kept):
            kept.append(NotebookNode(output_type="stream", name="stderr",
                                     text="[stderr output truncated]\n"))
        cell.outputs = kept
        return cell, resources
