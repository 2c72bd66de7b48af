"""Instructor commands around nbgrader, and a grader that hostile submissions cannot fool.

Command line (the Makefile calls these)::

    python -m tools.grading release                 # solutions/ -> exercises/ (nbgrader generate_assignment)
    python -m tools.grading autograde [--submitted DIR]
    python -m tools.grading feedback                # nbgrader generate_feedback, hidden tests removed
    python -m tools.grading grades [--out grades.csv]
    python -m tools.grading selfcheck               # reference solutions must score full marks

Python API used by the tests::

    autograde_dir(submitted_dir, course_dir=..., work_dir=...) -> dict

How a class is graded (:func:`autograde_dir`)
----------------------------------------------
1. Submissions are *staged*: only regular files are copied (no symlinks), student ids
   and notebooks are validated (an unreadable or oversized notebook is reported as
   ``ungraded`` by name), and everything goes into a private copy of the course inside
   ``work_dir`` (mode 700).  The real course folder is only read.
2. nbgrader 0.9.6 does the grading for real, through its Python API
   (``NbGraderAPI.generate_assignment`` / ``NbGraderAPI.autograde``) with a hardened
   pipeline (:mod:`tools.grading_preprocessors`): locked and test cells, their types
   and their nbgrader flags are restored, a static scan (:mod:`tools.grading_scan`)
   stops a suspicious submission *before* anything runs (status ``flagged``), and the
   notebook executes in a sandboxed kernel (:mod:`tools.kernel_sandbox`: own uid, no
   network, no view of the course/work folders, resource limits) with a wall-clock
   budget and capped output.
3. Several submissions are graded at once by worker processes forked after nbgrader
   is imported (importing nbgrader costs 3-10 s here, kernel start-up ~1.5-2.5 s per
   notebook).  A watchdog kills a worker that overruns a submission's budget; the
   submission is reported ``ungraded`` and the rest of the class continues.
4. Results are read back from the gradebook.  Submissions that were flagged or could
   not be graded are removed from it, so nothing exports them as a silent zero.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import logging
import os
import re
import select
import shutil
import signal
import stat
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

REPO = Path(__file__).resolve().parents[1]
KERNEL_NAME = "aegrade-sandbox"
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}$")
REPORT_DIR = ".grading"  # inside <course>/autograded (a dot-folder nbgrader ignores)

__all__ = [
    "GradingOptions",
    "assignments_in",
    "autograde_dir",
    "discover_submissions",
    "isolation_level",
    "main",
    "reference_submission",
]


# =========================================================================== options
@dataclass
class GradingOptions:
    """Knobs of :func:`autograde_dir` (defaults are the production values).

    Attributes
    ----------
    cell_timeout : int
        Seconds per cell (``Execute.timeout``).
    wall_limit : float
        Wall-clock seconds for a whole notebook (outer limit; nbgrader only limits cells).
    workers : int
        Submissions graded at the same time (0: one more than the CPUs, at most 8).
    isolation : str
        ``"auto"`` (strongest available), ``"full"``, ``"uid"`` or ``"none"``.
    static_scan : bool
        Run the static scan (turn off only to test that the sandbox holds on its own).
    limits : dict
        Resource limits of the kernel: ``as_bytes``, ``cpu_seconds``, ``nproc``,
        ``fsize_bytes``, ``nofile``.
    max_cell_chars : int
        Output characters kept per cell.
    max_notebook_bytes : int
        Larger submitted notebooks are not graded.
    max_submission_bytes : int
        Total size of a submission folder that is staged.
    ro_paths : list of str
        Extra read-only paths visible in the sandbox (course library, data).
    env : dict
        Extra environment variables for the kernel.
    startup_timeout : int
        Seconds a kernel may take to start.
    """

    cell_timeout: int = 60
    wall_limit: float = 600.0
    workers: int = 0
    isolation: str = "auto"
    static_scan: bool = True
    limits: dict = field(default_factory=lambda: {
        "as_bytes": 4 * 1024 ** 3, "cpu_seconds": 900, "nproc": 64,
        "fsize_bytes": 256 * 1024 ** 2, "nofile": 1024})
    max_cell_chars: int = 20000
    max_notebook_bytes: int = 8 * 1024 ** 2
    max_submission_bytes: int = 64 * 1024 ** 2
    ro_paths: list = field(default_factory=list)
    env: dict = field(default_factory=dict)
    startup_timeout: int = 60

    def __post_init__(self):
        if self.isolation not in ("auto", "full", "uid", "none"):
            raise ValueError(f"isolation must be auto, full, uid or none, not {self.isolation!r}")
        if self.cell_timeout <= 0 or self.wall_limit <= 0:
            raise ValueError("cell_timeout and wall_limit must be positive")
        if self.workers < 0:
            raise ValueError("workers must be >= 0 (0 = one per CPU)")


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# =========================================================================== discovery
def assignments_in(course_dir: Path) -> list[str]:
    """Assignment ids: folders ``solutions/<ps>/`` that contain ``<ps>.ipynb`` (sorted)."""
    src = Path(course_dir) / "solutions"
    if not src.is_dir():
        raise FileNotFoundError(f"{src} does not exist (expected solutions/<ps>/<ps>.ipynb)")
    return sorted(p.name for p in src.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and any(p.glob("*.ipynb")))


@dataclass
class Submission:
    student: str
    assignment: str
    files: dict  # relative path -> source Path
    problem: str = ""  # non-empty: cannot be graded, with this reason
    flagged: list = field(default_factory=list)  # static-scan findings (not executed)


def discover_submissions(submitted_dir: Path, assignments: Iterable[str]) -> tuple[list[Submission], list[str]]:
    """Find submissions in a folder.

    Layouts accepted:

    * nbgrader's ``DIR/<student>/<ps>/<notebook>.ipynb`` (plus any other files);
    * ``DIR/<student>/<ps>.ipynb``;
    * a flat folder of collected files whose names contain the assignment id and the
      student id, e.g. ``alice_ps1_forward_and_losses.ipynb`` or
      ``ps1_forward_and_losses-alice.ipynb``.

    Returns
    -------
    (submissions, warnings)
    """
    submitted_dir = Path(submitted_dir)
    if not submitted_dir.is_dir():
        raise FileNotFoundError(f"submission folder {submitted_dir} does not exist")
    assignments = sorted(assignments, key=len, reverse=True)
    subs: dict[tuple[str, str], Submission] = {}
    warnings: list[str] = []

    def add(student, assignment, files, problem=""):
        key = (student, assignment)
        if key in subs:
            warnings.append(f"duplicate submission for {student}/{assignment}: kept the first")
            return
        if not STUDENT_ID.match(student):
            problem = problem or f"invalid student id {student!r}"
        subs[key] = Submission(student, assignment, files, problem)

    for entry in sorted(submitted_dir.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_symlink():
            warnings.append(f"ignored symbolic link {entry.name}")
            continue
        if entry.is_dir():
            student = entry.name
            for sub in sorted(entry.iterdir()):
                if sub.is_symlink() or sub.name.startswith("."):
                    continue
                if sub.is_dir() and sub.name in assignments:
                    files = {}
                    for path in sorted(sub.rglob("*")):
                        rel = path.relative_to(sub)
                        if any(part.startswith(".ipynb_checkpoints") for part in rel.parts):
                            continue
                        if path.is_symlink():
                            warnings.append(f"{student}/{sub.name}: ignored symbolic link {rel}")
                            continue
                        if path.is_file():
                            files[str(rel)] = path
                    if not any(k.endswith(".ipynb") for k in files):
                        add(student, sub.name, files, "no notebook in the submission folder")
                    else:
                        add(student, sub.name, files)
                elif sub.is_file() and sub.suffix == ".ipynb" and sub.stem in assignments:
                    add(student, sub.stem, {f"{sub.stem}.ipynb": sub})
                else:
                    warnings.append(f"ignored {student}/{sub.name} (not a known assignment)")
        elif entry.is_file() and entry.suffix == ".ipynb":
            stem = entry.stem
            for a in assignments:
                if a in stem:
                    student = stem.replace(a, "", 1).strip("_-. ")
                    if student:
                        add(student, a, {f"{a}.ipynb": entry})
                        break
            else:
                warnings.append(f"ignored {entry.name} (no assignment id in the file name)")
    return sorted(subs.values(), key=lambda s: (s.student, s.assignment)), warnings


# =========================================================================== isolation
_LEVEL_CACHE: dict = {}


def isolation_level(requested: str = "auto") -> tuple[str, str]:
    """The sandbox level grading will use, and why (probed once per process)."""
    from tools.kernel_sandbox import probe_level

    if "probe" not in _LEVEL_CACHE:
        _LEVEL_CACHE["probe"] = probe_level()
    best, detail = _LEVEL_CACHE["probe"]
    order = {"none": 0, "uid": 1, "full": 2}
    if requested == "auto":
        return best, detail
    if order[requested] > order[best]:
        raise RuntimeError(f"isolation {requested!r} requested but only {best!r} is possible: {detail}")
    if requested == "uid":
        from tools.kernel_sandbox import _python_usable_by_other_uid

        why = _python_usable_by_other_uid()
        if why:
            raise RuntimeError(f"isolation 'uid' is not usable here: {why}")
    return requested, f"{requested} requested ({detail})"


def _warn_unisolated(level: str, detail: str) -> None:
    bar = "!" * 78
    if level == "none":
        what = ("SUBMISSIONS RUN UNISOLATED: same user as the grader, network reachable,\n"
                "!! every file the grader can read is readable; only resource limits apply.")
    else:
        what = ("SUBMISSIONS RUN PARTLY ISOLATED: own unprivileged uid and resource limits,\n"
                "!! but no private file system view and the network is reachable.")
    _log(f"{bar}\n!! {what}\n!! Reason: {detail}\n{bar}")


# =========================================================================== helpers
@contextlib.contextmanager
def _env(**updates):
    old = {k: os.environ.get(k) for k in updates}
    os.environ.update({k: str(v) for k, v in updates.items()})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _bin_path() -> str:
    """PATH with this interpreter's bin/ first (nbgrader runs ``alembic`` as a program)."""
    return str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin")


