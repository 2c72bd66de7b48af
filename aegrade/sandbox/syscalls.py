"""The Linux system calls the sandbox needs (``unshare``, ``mount``, ``prctl``), through ctypes.

Standard library only: the launcher runs with ``python -I -S``.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

# --------------------------------------------------------------------------- constants
CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38

@functools.lru_cache(maxsize=None)
def _lib():
    """The C library, with the argument types of the calls used here (loaded once)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                           ctypes.c_ulong, ctypes.c_char_p]
    libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
    libc.unshare.argtypes = [ctypes.c_int]
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong,
                           ctypes.c_ulong, ctypes.c_ulong]
    return libc


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _b(s):
    return None if s is None else os.fsencode(s)


def mount(source, target, fstype, flags, data=None) -> None:
    """Thin wrapper around ``mount(2)``."""
    _check(_lib().mount(_b(source), _b(target), _b(fstype), flags, _b(data)),
           f"mount {source} -> {target}")


def unshare(flags: int) -> None:
    """Thin wrapper around ``unshare(2)``."""
    _check(_lib().unshare(flags), "unshare")


def prctl(option: int, arg: int) -> None:
    """Thin wrapper around ``prctl(2)`` with one argument."""
    _check(_lib().prctl(option, arg, 0, 0, 0), f"prctl({option})")


def umount_lazy(target: str) -> None:
    """Detach a mount (errors ignored)."""
    _lib().umount2(_b(target), MNT_DETACH)
