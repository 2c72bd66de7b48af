"""Shared pytest configuration.

Points the MNIST loader at ``../shared/data/mnist`` beside the checkout when that folder exists
and nothing else was set. (The course's build scripts in ``tools/`` import because pytest's
``pythonpath`` setting in ``pyproject.toml`` names the repository root.)
"""
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"

if "AUTOENCODER_NP_DATA" not in os.environ and SHARED_MNIST.is_dir():
    os.environ["AUTOENCODER_NP_DATA"] = str(SHARED_MNIST)


def pytest_report_header(config):
    from real_parts import REQUIRED
    return ("real parts (root, Chromium, PostgreSQL, Redis): "
            + ("required, a missing one fails (AECOURSE_REQUIRE_REAL_PARTS=1)" if REQUIRED
               else "used where present, skipped with the reason otherwise"))