def _inside(path: Path, parent: Path) -> bool:
    try:
        path.resolve().relative_to(parent.resolve())
        return True
    except ValueError:
        return False


def _copy_tree_regular(src: Path, dst: Path) -> None:
    """Copy regular files of ``src`` to ``dst`` (symlinks and checkpoints skipped)."""
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if any(p.startswith(".ipynb_checkpoints") or p == "__pycache__" for p in rel.parts):
            continue
        if path.is_symlink():
            continue
        if path.is_dir():
            (dst / rel).mkdir(parents=True, exist_ok=True)
        elif path.is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dst / rel)


def _load_course_config(course_dir: Path):
    """Load ``<course>/nbgrader_config.py`` (if any) as a traitlets Config."""
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    cfg_file = Path(course_dir) / "nbgrader_config.py"
    if not cfg_file.exists():
        return Config()
    return PyFileConfigLoader(cfg_file.name, path=str(cfg_file.parent)).load_config()


def _quiet_logger(name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    logger.handlers = []
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def _dispose_engines() -> None:
    """Close pooled SQLite connections before forking (children open their own)."""
    import gc

    try:
        from sqlalchemy.engine import Engine
    except ImportError:  # pragma: no cover
        return
    for obj in gc.get_objects():
        try:
            if isinstance(obj, Engine):
                obj.dispose()
        except Exception:  # noqa: BLE001
            pass


# =========================================================================== nbgrader speed-ups
_FAST_DB_ROOTS: set = set()


def _speed_up_nbgrader() -> None:
    """Two process-local shortcuts that change nothing in what nbgrader computes.

    * nbgrader finds the gradebook schema version by running ``alembic heads`` as a
      program each time it creates a gradebook (~10 s here, mostly imports); the same
      head revision is read in-process from nbgrader's own alembic scripts.
    * The private gradebooks under a grading work folder are throw-away copies: SQLite
      does not ``fsync`` them (``PRAGMA synchronous=OFF``).  Other databases are untouched.
    """
    import nbgrader.api as nba

    if getattr(nba, "_aegrade_fast", False):
        return
    try:
        from alembic.config import Config as AlembicConfig
        from alembic.script import ScriptDirectory
        from nbgrader.dbutil import ALEMBIC_DIR

        cfg = AlembicConfig()
        cfg.set_main_option("script_location", ALEMBIC_DIR)
        head = ScriptDirectory.from_config(cfg).get_current_head()
    except Exception:  # noqa: BLE001 - keep nbgrader's own way
        head = None
    if head:
        nba.get_alembic_version = lambda: head
    try:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        @event.listens_for(Engine, "connect")
        def _no_fsync_for_work_gradebooks(dbapi_conn, _record):  # pragma: no cover - trivial
            try:
                rows = dbapi_conn.execute("PRAGMA database_list").fetchall()
            except Exception:  # noqa: BLE001 - not SQLite
                return
            path = next((r[2] for r in rows if r[1] == "main"), "") or ""
            if any(path.startswith(root) for root in _FAST_DB_ROOTS):
                dbapi_conn.execute("PRAGMA synchronous=OFF")
    except Exception:  # noqa: BLE001
        pass
    nba._aegrade_fast = True


# =========================================================================== config
def _work_config(course_dir: Path, root: Path, opts: GradingOptions, status_dir: Path,
                 level: str, runtime_dir: Path | None):
    from traitlets.config import Config
    from tools import grading_preprocessors as gp

    cfg = Config()
    cfg.merge(_load_course_config(course_dir))
    c = Config()
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.source_directory = "source"
    c.CourseDirectory.release_directory = "release"
    c.CourseDirectory.submitted_directory = "submitted"
    c.CourseDirectory.autograded_directory = "autograded"
    c.CourseDirectory.feedback_directory = "feedback"
    c.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}?timeout=120"
    c.CourseDirectory.course_id = "default_course"
    c.Exchange.root = str(root.parent / "exchange")  # unused (keeps nbgrader off /usr/local/share)
    c.Autograde.sanitize_preprocessors = gp.sanitize_pipeline()
    c.Autograde.autograde_preprocessors = gp.autograde_pipeline()
    c.Autograde.permissions = 644
    c.OverwriteCells.add_missing_cells = True
    c.Execute.timeout = int(opts.cell_timeout)
    c.Execute.startup_timeout = int(opts.startup_timeout)
    c.Execute.raise_on_iopub_timeout = False
    c.Execute.interrupt_on_timeout = True
    c.Execute.iopub_timeout = 4
    c.Execute.skip_cells_with_tag = "aegrade-this-tag-is-never-skipped"
    c.Execute.kernel_name = KERNEL_NAME
    c.SandboxedExecute.wall_limit = float(opts.wall_limit)
    c.SandboxedExecute.max_cell_chars = int(opts.max_cell_chars)
    c.CapOutput.max_cell_chars = int(opts.max_cell_chars)
    c.StaticScan.enabled = 1 if opts.static_scan else 0
    c.IgnorePattern.enabled = True
    c.IgnorePattern.pattern = gp.WARNING_PATTERN
    for cls in ("SandboxedExecute", "StaticScan", "RestoreCellMetadata"):
        c[cls].status_dir = str(status_dir)
    if level == "full" and runtime_dir is not None:
        c.KernelManager.transport = "ipc"
        c.KernelManager.ip = str(runtime_dir / "kernel")
    cfg.merge(c)
    return cfg


