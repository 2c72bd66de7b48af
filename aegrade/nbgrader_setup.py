"""nbgrader's configuration, built in one place, and two shortcuts that change nothing it computes.

:func:`harden` is what the course's ``nbgrader_config.py`` applies (so plain ``nbgrader
autograde`` gets the hardened pipeline too); :func:`nbgrader_config` builds the configuration of
any nbgrader run of the grader: on the course itself (``release``, ``feedback``) or on a grading
run's private copy.
"""
from __future__ import annotations

import contextlib
import gc
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import defaults
from .course import RELEASE_DIR, SOURCE_DIR
from .options import GradingOptions


def harden(c, *, wall_limit: float = defaults.WALL_LIMIT, cell_timeout: int = defaults.CELL_TIMEOUT,
           max_cell_chars: int = defaults.MAX_CELL_CHARS,
           startup_timeout: int = defaults.STARTUP_TIMEOUT) -> None:
    """Put the hardened pipelines and limits into the traitlets config ``c`` (in place)."""
    from . import preprocessors as pp

    c.Execute.timeout = int(cell_timeout)       # seconds per cell: an infinite loop times out
    c.Execute.interrupt_on_timeout = True       # ... and is interrupted (its test scores zero)
    c.Execute.raise_on_iopub_timeout = False    # a kernel that ignores the interrupt does not crash the batch
    c.Execute.startup_timeout = int(startup_timeout)
    c.Execute.skip_cells_with_tag = defaults.NEVER_SKIPPED_TAG  # "skip-execution" would skip tests
    c.OverwriteCells.add_missing_cells = True   # deleted test cells come back
    c.Autograde.sanitize_preprocessors = pp.sanitize_pipeline()
    c.Autograde.autograde_preprocessors = pp.autograde_pipeline()
    c.GenerateFeedback.preprocessors = pp.feedback_pipeline()
    c.SandboxedExecute.wall_limit = float(wall_limit)
    c.SandboxedExecute.max_cell_chars = int(max_cell_chars)
    c.CapOutput.max_cell_chars = int(max_cell_chars)
    c.IgnorePattern.enabled = True              # a correct answer never loses points to a warning
    c.IgnorePattern.pattern = pp.WARNING_PATTERN


@dataclass
class GradingSetup:
    """What a grading run adds to nbgrader's configuration of its private course copy."""

    options: GradingOptions
    status_dir: Path
    level: str
    runtime_dir: Path | None = None


def load_course_config(course_dir: Path):
    """``<course>/nbgrader_config.py`` (if any) as a traitlets ``Config``."""
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    cfg_file = Path(course_dir) / "nbgrader_config.py"
    if not cfg_file.exists():
        return Config()
    return PyFileConfigLoader(cfg_file.name, path=str(cfg_file.parent)).load_config()


