"""A class on one machine, for the tests that walk it: real Unix users, nbgrader's exchange, the
instructor's private course, and the course's environment made usable by those users.

Used by ``tests/test_exchange.py`` (the command-line loop) and ``tests/test_class_browser.py``
(JupyterLab in Chromium), which share one :class:`ClassMachine` for the whole session.

Users
    ``aecls-instructor``, three students ``aecls-alice``, ``aecls-bob``, ``aecls-carol`` (the
    command-line loop) and ``aecls-dave`` (the browser loop), each
    with a home (0700) under a fresh ``/tmp/aecls-*`` folder, all in the group ``aecls-class``
    (used only for the permission grant below). They are removed, with their homes, at the end;
    users left by an interrupted run are removed first.
The course's environment for other users
    The course's Python may live where other users cannot go (a pyenv under ``/root``, mode
    0700). For the session, every directory on the way to the interpreter, the virtual
    environment and this checkout that other users cannot traverse gets ONE extra ACL entry,
    ``group:aecls-class:--x`` (traverse, not list, not read), with ``setfacl``; each directory's
    ACL and mode are saved with ``getfacl`` and restored in a ``finally`` (nothing else on the
    machine changes; nothing is needed where the directories are already traversable). The
    users run the course's own ``.venv/bin`` tools with a clean environment.
Exchange
    ``<root>/exchange``, created by root with mode 1777 (nbgrader requires a world-writable
    exchange root; the sticky bit stops one user renaming another's course folder). The
    instructor's ``nbgrader release_assignment`` creates ``<course id>/outbound`` (0755) and
    ``inbound`` (02733: students write, cannot list), and the instructor adds the sticky bit to
    ``inbound`` (03733) so no student can rename or remove another's submission. Students use
    ``tools/class_server_nbgrader_config.py`` (course id, exchange, and submissions readable only
    by their owner and the instructor's group).
Instructor's course
    A copy of this repository's course files (``solutions/``, ``exercises/``,
    ``nbgrader_config.py``, ``tools/``, the library), owned by the instructor, mode 0700.
    nbgrader commands run as the instructor there. The grader (:data:`GRADER`) runs as root, as
    ``sudo make autograde`` would (its sandbox needs root), and its output is given back to the
    instructor (``chown``).

nbgrader's start-up costs about 5 CPU seconds (it imports a JSON-schema stack), so the commands of
one user's step run in one process, one after the other, exactly as ``nbgrader <args>`` runs them
(``NbGraderApp`` with that argv, reset between commands, the way nbgrader's own tests run it):
see :data:`NBGRADER_BATCH`.
"""
from __future__ import annotations

import contextlib
import grp
import json
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: The grader's command line, in one place (``[sys.executable, "-m", "aegrade"]`` once installed).
GRADER = [sys.executable, "-m", "aegrade"]
COURSE_ID = "aefs"
PREFIX = "aecls"
GROUP = f"{PREFIX}-class"
INSTRUCTOR = f"{PREFIX}-instructor"
#: The students of the command-line loop (tests/test_exchange.py) ...
STUDENTS = (f"{PREFIX}-alice", f"{PREFIX}-bob", f"{PREFIX}-carol")
#: ... and the one who works in the browser (tests/test_class_browser.py).
BROWSER_STUDENT = f"{PREFIX}-dave"
USERS = (INSTRUCTOR,) + STUDENTS + (BROWSER_STUDENT,)
PROBLEM_SETS = sorted(p.name for p in (REPO / "solutions").iterdir()
                      if p.is_dir() and (p / f"{p.name}.ipynb").exists())
#: The instructor's course: what of this repository is copied (the private repository's clone).
COURSE_FILES = ("nbgrader_config.py", "solutions", "exercises", "tools", "autoencoder_np", "pyproject.toml")
STUDENT_CONFIG = REPO / "tools" / "class_server_nbgrader_config.py"