def _ro_paths(course_dir: Path, opts: GradingOptions) -> list[str]:
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             str(Path(os.path.realpath(sys.executable)).parent.parent)}
    lib = Path(course_dir) / "autoencoder_np"
    if lib.is_dir():
        paths.add(str(lib))
    data = os.environ.get("AUTOENCODER_NP_DATA")
    if data and Path(data).exists():
        paths.add(str(Path(data).resolve()))
    paths.update(str(Path(p).resolve()) for p in opts.ro_paths)
    return sorted(paths)


def _sandbox_config(course_dir: Path, work: Path, opts: GradingOptions, level: str,
                    submitted_dir: Path, mpl_cache: Path | None) -> Path:
    hidden = sorted({str(Path(course_dir).resolve()), str(work.resolve()),
                     str(Path(submitted_dir).resolve())})
    ro = []
    for p in _ro_paths(course_dir, opts):
        # never expose a folder that contains a hidden one (e.g. "/work" around the course)
        if any(h == p or h.startswith(p.rstrip("/") + "/") for h in hidden):
            _log(f"grading: not exposing {p} to the sandbox (it contains a protected folder)")
            continue
        ro.append(p)
    env = {}
    if os.environ.get("AUTOENCODER_NP_DATA"):
        env["AUTOENCODER_NP_DATA"] = str(Path(os.environ["AUTOENCODER_NP_DATA"]).resolve())
    env.update(opts.env)
    cfg = {
        "level": level,
        "python": sys.executable,
        "kernel_args": ["-m", "ipykernel_launcher", "--HistoryManager.hist_file=:memory:"],
        "ro_paths": ro,
        "hidden": hidden,
        "limits": dict(opts.limits),
        "scratch": str(work / "scratch"),
        "env": env,
        "mpl_cache": str(mpl_cache) if mpl_cache else None,
        "copy_max_bytes": int(opts.max_submission_bytes),
        "tmpfs_mb": {"root": 96, "tmp": 64, "shm": 16},
        "log": str(work / "logs" / "sandbox.log"),  # one line per kernel start/exit (uid, level)
    }
    path = work / "sandbox.json"
    path.write_text(json.dumps(cfg, indent=1))
    os.chmod(path, 0o600)
    kdir = work / "jupyter" / "kernels" / KERNEL_NAME
    kdir.mkdir(parents=True, exist_ok=True)
    launcher = Path(__file__).resolve().parent / "kernel_sandbox.py"
    spec = {
        "argv": [sys.executable, "-I", "-S", str(launcher), "-f", "{connection_file}"],
        "display_name": "Python 3 (sandboxed grader)",
        "language": "python",
        "interrupt_mode": "signal",
        "env": {"AEGRADE_SANDBOX_CONFIG": str(path)},
    }
    (kdir / "kernel.json").write_text(json.dumps(spec, indent=1))
    return path


def _matplotlib_cache(course_dir: Path, work: Path) -> Path | None:
    """Build matplotlib's font cache once if the assignments use matplotlib."""
    uses = any("matplotlib" in p.read_text(errors="ignore")
               for p in (Path(course_dir) / "solutions").rglob("*.ipynb"))
    if not uses:
        return None
    cache = work / "mplcache"
    cache.mkdir(exist_ok=True)
    import subprocess

    subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"],
                   env=dict(os.environ, MPLCONFIGDIR=str(cache), MPLBACKEND="Agg"),
                   capture_output=True, timeout=300, check=False)
    return cache


# =========================================================================== workers
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
        from tools.kernel_sandbox import (CLONE_NEWNS, MS_NODEV, MS_NOSUID, MS_PRIVATE,
                                          MS_REC, mount, unshare)
        unshare(CLONE_NEWNS)
        mount(None, "/", None, MS_REC | MS_PRIVATE)
        mount("tmpfs", str(runtime_dir), "tmpfs", MS_NOSUID | MS_NODEV,
              "size=4m,mode=1733,nr_inodes=2048")
    from nbgrader.apps.api import NbGraderAPI

    api = NbGraderAPI(config=cfg, log=_quiet_logger(f"aegrade.worker{index}"))
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


def _spawn_worker(index, cfg_factory, work, level, runtime_root, env) -> _Worker:
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
            for fd in list(_PARENT_FDS) + [task_w, result_r]:
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
    _PARENT_FDS.update((task_w, result_r))
    return _Worker(index, pid, task_w, result_r)


_PARENT_FDS: set = set()


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


