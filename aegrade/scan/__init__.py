"""Static scan of submitted notebooks before anything runs.

A first line of defence: it spares the sandbox most hostile code and reports it, with the
offending lines, for a person to review. It is a rule list on Python's AST, so it can be walked
around; grading integrity does not rest on it (see :mod:`aegrade.sandbox`).

Modules: :mod:`.rules` (what is refused), :mod:`.context` (what the reference solution allows),
:mod:`.visitor` (one cell), :mod:`.notebook` (a whole submission).
"""
from .context import build_context
from .notebook import cells_to_scan, scan_notebook
from .rules import BASE_ALLOWED_IMPORTS, Finding, ScanContext
from .visitor import scan_source

__all__ = ["BASE_ALLOWED_IMPORTS", "Finding", "ScanContext", "build_context", "cells_to_scan",
           "scan_notebook", "scan_source"]
