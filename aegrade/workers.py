"""The worker pool: several submissions graded at once, each by a forked nbgrader worker.

Workers are forked after nbgrader is imported (importing it costs 3-10 s, a kernel start
1.5-2.5 s per notebook). The parent stays single-threaded: it hands one task at a time to each
worker over a pipe, waits with ``select``, and kills (then replaces) a worker whose submission
overruns its budget; that submission is reported ``ungraded`` and the rest of the class goes on.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import select
import signal
import sys
import time
import traceback
from pathlib import Path

from .nbgrader_setup import dispose_engines, quiet_logger


def _worker_main(index: int, task_fd: int, result_fd: int, cfg, work: Path, level: str,
                 runtime_dir: Path | None, env: dict) -> None:
    """Body of a forked worker: grade tasks read from ``task_fd`` until EOF."""
    # silence: everything (nbgrader, kernels, launchers) goes to a log file
    log_path = work / "logs" / f"worker-{index}.log"
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", closefd=False), line_buffering=True)
    sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", closefd=False), line_buffering=True)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    # the grading process does not inherit the caller's warning policy (pytest turns
    # RuntimeWarning -- hence SQLAlchemy's SAWarning inside nbgrader -- into errors)
    import warnings

    warnings.resetwarnings()
    warnings.simplefilter("ignore")
    os.environ.update(env)
    if level == "full" and runtime_dir is not None:
        # a private mount namespace with a small tmpfs for the kernels' ipc sockets
        from .sandbox.syscalls import CLONE_NEWNS, MS_NODEV, MS_NOSUID, MS_PRIVATE, MS_REC, mount, unshare
        unshare(CLONE_NEWNS)
        mount(None, "/", None, MS_REC | MS_PRIVATE)
        mount("tmpfs", str(runtime_dir), "tmpfs", MS_NOSUID | MS_NODEV,
              "size=4m,mode=1733,nr_inodes=2048")
    from nbgrader.apps.api import NbGraderAPI

    api = NbGraderAPI(config=cfg, log=quiet_logger(f"aegrade.worker{index}"))
    reader = os.fdopen(task_fd, "r")
    writer = os.fdopen(result_fd, "w")
    for line in reader:
        task = json.loads(line)
        t0 = time.monotonic()
        try:
            res = api.autograde(task["assignment"], task["student"], force=True, create=True)
        except Exception:  # noqa: BLE001
            res = {"success": False, "error": traceback.format_exc()}
        out = {"student": task["student"], "assignment": task["assignment"],
               "success": bool(res.get("success")),
               "log": (res.get("log") or "")[-20000:],
               "error": (res.get("error") or "")[-5000:],
               "seconds": round(time.monotonic() - t0, 2)}
        writer.write(json.dumps(out) + "\n")
        writer.flush()
    os._exit(0)


class _Worker:
    def __init__(self, index, pid, task_w, result_r):
        self.index = index
        self.pid = pid
        self.task_w = task_w
        self.result_r = result_r
        self.buffer = b""
        self.task = None
        self.started = 0.0


def _spawn_worker(index, cfg_factory, work, level, runtime_root, env, parent_fds: set) -> _Worker:
    """Fork worker ``index``; ``parent_fds`` holds the pipe ends of the other workers (closed in the child)."""
    runtime_dir = None
    if runtime_root is not None:
        runtime_dir = runtime_root / f"w{index}"
        runtime_dir.mkdir(exist_ok=True)
        os.chmod(runtime_dir, 0o1733)
    cfg = cfg_factory(runtime_dir)
    task_r, task_w = os.pipe()
    result_r, result_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            # the other workers' pipe ends must not stay open in this one (EOF never comes)
            for fd in list(parent_fds) + [task_w, result_r]:
                with contextlib.suppress(OSError):
                    os.close(fd)
            wenv = dict(env, JUPYTER_RUNTIME_DIR=str(runtime_dir or work / "runtime"))
            _worker_main(index, task_r, result_w, cfg, work, level, runtime_dir, wenv)
            code = 0
        except BaseException:  # noqa: BLE001
            with contextlib.suppress(BaseException):
                traceback.print_exc()
        finally:
            os._exit(code)
    os.close(task_r)
    os.close(result_w)
    parent_fds.update((task_w, result_r))
    return _Worker(index, pid, task_w, result_r)



def _reap(pid: int, timeout: float = 15.0) -> None:
    """Wait for a child, killing it if it does not exit within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done:
            return
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            return
        time.sleep(0.05)