def _run_tasks(tasks: list[dict], n_workers: int, hard_limit: float, cfg_factory, work: Path,
               level: str, env: dict, progress=None, retry=None) -> dict:
    """Grade ``tasks`` with forked workers; returns ``{(student, assignment): result}``.

    The parent stays single-threaded: it hands one task at a time to each worker over
    a pipe, waits with ``select`` and kills (then replaces) a worker whose task runs
    longer than ``hard_limit`` seconds.  ``retry(result)`` decides whether a failed task
    is graded a second time (once).
    """
    results: dict = {}
    runtime_root = work / "runtime"
    runtime_root.mkdir(exist_ok=True)
    if level != "full":
        os.chmod(runtime_root, 0o700)
        runtime_root_for_workers = None
    else:
        runtime_root_for_workers = runtime_root
    pending = list(tasks)
    workers: dict[int, _Worker] = {}
    counter = [0]
    _dispose_engines()

    def start_one():
        w = _spawn_worker(counter[0], cfg_factory, work, level, runtime_root_for_workers, env)
        counter[0] += 1
        workers[w.result_r] = w
        return w

    def dispatch(w):
        if pending:
            w.task = pending.pop(0)
            w.started = time.monotonic()
            os.write(w.task_w, (json.dumps(w.task) + "\n").encode())
        else:
            w.task = None

    def retire(w, reason=None, kill=False):
        if kill:
            with contextlib.suppress(ProcessLookupError):
                os.kill(w.pid, signal.SIGKILL)
        if w.task is not None and reason:
            key = (w.task["student"], w.task["assignment"])
            results[key] = {"student": key[0], "assignment": key[1], "success": False,
                            "log": "", "error": reason,
                            "seconds": round(time.monotonic() - w.started, 2), "watchdog": True}
            w.task = None
        for fd in (w.task_w, w.result_r):
            with contextlib.suppress(OSError):
                os.close(fd)
            _PARENT_FDS.discard(fd)
        workers.pop(w.result_r, None)
        _reap(w.pid)

    try:
        for _ in range(min(max(1, n_workers), len(pending))):
            dispatch(start_one())
        while any(w.task is not None for w in workers.values()):
            busy = [w for w in workers.values() if w.task is not None]
            ready, _, _ = select.select([w.result_r for w in busy], [], [], 1.0)
            for fd in ready:
                w = workers.get(fd)
                if w is None:
                    continue
                chunk = os.read(fd, 1 << 16)
                if not chunk:  # the worker died
                    retire(w, "the grading worker died while grading this submission", kill=True)
                    if pending:
                        dispatch(start_one())
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
                        (work / "logs" / f"{res['student']}__{res['assignment']}.log").write_text(
                            f"success: {res['success']}\n{res['log']}\n{res['error']}")
                    if progress:
                        progress(res)
                    dispatch(w)
            now = time.monotonic()
            for w in list(workers.values()):
                if w.task is not None and now - w.started > hard_limit:
                    retire(w, f"grading took longer than {hard_limit:.0f} s (watchdog)", kill=True)
                    if pending:
                        dispatch(start_one())
    finally:
        for w in list(workers.values()):
            # idle workers exit when their task pipe closes; busy ones are killed
            retire(w, "grading was interrupted", kill=w.task is not None)
    return results


# =========================================================================== staging
def _check_notebook(path: Path, max_bytes: int) -> str:
    """Return a reason why ``path`` cannot be graded, or '' if it looks fine."""
    import nbformat

    try:
        size = path.stat().st_size
    except OSError as exc:
        return f"cannot read {path.name}: {exc}"
    if size > max_bytes:
        return f"{path.name} is {size} bytes (limit {max_bytes})"
    try:
        import warnings

        with warnings.catch_warnings(), open(path, encoding="utf-8") as fh:
            warnings.simplefilter("ignore")
            nb = nbformat.read(fh, as_version=4)
    except Exception as exc:  # noqa: BLE001
        return f"{path.name} is not a readable notebook ({type(exc).__name__}: {str(exc)[:200]})"
    if not isinstance(nb.get("cells"), list):
        return f"{path.name} has no cells"
    return ""


def _stage(subs: list[Submission], root: Path, opts: GradingOptions, known_notebooks: dict) -> None:
    """Copy valid submissions into ``root/submitted``; set ``problem`` (cannot be graded) or
    ``flagged`` (static scan findings) on the others."""
    from tools.grading_scan import scan_notebook

    for sub in subs:
        if sub.problem:
            continue
        total = sum(p.stat().st_size for p in sub.files.values() if p.exists())
        if total > opts.max_submission_bytes:
            sub.problem = f"submission is {total} bytes (limit {opts.max_submission_bytes})"
            continue
        notebooks = [rel for rel in sub.files if rel.endswith(".ipynb") and "/" not in rel]
        expected = known_notebooks.get(sub.assignment, set())
        if not any(Path(rel).stem in expected for rel in notebooks):
            sub.problem = (f"no notebook named {', '.join(sorted(n + '.ipynb' for n in expected))} "
                           f"in the submission (found: {', '.join(sorted(notebooks)) or 'none'})")
            continue
        for rel in notebooks:
            if Path(rel).stem in expected:
                reason = _check_notebook(sub.files[rel], opts.max_notebook_bytes)
                if reason:
                    sub.problem = reason
                    break
        if sub.problem:
            continue
        if opts.static_scan:
            # first pass on the raw file (cheap, no nbgrader, no kernel); the pipeline's
            # StaticScan checks again what really executes after sanitising
            findings = []
            for rel in notebooks:
                stem = Path(rel).stem
                if stem in expected:
                    ref = json.loads((root / "source" / sub.assignment / f"{stem}.ipynb").read_text())
                    raw = json.loads(sub.files[rel].read_text(encoding="utf-8"))
                    findings += [f.to_dict() | {"notebook": stem} for f in scan_notebook(raw, ref)]
            if findings:
                sub.flagged = findings
                continue
        dest = root / "submitted" / sub.student / sub.assignment
        dest.mkdir(parents=True, exist_ok=True)
        for rel, src in sub.files.items():
            out = dest / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            st = os.lstat(src)
            if not stat.S_ISREG(st.st_mode):
                continue
            shutil.copyfile(src, out, follow_symlinks=False)


# =========================================================================== results
def _gradebook_results(root: Path, subs: list[Submission]) -> dict:
    from nbgrader.api import Gradebook, MissingEntry

    out = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        manual_ids = {}
        for a in gb.assignments:
            names = set()
            for nb in a.notebooks:
                grade_names = {c.name for c in nb.grade_cells}
                names |= {c.name for c in nb.solution_cells if c.name in grade_names}
            manual_ids[a.name] = names
        for sub in subs:
            try:
                s = gb.find_submission(sub.assignment, sub.student)
            except MissingEntry:
                continue
            problems = {}
            for nb in s.notebooks:
                for g in nb.grades:
                    d = g.to_dict()
                    manual = d["name"] in manual_ids.get(sub.assignment, set())
                    score = d["manual_score"] if d["manual_score"] is not None else d["auto_score"]
                    problems[d["name"]] = {
                        "score": None if score is None else float(score),
                        "max": float(d["max_score"]),
                        "manual": manual,
                        "needs_manual_grade": bool(d["needs_manual_grade"]),
                    }
            out[(sub.student, sub.assignment)] = problems
    return out


def _remove_submissions(root: Path, keys: Iterable[tuple[str, str]]) -> None:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        for student, assignment in keys:
            try:
                gb.remove_submission(assignment, student)
            except MissingEntry:
                pass


