"""The grader's production defaults, in one place (options, nbgrader's configuration and the
preprocessors all read them from here)."""

#: Seconds a single cell may run (nbgrader's ``Execute.timeout``).
CELL_TIMEOUT = 60
#: Wall-clock seconds for a whole notebook (nbgrader only limits cells).
WALL_LIMIT = 600.0
#: Seconds a kernel may take to start.
STARTUP_TIMEOUT = 60
#: Output characters kept per cell, while it streams in and in the saved notebook.
MAX_CELL_CHARS = 20_000
#: Larger submitted notebooks are not graded.
MAX_NOTEBOOK_BYTES = 8 * 1024 ** 2
#: Total size of a submission folder that is staged.
MAX_SUBMISSION_BYTES = 64 * 1024 ** 2
#: Resource limits of the sandboxed kernel.
KERNEL_LIMITS = {
    "as_bytes": 4 * 1024 ** 3,       # address space per process
    "cpu_seconds": 900,              # CPU time per process
    "nproc": 64,                     # processes and threads of the kernel's own uid
    "fsize_bytes": 256 * 1024 ** 2,  # largest file it may write
    "nofile": 1024,                  # open files
}
#: Most workers started at once (0 workers = one more than the CPUs, up to this).
MAX_WORKERS = 8
#: The kernelspec name under which the sandboxed kernel is registered in a grading run.
KERNEL_NAME = "aegrade-sandbox"
#: Student ids accepted in folder and file names.
STUDENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}$"
#: The run's report, inside ``<course>/autograded`` (a dot-folder nbgrader ignores).
REPORT_DIR = ".grading"
#: nbclient skips cells carrying ``skip_cells_with_tag``; a tag nobody can know keeps every cell.
NEVER_SKIPPED_TAG = "aegrade-this-tag-is-never-skipped"

#: The table beside nbgrader's in a gradebook where ``autograde --db/--broker`` keeps one row per
#: submission (status, reason, scores, checksums).
RESULTS_TABLE = "aegrade_results"
