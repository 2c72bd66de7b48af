"""The knobs of a grading run."""
from __future__ import annotations

from dataclasses import dataclass, field

from . import defaults


@dataclass
class GradingOptions:
    """Knobs of :func:`aegrade.run.autograde_dir` (defaults are the production values of
    :mod:`aegrade.defaults`).

    Attributes
    ----------
    cell_timeout : int
        Seconds per cell (``Execute.timeout``).
    wall_limit : float
        Wall-clock seconds for a whole notebook (outer limit; nbgrader only limits cells).
    workers : int
        Submissions graded at the same time (0: one more than the CPUs, at most
        ``defaults.MAX_WORKERS``).
    isolation : str
        ``"auto"`` (strongest available), ``"full"``, ``"uid"`` or ``"none"``.
    static_scan : bool
        Run the static scan (turn off only to test that the sandbox holds on its own).
    limits : dict
        Resource limits of the kernel: ``as_bytes``, ``cpu_seconds``, ``nproc``,
        ``fsize_bytes``, ``nofile`` (those not given keep their defaults).
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

    cell_timeout: int = defaults.CELL_TIMEOUT
    wall_limit: float = defaults.WALL_LIMIT
    workers: int = 0
    isolation: str = "auto"
    static_scan: bool = True
    limits: dict = field(default_factory=lambda: dict(defaults.KERNEL_LIMITS))
    max_cell_chars: int = defaults.MAX_CELL_CHARS
    max_notebook_bytes: int = defaults.MAX_NOTEBOOK_BYTES
    max_submission_bytes: int = defaults.MAX_SUBMISSION_BYTES
    ro_paths: list = field(default_factory=list)
    env: dict = field(default_factory=dict)
    startup_timeout: int = defaults.STARTUP_TIMEOUT

    def __post_init__(self):
        if self.isolation not in ("auto", "full", "uid", "none"):
            raise ValueError(f"isolation must be auto, full, uid or none, not {self.isolation!r}")
        if self.cell_timeout <= 0 or self.wall_limit <= 0:
            raise ValueError("cell_timeout and wall_limit must be positive")
        if self.workers < 0:
            raise ValueError("workers must be >= 0 (0 = one per CPU)")
        unknown = set(self.limits) - set(defaults.KERNEL_LIMITS)
        if unknown:
            raise ValueError(f"unknown kernel limits {sorted(unknown)}; expected some of "
                             f"{sorted(defaults.KERNEL_LIMITS)}")
        self.limits = {**defaults.KERNEL_LIMITS, **self.limits}  # a limit not given keeps its default

    def n_workers(self, cpus: int | None) -> int:
        """Workers to start: as asked, or one more than the CPUs (each notebook also waits)."""
        return self.workers or min(defaults.MAX_WORKERS, (cpus or 1) + 1)