#: Runs, in one process, a JSON list (read from stdin) of steps: ``[args...]`` runs
#: ``nbgrader <args>`` as the ``nbgrader`` command does (NbGraderApp, reset after each command, as
#: nbgrader's own tests run it); ``{"write": path, "text": ...}`` writes a file as the user does
#: when working; ``{"sha256": path}`` reports a file's digest. Prints a JSON list of results.
NBGRADER_BATCH = r"""
import hashlib, io, json, logging, sys, traceback
from jupyter_core.application import NoStart
from nbgrader.apps import NbGraderApp
from nbgrader.validator import Validator

results = []
for args in json.load(sys.stdin):
    if isinstance(args, dict):
        if "write" in args:
            with open(args["write"], "w") as fh:
                fh.write(args["text"])
            results.append({"args": ["write", args["write"]], "code": 0, "out": "", "log": ""})
        else:
            with open(args["sha256"], "rb") as fh:
                digest = hashlib.sha256(fh.read()).hexdigest()
            results.append({"args": ["sha256", args["sha256"]], "code": 0, "out": digest, "log": ""})
        continue
    app = NbGraderApp.instance()
    log, out, real_stdout = io.StringIO(), io.StringIO(), sys.stdout
    sys.stdout = Validator.stream = out
    try:
        app.initialize(args)
        app.init_logging(logging.StreamHandler, [log], color=False, subapps=True)
        app.start()
        code = 0
    except NoStart:
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception:
        code = 99
        log.write(traceback.format_exc())
    finally:
        sys.stdout = Validator.stream = real_stdout
        app.reset()
    results.append({"args": args, "code": code, "out": out.getvalue(), "log": log.getvalue()})
print("NBGRADER-RESULTS " + json.dumps(results))
"""


def _run(argv, **kw):
    kw.setdefault("check", True)
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    return subprocess.run(argv, **kw)


# ============================================================================ permissions
def _blocked_dirs(paths) -> list[Path]:
    """Directories on the way to ``paths`` (and the paths, if directories) that other users
    cannot traverse (no ``o+x``), outermost first."""
    out: list[Path] = []
    for path in paths:
        path = Path(path)
        chain = list(reversed(path.parents)) + ([path] if path.is_dir() else [])
        for d in chain:
            if d.is_dir() and not os.stat(d).st_mode & stat.S_IXOTH and d not in out:
                out.append(d)
    return out


@contextlib.contextmanager
def traverse_grant(paths, group: str):
    """Give ``group`` traverse permission (ACL ``g:<group>:--x``) on every directory that blocks
    the way to ``paths``; restore each directory's ACL and mode afterwards."""
    blocked = _blocked_dirs(paths)
    saved = []
    try:
        if blocked and shutil.which("setfacl") is None:
            from real_parts import need
            need(False, f"setfacl (Debian package acl): {', '.join(map(str, blocked))} "
                        "cannot be traversed by other users")
        for d in blocked:
            acl = _run(["getfacl", "--absolute-names", "-p", str(d)]).stdout
            saved.append((d, stat.S_IMODE(os.stat(d).st_mode), acl))
            _run(["setfacl", "-m", f"g:{group}:x", str(d)])
        yield blocked
    finally:
        for d, mode, acl in reversed(saved):
            _run(["setfacl", "--restore=-"], input=acl, check=False)
            if not re.search(r"^(user|group|mask):[^:]+:", acl, re.M):
                _run(["setfacl", "-b", str(d)], check=False)
            os.chmod(d, mode)


# ============================================================================ users
def _remove_users() -> None:
    for user in USERS:
        try:
            pwd.getpwnam(user)
        except KeyError:
            continue
        _run(["userdel", "-f", user], check=False)
    try:
        grp.getgrnam(GROUP)
        _run(["groupdel", GROUP], check=False)
    except KeyError:
        pass