def nbgrader_config(course_dir: Path, *, root: Path | None = None, grading: GradingSetup | None = None,
                    exchange: Path | None = None):
    """The configuration of an nbgrader run of the grader.

    Parameters
    ----------
    course_dir : path
        The course; its ``nbgrader_config.py`` comes first.
    root : path, optional
        A grading run's private course copy (``source/``, ``release/``, ``submitted/``, ... and
        its own gradebook). Without it nbgrader works on the course itself (``solutions/`` ->
        ``exercises/``).
    grading : GradingSetup, optional
        With ``root``: the run's limits, status folder and sandbox level.
    exchange : path, optional
        nbgrader's exchange root (default: a folder that keeps nbgrader off
        ``/usr/local/share``; the grader itself never uses the exchange).
    """
    from traitlets.config import Config

    cfg = Config()
    cfg.merge(load_course_config(course_dir))
    c = Config()
    if root is None:
        c.CourseDirectory.root = str(course_dir)
        c.CourseDirectory.source_directory = SOURCE_DIR
        c.CourseDirectory.release_directory = RELEASE_DIR
    else:
        c.CourseDirectory.root = str(root)
        for name in ("source", "release", "submitted", "autograded", "feedback"):
            c.CourseDirectory[f"{name}_directory"] = name
        c.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}?timeout=120"
        c.CourseDirectory.course_id = "default_course"
        c.Autograde.permissions = 644
    if exchange is None:
        exchange = (root.parent / "exchange") if root is not None else \
            Path(tempfile.gettempdir()) / "aegrade-exchange-unused"
        exchange.mkdir(exist_ok=True)
    c.Exchange.root = str(exchange)
    if grading is not None:
        opts = grading.options
        harden(c, wall_limit=opts.wall_limit, cell_timeout=opts.cell_timeout,
               max_cell_chars=opts.max_cell_chars, startup_timeout=opts.startup_timeout)
        c.Execute.iopub_timeout = 4
        c.Execute.kernel_name = defaults.KERNEL_NAME
        c.StaticScan.enabled = 1 if opts.static_scan else 0
        for cls in ("SandboxedExecute", "StaticScan", "RestoreCellMetadata"):
            c[cls].status_dir = str(grading.status_dir)
        if grading.level == "full" and grading.runtime_dir is not None:
            c.KernelManager.transport = "ipc"
            c.KernelManager.ip = str(grading.runtime_dir / "kernel")
    cfg.merge(c)
    return cfg


def quiet_logger(name: str) -> logging.Logger:
    """A logger that prints nothing (nbgrader's log goes into the run's result instead)."""
    logger = logging.getLogger(name)
    logger.handlers = []
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def course_api(course_dir: Path, db: str | None = None):
    """An ``NbGraderAPI`` on the course itself (its own ``nbgrader_config.py``); ``db``: the
    gradebook's database URL when it is not the course's ``gradebook.db``."""
    from nbgrader.apps.api import NbGraderAPI

    cfg = nbgrader_config(Path(course_dir))
    if db:
        cfg.CourseDirectory.db_url = db
    return NbGraderAPI(config=cfg, log=quiet_logger("aegrade.course"))


def dispose_engines() -> None:
    """Close pooled SQLite connections before forking (children open their own)."""
    try:
        from sqlalchemy.engine import Engine
    except ImportError:  # pragma: no cover
        return
    for obj in gc.get_objects():
        with contextlib.suppress(Exception):
            if isinstance(obj, Engine):
                obj.dispose()


def use_inprocess_alembic_head() -> None:
    """nbgrader finds the gradebook schema version by running ``alembic heads`` as a program
    each time it creates a gradebook (~10 s here, mostly imports); read the same head revision
    in-process from nbgrader's own alembic scripts instead (idempotent)."""
    import nbgrader.api as nba

    if getattr(nba, "_aegrade_alembic_head", None):
        return
    try:
        from alembic.config import Config as AlembicConfig
        from alembic.script import ScriptDirectory
        from nbgrader.dbutil import ALEMBIC_DIR

        cfg = AlembicConfig()
        cfg.set_main_option("script_location", ALEMBIC_DIR)
        head = ScriptDirectory.from_config(cfg).get_current_head()
    except Exception:  # noqa: BLE001 - keep nbgrader's own way
        return
    if head:
        nba.get_alembic_version = lambda: head
        nba._aegrade_alembic_head = head


@contextlib.contextmanager
def unsynced_gradebooks(root: Path):
    """Within the block, SQLite gradebooks under ``root`` (a run's throw-away copies) are not
    ``fsync``-ed (``PRAGMA synchronous=OFF``); other databases are untouched."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    prefix = str(Path(root)) + "/"

    def no_fsync(dbapi_conn, _record):
        try:
            rows = dbapi_conn.execute("PRAGMA database_list").fetchall()
        except Exception:  # noqa: BLE001 - not SQLite
            return
        path = next((r[2] for r in rows if r[1] == "main"), "") or ""
        if path.startswith(prefix):
            dbapi_conn.execute("PRAGMA synchronous=OFF")

    event.listen(Engine, "connect", no_fsync)
    try:
        yield
    finally:
        event.remove(Engine, "connect", no_fsync)
