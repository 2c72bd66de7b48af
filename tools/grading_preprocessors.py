"""nbgrader preprocessors that harden autograding and feedback (issues 6 and 7).

They plug into nbgrader 0.9.6's own pipeline (``Autograde.sanitize_preprocessors``,
``Autograde.autograde_preprocessors`` and ``GenerateFeedback.preprocessors``, see
``nbgrader_config.py`` and :mod:`tools.grading`):

``RestoreCellMetadata`` (sanitize, before ``OverwriteCells``)
    Puts every nbgrader flag (grade, solution, locked, task, points) back from the
    gradebook, strips nbgrader metadata from cells whose id is unknown, and removes
    cell tags (nbclient skips cells tagged ``skip-execution``: a student who tags a
    test cell would otherwise get its points without running it).
``StaticScan`` (autograde, first)
    Runs :mod:`tools.grading_scan` on the code that is about to execute; a finding
    stops the pipeline before anything runs (``SubmissionFlagged``).
``SandboxedExecute`` (autograde, replaces ``Execute``)
    nbgrader's ``Execute`` plus: a wall-clock budget for the whole notebook; a kernel
    that ignores the interrupt after a cell timeout is killed and the remaining cells
    are marked as not executed (zero for their tests) instead of each waiting for its
    own timeout; output is capped while it streams in; ``clear_output`` and comm
    (widget) messages are ignored so a submission cannot hide a test's output.
``CapOutput`` (autograde, after ``LimitOutput``)
    Caps the characters kept per cell (nbgrader's ``LimitOutput`` only counts lines,
    so one 50 MB line went through), keeping the stderr/error outputs grading needs.
``HideHiddenTests`` (feedback)
    Removes the ``### BEGIN HIDDEN TESTS`` regions from the feedback and reduces the
    tracebacks of cells that had hidden tests to their last line, so feedback never
    shows the hidden tests' source.

Each of them records what happened to a submission in ``status_dir`` (JSON), which
:mod:`tools.grading` turns into graded / flagged / ungraded.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from queue import Empty

from nbformat.notebooknode import NotebookNode
from traitlets import Float, HasTraits, Integer, Unicode

from nbgrader.api import Gradebook
from nbgrader.preprocessors import Execute, NbGraderPreprocessor

from tools.grading_scan import _strip_hidden, scan_notebook

from nbclient.exceptions import DeadKernelError
from nbclient.util import ensure_async, run_sync

HIDDEN_BEGIN = "BEGIN HIDDEN TESTS"
#: stderr outputs that are Python warnings (``file:line: SomeWarning: message``) are
#: dropped from graded cells by nbgrader's ``IgnorePattern``: a correct answer never loses
#: points to a warning (errors, not stderr, are what fail a test).
WARNING_PATTERN = r"(?m)^[^\n]*:\d+: \w*Warning: "
HIDDEN_END = "END HIDDEN TESTS"


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


# --------------------------------------------------------------------------- sanitize
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
                    if cell.source != _strip_hidden(src.source):  # (the release lacks hidden tests)
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


# --------------------------------------------------------------------------- scan
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


# --------------------------------------------------------------------------- execute
def _error_output(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[f"{ename}: {evalue}"])


class SandboxedExecute(_StatusMixin, Execute):
    """nbgrader's ``Execute`` with a per-notebook wall clock and streaming output caps."""

    wall_limit = Float(900.0, help="Wall-clock seconds for a whole notebook.").tag(config=True)
    unresponsive_grace = Float(
        5.0, help="Seconds a kernel gets to become idle after a timed-out cell was interrupted."
    ).tag(config=True)
    max_cell_chars = Integer(
        20000, help="Characters of output kept per cell while executing."
    ).tag(config=True)

    def preprocess(self, nb, resources, km=None):
        self._t0 = time.monotonic()
        self._unresponsive = None
        self._timeouts: list[int] = []
        self._cell_chars: dict[int, int] = {}
        self._truncated: set[int] = set()
        self._running_index = None
        try:
            result = super().preprocess(nb, resources, km=km)
        except DeadKernelError:
            cell = self._describe(nb, self._running_index)
            self._update_status(resources, status="ungraded",
                                reason=f"kernel died while running {cell}")
            raise
        except SubmissionUngradable as exc:
            self._update_status(resources, status="ungraded", reason=str(exc))
            raise
        notes = []
        if self._timeouts:
            notes.append("timed out: " + ", ".join(self._describe(nb, i) for i in self._timeouts))
        if self._unresponsive is not None:
            notes.append(f"kernel ignored the interrupt after {self._describe(nb, self._unresponsive)}"
                         " timed out; it was killed and later cells were not executed")
        if self._truncated:
            notes.append("output truncated in " + ", ".join(self._describe(nb, i) for i in sorted(self._truncated)))
        self._update_status(resources, executed=True, seconds=round(time.monotonic() - self._t0, 2),
                            notes=notes)
        return result

    @staticmethod
    def _describe(nb, index) -> str:
        if index is None:
            return "kernel start-up"
        try:
            gid = nb.cells[index].metadata.get("nbgrader", {}).get("grade_id")
        except (IndexError, AttributeError):
            gid = None
        return f"cell {index}" + (f" ({gid})" if gid else "")

    def _remaining(self) -> float:
        return self.wall_limit - (time.monotonic() - self._t0)

    def _get_timeout(self, cell):
        timeout = super()._get_timeout(cell)
        remaining = max(1, int(self._remaining()) + 1)
        return remaining if timeout is None else min(timeout, remaining)

    async def _async_handle_timeout(self, timeout, cell=None):
        if cell is not None:
            self._timeouts.append(self._running_index)
        return await super()._async_handle_timeout(timeout, cell)

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        if cell.cell_type != "code" or not cell.source.strip():
            return cell
        if self._unresponsive is not None:
            cell.outputs = [_error_output(
                "KernelUnresponsive",
                f"not executed: the kernel stopped responding in cell {self._unresponsive}")]
            return cell
        if self._remaining() <= 0:
            raise SubmissionUngradable(
                f"wall-clock limit of {self.wall_limit:g} s exceeded before "
                f"{self._describe(self.nb, cell_index)}")
        self._running_index = cell_index
        n_timeouts = len(self._timeouts)
        cell = await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        if len(self._timeouts) > n_timeouts and not await self._kernel_responds():
            self._unresponsive = cell_index
            try:
                await ensure_async(self.km.shutdown_kernel(now=True))
            except Exception:  # noqa: BLE001
                pass
        return cell

    execute_cell = run_sync(async_execute_cell)

    async def _kernel_responds(self) -> bool:
        """Whether the kernel answers a ``kernel_info`` request within the grace period."""
        try:
            msg_id = self.kc.kernel_info()
        except Exception:  # noqa: BLE001
            return False
        deadline = time.monotonic() + self.unresponsive_grace
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=remaining))
            except Empty:
                return False
            except Exception:  # noqa: BLE001
                return False
            if msg.get("parent_header", {}).get("msg_id") == msg_id:
                return True

    # -- output control -----------------------------------------------------------------
    def process_message(self, msg, cell, cell_index):
        msg_type = msg["msg_type"]
        if msg_type == "clear_output" or msg_type.startswith("comm"):
            return None  # a submission must not be able to hide or redirect outputs
        if msg_type in ("stream", "display_data", "execute_result", "error", "update_display_data"):
            msg = self._cap_message(msg, cell, cell_index)
            if msg is None:
                return None
        return super().process_message(msg, cell, cell_index)

    def _cap_message(self, msg, cell, cell_index):
        budget = self.max_cell_chars
        used = self._cell_chars.get(cell_index, 0)
        content = msg["content"]
        msg_type = msg["msg_type"]
        if msg_type == "stream":
            text = content.get("text", "")
            name = content.get("name", "stdout")
            room = budget - used
            if room <= 0:
                self._truncated.add(cell_index)
                if name == "stderr" and not any(
                        o.get("output_type") == "stream" and o.get("name") == "stderr"
                        for o in cell.outputs):
                    # keep grading semantics: stderr in a test cell still counts
                    return _replace_content(msg, {"name": "stderr", "text": "[stderr output truncated]\n"})
                return None
            if len(text) > room:
                self._truncated.add(cell_index)
                text = text[:room] + f"\n... [output truncated: more than {budget} characters]\n"
                self._cell_chars[cell_index] = budget
                return _replace_content(msg, dict(content, text=text))
            self._cell_chars[cell_index] = used + len(text)
            return msg
        if msg_type == "error":
            tb = [line[:2000] for line in content.get("traceback", [])[:60]]
            new = dict(content, evalue=str(content.get("evalue", ""))[:2000], traceback=tb)
            return _replace_content(msg, new)
        data = content.get("data", {})
        size = sum(len(v) if isinstance(v, str) else len(json.dumps(v)) for v in data.values())
        if used + size > budget:
            self._truncated.add(cell_index)
            self._cell_chars[cell_index] = budget
            new = dict(content, data={"text/plain": f"[output of {size} characters removed]"},
                       metadata={})
            return _replace_content(msg, new)
        self._cell_chars[cell_index] = used + size
        return msg


