"""Kernel launcher that runs a student's IPython kernel in an OS-level sandbox (issue 7).

The grader installs a kernelspec whose ``argv`` is::

    [python, "-I", "-S", "/abs/path/tools/kernel_sandbox.py", "-f", "{connection_file}"]

``jupyter_client`` starts this launcher (as root) in the notebook's folder.  The launcher
reads its settings from the JSON file named by ``$AEGRADE_SANDBOX_CONFIG`` and, at the
strongest level the machine allows, does the following before ``ipykernel`` runs:

``full`` (root, Linux namespaces available -- no Docker, no bubblewrap needed)
    * new mount, network, PID, IPC and UTS namespaces (``unshare(2)``); the network
      namespace has only a loopback interface that is down;
    * a new root file system on a size-limited ``tmpfs`` holding only read-only bind
      mounts of the system directories (``/usr``, ``/etc``, ``/lib*``, ``/bin``), the
      Python installation and virtualenv, and the extra read-only paths of the course
      (the library, the data); private ``/tmp``, ``/dev/shm`` and ``/proc``; the course
      folder, the grader's work folder, other students' folders and the gradebook do
      not exist in it;
    * a home folder (``/home/student``) holding a copy of the submission folder's
      *non-notebook* files (the notebook itself, which contains the hidden tests after
      nbgrader restored them, is never visible to the kernel);
    * a fresh uid/gid (``uid_base + pid``; PIDs are below 2**22) that no other process uses, no
      supplementary groups, ``PR_SET_NO_NEW_PRIVS``, and resource limits
      (``RLIMIT_AS``, ``RLIMIT_CPU``, ``RLIMIT_NPROC``, ``RLIMIT_FSIZE``,
      ``RLIMIT_NOFILE``, ``RLIMIT_CORE=0``);
    * a minimal environment (no ``NBGRADER_*`` variable, no ``JPY_*``).
    When the kernel exits, PID 1 of the namespace exits and the kernel kills every
    process left in it (fork bombs included).
``uid`` (root, but namespaces refused, e.g. an unprivileged container)
    unprivileged uid + resource limits + a private home; the rest of the file system
    is only protected by its permissions and the network is reachable.
``none`` (not root)
    resource limits only (no ``RLIMIT_NPROC``, which would count the grader's own
    processes).  The grader warns loudly, once per run.

The kernel talks to the grader over ZeroMQ ``ipc://`` sockets in the grader's runtime
folder (bind-mounted into the sandbox) because TCP on the host loopback does not exist
inside a new network namespace.

This file only uses the standard library so that it can run with ``python -I -S``.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import select
import shutil
import signal
import stat
import sys
import tempfile
import time

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

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
DEVICES = ("null", "zero", "full", "random", "urandom")
HOME = "/home/student"
CONN_IN_SANDBOX = "/run/aegrade/kernel.json"

DEFAULT_LIMITS = {
    "as_bytes": 4 * 1024 ** 3,
    "cpu_seconds": 900,
    "nproc": 64,
    "fsize_bytes": 256 * 1024 ** 2,
    "nofile": 1024,
}

_libc = None


def _lib():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        _libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                                ctypes.c_ulong, ctypes.c_char_p]
        _libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
        _libc.unshare.argtypes = [ctypes.c_int]
        _libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong,
                                ctypes.c_ulong, ctypes.c_ulong]
    return _libc


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


# --------------------------------------------------------------------------- helpers
def _log(cfg: dict, msg: str) -> None:
    path = cfg.get("log")
    if path:
        try:
            with open(path, "a") as fh:
                fh.write(f"[kernel_sandbox {os.getpid()}] {msg}\n")
        except OSError:
            pass


def _parse_argv(argv: list[str]) -> str:
    for i, a in enumerate(argv):
        if a == "-f" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("-f=") or a.startswith("--f="):
            return a.split("=", 1)[1]
    raise SystemExit("kernel_sandbox: missing -f {connection_file}")


def kernel_env(cfg: dict, home: str, tmp: str) -> dict:
    """The minimal environment a sandboxed kernel gets."""
    python_bin = os.path.dirname(cfg["python"])
    env = {
        "PATH": f"{python_bin}:/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "USER": "student",
        "LOGNAME": "student",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TMPDIR": tmp,
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": os.path.join(tmp, "matplotlib"),
        "IPYTHONDIR": os.path.join(home, ".ipython"),
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "NUMEXPR_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        # "started by a frontend": no stdout banner, and no parent poller (pid 1 is ours)
        "JPY_PARENT_PID": "1",
    }
    for key, value in (cfg.get("env") or {}).items():
        if not key.upper().startswith(("NBGRADER", "JPY_", "AEGRADE")):
            env[key] = str(value)
    return env


def set_limits(limits: dict, *, nproc: bool) -> None:
    """Apply the resource limits to the current process (inherited by the kernel)."""
    import resource

    def lim(res, soft, hard=None):
        hard = soft if hard is None else hard
        try:
            resource.setrlimit(res, (soft, hard))
        except (ValueError, OSError):
            cur_soft, cur_hard = resource.getrlimit(res)
            if cur_hard != resource.RLIM_INFINITY:
                soft = min(soft, cur_hard)
                hard = min(hard, cur_hard)
            resource.setrlimit(res, (soft, hard))

    lim(resource.RLIMIT_AS, int(limits["as_bytes"]))
    lim(resource.RLIMIT_CPU, int(limits["cpu_seconds"]), int(limits["cpu_seconds"]) + 5)
    lim(resource.RLIMIT_FSIZE, int(limits["fsize_bytes"]))
    lim(resource.RLIMIT_NOFILE, int(limits["nofile"]))
    lim(resource.RLIMIT_CORE, 0)
    if nproc:
        lim(resource.RLIMIT_NPROC, int(limits["nproc"]))


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


def _drop_privileges(uid: int) -> None:
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    if os.getuid() == 0 or os.geteuid() == 0:  # pragma: no cover - paranoia
        raise SystemExit("kernel_sandbox: could not drop privileges")


def _exec_kernel(cfg: dict, conn_path: str, env: dict) -> None:
    argv = [cfg["python"]] + list(cfg.get("kernel_args") or
                                  ["-m", "ipykernel_launcher",
                                   "--HistoryManager.hist_file=:memory:"]) + ["-f", conn_path]
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    os.execve(argv[0], argv, env)


def _kill_uid(uid: int) -> None:
    """Kill every process running as ``uid`` (fork-bomb leftovers)."""
    if uid is None or os.geteuid() != 0:
        return
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            for _ in range(3):
                try:
                    os.kill(-1, signal.SIGKILL)
                except OSError:
                    break
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def _wait_child(pid: int, parent: int) -> int:
    """Wait for ``pid``; kill it if our own parent (the grader) goes away."""
    fd = None
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        fd = None
    while True:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return 1
        if done:
            if os.WIFEXITED(status):
                return os.WEXITSTATUS(status)
            return 128 + os.WTERMSIG(status)
        if os.getppid() != parent:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if fd is not None:
            select.select([fd], [], [], 0.5)
        else:
            time.sleep(0.05)


def _init_loop(kpid: int) -> int:
    """PID-1 duties: reap every child, return when the kernel exits."""
    def forward(signum, _frame):
        try:
            os.kill(kpid, signum)
        except OSError:
            pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGHUP, forward)
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return 1
        except InterruptedError:
            continue
        if pid == kpid:
            if os.WIFEXITED(status):
                return os.WEXITSTATUS(status)
            return 128 + os.WTERMSIG(status)


def run(argv: list[str]) -> int:
    """Entry point: start the kernel described by ``-f <connection file>``."""
    conn_src = _parse_argv(argv)
    cfg_path = os.environ.get("AEGRADE_SANDBOX_CONFIG")
    if not cfg_path:
        raise SystemExit("kernel_sandbox: AEGRADE_SANDBOX_CONFIG is not set")
    with open(cfg_path) as fh:
        cfg = json.load(fh)
    limits = dict(DEFAULT_LIMITS)
    limits.update(cfg.get("limits") or {})
    level = cfg.get("level", "none")
    cwd = os.getcwd()
    parent = os.getppid()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the kernel gets SIGINT via its process group
    with open(conn_src) as fh:
        conn = json.load(fh)
    scratch = cfg.get("scratch") or tempfile.gettempdir()
    uid = None
    newroot = home = None
    if level in ("full", "uid"):
        uid = int(cfg.get("uid_base", 1_900_000_000)) + os.getpid() % int(cfg.get("uid_span", 4_194_304))
    _log(cfg, f"level={level} uid={uid} cwd={cwd}")

    if level == "full":
        newroot = tempfile.mkdtemp(prefix="root-", dir=scratch)
        unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS)
        mount(None, "/", None, MS_REC | MS_PRIVATE)
        build_root(cfg, newroot, conn, conn_src, cwd, uid)
        conn_path = CONN_IN_SANDBOX
        env = kernel_env(cfg, HOME, "/tmp")
    else:
        home = tempfile.mkdtemp(prefix="home-", dir=scratch)
        tmp = os.path.join(home, ".tmp")
        os.mkdir(tmp, 0o700)
        copy_submission_files(cwd, home, int(cfg.get("copy_max_bytes", 50 * 1024 ** 2)), uid)
        mpl = cfg.get("mpl_cache")
        if mpl and os.path.isdir(mpl):
            shutil.copytree(mpl, os.path.join(tmp, "matplotlib"))
        conn_path = os.path.join(home, ".kernel.json")
        shutil.copyfile(conn_src, conn_path)
        os.chmod(conn_path, 0o600)
        if uid is not None:
            for dp, dn, fn in os.walk(home):
                os.chown(dp, uid, uid)
                for f in fn:
                    os.chown(os.path.join(dp, f), uid, uid)
        env = kernel_env(cfg, home, tmp)

    p_pid = os.getpid()
    cpid = os.fork()
    if cpid == 0:  # ---------------------------------------------------------- C
        code = 1
        try:
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            # inside a new PID namespace the parent shows up as pid 0
            if os.getppid() != (0 if level == "full" else p_pid):
                os._exit(1)
            if level == "full":
                mount("proc", newroot + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
                os.chroot(newroot)
                os.chdir(HOME)
                try:
                    import socket
                    socket.sethostname("sandbox")
                except (OSError, AttributeError):
                    pass
            else:
                os.chdir(home)
            kpid = os.fork()
            if kpid == 0:  # ------------------------------------------------- K
                try:
                    os.umask(0o077)
                    set_limits(limits, nproc=uid is not None)
                    if uid is not None:
                        _drop_privileges(uid)
                    _exec_kernel(cfg, conn_path, env)
                except BaseException as exc:  # noqa: BLE001
                    sys.stderr.write(f"kernel_sandbox: cannot start kernel: {exc!r}\n")
                finally:
                    os._exit(127)
            code = _init_loop(kpid)
        except BaseException as exc:  # noqa: BLE001
            sys.stderr.write(f"kernel_sandbox: {exc!r}\n")
        finally:
            os._exit(code)

    # --------------------------------------------------------------------------- P
    def on_term(signum, _frame):
        try:
            os.kill(cpid, signal.SIGKILL)
        except OSError:
            pass

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    code = _wait_child(cpid, parent)
    _log(cfg, f"uid={uid} kernel exited with {code}")
    # clean up
    if uid is not None and level != "full":
        _kill_uid(uid)  # (in "full" mode the PID namespace already took them down)
    if newroot:
        umount_lazy(newroot)
        try:
            os.rmdir(newroot)
        except OSError:
            pass
    if home:
        shutil.rmtree(home, ignore_errors=True)
    if conn.get("transport") == "ipc" and uid is not None:
        ipc_dir = os.path.dirname(os.path.abspath(conn["ip"]))
        try:
            for name in os.listdir(ipc_dir):
                path = os.path.join(ipc_dir, name)
                try:
                    st = os.lstat(path)
                except OSError:
                    continue
                if st.st_uid == uid:
                    if stat.S_ISDIR(st.st_mode):
                        shutil.rmtree(path, ignore_errors=True)
                    else:
                        os.unlink(path)
        except OSError:
            pass
    return code


# --------------------------------------------------------------------------- probing
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
        os.write(w, msg.encode()[:500])
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
    readable = _python_usable_by_other_uid()
    if readable:
        return "none", (f"root, but namespaces are unavailable ({msg}) and {readable}")
    return "uid", f"root, but namespaces are unavailable ({msg})"


def _python_usable_by_other_uid(uid: int = 1_899_999_999) -> str:
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


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
