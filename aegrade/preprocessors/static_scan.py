"""``StaticScan``: the static scan on the code that is about to execute."""
from __future__ import annotations

from traitlets import Integer

from nbgrader.api import Gradebook
from nbgrader.preprocessors import NbGraderPreprocessor

from ..scan import scan_notebook
from .status import SubmissionFlagged, _StatusMixin

class StaticScan(_StatusMixin, NbGraderPreprocessor):
    """Refuse to run a notebook whose student-written code uses forbidden constructs."""

    enabled = Integer(1, help="Set to 0 to skip the scan (tests of the sandbox only).").tag(config=True)

    def preprocess(self, nb, resources):
        if not self.enabled:
            return nb, resources
        notebook_id = resources["nbgrader"]["notebook"]
        assignment_id = resources["nbgrader"]["assignment"]
        with Gradebook(resources["nbgrader"]["db_url"]) as gb:
            source_nb = gb.find_notebook(notebook_id, assignment_id)
            solutions = {c.name for c in source_nb.solution_cells}
            grades = {c.name for c in source_nb.grade_cells}
            reference = {"cells": [
                {"cell_type": c.cell_type, "source": c.source,
                 "metadata": {"nbgrader": {"grade_id": c.name, "locked": bool(c.locked),
                                           "solution": c.name in solutions,
                                           "grade": c.name in grades}}}
                for c in source_nb.source_cells]}
        findings = scan_notebook(nb, reference)
        if findings:
            self._update_status(resources, status="flagged",
                                reason="static scan: " + "; ".join(f.format() for f in findings[:5])
                                + (f"; ... ({len(findings)} findings)" if len(findings) > 5 else ""),
                                findings=[f.to_dict() for f in findings])
            for f in findings:
                self.log.error("FLAGGED %s", f.format())
            raise SubmissionFlagged(f"{len(findings)} finding(s); not executed")
        return nb, resources
