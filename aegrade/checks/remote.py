"""The grader's side of a call into the student's kernel.

:class:`StudentKernel` talks to the kernel over a client of its own (shell and stdin channels
only). A call sends the codec and :mod:`.kernel_side` with the request as one silent execute
request, answers the kernel's call-backs to grader functions, and takes the reply that carries
this request's nonce; everything else the kernel sends is ignored. Missing, malformed, oversized
or late replies make the call fail, which fails the check: the kernel cannot make a check pass
except by returning the right values.
"""
from __future__ import annotations

import builtins
import inspect
import json
import os
import secrets
import signal
import time
from pathlib import Path
from queue import Empty

import numpy as np

from . import codec

#: Exceptions a student's function may raise that the tests can catch by type.
RERAISED = {name: getattr(builtins, name) for name in (
    "ValueError", "TypeError", "KeyError", "IndexError", "ZeroDivisionError", "FloatingPointError",
    "RuntimeWarning", "ArithmeticError", "OverflowError", "NotImplementedError", "AssertionError",
    "NameError", "AttributeError", "RecursionError", "MemoryError", "RuntimeError")}
RERAISED["LinAlgError"] = np.linalg.LinAlgError

#: The codec and the kernel side, as one program (read, never imported: kernel_side.py runs its
#: request when executed).
_KERNEL_SOURCE = inspect.getsource(codec) + "\n" + (Path(__file__).parent / "kernel_side.py").read_text()
#: What each call runs in the kernel, in a namespace of its own: the first call of a client also
#: installs the codec and kernel side as the kernel's module ``_aegrade_call``.
_CALL = """import sys, types
if 'SOURCE' in globals():
    module = types.ModuleType('_aegrade_call')
    exec(SOURCE, module.__dict__)
    sys.modules['_aegrade_call'] = module
sys.modules['_aegrade_call'].run(USER, NONCE)
"""


class StudentCodeError(Exception):
    """The student's function raised an exception the grader does not re-raise by its type."""


class CheckTimeout(AssertionError):
    """The kernel did not answer in time."""


class KernelGone(RuntimeError):
    """The kernel died during a call."""


