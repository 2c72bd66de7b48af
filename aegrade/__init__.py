"""aegrade: the course's grading engine, on top of nbgrader 0.9.6.

A submission's path from ``aegrade autograde`` to the grades CSV::

    cli -> commands.cmd_autograde -> run.autograde_dir
        submissions  (find, validate, stage into a private copy; first static-scan pass)
        nbgrader_setup + sandbox_setup  (one nbgrader configuration; the sandboxed kernelspec)
        workers      (forked nbgrader workers, one submission at a time each, watchdog)
          preprocessors  (restore cell metadata, static scan, sandboxed execution, output caps)
            sandbox      (the kernel's own uid, namespaces, limits; standard library only)
            checks       (each test cell decided in the worker's process, never in the kernel)
        gradebook    (scores back from the run's gradebook; flagged/ungraded removed)
    -> gradebook.publish  (autograded/, gradebook.db, autograded/.grading/report.json)
    -> commands.cmd_grades -> gradebook.grades_rows -> grades.csv

The modules: :mod:`.defaults`, :mod:`.options`, :mod:`.course`, :mod:`.notebooks`,
:mod:`.submissions`, :mod:`.isolation`, :mod:`.nbgrader_setup`, :mod:`.sandbox_setup`,
:mod:`.workers`, :mod:`.run`, :mod:`.gradebook`, :mod:`.report`, :mod:`.commands`,
:mod:`.cli`; the subpackages :mod:`.preprocessors`, :mod:`.checks`, :mod:`.scan` and
:mod:`.sandbox`.
"""
from .course import assignments_in
from .notebooks import reference_submission
from .options import GradingOptions
from .run import GradingRun, autograde_dir
from .submissions import discover_submissions

__all__ = ["GradingOptions", "GradingRun", "assignments_in", "autograde_dir", "discover_submissions",
           "reference_submission"]
