"""Shared pytest configuration: the course folder goes on ``sys.path`` (so ``tools`` imports).

The MNIST loader looks for the data where the README's *Data* section says: ``$AUTOENCODER_NP_DATA``
or ``~/.cache/autoencoder_np/mnist``; without it the lectures fall back to scikit-learn's digits.
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
