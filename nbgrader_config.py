"""nbgrader 0.9.6 configuration of the course "Autoencoders from scratch".

The course root is the folder of this file: ``solutions/`` holds the instructor's source
notebooks, ``exercises/`` the student release (``nbgrader generate_assignment``), and the
instructor-side folders ``submitted/``, ``autograded/``, ``feedback/`` and ``gradebook.db``
are git-ignored. The problem sets are the folders of ``solutions/`` (nbgrader 0.9 creates each
assignment in the gradebook when it generates it).

Plain ``nbgrader autograde`` with this file already gets the hardened pipeline of the installed
grading package ``aegrade`` (restored cell metadata, static scan, output caps, interrupt-ignoring
kernels killed, feedback without hidden tests). The *sandboxed* kernel and the parallel,
watchdogged grading of a whole class come from ``aegrade autograde`` (``make autograde``), which
reuses this file.
"""
import os

c = get_config()  # noqa: F821 - injected by traitlets

HERE = os.path.dirname(os.path.abspath(__file__))

# ---------------------------------------------------------------- course folders
c.CourseDirectory.root = HERE
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.submitted_directory = "submitted"    # git-ignored
c.CourseDirectory.autograded_directory = "autograded"  # git-ignored
c.CourseDirectory.feedback_directory = "feedback"      # git-ignored
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".grading"]

# ---------------------------------------------------------------- submissions are not trusted
c.LimitOutput.max_lines = 200                 # lines of output kept per cell
c.LimitOutput.max_traceback = 60

# ---------------------------------------------------------------- hardened pipelines and limits
try:
    from aegrade.nbgrader_setup import harden
except ImportError as _exc:  # pragma: no cover - only without the course's environment
    raise ImportError(f"nbgrader_config.py needs the course's grading package aegrade ({_exc}); "
                      "install the course with `pip install -e .[dev]` (or `make venv`)") from _exc
harden(c)  # cell and notebook time limits, output caps, restored tests, no hidden tests in feedback