@dataclass
class ClassMachine:
    """The class's machine; see the module's docstring."""

    root: Path
    exchange: Path
    course: Path
    homes: dict = field(default_factory=dict)
    bin: Path = Path(sys.executable).parent

    # ------------------------------------------------------------------ running as a user
    def env(self, user: str, **extra) -> dict:
        env = {"HOME": str(self.homes[user]), "USER": user, "LOGNAME": user,
               "PATH": f"{self.bin}:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
               "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg",
               "PYTHONDONTWRITEBYTECODE": "1", "SHELL": "/bin/bash"}
        env.update(extra)
        return env

    def run(self, user: str, argv, *, cwd=None, check=False, timeout=600, **kw):
        """Run ``argv`` as ``user`` (runuser; a clean environment; cwd default: the home)."""
        cwd = cwd or self.homes[user]
        env = self.env(user)
        cmd = ["runuser", "-u", user, "--", "env", "-i"] + [f"{k}={v}" for k, v in env.items()] + list(argv)
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              check=check, **kw)

    def popen(self, user: str, argv, *, cwd=None, **kw):
        cwd = cwd or self.homes[user]
        env = self.env(user, **kw.pop("extra_env", {}))
        cmd = ["runuser", "-u", user, "--", "env", "-i"] + [f"{k}={v}" for k, v in env.items()] + list(argv)
        return subprocess.Popen(cmd, cwd=cwd, **kw)

    def python(self, user: str, code: str, *args, cwd=None, timeout=600, input=None):
        return self.run(user, [str(self.bin / "python"), "-c", code, *map(str, args)],
                        cwd=cwd, timeout=timeout, input=input)

    def nbgrader(self, user: str, steps, *, cwd=None, timeout=900) -> list[dict]:
        """Run the ``steps`` of :data:`NBGRADER_BATCH` (mostly ``nbgrader <args>`` commands) as
        ``user``, in one process."""
        steps = [s if isinstance(s, dict) else list(map(str, s)) for s in steps]
        res = self.python(user, NBGRADER_BATCH, cwd=cwd, timeout=timeout, input=json.dumps(steps))
        line = next((ln for ln in res.stdout.splitlines() if ln.startswith("NBGRADER-RESULTS ")), None)
        if line is None:
            raise RuntimeError(f"nbgrader batch as {user} failed (exit {res.returncode}):\n"
                               f"{res.stdout[-3000:]}\n{res.stderr[-5000:]}")
        return json.loads(line[len("NBGRADER-RESULTS "):])

    def nbgrader_at_once(self, batches: dict, **kw) -> dict:
        """``{user: commands}`` -> ``{user: results}``: the users' batches run at the same time."""
        out, errors = {}, []

        def one(user, commands):
            try:
                out[user] = self.nbgrader(user, commands, **kw)
            except Exception as exc:  # reported below, in the test's thread
                errors.append(exc)

        threads = [threading.Thread(target=one, args=item) for item in batches.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return out

    def chown(self, path: Path, user: str) -> None:
        pw = pwd.getpwnam(user)
        for p in [Path(path)] + (list(Path(path).rglob("*")) if Path(path).is_dir() else []):
            os.lchown(p, pw.pw_uid, pw.pw_gid)

    def grader(self, *args, timeout=1200):
        """The grader's command line as root (as ``sudo make ...``), then the course's new files
        given back to the instructor."""
        res = subprocess.run(GRADER + ["--course", str(self.course), *map(str, args)], cwd=REPO,
                             capture_output=True, text=True, timeout=timeout)
        for name in ("autograded", "feedback", "gradebook.db", "submitted"):
            if (self.course / name).exists():
                self.chown(self.course / name, INSTRUCTOR)
        return res


def _student_config(exchange: Path) -> str:
    text = STUDENT_CONFIG.read_text()
    text, n1 = re.subn(r'^COURSE_ID = ".*"$', f'COURSE_ID = "{COURSE_ID}"', text, flags=re.M)
    text, n2 = re.subn(r'^EXCHANGE_ROOT = ".*"$', f'EXCHANGE_ROOT = "{exchange}"', text, flags=re.M)
    assert n1 == n2 == 1, "tools/class_server_nbgrader_config.py lost its COURSE_ID/EXCHANGE_ROOT lines"
    return text


def _instructor_config(exchange: Path) -> str:
    return ("c = get_config()  # noqa: F821\n"
            f'c.CourseDirectory.course_id = "{COURSE_ID}"\n'
            f'c.Exchange.root = "{exchange}"\n')


def _write_as(machine: ClassMachine, user: str, path: Path, text: str, mode=0o644) -> None:
    """Write a file in ``user``'s home as that user would (folders made on the way are theirs)."""
    home = machine.homes[user]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, mode)
    pw = pwd.getpwnam(user)
    p = path
    while p != home:
        os.lchown(p, pw.pw_uid, pw.pw_gid)
        p = p.parent


