"""Kernel launcher that runs a student's IPython kernel in an OS-level sandbox .

The grader installs a kernelspec whose ``argv`` is::

    [python, "-I", "-S", "<site-packages>/aegrade/sandbox/launcher.py", "-f", "{connection_file}"]

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

This package only uses the standard library so that it can run with ``python -I -S``: the
launcher (this file) with :mod:`.rootfs` (the new root) and :mod:`.syscalls`; :mod:`.probe`
finds the level.
"""
from __future__ import annotations

import json
import os
import select
import shutil
import signal
import stat
import sys
import tempfile
import time

if __package__:  # imported by the grader
    from .rootfs import CONN_IN_SANDBOX, HOME, build_root, copy_submission_files
    from .syscalls import CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUTS, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_REC, PR_SET_NO_NEW_PRIVS, PR_SET_PDEATHSIG, mount, prctl, umount_lazy, unshare
else:  # run by the kernelspec as `python -I -S launcher.py`; -I leaves this folder off sys.path
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from rootfs import CONN_IN_SANDBOX, HOME, build_root, copy_submission_files  # type: ignore[no-redef]
    from syscalls import CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUTS, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_REC, PR_SET_NO_NEW_PRIVS, PR_SET_PDEATHSIG, mount, prctl, umount_lazy, unshare  # type: ignore[no-redef]


def _log(cfg: dict, msg: str) -> None:
    path = cfg.get("log")
    if path:
        try:
            with open(path, "a") as fh:
                fh.write(f"[aegrade sandbox {os.getpid()}] {msg}\n")
        except OSError:
            pass


def _parse_argv(argv: list[str]) -> str:
    for i, a in enumerate(argv):
        if a == "-f" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("-f=") or a.startswith("--f="):
            return a.split("=", 1)[1]
    raise SystemExit("aegrade sandbox: missing -f {connection_file}")


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



def _drop_privileges(uid: int) -> None:
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    if os.getuid() == 0 or os.geteuid() == 0:  # pragma: no cover - paranoia
        raise SystemExit("aegrade sandbox: could not drop privileges")


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
        raise SystemExit("aegrade sandbox: AEGRADE_SANDBOX_CONFIG is not set")
    with open(cfg_path) as fh:
        cfg = json.load(fh)
    limits = dict(cfg["limits"])  # the grader always writes them (aegrade.defaults.KERNEL_LIMITS)
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
                    sys.stderr.write(f"aegrade sandbox: cannot start kernel: {exc!r}\n")
                finally:
                    os._exit(127)
            code = _init_loop(kpid)
        except BaseException as exc:  # noqa: BLE001
            sys.stderr.write(f"aegrade sandbox: {exc!r}\n")
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



if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