def _read_status(status_dir: Path, student: str, assignment: str) -> list[dict]:
    out = []
    for path in sorted(status_dir.glob(f"{student}__{assignment}__*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        data["notebook"] = path.stem.split("__", 2)[-1]
        out.append(data)
    return out


def _format_finding(f: dict) -> str:
    where = f"cell {f['cell_index']}" + (f" ({f['grade_id']})" if f.get("grade_id") else "")
    return f"{where} line {f['lineno']}: `{f['line']}`  [{f['rule']}] {f['message']}"


def _failure_reason(res: dict) -> str:
    text = (res.get("log") or "") + "\n" + (res.get("error") or "")
    for pattern in (r"(DeadKernelError[^\n]*)", r"(Kernel died[^\n]*)",
                    r"(RuntimeError: Kernel didn't respond[^\n]*)", r"(CellTimeoutError[^\n]*)"):
        m = re.search(pattern, text)
        if m:
            return m.group(1).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("[INFO]")]
    errors = [ln for ln in lines if "Error" in ln or "error" in ln]
    return (errors[-1] if errors else (lines[-1] if lines else "unknown error"))[:300]


# =========================================================================== main API
def autograde_dir(submitted_dir, *, course_dir, work_dir, options: GradingOptions | None = None,
                  gradebook_seed=None, progress=None, **overrides) -> dict:
    """Autograde every submission in ``submitted_dir`` without writing the course folder.

    Parameters
    ----------
    submitted_dir : path
        ``<dir>/<student>/<ps>/<ps>.ipynb`` (nbgrader layout), ``<dir>/<student>/<ps>.ipynb``,
        or a flat folder of ``<student>_<ps>.ipynb`` files.
    course_dir : path
        The course (reads ``solutions/<ps>/`` and ``nbgrader_config.py``; never written).
    work_dir : path
        Where the private nbgrader course, gradebook, logs and report go (created, mode
        700).  Must not be inside the course or the submission folder.
    options : GradingOptions, optional
        Limits and switches; keyword ``overrides`` replace single fields.
    gradebook_seed : path, optional
        Existing gradebook to start from (keeps earlier manual grades).
    progress : callable, optional
        Called with each worker result as it arrives.

    Returns
    -------
    dict
        ``{student: {assignment: record}}`` where ``record`` has ``status``
        (``"graded"``, ``"flagged"`` or ``"ungraded"``), ``problems``
        (``{grade_id: {"score": float or None, "max": float, "manual": bool, ...}}``;
        ``manual`` marks manually graded cells such as written answers, whose score is
        ``None`` until a person grades them), ``total`` (sum of known scores),
        ``max_total`` (sum of the maxima of the *autograded* problems), ``reason``
        (flagged/ungraded), ``findings`` (flagged), ``notes`` and ``seconds``.
        Flagged and ungraded records have empty ``problems`` and ``total`` ``None``.
    """
    import warnings

    with warnings.catch_warnings():
        # nbgrader's own SQLAlchemy warnings are not the caller's business (and a caller
        # such as pytest may turn them into errors)
        warnings.simplefilter("ignore")
        return _autograde_dir(submitted_dir, course_dir=course_dir, work_dir=work_dir,
                              options=options, gradebook_seed=gradebook_seed, progress=progress,
                              **overrides)


def _autograde_dir(submitted_dir, *, course_dir, work_dir, options, gradebook_seed, progress,
                   **overrides) -> dict:
    t_start = time.monotonic()
    opts = options or GradingOptions()
    if overrides:
        opts = GradingOptions(**{**asdict(opts), **overrides})
    course_dir = Path(course_dir).resolve()
    submitted_dir = Path(submitted_dir).resolve()
    work = Path(work_dir).resolve()
    for a, b, what in ((work, course_dir, "course"), (work, submitted_dir, "submission folder"),
                       (submitted_dir, work, "work folder")):
        if _inside(a, b):
            raise ValueError(f"{a} must not be inside the {what} {b}")
    assignments = assignments_in(course_dir)
    if not assignments:
        raise ValueError(f"no assignments in {course_dir / 'solutions'}")

    work.mkdir(parents=True, exist_ok=True)
    os.chmod(work, 0o700)
    for d in ("status", "logs", "scratch", "exchange"):
        (work / d).mkdir(exist_ok=True)
    root = work / "course"
    if root.exists():
        shutil.rmtree(root)
    (root / "source").mkdir(parents=True)
    known_notebooks = {}
    for a in assignments:
        _copy_tree_regular(course_dir / "solutions" / a, root / "source" / a)
        known_notebooks[a] = {p.stem for p in (root / "source" / a).glob("*.ipynb")}
    if gradebook_seed and Path(gradebook_seed).exists():
        shutil.copyfile(gradebook_seed, root / "gradebook.db")

    subs, warnings = discover_submissions(submitted_dir, assignments)
    for w in warnings:
        _log(f"grading: {w}")
    _stage(subs, root, opts, known_notebooks)

    level, detail = isolation_level(opts.isolation)
    if level != "full":
        _warn_unisolated(level, detail)
    os.chmod(work / "scratch", 0o711 if level == "uid" else 0o700)

    # nbgrader: build the gradebook and release in the private course (imports nbgrader)
    env = {"PATH": _bin_path(), "JUPYTER_PATH": str(work / "jupyter"),
           "AEGRADE_SANDBOX_CONFIG": str(work / "sandbox.json")}
    _FAST_DB_ROOTS.add(str(root) + os.sep)
    with _env(PATH=env["PATH"]):
        from nbgrader.apps.api import NbGraderAPI

        _speed_up_nbgrader()

        cfg = _work_config(course_dir, root, opts, work / "status", level,
                           None)
        api = NbGraderAPI(config=cfg, log=_quiet_logger("aegrade.setup"))
        for a in assignments:
            res = api.generate_assignment(a, force=True, create=True)
            if not res.get("success"):
                raise RuntimeError(f"nbgrader generate_assignment {a} failed:\n"
                                   f"{res.get('log', '')}\n{res.get('error', '')}")
        del api
    mpl_cache = _matplotlib_cache(course_dir, work)
    _sandbox_config(course_dir, work, opts, level, submitted_dir, mpl_cache)

    tasks = [{"student": s.student, "assignment": s.assignment} for s in subs
             if not s.problem and not s.flagged]
    # one more worker than CPUs: each notebook also waits (kernel hand-shakes, polling)
    n_workers = opts.workers or min(8, (os.cpu_count() or 1) + 1)
    hard_limit = opts.wall_limit + opts.startup_timeout + 60
    results = {}
    if tasks:
        def cfg_factory(runtime_dir):
            return _work_config(course_dir, root, opts, work / "status", level, runtime_dir)

        def retry(res):
            """Failures that the submission's own code did not cause are retried once."""
            statuses = _read_status(work / "status", res["student"], res["assignment"])
            if any(st.get("status") in ("flagged", "ungraded") for st in statuses):
                return False
            for path in (work / "status").glob(f"{res['student']}__{res['assignment']}__*.json"):
                path.unlink()
            _log(f"grading: retrying {res['student']}/{res['assignment']} after: {_failure_reason(res)}")
            return True

        results = _run_tasks(tasks, n_workers, hard_limit, cfg_factory, work, level, env, progress,
                             retry=retry)

    # ---------------------------------------------------------------- collect
    scores = _gradebook_results(root, subs)
    report: dict = {}
    drop = []
    for sub in subs:
        key = (sub.student, sub.assignment)
        rec = {"status": "ungraded", "problems": {}, "total": None, "max_total": None,
               "reason": "", "notes": [], "seconds": None}
        if sub.problem:
            rec["reason"] = sub.problem
        elif sub.flagged:
            rec["status"] = "flagged"
            rec["findings"] = sub.flagged
            rec["reason"] = "static scan: " + "; ".join(_format_finding(f) for f in sub.flagged[:5]) + (
                f"; ... ({len(sub.flagged)} findings)" if len(sub.flagged) > 5 else "")
        else:
            res = results.get(key, {"success": False, "error": "not graded (internal error)"})
            rec["seconds"] = res.get("seconds")
            statuses = _read_status(work / "status", *key)
            for st in statuses:
                rec["notes"].extend(st.get("notes", []))
            flagged = [st for st in statuses if st.get("status") == "flagged"]
            ungraded = [st for st in statuses if st.get("status") == "ungraded"]
            autograded = root / "autograded" / sub.student / sub.assignment
            if flagged:
                rec["status"] = "flagged"
                rec["reason"] = "; ".join(st.get("reason", "") for st in flagged)
                rec["findings"] = [f for st in flagged for f in st.get("findings", [])]
            elif ungraded:
                rec["reason"] = "; ".join(st.get("reason", "") for st in ungraded)
            elif res.get("success") and autograded.is_dir() and key in scores:
                rec["status"] = "graded"
                rec["problems"] = scores[key]
                known = [p["score"] for p in scores[key].values() if p["score"] is not None]
                rec["total"] = float(sum(known))
                rec["max_total"] = float(sum(p["max"] for p in scores[key].values() if not p["manual"]))
            else:
                rec["reason"] = (res.get("error") if res.get("watchdog") else _failure_reason(res)) \
                    or "nbgrader could not grade this submission"
        if rec["status"] != "graded":
            drop.append(key)
            shutil.rmtree(root / "autograded" / sub.student / sub.assignment, ignore_errors=True)
        report.setdefault(sub.student, {})[sub.assignment] = rec
    if drop:
        _remove_submissions(root, drop)
    meta = {"isolation": level, "isolation_detail": detail, "static_scan": opts.static_scan,
            "seconds": round(time.monotonic() - t_start, 2), "workers": n_workers,
            "warnings": warnings}
    (work / "report.json").write_text(json.dumps({"meta": meta, "results": report}, indent=1))
    _LAST_META.clear()
    _LAST_META.update(meta)
    return report


_LAST_META: dict = {}


def last_run_meta() -> dict:
    """Metadata of the last :func:`autograde_dir` call (isolation level, time, ...)."""
    return dict(_LAST_META)




# =========================================================================== submissions
def _strip_markers(source: str) -> str:
    """Drop nbgrader's ``### BEGIN/END SOLUTION`` marker lines (a student never sees them)."""
    return "\n".join(line for line in source.split("\n")
                     if "BEGIN SOLUTION" not in line and "END SOLUTION" not in line)


def reference_submission(source_nb: dict, release_nb: dict | None = None) -> dict:
    """A student-like submission that answers everything with the reference solution.

    Parameters
    ----------
    source_nb : dict
        The nbgrader source notebook (``solutions/<ps>/<ps>.ipynb``).
    release_nb : dict, optional
        The released notebook; when given, its cells (and metadata) are used and only the
        answer cells are replaced.  Without it the release is imitated from the source:
        hidden tests are removed from test cells.

    Returns
    -------
    dict
        The notebook as a student would submit it.
    """
    import copy

    answers = {}
    for cell in source_nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution"):
            src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            answers[meta["grade_id"]] = _strip_markers(src)
    if release_nb is None:
        from tools.grading_scan import _strip_hidden

        nb = copy.deepcopy(source_nb)
        for cell in nb["cells"]:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if meta.get("grade") and not meta.get("solution"):
                src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
                cell["source"] = _strip_hidden(src)
    else:
        nb = copy.deepcopy(release_nb)
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution") and meta.get("grade_id") in answers:
            cell["source"] = answers[meta["grade_id"]]
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    return nb


# =========================================================================== CLI helpers
def _course_api(course_dir: Path, **extra):
    """An ``NbGraderAPI`` on the course itself (its own ``nbgrader_config.py``)."""
    from traitlets.config import Config
    from nbgrader.apps.api import NbGraderAPI

    cfg = Config()
    cfg.merge(_load_course_config(course_dir))
    c = Config()
    c.CourseDirectory.root = str(course_dir)
    c.CourseDirectory.source_directory = "solutions"
    c.CourseDirectory.release_directory = "exercises"
    exchange = Path(tempfile.gettempdir()) / "aegrade-exchange-unused"
    exchange.mkdir(exist_ok=True)
    c.Exchange.root = str(exchange)
    for key, value in extra.items():
        section, name = key.split("__")
        c[section][name] = value
    cfg.merge(c)
    return NbGraderAPI(config=cfg, log=_quiet_logger("aegrade.course"))


def _fmt(x) -> str:
    if x is None:
        return "-"
    return f"{x:g}" if isinstance(x, float) else str(x)


def format_table(results: dict) -> str:
    """The per-student score table printed by ``autograde`` and ``selfcheck``."""
    rows = [("student", "assignment", "status", "score", "problems")]
    for student in sorted(results):
        for a in sorted(results[student]):
            rec = results[student][a]
            if rec["status"] == "graded":
                score = f"{_fmt(rec['total'])}/{_fmt(rec['max_total'])}"
                probs = ", ".join(
                    f"{gid} {_fmt(p['score'])}/{_fmt(p['max'])}" + (" (manual)" if p.get("manual") else "")
                    for gid, p in rec["problems"].items())
            else:
                score, probs = "-", rec.get("reason", "")[:120]
            rows.append((student, a, rec["status"], score, probs))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = []
    for r in rows:
        lines.append("  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4])
    lines.insert(1, "-" * min(140, sum(widths) + 8 + 20))
    return "\n".join(lines)


def format_summary(results: dict) -> str:
    """Flagged and ungraded submissions, by name, with the reason."""
    out = []
    for status, title in (("flagged", "FLAGGED for manual review (not executed)"),
                          ("ungraded", "UNGRADED (could not be graded; not exported as zero)")):
        items = [(s, a, rec) for s in sorted(results) for a, rec in sorted(results[s].items())
                 if rec["status"] == status]
        if not items:
            continue
        out.append(f"{title}: {len(items)}")
        for s, a, rec in items:
            out.append(f"  {s} / {a}: {rec.get('reason', '')}")
            for f in rec.get("findings", [])[:10]:
                out.append(f"      {_format_finding(f)}")
    graded = sum(rec["status"] == "graded" for r in results.values() for rec in r.values())
    out.append(f"graded: {graded}, flagged: "
               f"{sum(rec['status'] == 'flagged' for r in results.values() for rec in r.values())}, "
               f"ungraded: {sum(rec['status'] == 'ungraded' for r in results.values() for rec in r.values())}")
    return "\n".join(out)


def _report_path(course_dir: Path) -> Path:
    return Path(course_dir) / "autograded" / REPORT_DIR / "report.json"


def _load_report(course_dir: Path) -> dict:
    path = _report_path(course_dir)
    if path.exists():
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            pass
    return {"meta": {}, "results": {}}


def publish(results: dict, work_dir: Path, course_dir: Path) -> None:
    """Copy a run's results into the course: ``autograded/``, ``gradebook.db`` and the report."""
    work_root = Path(work_dir) / "course"
    course_dir = Path(course_dir)
    for student, per in results.items():
        for a, rec in per.items():
            dest = course_dir / "autograded" / student / a
            if dest.exists():
                shutil.rmtree(dest)
            src = work_root / "autograded" / student / a
            if rec["status"] == "graded" and src.is_dir():
                shutil.copytree(src, dest)
    gb = work_root / "gradebook.db"
    if gb.exists():
        tmp = course_dir / ".gradebook.db.tmp"
        shutil.copyfile(gb, tmp)
        os.replace(tmp, course_dir / "gradebook.db")
    report = _load_report(course_dir)
    for student, per in results.items():
        report["results"].setdefault(student, {}).update(per)
    meta_path = Path(work_dir) / "report.json"
    if meta_path.exists():
        report["meta"] = json.loads(meta_path.read_text()).get("meta", {})
    path = _report_path(course_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1))


# =========================================================================== commands
def cmd_release(course_dir: Path) -> int:
    """Regenerate ``exercises/`` from ``solutions/`` (nbgrader generate_assignment --force)."""
    with _env(PATH=_bin_path()):
        api = _course_api(course_dir)
        _speed_up_nbgrader()
        for a in assignments_in(course_dir):
            res = api.generate_assignment(a, force=True, create=True)
            if not res.get("success"):
                _log(res.get("log", ""))
                _log(res.get("error", ""))
                _log(f"release: nbgrader generate_assignment {a} FAILED")
                return 1
            print(f"released {a} -> exercises/{a}/")
    return 0


def cmd_autograde(course_dir: Path, submitted: Path | None, opts: GradingOptions) -> int:
    """Grade every submission, publish into the course, print the table and the summary."""
    submitted = Path(submitted) if submitted else Path(course_dir) / "submitted"
    if not submitted.is_dir():
        _log(f"autograde: no submissions: {submitted} does not exist "
             "(expected <student>/<ps>/<ps>.ipynb, or use --submitted DIR)")
        return 1
    work = Path(tempfile.mkdtemp(prefix="aegrade-"))
    try:
        t0 = time.monotonic()
        results = autograde_dir(submitted, course_dir=course_dir, work_dir=work, options=opts,
                                gradebook_seed=Path(course_dir) / "gradebook.db")
        publish(results, work, course_dir)
        print(format_table(results))
        print()
        print(format_summary(results))
        meta = last_run_meta()
        print(f"isolation: {meta.get('isolation')} ({meta.get('isolation_detail')}); "
              f"{time.monotonic() - t0:.1f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def hidden_test_lines(course_dir: Path) -> dict:
    """``{assignment: [lines]}``: the non-trivial lines of every hidden-test region."""
    out = {}
    for a in assignments_in(course_dir):
        lines = []
        for path in (Path(course_dir) / "solutions" / a).glob("*.ipynb"):
            nb = json.loads(path.read_text())
            for cell in nb["cells"]:
                src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
                inside = False
                for line in src.split("\n"):
                    if "BEGIN HIDDEN TESTS" in line:
                        inside = True
                    elif "END HIDDEN TESTS" in line:
                        inside = False
                    elif inside and len(line.strip()) >= 12:
                        lines.append(line.strip())
        out[a] = lines
    return out


def html_text(page: str) -> str:
    """The visible text of an HTML page, whitespace collapsed (code is split into
    highlighted ``<span>`` tokens, so tags must go before looking for a source line)."""
    import html

    text = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    return " ".join(text.split())


def cmd_feedback(course_dir: Path) -> int:
    """nbgrader generate_feedback for every assignment, then check no hidden test leaked."""

    with _env(PATH=_bin_path()):
        api = _course_api(course_dir)
        for a in assignments_in(course_dir):
            if not any((Path(course_dir) / "autograded").glob(f"*/{a}")):
                continue
            res = api.generate_feedback(a, force=True)
            if not res.get("success"):
                _log(res.get("log", ""))
                _log(res.get("error", ""))
                _log(f"feedback: nbgrader generate_feedback {a} FAILED")
                return 1
    leaks = []
    hidden = hidden_test_lines(course_dir)
    for path in sorted((Path(course_dir) / "feedback").rglob("*.html")):
        text = html_text(path.read_text(errors="ignore"))
        a = path.parent.name
        for line in hidden.get(a, []):
            if " ".join(line.split()) in text:
                leaks.append((path, line))
    if leaks:
        for path, line in leaks[:20]:
            _log(f"feedback: hidden test line leaked into {path}: {line}")
        return 1
    n = len(list((Path(course_dir) / "feedback").rglob("*.html")))
    print(f"feedback: {n} HTML file(s) in feedback/ (hidden tests removed)")
    return 0


def grades_rows(course_dir: Path) -> tuple[list[str], list[dict]]:
    """Header and rows of the grades CSV (one column per problem, per-assignment totals,
    the overall total); flagged/ungraded submissions are marked, never scored as zero."""
    from nbgrader.api import Gradebook, MissingEntry

    report = _load_report(course_dir)["results"]
    db = Path(course_dir) / "gradebook.db"
    assignments = assignments_in(course_dir)
    columns, rows = ["student"], []
    problems: dict = {}
    scores: dict = {}
    students = set(report)
    if db.exists():
        with Gradebook(f"sqlite:///{db}") as gb:
            for a in assignments:
                try:
                    assignment = gb.find_assignment(a)
                except MissingEntry:
                    problems[a] = []
                    continue
                problems[a] = [(nb.name, c.name, float(c.max_score))
                               for nb in assignment.notebooks for c in nb.grade_cells]
                for sub in assignment.submissions:
                    students.add(sub.student.id)
                    vals = {}
                    for nb in sub.notebooks:
                        for g in nb.grades:
                            d = g.to_dict()
                            score = d["manual_score"] if d["manual_score"] is not None else d["auto_score"]
                            vals[d["name"]] = score
                    scores[(sub.student.id, a)] = vals
    for a in assignments:
        if a not in problems:
            problems[a] = []
    for a in assignments:
        columns.append(f"{a}:status")
        columns += [f"{a}:{gid}" for _, gid, _ in problems[a]]
        columns += [f"{a}:total", f"{a}:max"]
    columns += ["total", "max_total"]
    for student in sorted(students):
        row = {"student": student}
        total = max_total = 0.0
        for a in assignments:
            rec = report.get(student, {}).get(a)
            status = rec["status"] if rec else ("graded" if (student, a) in scores else "missing")
            maxima = sum(m for _, _, m in problems[a])
            row[f"{a}:status"] = status
            row[f"{a}:max"] = _fmt(maxima)
            max_total += maxima
            if status == "graded" and (student, a) in scores:
                vals = scores[(student, a)]
                subtotal = 0.0
                for _, gid, _ in problems[a]:
                    v = vals.get(gid)
                    row[f"{a}:{gid}"] = "" if v is None else _fmt(float(v))
                    subtotal += float(v or 0.0)
                row[f"{a}:total"] = _fmt(subtotal)
                total += subtotal
            else:
                for _, gid, _ in problems[a]:
                    row[f"{a}:{gid}"] = ""
                row[f"{a}:total"] = ""
        held = [a for a in assignments if row[f"{a}:status"] in ("flagged", "ungraded")]
        # a held submission has no score yet: no overall total rather than a silent zero
        row["total"] = "" if held else _fmt(total)
        row["max_total"] = _fmt(max_total)
        rows.append(row)
    return columns, rows


def cmd_grades(course_dir: Path, out: Path) -> int:
    columns, rows = grades_rows(course_dir)
    out = Path(out)
    with open(out, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {out}: {len(rows)} student(s), {len(columns)} column(s)")
    odd = [(r["student"], c.split(":")[0], r[c]) for r in rows for c in columns
           if c.endswith(":status") and r[c] in ("flagged", "ungraded")]
    for s, a, st in odd:
        print(f"  {st.upper()}: {s} / {a} (no score exported)")
    return 0


def cmd_selfcheck(course_dir: Path, opts: GradingOptions) -> int:
    """Autograde the reference solutions as a fake student; non-zero unless full marks."""
    course_dir = Path(course_dir)
    tmp = Path(tempfile.mkdtemp(prefix="aegrade-selfcheck-"))
    try:
        submitted = tmp / "submitted"
        for a in assignments_in(course_dir):
            for src_path in sorted((course_dir / "solutions" / a).glob("*.ipynb")):
                source = json.loads(src_path.read_text())
                rel_path = course_dir / "exercises" / a / src_path.name
                release = json.loads(rel_path.read_text()) if rel_path.exists() else None
                dest = submitted / "reference" / a
                dest.mkdir(parents=True, exist_ok=True)
                (dest / src_path.name).write_text(json.dumps(reference_submission(source, release)))
        results = autograde_dir(submitted, course_dir=course_dir, work_dir=tmp / "work", options=opts)
        print(format_table(results))
        bad = []
        for a, rec in results.get("reference", {}).items():
            if rec["status"] != "graded":
                bad.append(f"{a}: {rec['status']} ({rec.get('reason', '')})")
                continue
            for gid, p in rec["problems"].items():
                if not p["manual"] and p["score"] != p["max"]:
                    bad.append(f"{a}/{gid}: {_fmt(p['score'])}/{_fmt(p['max'])}")
        missing = set(assignments_in(course_dir)) - set(results.get("reference", {}))
        bad += [f"{a}: not graded" for a in sorted(missing)]
        meta = last_run_meta()
        print(f"isolation: {meta.get('isolation')}; {meta.get('seconds')} s")
        if bad:
            print("SELFCHECK FAILED: the reference solutions do not score full marks:")
            for b in bad:
                print(f"  {b}")
            return 1
        print("selfcheck: the reference solutions score full marks on every autograded problem")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _options_from_args(args) -> GradingOptions:
    opts = GradingOptions()
    if getattr(args, "cell_timeout", None):
        opts.cell_timeout = args.cell_timeout
    if getattr(args, "wall_limit", None):
        opts.wall_limit = args.wall_limit
    if getattr(args, "workers", None):
        opts.workers = args.workers
    if getattr(args, "isolation", None):
        opts.isolation = args.isolation
    if getattr(args, "no_scan", False):
        opts.static_scan = False
    return opts


def main(argv=None) -> int:
    """Command-line entry point (``python -m tools.grading <command>``)."""
    ap = argparse.ArgumentParser(prog="python -m tools.grading", description=__doc__.split("\n\n")[0])
    ap.add_argument("--course", type=Path, default=REPO, help="course root (default: this repository)")
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("release", help="regenerate exercises/ from solutions/ (nbgrader generate_assignment)")
    for name, helptext in (("autograde", "autograde every submission"),
                           ("selfcheck", "autograde the reference solutions; fail unless full marks")):
        p = sub.add_parser(name, help=helptext)
        if name == "autograde":
            p.add_argument("--submitted", type=Path, default=None,
                           help="submissions: <dir>/<student>/<ps>/*.ipynb or a folder of collected "
                                "files (default: <course>/submitted)")
        p.add_argument("--cell-timeout", type=int, default=None, help="seconds per cell (default 60)")
        p.add_argument("--wall-limit", type=float, default=None, help="seconds per notebook (default 600)")
        p.add_argument("--workers", type=int, default=None, help="submissions graded at once")
        p.add_argument("--isolation", choices=("auto", "full", "uid", "none"), default=None)
        if name == "autograde":
            p.add_argument("--no-scan", action="store_true",
                           help="after a manual review only: run submissions the static scan would "
                                "flag (the sandbox still applies)")
    sub.add_parser("feedback", help="nbgrader generate_feedback without the hidden tests")
    p = sub.add_parser("grades", help="CSV: one column per problem, per-assignment and overall totals")
    p.add_argument("--out", type=Path, default=Path("grades.csv"))
    args = ap.parse_args(argv)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nbgrader's SQLAlchemy warnings
        return _dispatch(args)


def _dispatch(args) -> int:
    course = args.course.resolve()
    if args.command == "release":
        return cmd_release(course)
    if args.command == "autograde":
        return cmd_autograde(course, args.submitted, _options_from_args(args))
    if args.command == "feedback":
        return cmd_feedback(course)
    if args.command == "grades":
        return cmd_grades(course, args.out)
    if args.command == "selfcheck":
        return cmd_selfcheck(course, _options_from_args(args))
    return 2  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
