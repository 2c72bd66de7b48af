"""Shared pytest configuration.

Puts the repository root on ``sys.path`` (so ``tools`` imports) and points the MNIST loader at
``../shared/data/mnist`` beside the checkout when that folder exists and nothing else was set.
"""
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

if "AUTOENCODER_NP_DATA" not in os.environ and SHARED_MNIST.is_dir():
    os.environ["AUTOENCODER_NP_DATA"] = str(SHARED_MNIST)


def pytest_report_header(config):
    from real_parts import REQUIRED
    return ("real parts (root, Chromium, PostgreSQL, Redis): "
            + ("required, a missing one fails (AECOURSE_REQUIRE_REAL_PARTS=1)" if REQUIRED
               else "used where present, skipped with the reason otherwise"))
