"""Grading past one machine, measured: local pool vs Celery with one and two workers, with faults.

    python benchmarks/distributed_benchmark.py                     # 200 toy submissions, all phases
    python benchmarks/distributed_benchmark.py --students 40 --phases local,celery2
    python benchmarks/distributed_benchmark.py --phases trivial --trivial 40

It starts a private Redis and PostgreSQL (:mod:`aegrade.distributed.local_servers`) and
``aegrade worker`` processes, on the toy course of ``tests/grading_corpus.py``. The class:
reference answers, two kinds of mistakes, unanswered releases, and every 25th submission one of
five hostile ones (``os._exit``, a monkeypatched ``np.allclose``, an IPython input transformer,
an answer that allocates 12 GB, a broken file).

Phases (``--phases``):

* ``local``: today's ``aegrade autograde`` (local pool, ``--workers 2``, SQLite gradebook);
* ``celery1``: one Celery worker of concurrency 2, PostgreSQL gradebook;
* ``celery2``: two Celery workers of concurrency 1 each, PostgreSQL gradebook;
* ``faults``: as ``celery2``, with one worker killed (``kill -9``, whole process group) after a
  third of the class and restarted, and Redis restarted after two thirds;
* ``trivial``: the coordinator's and the broker's overhead per task: trivial notebooks (one
  cell) graded by one worker of concurrency 1; overhead = (wall clock from the first task sent
  to the last result recorded - the sum of the tasks' own times) / tasks.

Every phase's statuses and per-problem scores are compared row by row with the ``local`` phase.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
FAST = ["--cell-timeout", "20", "--wall-limit", "120"]
LOST_AFTER = 20


def aegrade_cmd(*args) -> list:
    return [sys.executable, "-m", "aegrade", *map(str, args)]


def env() -> dict:
    from aegrade.course import env_bin_first

    return env_bin_first()


def hostile(ref: dict, kind: int):
    nb = json.loads(json.dumps(ref))
    code = ["import os\nos._exit(0)", "np.allclose = lambda *a, **k: True",
            "get_ipython().input_transformers_cleanup.append(lambda lines: [])",
            "_big = np.ones((40000, 40000))"][kind] if kind < 4 else None
    if code is None:
        return "{ this is not a notebook"
    nb["cells"][2]["source"] += "\n" + code + "\n"
    return nb


def build_class(course: Path, n: int, out: Path) -> None:
    from aegrade import reference_submission
    from grading_corpus import find_target, toy_source_notebook, wrong_submission, write_submission

    source = toy_source_notebook()
    release = json.loads((course / "exercises" / "toy" / "toy.ipynb").read_text())
    ref = reference_submission(source, release)
    wrong = [wrong_submission(ref, find_target(source, "toy", which=w)) for w in (0, 1)]
    for i in range(n):
        if i % 25 == 24:
            nb = hostile(ref, (i // 25) % 5)
        else:
            nb = (ref, wrong[0], wrong[1], release)[i % 4]
        write_submission(out, f"s{i:04d}", "toy", nb)


def trivial_course(dest: Path) -> Path:
    """A problem set of one answer cell and one test cell (almost nothing to execute)."""
    import nbformat

    def cell(src, **nbg):
        meta = {"grade": False, "solution": False, "locked": False, "schema_version": 3, **nbg}
        return nbformat.v4.new_code_cell(src, metadata={"nbgrader": meta})

    nb = nbformat.v4.new_notebook(cells=[
        cell("x = 1\n### BEGIN SOLUTION\nx = 2\n### END SOLUTION", solution=True, grade_id="answer"),
        cell("assert x == 2", grade=True, locked=True, points=1, grade_id="test_answer")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for i, c in enumerate(nb.cells):
        c["id"] = f"trivial-{i}"
    (dest / "solutions" / "trivial").mkdir(parents=True)
    nbformat.write(nb, dest / "solutions" / "trivial" / "trivial.ipynb")
    shutil.copyfile(REPO / "nbgrader_config.py", dest / "nbgrader_config.py")
    subprocess.run(aegrade_cmd("--course", dest, "release"), check=True, env=env(), capture_output=True)
    return dest


class Workers:
    def __init__(self, course, broker, logs):
        self.course, self.broker, self.logs, self.procs = course, broker, logs, {}

    def start(self, name, concurrency):
        log = self.logs / f"{name}.log"
        self.procs[name] = subprocess.Popen(
            aegrade_cmd("--course", self.course, "worker", "--broker", self.broker, "--concurrency",
                        concurrency, "--name", f"{name}@bench", "--lost-after", LOST_AFTER),
            env=env(), stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)
        while " ready." not in log.read_text():
            if self.procs[name].poll() is not None:
                raise RuntimeError(log.read_text()[-3000:])
            time.sleep(0.2)

    def kill9(self, name):
        os.killpg(self.procs[name].pid, signal.SIGKILL)
        self.procs.pop(name).wait()

    def stop(self):
        for p in self.procs.values():
            os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs.values():
            p.wait(120)
        self.procs = {}


def rows_local(course: Path) -> dict:
    report = json.loads((course / "autograded" / ".grading" / "report.json").read_text())["results"]
    return {(s, a): (r["status"], {g: p["score"] for g, p in r["problems"].items()})
            for s, per in report.items() for a, r in per.items()}


def db_records(url: str) -> dict:
    from aegrade.distributed.store import GradebookWriter

    with GradebookWriter(url) as w:
        return {(s, a): r for s, per in w.records().items() for a, r in per.items()}


def rows_db(url: str) -> dict:
    return {k: (r["status"], {g: p["score"] for g, p in r["problems"].items()}) for k, r in db_records(url).items()}


def recorded(url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM aegrade_results")).scalar()
    except Exception:  # noqa: BLE001
        return 0
    finally:
        engine.dispose()


def run_celery(course, submitted, redis, db, logs, *, workers, concurrency, faults=False, n=0):
    w = Workers(course, redis.url, logs)
    for i in range(workers):
        w.start(f"w{i}", concurrency)
    try:
        t0 = time.monotonic()
        coord = subprocess.Popen(aegrade_cmd("--course", course, "autograde", "--submitted", submitted,
                                             "--broker", redis.url, "--db", db, "--lost-after", LOST_AFTER,
                                             *FAST), env=env(), stdout=open(logs / "coordinator.log", "w"),
                                 stderr=subprocess.STDOUT)
        events = []
        if faults:
            while recorded(db) < n // 3:
                time.sleep(0.5)
            w.kill9("w0")
            events.append(f"kill -9 w0 at {recorded(db)} recorded")
            w.start("w0", concurrency)
            while recorded(db) < 2 * n // 3:
                time.sleep(0.5)
            redis.restart(down_for=2)
            events.append(f"Redis restarted at {recorded(db)} recorded")
        code = coord.wait()
        wall = time.monotonic() - t0
    finally:
        w.stop()
    return {"code": code, "wall_s": wall, "events": events}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--students", type=int, default=200)
    ap.add_argument("--trivial", type=int, default=40, help="trivial notebooks for the overhead phase")
    ap.add_argument("--phases", default="local,celery1,celery2,faults,trivial")
    ap.add_argument("--rounds", type=int, default=1,
                    help="repeat the phases this many times, alternating (a loaded machine's drift then "
                         "falls on every phase alike); the summary gives each phase's total")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()
    phases = args.phases.split(",")
    from aegrade.distributed.local_servers import LocalPostgres, LocalRedis
    from grading_corpus import write_toy_course

    tmp = Path(tempfile.mkdtemp(prefix="aegrade-distbench-"))
    redis, pg = LocalRedis().start(), LocalPostgres().start()
    out = {"students": args.students, "cpus": os.cpu_count(), "phases": {}}
    try:
        course = write_toy_course(tmp / "course", REPO / "nbgrader_config.py")
        subprocess.run(aegrade_cmd("--course", course, "release"), check=True, env=env(), capture_output=True)
        submitted = tmp / "submitted"
        build_class(course, args.students, submitted)
        rows = {}
        for rnd, base_phase in [(r, ph) for r in range(args.rounds) for ph in phases]:
            phase = base_phase if args.rounds == 1 else f"{base_phase}#{rnd + 1}"
            logs = tmp / f"logs-{phase}"
            logs.mkdir()
            if base_phase == "local":
                local = tmp / f"local-course-{rnd}"
                shutil.copytree(course, local)
                t0 = time.monotonic()
                subprocess.run(aegrade_cmd("--course", local, "autograde", "--submitted", submitted,
                                           "--workers", 2, *FAST), check=True, env=env(),
                               stdout=open(logs / "run.log", "w"), stderr=subprocess.STDOUT)
                wall = time.monotonic() - t0
                rows[phase] = rows_local(local)
                report = json.loads((local / "autograded" / ".grading" / "report.json").read_text())["results"]
                grading_s = [r["seconds"] for per in report.values() for r in per.values() if r.get("seconds")]
                out["phases"][phase] = {"wall_s": round(wall, 1), "per_notebook_s": round(wall / args.students, 3),
                                        "mean_grading_s": round(sum(grading_s) / max(1, len(grading_s)), 2)}
            elif base_phase in ("celery1", "celery2", "faults"):
                db = pg.create_database(phase.replace("#", "_"))
                res = run_celery(course, submitted, redis, db, logs, workers=1 if base_phase == "celery1" else 2,
                                 concurrency=2 if base_phase == "celery1" else 1, faults=base_phase == "faults",
                                 n=args.students)
                rows[phase] = rows_db(db)
                recs = db_records(db).values()
                task_s = [r.get("task_seconds") for r in recs if r.get("task_seconds")]
                grading_s = [r.get("seconds") for r in recs if r.get("seconds")]
                out["phases"][phase] = {
                    "exit_code": res["code"], "wall_s": round(res["wall_s"], 1),
                    "per_notebook_s": round(res["wall_s"] / args.students, 3), "events": res["events"],
                    "mean_task_s": round(sum(task_s) / max(1, len(task_s)), 2),
                    "mean_grading_s": round(sum(grading_s) / max(1, len(grading_s)), 2)}
            elif base_phase == "trivial":
                tcourse = trivial_course(tmp / f"trivial-course-{rnd}")
                tsub = tmp / f"trivial-submitted-{rnd}"
                from aegrade import reference_submission
                from grading_corpus import write_submission

                src = json.loads((tcourse / "solutions" / "trivial" / "trivial.ipynb").read_text())
                rel = json.loads((tcourse / "exercises" / "trivial" / "trivial.ipynb").read_text())
                for i in range(args.trivial):
                    write_submission(tsub, f"t{i:04d}", "trivial", reference_submission(src, rel))
                db = pg.create_database(phase.replace("#", "_"))
                w = Workers(tcourse, redis.url, logs)
                w.start("w0", 1)
                try:
                    from aegrade import GradingOptions
                    from aegrade.distributed.coordinator import autograde_distributed

                    t0 = time.monotonic()
                    run = autograde_distributed(tcourse, tsub, broker=redis.url, db=db, lost_after=LOST_AFTER,
                                                options=GradingOptions(cell_timeout=20, wall_limit=120))
                    wall = time.monotonic() - t0
                finally:
                    w.stop()
                recs = db_records(db).values()
                task_sum = sum(r["task_seconds"] for r in recs)
                worker_sum = sum(r.get("worker_task_seconds") or r["task_seconds"] for r in recs)
                grading_sum = sum(r["seconds"] for r in recs)
                span = run.meta["last_record_s"] - run.meta["first_send_s"]
                out["phases"][phase] = {
                    "tasks": len(recs), "wall_s": round(wall, 1), "send_to_last_record_s": round(span, 2),
                    "sum_task_s": round(worker_sum, 2),
                    # the time between tasks: Celery's hand-off, Redis, the coordinator's wait for the last
                    "coordinator_and_broker_overhead_per_task_ms": round(1000 * (span - worker_sum) / len(recs), 1),
                    # inside the task, around grade-one: delivery count, state, unpacking the files
                    "task_bookkeeping_per_task_ms": round(1000 * (worker_sum - task_sum) / len(recs), 1),
                    "grade_one_setup_per_task_s": round((task_sum - grading_sum) / len(recs), 3),
                    "mean_grading_s": round(grading_sum / len(recs), 2)}
            print(json.dumps({phase: out["phases"][phase]}), flush=True)
        reference = next((rows[k] for k in rows if k.split("#")[0] == "local"), None)
        if reference is not None:
            for phase, r in rows.items():
                diff = [k for k in set(r) | set(reference) if r.get(k) != reference.get(k)]
                out["phases"][phase]["rows"] = len(r)
                out["phases"][phase]["rows_differing_from_local"] = sorted(f"{s}/{a}" for s, a in diff)
                statuses = [st for st, _ in r.values()]
                out["phases"][phase]["statuses"] = {s: statuses.count(s) for s in sorted(set(statuses))}
        totals: dict = {}
        for phase, res in out["phases"].items():
            if "per_notebook_s" in res:
                totals.setdefault(phase.split("#")[0], []).append(res["wall_s"])
        if "local" in totals:
            out["summary"] = {ph: {"rounds": len(w), "total_wall_s": round(sum(w), 1),
                                   "per_notebook_s": round(sum(w) / (len(w) * args.students), 3),
                                   "vs_local": round(sum(w) / len(w) / (sum(totals["local"]) / len(totals["local"])), 3)}
                              for ph, w in totals.items()}
        print(json.dumps(out, indent=1))
    finally:
        redis.close()
        pg.close()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
