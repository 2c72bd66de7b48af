"""The sandbox's file system: a new root on a tmpfs with read-only bind mounts, and the
submission's non-notebook files copied into the kernel's home.

Standard library only: the launcher runs with ``python -I -S``.
"""
from __future__ import annotations

import os
import shutil
import stat

if __package__:  # imported by the grader
    from .syscalls import MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_REC, MS_REMOUNT, mount
else:  # run by the launcher as a script (it put this folder on sys.path)
    from syscalls import MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_REC, MS_REMOUNT, mount  # type: ignore[no-redef]

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
DEVICES = ("null", "zero", "full", "random", "urandom")
HOME = "/home/student"
CONN_IN_SANDBOX = "/run/aegrade/kernel.json"

def copy_submission_files(src: str, dst: str, max_bytes: int, uid: int | None) -> int:
    """Copy the regular, non-notebook files of ``src`` into ``dst``.

    Symbolic links, notebooks, checkpoints and anything beyond ``max_bytes`` are
    skipped.  Returns the number of bytes copied.
    """
    total = 0
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        dirnames[:] = [d for d in dirnames if not d.startswith(".ipynb_checkpoints")
                       and not os.path.islink(os.path.join(dirpath, d))]
        rel = os.path.relpath(dirpath, src)
        target_dir = dst if rel == "." else os.path.join(dst, rel)
        os.makedirs(target_dir, exist_ok=True)
        if uid is not None:
            os.chown(target_dir, uid, uid)
        for name in filenames:
            path = os.path.join(dirpath, name)
            if name.endswith(".ipynb") or name == "gradebook.db":
                continue
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode) or total + st.st_size > max_bytes:
                continue
            out = os.path.join(target_dir, name)
            shutil.copyfile(path, out, follow_symlinks=False)
            os.chmod(out, 0o600)
            if uid is not None:
                os.chown(out, uid, uid)
            total += st.st_size
    return total


def _mkdirs(path: str, mode: int = 0o755) -> None:
    os.makedirs(path, mode=mode, exist_ok=True)


def _bind(src: str, newroot: str, *, readonly: bool = True, dest: str | None = None) -> None:
    """Bind-mount ``src`` at the same absolute path (or ``dest``) inside ``newroot``."""
    dest = dest or src
    target = newroot + dest
    if os.path.isdir(src):
        _mkdirs(target)
    else:
        _mkdirs(os.path.dirname(target))
        if not os.path.exists(target):
            with open(target, "w"):
                pass
    mount(src, target, None, MS_BIND | MS_REC)
    flags = MS_BIND | MS_REMOUNT | MS_NOSUID | (MS_RDONLY if readonly else 0)
    if os.path.dirname(src) != "/dev":  # device nodes keep device access
        flags |= MS_NODEV
    try:
        mount(None, target, None, flags)
    except OSError:
        # keep the flags the source mount has (needed inside user namespaces)
        st = os.statvfs(target)
        keep = st.f_flag & (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY)
        mount(None, target, None, flags | keep)


def _covered(path: str, roots) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def build_root(cfg: dict, newroot: str, conn: dict, conn_src: str, cwd: str, uid: int) -> None:
    """Populate the sandbox root (called in the new mount namespace, as root)."""
    sizes = cfg.get("tmpfs_mb") or {}
    mount("tmpfs", newroot, "tmpfs", MS_NOSUID | MS_NODEV,
          f"size={int(sizes.get('root', 64))}m,mode=755,nr_inodes=4096")
    bound: list[str] = []
    for d in SYSTEM_DIRS:
        if os.path.islink(d):
            os.symlink(os.readlink(d), newroot + d)
        elif os.path.isdir(d):
            _bind(d, newroot)
            bound.append(d)
    # /dev
    _mkdirs(newroot + "/dev")
    mount("tmpfs", newroot + "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "size=1m,mode=755")
    for dev in DEVICES:
        if os.path.exists("/dev/" + dev):
            _bind("/dev/" + dev, newroot, readonly=False)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{newroot}/dev/{name}")
    _mkdirs(newroot + "/dev/shm")
    mount("tmpfs", newroot + "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV,
          f"size={int(sizes.get('shm', 16))}m,mode=1777")
    # /tmp
    _mkdirs(newroot + "/tmp")
    mount("tmpfs", newroot + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV,
          f"size={int(sizes.get('tmp', 64))}m,mode=1777,nr_inodes=4096")
    _mkdirs(newroot + "/proc")
    # the Python installation, the library and the data, bound AFTER the private /tmp and /dev
    # tmpfs mounts so that a checkout or virtualenv under /tmp is not hidden by them
    hidden = [os.path.abspath(h) for h in cfg.get("hidden") or []]
    for p in cfg.get("ro_paths") or []:
        p = os.path.abspath(p)
        if not os.path.exists(p) or _covered(p, bound):
            continue
        if any(_covered(h, [p]) for h in hidden):
            raise RuntimeError(f"read-only path {p} would expose the hidden folder")
        _bind(p, newroot)
        bound.append(p)
    # ZeroMQ ipc sockets live next to the connection file
    if conn.get("transport") == "ipc":
        ipc_dir = os.path.dirname(os.path.abspath(conn["ip"]))
        _bind(ipc_dir, newroot, readonly=False)
    # home with the submission's non-notebook files
    home = newroot + HOME
    _mkdirs(home, 0o700)
    os.chown(home, uid, uid)
    os.chmod(home, 0o700)
    copy_submission_files(cwd, home, int(cfg.get("copy_max_bytes", 50 * 1024 ** 2)), uid)
    mpl = cfg.get("mpl_cache")
    if mpl and os.path.isdir(mpl):
        dst = newroot + "/tmp/matplotlib"
        shutil.copytree(mpl, dst, symlinks=False)
        for dp, dn, fn in os.walk(dst):
            os.chown(dp, uid, uid)
            for f in fn:
                os.chown(os.path.join(dp, f), uid, uid)
    # connection file (contains the HMAC key; readable by the kernel's uid only)
    _mkdirs(newroot + os.path.dirname(CONN_IN_SANDBOX))
    with open(conn_src) as fh:
        data = fh.read()
    path = newroot + CONN_IN_SANDBOX
    with open(path, "w") as fh:
        fh.write(data)
    os.chown(path, uid, uid)
    os.chmod(path, 0o600)
