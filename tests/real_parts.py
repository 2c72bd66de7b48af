"""Tests that need a real part of a class's machinery: root, Chromium, Playwright, PostgreSQL, Redis.

Such a test calls :func:`need` for every part it uses. Where a part is missing the test is
skipped, and the reason shows in pytest's summary (``-ra``); under
``AECOURSE_REQUIRE_REAL_PARTS=1`` (which ``.ci/run`` sets) a missing part fails the test instead,
so CI always runs them.
"""
from __future__ import annotations

import importlib.util
import os
import shutil

import pytest

REQUIRED = os.environ.get("AECOURSE_REQUIRE_REAL_PARTS", "") == "1"
CHROMIUM = "/usr/bin/chromium"


def need(available: bool, part: str) -> None:
    """Skip (or, when real parts are required, fail) unless ``available``; ``part`` says what is missing."""
    if available:
        return
    message = f"needs {part}"
    if REQUIRED:
        pytest.fail(f"{message} (AECOURSE_REQUIRE_REAL_PARTS=1: a missing part is a failure)", pytrace=False)
    pytest.skip(message)


def need_root() -> None:
    need(hasattr(os, "geteuid") and os.geteuid() == 0, "root (creates Unix users / namespaces)")


def need_chromium() -> None:
    need(os.access(CHROMIUM, os.X_OK), f"Debian's Chromium at {CHROMIUM} (apt-get install chromium)")
    need(importlib.util.find_spec("playwright") is not None,
         "Playwright for Python (pip install -e '.[browser]')")


def need_program(name: str, package: str) -> str:
    """The path of program ``name`` (from Debian's ``package``), or skip/fail."""
    path = shutil.which(name) or next(
        (str(p) for p in _postgres_bins() if p.name == name and p.exists()), None)
    need(path is not None, f"the program {name} (Debian package {package})")
    return path


def _postgres_bins():
    from pathlib import Path
    for root in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        yield from root.iterdir()