class GradingPool:
    """Forked grading workers that stay alive between batches of tasks.

    The parent stays single-threaded: it hands one task at a time to each worker over a pipe,
    waits with ``select`` and kills (then replaces) a worker whose task runs longer than
    ``hard_limit`` seconds.  Workers are started when a batch needs them and kept, idle, for the
    next :meth:`run` (a Celery worker grades one submission per task and pays the fork, nbgrader's
    set-up and the engine clean-up once, not per task); :meth:`close` (or leaving the ``with``
    block) ends them.

    Parameters
    ----------
    n_workers : int
        Workers at most.
    hard_limit : float
        Seconds one task may take before its worker is killed.
    cfg_factory : callable
        ``cfg_factory(runtime_dir)``: the nbgrader config of one worker.
    work : Path
        The run's work folder (``logs/``, ``runtime/``).
    level : str
        Isolation level (``"full"`` gives each worker a private mount namespace).
    env : dict
        Environment variables of the workers.
    """

    def __init__(self, n_workers: int, hard_limit: float, cfg_factory, work: Path, level: str, env: dict):
        self.n_workers, self.hard_limit = max(1, n_workers), hard_limit
        self.cfg_factory, self.work, self.level, self.env = cfg_factory, Path(work), level, env
        runtime_root = self.work / "runtime"
        runtime_root.mkdir(exist_ok=True)
        if level != "full":
            os.chmod(runtime_root, 0o700)
        self.runtime_root = runtime_root if level == "full" else None
        self.workers: dict[int, _Worker] = {}
        self.parent_fds: set = set()
        self.counter = 0
        self.engines_disposed = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _start_one(self) -> _Worker:
        if not self.engines_disposed:
            dispose_engines()
            self.engines_disposed = True
        w = _spawn_worker(self.counter, self.cfg_factory, self.work, self.level, self.runtime_root,
                          self.env, self.parent_fds)
        self.counter += 1
        self.workers[w.result_r] = w
        return w

    def _retire(self, w: _Worker, results: dict | None = None, reason: str | None = None,
                kill: bool = False) -> None:
        if kill:
            with contextlib.suppress(ProcessLookupError):
                os.kill(w.pid, signal.SIGKILL)
        if w.task is not None and reason and results is not None:
            key = (w.task["student"], w.task["assignment"])
            results[key] = {"student": key[0], "assignment": key[1], "success": False,
                            "log": "", "error": reason,
                            "seconds": round(time.monotonic() - w.started, 2), "watchdog": True}
        w.task = None
        for fd in (w.task_w, w.result_r):
            with contextlib.suppress(OSError):
                os.close(fd)
            self.parent_fds.discard(fd)
        self.workers.pop(w.result_r, None)
        _reap(w.pid)

    def run(self, tasks: list[dict], progress=None, retry=None) -> dict:
        """Grade ``tasks``; returns ``{(student, assignment): result}``.

        ``retry(result)`` decides whether a failed task is graded a second time (once);
        ``progress(result)`` is called as each result arrives.
        """
        results: dict = {}
        pending = list(tasks)

        def dispatch(w):
            if pending:
                w.task = pending.pop(0)
                w.started = time.monotonic()
                os.write(w.task_w, (json.dumps(w.task) + "\n").encode())
            else:
                w.task = None

        def replace(w, reason):
            self._retire(w, results, reason, kill=True)
            if pending:
                dispatch(self._start_one())

        try:
            for w in list(self.workers.values()):
                dispatch(w)
            while pending and len(self.workers) < self.n_workers:
                dispatch(self._start_one())
            while any(w.task is not None for w in self.workers.values()):
                busy = [w for w in self.workers.values() if w.task is not None]
                ready, _, _ = select.select([w.result_r for w in busy], [], [], 1.0)
                for fd in ready:
                    w = self.workers.get(fd)
                    if w is None:
                        continue
                    chunk = os.read(fd, 1 << 16)
                    if not chunk:  # the worker died
                        replace(w, "the grading worker died while grading this submission")
                        continue
                    w.buffer += chunk
                    while b"\n" in w.buffer:
                        line, w.buffer = w.buffer.split(b"\n", 1)
                        res = json.loads(line)
                        if retry is not None and not res["success"] and w.task.get("attempt", 1) < 2 \
                                and retry(res):
                            # an infrastructure hiccup (not the student's code): grade it once more
                            pending.append(dict(w.task, attempt=w.task.get("attempt", 1) + 1))
                            dispatch(w)
                            continue
                        results[(res["student"], res["assignment"])] = res
                        with contextlib.suppress(OSError):
                            (self.work / "logs" / f"{res['student']}__{res['assignment']}.log").write_text(
                                f"success: {res['success']}\n{res['log']}\n{res['error']}")
                        if progress:
                            progress(res)
                        dispatch(w)
                now = time.monotonic()
                for w in list(self.workers.values()):
                    if w.task is not None and now - w.started > self.hard_limit:
                        replace(w, f"grading took longer than {self.hard_limit:.0f} s (watchdog)")
        except BaseException:
            for w in list(self.workers.values()):
                if w.task is not None:          # interrupted mid-task: that worker cannot be reused
                    self._retire(w, results, "grading was interrupted", kill=True)
            raise
        return results

    def close(self) -> None:
        """End the workers: idle ones exit when their task pipe closes; busy ones are killed."""
        for w in list(self.workers.values()):
            self._retire(w, kill=w.task is not None)


def run_tasks(tasks: list[dict], n_workers: int, hard_limit: float, cfg_factory, work: Path,
              level: str, env: dict, progress=None, retry=None) -> dict:
    """Grade ``tasks`` with a :class:`GradingPool` that ends with them;
    ``{(student, assignment): result}``."""
    if not tasks:
        return {}
    with GradingPool(min(max(1, n_workers), len(tasks)), hard_limit, cfg_factory, work, level, env) as pool:
        return pool.run(tasks, progress, retry)
