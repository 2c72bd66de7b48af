"""``aegrade worker``: a Celery worker that grades one submission per task on this machine.

It snapshots the course (read-only, :mod:`.snapshot`), imports nbgrader once (its grading
processes are forked from it), and serves the ``aegrade`` queue of the broker with the settings
of :mod:`.app`. Any machine with the course installed (the same ``solutions/``) can run one.
"""
from __future__ import annotations

import os
import shutil
import socket
import tempfile
from dataclasses import asdict
from pathlib import Path

from ..course import log
from ..options import GradingOptions
from .app import DEFAULT_LOST_AFTER_S, QUEUE, close_prepared, make_app
from .snapshot import snapshot_course

#: A worker's folder in the temporary directory: ``<prefix>XXXX/owner`` says ``host pid``.
WORKER_DIR_PREFIX = "aegrade-worker-"


def remove_stale_worker_folders(tmp_root: Path | None = None) -> list[Path]:
    """Remove the folders of this machine's workers that were killed (their process is gone)."""
    removed = []
    host = socket.gethostname()
    for folder in Path(tmp_root or tempfile.gettempdir()).glob(WORKER_DIR_PREFIX + "*"):
        try:
            if folder.stat().st_uid != os.getuid():
                continue                          # another user's worker
            owner_host, pid = (folder / "owner").read_text().split()
        except (OSError, ValueError):
            continue
        if owner_host != host or _alive(int(pid)):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            removed.append(folder)
            log(f"worker: removed {folder}, left by worker process {pid} (no longer running)")
    return removed


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists (it may belong to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _close_prepared_on_exit(app) -> None:
    """Each grading process ends its prepared course (and nbgrader process) when it exits."""
    from celery.signals import worker_process_shutdown

    def shutdown(**_kw):
        close_prepared(app.conf.aegrade)

    worker_process_shutdown.connect(shutdown, weak=False)


def run_worker(course_dir: Path, broker: str, *, options: GradingOptions | None = None,
               concurrency: int | None = None, lost_after: float = DEFAULT_LOST_AFTER_S,
               name: str | None = None, loglevel: str = "INFO") -> int:
    """Serve grading tasks until stopped (Ctrl-C / SIGTERM: the current ones finish first).

    Parameters
    ----------
    course_dir : path
        The course on this machine.
    broker : str
        Redis URL of the broker.
    options : GradingOptions, optional
        This machine's settings (``isolation``, kernel ``limits``, ...); cell and notebook
        time limits and the static scan come with each task.
    concurrency : int, optional
        Submissions graded at once (default: as a local run, one more than the CPUs).
    lost_after : float
        Seconds after which a task of a vanished worker is delivered again (the same on every
        worker of a broker).
    name : str, optional
        The worker's name (default ``aegrade-<pid>@<host>``).
    """
    opts = options or GradingOptions()
    n = concurrency or opts.n_workers(os.cpu_count())
    remove_stale_worker_folders()
    base = Path(tempfile.mkdtemp(prefix=WORKER_DIR_PREFIX))
    try:
        (base / "owner").write_text(f"{socket.gethostname()} {os.getpid()}\n")
        versions = snapshot_course(course_dir, base / "course")
        (base / "tasks").mkdir()
        (base / "prepared").mkdir()
        app = make_app(broker, lost_after=lost_after)
        worker_opts = asdict(opts)
        worker_opts.pop("workers")
        app.conf.aegrade = {"snapshot": str(base / "course"), "versions": versions,
                            "options": worker_opts, "work_root": str(base / "tasks"),
                            "prepared_root": str(base / "prepared"), "prepared": {}}
        _close_prepared_on_exit(app)
        from ..nbgrader_setup import use_inprocess_alembic_head
        import nbgrader.apps.api  # noqa: F401 - imported once here, inherited by every grading process

        use_inprocess_alembic_head()
        for a, sha in versions.items():
            log(f"worker: {a} at version {sha[:12]}")
        hostname = name or f"aegrade-{os.getpid()}@{socket.gethostname()}"
        app.worker_main(["worker", f"--loglevel={loglevel}", f"--concurrency={n}", "--pool=prefork",
                         "-Q", QUEUE, "-n", hostname, "--without-gossip", "--without-mingle"])
        return 0
    finally:
        shutil.rmtree(base, ignore_errors=True)
