"""Private Redis and PostgreSQL servers on this machine, for trying the distributed mode and for
the tests: started from Debian's ``redis-server`` and PostgreSQL's ``initdb``/``pg_ctl`` on a free
loopback port, with their data in a temporary folder, and stopped (folder removed) afterwards.
Servers already running on the standard ports are never touched.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def find_program(name: str) -> str | None:
    """``name`` on ``PATH``, or in Debian's PostgreSQL folders (``/usr/lib/postgresql/*/bin``)."""
    found = shutil.which(name)
    if found:
        return found
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / name).exists():
            return str(folder / name)
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, timeout: float, proc=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server on port {port} exited with code {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


class LocalRedis:
    """A private ``redis-server`` on 127.0.0.1 that keeps its data (append-only file, synced
    on every write): a restarted server still has its queue."""

    def __init__(self, port: int | None = None, folder: Path | None = None):
        self.program = find_program("redis-server")
        if self.program is None:
            raise FileNotFoundError("redis-server not found (Debian package redis-server)")
        self.port = port or free_port()
        self.folder = Path(folder or tempfile.mkdtemp(prefix="aegrade-redis-"))
        self.proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "LocalRedis":
        self.proc = subprocess.Popen(
            [self.program, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
             "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--protected-mode", "yes",
             "--logfile", str(self.folder / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        _wait_for_port(self.port, 20, self.proc)
        return self

    def stop(self) -> None:
        """Stop the server (it writes its data first); the data folder stays for a restart."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self, down_for: float = 0.0) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


class LocalPostgres:
    """A private PostgreSQL cluster on 127.0.0.1 (and a Unix socket in its folder), trust
    authentication, one database; run as the ``postgres`` user when started by root (``initdb``
    refuses root)."""

    def __init__(self, port: int | None = None, dbname: str = "aegrade"):
        self.initdb, self.pg_ctl = find_program("initdb"), find_program("pg_ctl")
        if not (self.initdb and self.pg_ctl):
            raise FileNotFoundError("PostgreSQL's initdb/pg_ctl not found (Debian package postgresql)")
        self.port = port or free_port()
        self.dbname = dbname
        self.folder = Path(tempfile.mkdtemp(prefix="aegrade-pg-"))
        self.data = self.folder / "data"
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.user = "postgres" if os.geteuid() == 0 else os.environ.get("USER", "postgres")

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.dbname}"

    def _run(self, *argv, timeout=120) -> None:
        out = subprocess.run([*self.as_user, *argv], capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:2])} failed: {out.stderr.strip() or out.stdout.strip()}")

    def start(self) -> "LocalPostgres":
        if self.as_user:
            os.chmod(self.folder, 0o755)
            shutil.chown(self.folder, "postgres", "postgres")
        if not self.data.exists():
            self._run(self.initdb, "-A", "trust", "-U", self.user, "-E", "UTF8", "-D", str(self.data))
        self._run(self.pg_ctl, "-D", str(self.data), "-l", str(self.folder / "postgres.log"), "-w",
                  "-o", f"-k {self.folder} -p {self.port} -c listen_addresses=127.0.0.1 "
                        "-c fsync=off -c max_connections=50", "start")
        self.create_database(self.dbname)
        return self

    def create_database(self, name: str) -> str:
        """Create database ``name`` (letters, digits, ``_``) if missing; its URL."""
        import psycopg

        if not name.replace("_", "").isalnum():
            raise ValueError(f"database name {name!r}: letters, digits and _ only")
        with psycopg.connect(host="127.0.0.1", port=self.port, user=self.user, dbname="postgres",
                             autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
                conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(self.pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop")

    def close(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
