"""Try the distributed mode on one machine: a private Redis and PostgreSQL and two workers.

    python -m aegrade.distributed.trial [--course DIR] [--workers 2]      (or: make distributed-trial)

It prints the ``aegrade autograde --broker ... --db ...`` command to grade with, and runs until
Ctrl-C, then stops the workers and both servers and removes their data.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..course import SOURCE_DIR, env_bin_first
from .local_servers import LocalPostgres, LocalRedis


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--course", type=Path, default=Path.cwd())
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    course = args.course.resolve()
    if not (course / SOURCE_DIR).is_dir():
        print(f"{course} is not a course folder (no {SOURCE_DIR}/); pass --course DIR", file=sys.stderr)
        return 2
    redis, pg = LocalRedis(), LocalPostgres()
    procs = []
    try:
        redis.start()
        pg.start()
        for i in range(args.workers):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "aegrade", "--course", str(course), "worker", "--broker", redis.url,
                 "--concurrency", "1", "--name", f"trial{i}@%h"], env=env_bin_first(), start_new_session=True))
        print(f"\nRedis {redis.url}, PostgreSQL {pg.url}, {args.workers} worker(s). Grade with:\n\n"
              f"    aegrade --course {course} autograde --broker {redis.url} --db {pg.url}\n\n"
              "Ctrl-C stops the workers and both servers (their data is removed).\n", flush=True)
        while all(p.poll() is None for p in procs):
            time.sleep(1)
        print("a worker exited; stopping", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        redis.close()
        pg.close()


if __name__ == "__main__":
    sys.exit(main())
