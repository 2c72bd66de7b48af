"""The OS sandbox a submission's kernel runs in (standard library only).

:mod:`.launcher` is what the grading kernelspec runs (``python -I -S launcher.py -f CONN``);
:mod:`.rootfs` builds the kernel's file system, :mod:`.syscalls` holds the Linux calls, and
:mod:`.probe` finds the strongest level the machine allows. Nothing here imports anything
outside the standard library.
"""
from pathlib import Path

#: The file the kernelspec runs.
LAUNCHER = Path(__file__).resolve().parent / "launcher.py"
