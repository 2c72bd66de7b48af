"""Test cells decided outside the student's kernel.

The student's kernel runs the notebook (and the visible tests, for the student to read), but a
test cell's score is computed in the grader's process: :mod:`.verdict` runs the cell's full
source there, where the student's functions are stand-ins (:mod:`.helpers`) that call into the
kernel (:mod:`.remote`) and bring back plain data (:mod:`.codec`). Nothing the kernel runs can
make a check pass except returning the right values.
"""
from .verdict import TrustedTests, Verdict

__all__ = ["TrustedTests", "Verdict"]
