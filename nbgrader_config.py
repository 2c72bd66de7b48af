"""nbgrader 0.9.6 configuration of the course "Autoencoders from scratch".

The course root is the folder of this file: ``solutions/`` holds the instructor's source
notebooks, ``exercises/`` the student release (``nbgrader generate_assignment``), and the
instructor-side folders ``submitted/``, ``autograded/``, ``feedback/`` and ``gradebook.db``
are git-ignored.

Plain ``nbgrader autograde`` with this file already gets the hardened pipeline of
``tools/grading_preprocessors.py`` (restored cell metadata, static scan, output caps,
interrupt-ignoring kernels killed, feedback without hidden tests).  The *sandboxed*
kernel and the parallel, watchdogged grading of a whole class come from
``python -m tools.grading autograde`` (``make autograde``), which reuses this file.
"""
import os
import sys

c = get_config()  # noqa: F821 - injected by traitlets

HERE = os.path.dirname(os.path.abspath(__file__))

#: The graded problem sets, in course order (nbgrader 0.9 has no ``db_assignments``:
#: ``nbgrader generate_assignment`` creates each assignment in the gradebook).
ASSIGNMENTS = [
    "ps1_forward_and_losses",
    "ps2_backprop",
    "ps3_pca",
    "ps4_energy_and_conservativeness",
    "ps5_regularizers",
]

# ---------------------------------------------------------------- course folders
c.CourseDirectory.root = HERE
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.submitted_directory = "submitted"    # git-ignored
c.CourseDirectory.autograded_directory = "autograded"  # git-ignored
c.CourseDirectory.feedback_directory = "feedback"      # git-ignored
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".grading"]

# ---------------------------------------------------------------- execution
c.Execute.timeout = 60                        # seconds per cell: an infinite loop times out
c.Execute.interrupt_on_timeout = True         # ... and is interrupted (its test scores zero)
c.Execute.raise_on_iopub_timeout = False      # a kernel that ignores the interrupt does not crash the batch
c.Execute.startup_timeout = 60
c.Execute.skip_cells_with_tag = "aegrade-this-tag-is-never-skipped"  # "skip-execution" would skip tests

# ---------------------------------------------------------------- submissions are not trusted
c.OverwriteCells.add_missing_cells = True     # deleted test cells come back
c.LimitOutput.max_lines = 200                 # lines of output kept per cell
c.LimitOutput.max_traceback = 60

# ---------------------------------------------------------------- hardened pipelines
if HERE not in sys.path:
    sys.path.insert(0, HERE)
try:
    from tools import grading_preprocessors as _gp
except ImportError as _exc:  # pragma: no cover - only without the course's tools/
    print(f"nbgrader_config.py: tools.grading_preprocessors unavailable ({_exc}); "
          "using nbgrader's default (unhardened) pipelines", file=sys.stderr)
else:
    c.Autograde.sanitize_preprocessors = _gp.sanitize_pipeline()
    c.Autograde.autograde_preprocessors = _gp.autograde_pipeline()
    c.GenerateFeedback.preprocessors = _gp.feedback_pipeline()
    c.SandboxedExecute.wall_limit = 600.0     # seconds for a whole notebook
    c.SandboxedExecute.max_cell_chars = 20000  # output characters kept per cell (one 50 MB line)
    c.CapOutput.max_cell_chars = 20000
    c.IgnorePattern.enabled = True            # a correct answer never loses points to a warning
    c.IgnorePattern.pattern = _gp.WARNING_PATTERN