@contextlib.contextmanager
def class_machine():
    """Create the users, homes, exchange and instructor's course; remove everything afterwards."""
    _remove_users()
    root = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-"))
    os.chmod(root, 0o755)
    try:
        _run(["groupadd", GROUP])
        homes = {}
        for user in USERS:
            home = root / "home" / user
            home.parent.mkdir(exist_ok=True)
            _run(["useradd", "--create-home", "--home-dir", str(home), "--shell", "/bin/bash",
                  "--user-group", "--groups", GROUP, user])
            os.chmod(home, 0o700)
            homes[user] = home
        exchange = root / "exchange"
        exchange.mkdir()
        os.chmod(exchange, 0o1777)
        course = homes[INSTRUCTOR] / "course"
        machine = ClassMachine(root=root, exchange=exchange, course=course, homes=homes)
        course.mkdir()
        for rel in COURSE_FILES:
            src = REPO / rel
            if src.is_dir():
                shutil.copytree(src, course / rel, ignore=shutil.ignore_patterns(
                    "__pycache__", "*.pyc", ".ipynb_checkpoints"))
            else:
                shutil.copyfile(src, course / rel)
        machine.chown(course, INSTRUCTOR)
        os.chmod(course, 0o700)
        _write_as(machine, INSTRUCTOR, homes[INSTRUCTOR] / ".jupyter" / "nbgrader_config.py",
                  _instructor_config(exchange))
        for student in STUDENTS + (BROWSER_STUDENT,):
            _write_as(machine, student, homes[student] / ".jupyter" / "nbgrader_config.py",
                      _student_config(exchange))
        needed = [Path(sys.executable), Path(sys.executable).resolve(), Path(sys.prefix),
                  Path(sys.base_prefix), REPO / "autoencoder_np"]
        with traverse_grant(needed, GROUP):
            yield machine
    finally:
        _remove_users()
        shutil.rmtree(root, ignore_errors=True)


# ============================================================================ pytest fixtures
import pytest  # noqa: E402  (the module is also usable without pytest above this line)


@pytest.fixture(scope="session")
def class_env():
    """The :class:`ClassMachine` of the session (root needed: it creates users)."""
    from real_parts import need_program, need_root

    need_root()
    for program, package in (("useradd", "passwd"), ("runuser", "util-linux"), ("getfacl", "acl")):
        need_program(program, package)
    with class_machine() as machine:
        yield machine


@pytest.fixture(scope="session")
def released(class_env):
    """The instructor's ``nbgrader release_assignment`` of every problem set, then the sticky bit
    on the exchange's inbound folder; returns the exchange's course folder."""
    m = class_env
    results = m.nbgrader(INSTRUCTOR, [["release_assignment", ps] for ps in PROBLEM_SETS], cwd=m.course)
    for r in results:
        assert r["code"] == 0, r
    inbound = m.exchange / COURSE_ID / "inbound"
    res = m.run(INSTRUCTOR, ["chmod", "+t", str(inbound)])
    assert res.returncode == 0, res.stderr
    return m.exchange / COURSE_ID
