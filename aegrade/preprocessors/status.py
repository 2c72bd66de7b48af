"""Per-submission status records that the preprocessors write and the run reads back."""
from __future__ import annotations

import json
import os
from pathlib import Path

from traitlets import HasTraits, Unicode


class SubmissionFlagged(Exception):
    """The static scan found code that must be reviewed by a person."""


class SubmissionUngradable(Exception):
    """The submission could not be graded (wall-clock limit, kernel death, ...)."""


# --------------------------------------------------------------------------- status
class _StatusMixin(HasTraits):
    status_dir = Unicode("", help="Folder for per-submission JSON status records.").tag(config=True)

    def _status_path(self, resources) -> Path | None:
        if not self.status_dir:
            return None
        nbg = resources.get("nbgrader", {})
        name = "{}__{}__{}.json".format(nbg.get("student", "?"), nbg.get("assignment", "?"),
                                        nbg.get("notebook", "?"))
        return Path(self.status_dir) / name

    def _update_status(self, resources, **fields) -> None:
        path = self._status_path(resources)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {}
        if path.exists():
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                data = {}
        for key, value in fields.items():
            if key == "notes":
                data.setdefault("notes", []).extend(value)
            else:
                data[key] = value
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, path)