class StudentKernel:
    """Calls into the kernel that runs a submission.

    Parameters
    ----------
    km : jupyter_client KernelManager
        The manager of the running kernel (the one nbclient executes the notebook in).
    deadline : callable
        Returns the monotonic time by which the current check must end.
    """

    def __init__(self, km, deadline):
        self.km = km
        self.deadline = deadline
        self.kc = km.blocking_client()
        self.kc.start_channels(shell=True, iopub=False, stdin=True, hb=False, control=False)
        self.calls = 0
        self.installed = False  # the kernel side is sent with the first call

    def close(self) -> None:
        self.kc.stop_channels()

    def call(self, name: str, args: tuple, kwargs: dict, *, stable: bool = False):
        """``name(*args, **kwargs)`` in the kernel; returns ``(value, args_after, kwargs_after)``
        or raises what the function raised (by type for the builtin exceptions)."""
        self.calls += 1
        nonce = secrets.token_hex(16)
        grader_callables: list = []
        request = {"name": name, "args": codec.encode(list(args), grader_callables),
                   "kwargs": codec.encode(dict(kwargs), grader_callables), "stable": bool(stable)}
        code = ("exec(" + repr(_CALL) + ", {'USER': globals(), 'NONCE': " + repr(nonce)
                + (", 'SOURCE': " + repr(_KERNEL_SOURCE) if not self.installed else "") + "})")
        self.installed = True
        msg_id = self.kc.execute(code, silent=True, store_history=False, allow_stdin=True)
        reply = self._serve(msg_id, nonce, json.dumps(request), grader_callables)
        if "raised" in reply:
            kind, message = (list(reply["raised"]) + ["", ""])[:2]
            exc = RERAISED.get(str(kind))
            if exc is None:
                raise StudentCodeError(f"{name} raised {kind}: {message}")
            raise exc(f"{message}")
        placeholder = lambda index: None  # noqa: E731 - the grader's own functions, sent back
        args_after = args if reply["args"] is None else codec.decode(reply["args"], placeholder)
        kwargs_after = kwargs if reply["kwargs"] is None else codec.decode(reply["kwargs"], placeholder)
        return codec.decode(reply["value"]), args_after, kwargs_after

    # ------------------------------------------------------------------ the conversation
    def _serve(self, msg_id, nonce, request_text, grader_callables) -> dict:
        result, done = None, False
        while not done or result is None:
            if time.monotonic() > self.deadline():
                self._interrupt()
                raise CheckTimeout("the function did not return in time")
            if not self._alive():
                raise KernelGone("the kernel died")
            try:
                msg = self.kc.stdin_channel.get_msg(timeout=0.02)
            except Empty:
                msg = None
            if msg is not None and msg["msg_type"] == "input_request":
                prompt = str(msg["content"].get("prompt", ""))
                ours = msg["parent_header"].get("msg_id") == msg_id
                if ours and prompt.startswith(nonce + " R ") and result is None:
                    result = self._parse_result(prompt[len(nonce) + 3:])
                    self.kc.input("")
                elif ours and prompt.startswith(nonce + " Q"):
                    self.kc.input(request_text)
                elif ours and prompt.startswith(nonce + " C "):
                    self.kc.input(self._call_back(prompt[len(nonce) + 3:], grader_callables))
                else:
                    # not part of this conversation (an earlier, timed-out call still waiting,
                    # or the student's own input()): answered empty, never believed
                    self.kc.input("")
            while self.kc.shell_channel.msg_ready():
                shell = self.kc.shell_channel.get_msg(timeout=0)
                if shell["parent_header"].get("msg_id") == msg_id and shell["msg_type"] == "execute_reply":
                    done = True
            if done and result is None:
                # the request finished without a reply (the probe was rewritten, or failed)
                if not self._stdin_pending():
                    raise AssertionError("the kernel sent no result for this check")
        return result

    def _stdin_pending(self) -> bool:
        return self.kc.stdin_channel.msg_ready()

    @staticmethod
    def _parse_result(text: str) -> dict:
        try:
            data = json.loads(text) if len(text) <= codec.MAX_BYTES else None
        except ValueError:
            data = None
        if not isinstance(data, dict) or not (
                ("raised" in data and isinstance(data["raised"], list))
                or {"value", "args", "kwargs"} <= set(data)):
            raise AssertionError("the kernel's reply was malformed")
        return data

    @staticmethod
    def _call_back(text: str, grader_callables: list) -> str:
        """Run a grader function the student's code called; its answer as JSON text."""
        try:
            data = json.loads(text) if len(text) <= codec.MAX_BYTES else {}
            fn = grader_callables[int(data["i"])]
            args = codec.decode(data["args"])
            kwargs = codec.decode(data["kwargs"])
            if not isinstance(args, list) or not isinstance(kwargs, dict):
                raise codec.CodecError("bad call-back arguments")
            return json.dumps({"value": codec.encode(fn(*args, **kwargs))})
        except Exception as exc:  # noqa: BLE001 - the student's code gets the error
            return json.dumps({"raised": [type(exc).__name__, str(exc)[:500]]})

    # The kernel manager may be nbclient's asynchronous one, whose methods are coroutines that
    # cannot be awaited from here: signal and poll the kernel's process the way jupyter_client's
    # local provisioner does (its process group first).
    def _process(self):
        return getattr(getattr(self.km, "provisioner", None), "process", None)

    def _alive(self) -> bool:
        process = self._process()
        return process is None or process.poll() is None

    def _interrupt(self) -> None:
        process = self._process()
        if process is None:
            return
        pgid = getattr(self.km.provisioner, "pgid", None)
        try:
            if pgid:
                os.killpg(pgid, signal.SIGINT)
            else:
                process.send_signal(signal.SIGINT)
        except OSError:
            pass
