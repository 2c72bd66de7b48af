"""``SandboxedExecute``: nbgrader's ``Execute`` with a wall-clock budget, killed kernels and capped output."""
from __future__ import annotations

import json
import time
from queue import Empty

from nbclient.exceptions import DeadKernelError
from nbclient.util import ensure_async, run_sync
from nbformat.notebooknode import NotebookNode
from traitlets import Bool, Float, Integer

from nbgrader.preprocessors import Execute

from ..checks import TrustedTests
from ..checks.remote import KernelGone, StudentKernel
from ..defaults import MAX_CELL_CHARS, WALL_LIMIT
from ..notebooks import nbgrader_meta, strip_hidden
from .status import SubmissionUngradable, _StatusMixin

def _error_output(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[f"{ename}: {evalue}"])


#: nbclient's private methods this class overrides, with the parameters it relies on. nbclient is
#: pinned to the tested range in ``pyproject.toml``; ``tests/test_packaging.py`` fails loudly when
#: a release renames them, changes their parameters or stops calling them.
NBCLIENT_PRIVATE_HOOKS = {
    "_get_timeout": ("self", "cell"),
    "_async_handle_timeout": ("self", "timeout", "cell"),
}


class SandboxedExecute(_StatusMixin, Execute):
    """nbgrader's ``Execute`` with a per-notebook wall clock and streaming output caps."""

    wall_limit = Float(WALL_LIMIT, help="Wall-clock seconds for a whole notebook.").tag(config=True)
    unresponsive_grace = Float(
        5.0, help="Seconds a kernel gets to become idle after a timed-out cell was interrupted."
    ).tag(config=True)
    max_cell_chars = Integer(
        MAX_CELL_CHARS, help="Characters of output kept per cell while executing."
    ).tag(config=True)
    tests_outside_kernel = Bool(
        True, help="Decide test cells in the grader's process (the kernel runs only their visible "
                   "part); False: nbgrader's way, the whole cell in the kernel."
    ).tag(config=True)

    def preprocess(self, nb, resources, km=None):
        self._t0 = time.monotonic()
        self._unresponsive = None
        self._timeouts: list[int] = []
        self._cell_chars: dict[int, int] = {}
        self._truncated: set[int] = set()
        self._running_index = None
        self._trusted = None
        self._student_kernel = None
        try:
            result = super().preprocess(nb, resources, km=km)
        except (DeadKernelError, KernelGone):
            cell = self._describe(nb, self._running_index)
            self._update_status(resources, status="ungraded",
                                reason=f"kernel died while running {cell}")
            raise
        except SubmissionUngradable as exc:
            self._update_status(resources, status="ungraded", reason=str(exc))
            raise
        finally:
            if self._student_kernel is not None:
                self._student_kernel.close()
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
        meta = nbgrader_meta(cell)
        is_test = bool(meta.get("grade")) and not meta.get("solution") and self.tests_outside_kernel
        full_source = cell.source
        if is_test:
            cell.source = strip_hidden(full_source)  # the kernel never sees the hidden tests
        try:
            cell = await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        finally:
            cell.source = full_source
        if len(self._timeouts) > n_timeouts and not await self._kernel_responds():
            self._unresponsive = cell_index
            try:
                await ensure_async(self.km.shutdown_kernel(now=True))
            except Exception:  # noqa: BLE001
                pass
        if self.tests_outside_kernel and meta.get("grade_id"):
            await self._decide(cell, cell_index, meta, is_test)
        return cell

    # -- test cells decided in the grader's process ---------------------------------------
    async def _decide(self, cell, cell_index, meta, is_test) -> None:
        """Run an instructor cell in the trusted namespace; a test cell's outputs then carry
        the grader's verdict only (nbgrader scores a test cell by whether it shows an error)."""
        trusted = self._trusted_tests()
        gid = meta["grade_id"]
        if gid not in trusted.cells:
            return
        if not is_test:
            if not meta.get("solution"):
                trusted.setup(gid)
            return
        if self._unresponsive is not None:
            verdict_error = ("KernelUnresponsive", "not checked: the kernel stopped responding")
        elif cell_index in self._timeouts:
            # its visible part already ran out of time in the kernel: the full test would too
            verdict_error = ("CellTimeoutError", "the test did not finish within the time limit")
        else:
            # a test cell's checks get the cell timeout, within the notebook's wall-clock budget
            self._deadline_at = time.monotonic() + min(float(self.timeout or 60), max(0.0, self._remaining()))
            verdict = trusted.check(gid)
            verdict_error = None if verdict.passed else (verdict.ename or "AssertionError", verdict.message)
            if verdict.ename == "CheckTimeout" and not await self._kernel_responds():
                # a call ran out of time and the kernel ignored the interrupt: later cells are
                # not executed (zero), as when a cell itself times out
                self._timeouts.append(cell_index)
                self._unresponsive = cell_index
                try:
                    await ensure_async(self.km.shutdown_kernel(now=True))
                except Exception:  # noqa: BLE001
                    pass
        kept = [o for o in cell.outputs
                if (o.output_type == "stream" and o.get("name") == "stdout") or o.output_type == "display_data"]
        if verdict_error is not None:
            kept.append(_error_output(*verdict_error))
        cell.outputs = kept

    def _trusted_tests(self) -> TrustedTests:
        if self._trusted is None:
            from nbgrader.api import Gradebook

            nbg = self.resources["nbgrader"]
            with Gradebook(nbg["db_url"]) as gb:
                source_nb = gb.find_notebook(nbg["notebook"], nbg["assignment"])
                cells = {c.name: (c.source, c.cell_type, bool(c.locked)) for c in source_nb.source_cells}
                solutions = {c.name for c in source_nb.solution_cells}
                tests = {c.name for c in source_nb.grade_cells} - solutions
            self._student_kernel = StudentKernel(self.km, self._check_deadline)
            self._trusted = TrustedTests(cells, solutions, tests, self._student_kernel)
        return self._trusted

    def _check_deadline(self) -> float:
        """When the current test cell's checks must end (set as each one starts)."""
        return self._deadline_at

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