def _replace_content(msg, content):
    new = dict(msg)
    new["content"] = content
    return new


# --------------------------------------------------------------------------- outputs
class CapOutput(NbGraderPreprocessor):
    """Cap the output kept per cell in characters (``LimitOutput`` counts lines only)."""

    max_cell_chars = Integer(20000, help="Characters of output kept per cell.").tag(config=True)
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


# --------------------------------------------------------------------------- feedback
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


#: Pipelines used by ``nbgrader_config.py`` and :mod:`tools.grading`.
def sanitize_pipeline():
    """nbgrader's sanitize preprocessors with :class:`RestoreCellMetadata` before ``OverwriteCells``."""
    from nbgrader.preprocessors import (CheckCellMetadata, ClearOutput, DeduplicateIds,
                                        OverwriteCells, OverwriteKernelspec)
    return [ClearOutput, DeduplicateIds, OverwriteKernelspec, RestoreCellMetadata,
            OverwriteCells, CheckCellMetadata]


def autograde_pipeline():
    """nbgrader's autograde preprocessors with the scan, sandboxed execution and caps."""
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, IgnorePattern,
                                        LimitOutput, SaveAutoGrades)
    return [StaticScan, SandboxedExecute, IgnorePattern, ClearMetadataPreprocessor,
            LimitOutput, CapOutput, SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]


def feedback_pipeline():
    """nbgrader's feedback preprocessors with :class:`HideHiddenTests` first."""
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import GetGrades
    return [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]
