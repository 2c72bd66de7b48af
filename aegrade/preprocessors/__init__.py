"""nbgrader preprocessors that harden autograding and feedback.

They plug into nbgrader 0.9.6's own pipeline (``Autograde.sanitize_preprocessors``,
``Autograde.autograde_preprocessors`` and ``GenerateFeedback.preprocessors``, see
``nbgrader_config.py`` and :mod:`aegrade.run`):

``RestoreCellMetadata`` (sanitize, before ``OverwriteCells``)
    Puts every nbgrader flag (grade, solution, locked, task, points) back from the
    gradebook, strips nbgrader metadata from cells whose id is unknown, and removes
    cell tags (nbclient skips cells tagged ``skip-execution``: a student who tags a
    test cell would otherwise get its points without running it).
``StaticScan`` (autograde, first)
    Runs :mod:`aegrade.scan` on the code that is about to execute; a finding
    stops the pipeline before anything runs (``SubmissionFlagged``).
``SandboxedExecute`` (autograde, replaces ``Execute``)
    nbgrader's ``Execute`` plus: a wall-clock budget for the whole notebook; a kernel
    that ignores the interrupt after a cell timeout is killed and the remaining cells
    are marked as not executed (zero for their tests) instead of each waiting for its
    own timeout; output is capped while it streams in; ``clear_output`` and comm
    (widget) messages are ignored so a submission cannot hide a test's output.
``CapOutput`` (autograde, after ``LimitOutput``)
    Caps the characters kept per cell (nbgrader's ``LimitOutput`` only counts lines,
    so one 50 MB line went through), keeping the stderr/error outputs grading needs.
``HideHiddenTests`` (feedback)
    Removes the ``### BEGIN HIDDEN TESTS`` regions from the feedback and reduces the
    tracebacks of cells that had hidden tests to their last line, so feedback never
    shows the hidden tests' source.

Each of them records what happened to a submission in ``status_dir`` (JSON), which
:mod:`aegrade.run` turns into graded / flagged / ungraded.
"""
from .execute import SandboxedExecute
from .feedback import HideHiddenTests
from .output import CapOutput
from .restore import RestoreCellMetadata
from .static_scan import StaticScan
from .status import SubmissionFlagged, SubmissionUngradable

#: stderr outputs that are Python warnings (``file:line: SomeWarning: message``) are
#: dropped from graded cells by nbgrader's ``IgnorePattern``: a correct answer never loses
#: points to a warning (errors, not stderr, are what fail a test).
WARNING_PATTERN = r"(?m)^[^\n]*:\d+: \w*Warning: "

__all__ = ["CapOutput", "HideHiddenTests", "RestoreCellMetadata", "SandboxedExecute", "StaticScan",
           "SubmissionFlagged", "SubmissionUngradable", "WARNING_PATTERN", "autograde_pipeline",
           "feedback_pipeline", "sanitize_pipeline"]


#: Pipelines used by ``nbgrader_config.py`` and :mod:`aegrade.run`.
def sanitize_pipeline():
    """nbgrader's sanitize preprocessors with :class:`RestoreCellMetadata` before ``OverwriteCells``."""
    from nbgrader.preprocessors import (CheckCellMetadata, ClearOutput, DeduplicateIds,
                                        OverwriteCells, OverwriteKernelspec)
    return [ClearOutput, DeduplicateIds, OverwriteKernelspec, RestoreCellMetadata,
            OverwriteCells, CheckCellMetadata]


def autograde_pipeline():
    """nbgrader's autograde preprocessors with the scan, sandboxed execution and caps."""
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, IgnorePattern,
                                        LimitOutput, SaveAutoGrades)
    return [StaticScan, SandboxedExecute, IgnorePattern, ClearMetadataPreprocessor,
            LimitOutput, CapOutput, SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]


def feedback_pipeline():
    """nbgrader's feedback preprocessors with :class:`HideHiddenTests` first."""
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import GetGrades
    return [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]
