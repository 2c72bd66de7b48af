"""Which sandbox level this machine allows (``full``, ``uid`` or ``none``), and why."""
from __future__ import annotations

import os
import sys
import tempfile

if __package__:  # imported by the grader
    from .rootfs import _bind
    from .syscalls import CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUTS, MS_NODEV, MS_NOSUID, MS_PRIVATE, MS_REC, mount, umount_lazy, unshare
else:  # run by the launcher as a script (it put this folder on sys.path)
    from rootfs import _bind  # type: ignore[no-redef]
    from syscalls import CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUTS, MS_NODEV, MS_NOSUID, MS_PRIVATE, MS_REC, mount, umount_lazy, unshare  # type: ignore[no-redef]


def probe_level() -> tuple[str, str]:
    """Find the strongest sandbox level this process can use.

    Returns
    -------
    (level, detail) : tuple of str
        ``level`` is ``"full"``, ``"uid"`` or ``"none"``; ``detail`` explains why.
    """
    if not sys.platform.startswith("linux"):
        return "none", f"platform {sys.platform} has no Linux namespaces"
    if os.geteuid() != 0:
        return "none", "the grader is not running as root (cannot switch uid)"
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        msg = "ok"
        try:
            unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS)
            mount(None, "/", None, MS_REC | MS_PRIVATE)
            d = tempfile.mkdtemp(prefix="aegrade-probe-")
            try:
                mount("tmpfs", d, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m")
                _bind("/usr", d)
                umount_lazy(d)
            finally:
                os.rmdir(d)
            c = os.fork()
            if c == 0:
                os._exit(0 if os.getpid() == 1 else 3)
            _, st = os.waitpid(c, 0)
            if not (os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0):
                msg = "new PID namespace did not start at pid 1"
        except Exception as exc:  # noqa: BLE001
            msg = repr(exc)
        try:
            os.write(w, msg.encode()[:500])
        finally:
            # never return into the caller's code inside the new namespaces (a parent killed
            # meanwhile makes the write fail: the child must still end here)
            os._exit(0)
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 1024)
        if not chunk:
            break
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    msg = data.decode() or "probe crashed"
    if msg == "ok":
        return "full", "root with mount/network/PID namespaces"
    readable = python_usable_by_other_uid()
    if readable:
        return "none", (f"root, but namespaces are unavailable ({msg}) and {readable}")
    return "uid", f"root, but namespaces are unavailable ({msg})"


def python_usable_by_other_uid(uid: int = 1_899_999_999) -> str:
    """'' if an unprivileged uid can run this Python installation, else why not."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            os.stat(os.path.realpath(sys.executable))
            os.listdir(os.path.join(sys.base_prefix, "lib"))
            os.listdir(sys.prefix)
            code = 0 if os.access(os.path.realpath(sys.executable), os.X_OK) else 1
        except OSError:
            code = 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return ""
    return f"an unprivileged uid cannot run {sys.executable} (its installation is not world-readable)"
