"""Grading past one machine, with the real parts: a private Redis and PostgreSQL, two Celery workers.

One toy class (honest, mistaken, unanswered, two hostile ones the static scan flags and one broken
notebook) is graded twice, by today's local pool into SQLite and by Celery workers into
PostgreSQL, and the two are compared row by row; then the faults: a worker killed with
``kill -9`` in the middle, the coordinator killed and started again, Redis restarted, a
submission whose worker dies twice, PostgreSQL unreachable, a worker on another course version.
Every run after the first compares its rows with the local run's.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from aegrade.course import env_bin_first
from real_parts import need, need_program

pytestmark = pytest.mark.slow  # servers, workers and kernels

REPO = Path(__file__).resolve().parents[1]
FAST = ["--cell-timeout", "10", "--wall-limit", "60"]
LOST_AFTER = 30          # seconds before a task of a vanished worker goes to another one


def _need_parts() -> None:
    need_program("redis-server", "redis-server")
    need_program("initdb", "postgresql")
    need_program("pg_ctl", "postgresql")
    need(importlib.util.find_spec("celery") is not None and importlib.util.find_spec("psycopg") is not None,
         "Celery and psycopg (pip install -e '.[distributed]')")


def aegrade(*args, check=True, **kw) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", "aegrade", *map(str, args)], capture_output=True,
                         text=True, env=env_bin_first(), timeout=600, **kw)
    if check and out.returncode != 0:
        raise AssertionError(f"aegrade {' '.join(map(str, args))} -> {out.returncode}\n{out.stdout}\n{out.stderr}")
    return out


def aegrade_background(*args, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "aegrade", *map(str, args)], env=env_bin_first(),
                            stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)


# ---------------------------------------------------------------------------- servers and workers
@pytest.fixture(scope="module")
def servers():
    _need_parts()
    from aegrade.distributed.local_servers import LocalPostgres, LocalRedis

    redis, pg = LocalRedis().start(), LocalPostgres().start()
    yield redis, pg
    redis.close()
    pg.close()


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    from grading_corpus import write_toy_course

    root = write_toy_course(tmp_path_factory.mktemp("dist") / "course", REPO / "nbgrader_config.py")
    aegrade("--course", root, "release")
    return root


@pytest.fixture(scope="module")
def klass(course, tmp_path_factory):
    """11 submissions: 3 reference, 3 mistaken, 2 unanswered, 2 hostile (flagged), 1 broken."""
    from aegrade import reference_submission
    from grading_corpus import find_target, toy_source_notebook, wrong_submission, write_submission

    source = toy_source_notebook()
    release = json.loads((course / "exercises" / "toy" / "toy.ipynb").read_text())
    ref = reference_submission(source, release)
    wrong = wrong_submission(ref, find_target(source, "toy"))
    sub = tmp_path_factory.mktemp("submitted")
    for i in range(3):
        write_submission(sub, f"ref{i}", "toy", ref)
        write_submission(sub, f"wrong{i}", "toy", wrong)
    for i in range(2):
        write_submission(sub, f"blank{i}", "toy", release)
    exits = json.loads(json.dumps(ref))
    exits["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                           "source": "import os\nos._exit(0)"})
    write_submission(sub, "mallory", "toy", exits)
    patched = json.loads(json.dumps(ref))
    patched["cells"][2]["source"] += "\nnp.allclose = lambda *a, **k: True\n"
    write_submission(sub, "trudy", "toy", patched)
    write_submission(sub, "eve", "toy", "not json at all")
    return sub


def _subset(klass: Path, dest: Path, names) -> Path:
    for name in names:
        shutil.copytree(klass / name, dest / name)
    return dest


class Workers:
    """``aegrade worker`` processes, each in a process group of its own (``kill -9`` takes all of it)."""

    def __init__(self, course, broker, folder):
        self.course, self.broker, self.folder = course, broker, folder
        self.procs: dict = {}

    def start(self, name: str, course=None) -> None:
        log = self.folder / f"{name}.log"
        self.procs[name] = aegrade_background("--course", course or self.course, "worker", "--broker",
                                              self.broker, "--concurrency", 1, "--name", f"{name}@test",
                                              "--lost-after", LOST_AFTER, log=log)
        deadline = time.monotonic() + 180
        while " ready." not in log.read_text():
            assert self.procs[name].poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, f"worker {name} not ready:\n{log.read_text()[-3000:]}"
            time.sleep(0.2)

    def kill9(self, name: str) -> None:
        os.killpg(self.procs[name].pid, signal.SIGKILL)
        self.procs.pop(name).wait()

    def stop_all(self) -> None:
        for p in self.procs.values():
            os.killpg(p.pid, signal.SIGTERM)
        for name, p in list(self.procs.items()):
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.procs.clear()


@pytest.fixture(scope="module")
def workers(servers, course, tmp_path_factory):
    redis, _ = servers
    w = Workers(course, redis.url, tmp_path_factory.mktemp("workers"))
    w.start("w0")
    w.start("w1")
    yield w
    w.stop_all()


def redis_client(redis):
    import redis as redis_py

    return redis_py.Redis(host="127.0.0.1", port=redis.port, db=0)


def started(client) -> list[dict]:
    """The tasks workers have started and not finished: their student, worker and pid."""
    out = []
    for key in client.scan_iter("celery-task-meta-*"):
        raw = client.get(key)
        meta = json.loads(raw) if raw else {}
        if meta.get("status") == "STARTED" and isinstance(meta.get("result"), dict):
            out.append(meta["result"])
    return out


# ---------------------------------------------------------------------------- reading both sides
def rows_from_report(course: Path) -> dict:
    """``{(student, ps): (status, {problem: score})}`` from the course's report."""
    report = json.loads((course / "autograded" / ".grading" / "report.json").read_text())["results"]
    return {(s, a): (rec["status"], {g: p["score"] for g, p in rec["problems"].items()})
            for s, per in report.items() for a, rec in per.items()}


def rows_from_db(url: str) -> dict:
    from aegrade.distributed.store import GradebookWriter

    with GradebookWriter(url) as w:
        return {(s, a): (rec["status"], {g: p["score"] for g, p in rec["problems"].items()})
                for s, per in w.records().items() for a, rec in per.items()}


def gradebook_scores(url: str) -> dict:
    """``{(student, ps): {problem: (auto score, max), "comment:" answer: auto comment}}`` as
    nbgrader's gradebook holds them (what feedback and the formgrader show)."""
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(url) as gb:
        for a in gb.assignments:
            for sub in a.submissions:
                out[(sub.student.id, a.name)] = {
                    **{g.name: (g.auto_score, g.max_score) for nb in sub.notebooks for g in nb.grades},
                    **{f"comment:{c.name}": c.auto_comment for nb in sub.notebooks for c in nb.comments}}
    return out


def recorded_count(url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM aegrade_results")).scalar()
    except Exception:  # noqa: BLE001 - the table does not exist yet
        return 0
    finally:
        engine.dispose()


def wait_until(cond, timeout=180, what="condition"):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def local(course, klass, tmp_path_factory):
    """The class graded by today's default: local pool, SQLite gradebook in the course."""
    local_course = tmp_path_factory.mktemp("local") / "course"
    shutil.copytree(course, local_course)
    aegrade("--course", local_course, "autograde", "--submitted", klass, "--workers", 2, *FAST)
    return {"rows": rows_from_report(local_course), "course": local_course,
            "gradebook": gradebook_scores(f"sqlite:///{local_course / 'gradebook.db'}")}


def coordinate(course, submitted, broker, db, fault=None, **kw):
    """The coordinator in this process (``fault()`` runs beside it in a thread); its run."""
    import warnings

    from aegrade import GradingOptions
    from aegrade.distributed.coordinator import autograde_distributed

    errors = []

    def guarded():
        try:
            fault()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    helper = threading.Thread(target=guarded) if fault else None
    if helper:
        helper.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")                   # nbgrader's SQLAlchemy warnings
            run = autograde_distributed(course, submitted, broker=broker, db=db, lost_after=LOST_AFTER,
                                        options=GradingOptions(cell_timeout=10, wall_limit=60), **kw)
    finally:
        if helper:
            helper.join()
    assert not errors, errors
    return run


def autograde_celery(course, submitted, broker, db, *extra, check=True):
    return aegrade("--course", course, "autograde", "--submitted", submitted, "--broker", broker,
                   "--db", db, "--lost-after", LOST_AFTER, *FAST, *extra, check=check)


# ---------------------------------------------------------------------------- the comparison
def test_local_pool_sqlite_and_celery_postgres_agree_row_by_row(servers, workers, course, klass, local):
    redis, pg = servers
    db = pg.create_database("compare")
    out = autograde_celery(course, klass, redis.url, db)
    rows = rows_from_db(db)
    assert len(local["rows"]) == 11 and rows.keys() == local["rows"].keys()
    for key in sorted(local["rows"]):
        assert rows[key] == local["rows"][key], key
    statuses = [status for status, _ in rows.values()]
    assert statuses.count("graded") == 8 and statuses.count("flagged") == 2 and statuses.count("ungraded") == 1
    assert rows[("ref0", "toy")][1]["test_row_means"] == 3.0 and rows[("wrong0", "toy")][1]["test_row_means"] == 0.0
    assert gradebook_scores(db) == local["gradebook"]          # nbgrader's own tables, PostgreSQL vs SQLite
    assert "mallory / toy" in out.stdout and "FLAGGED" in out.stdout
    assert (course / "autograded" / "ref0" / "toy" / "toy.ipynb").is_file()
    assert not (course / "autograded" / "mallory").exists()
    again = coordinate(course, klass, redis.url, db)            # nothing missing: nothing graded
    assert len(again.skipped) == 11 and again.meta["tasks"] == 0 and not again.results
    assert rows_from_db(db) == rows


def _fresh_course(course: Path, dest: Path) -> Path:
    """The course's problem sets, configuration and release, without any grading output."""
    for name in ("solutions", "exercises"):
        shutil.copytree(course / name, dest / name)
    shutil.copyfile(course / "nbgrader_config.py", dest / "nbgrader_config.py")
    return dest


def test_the_local_pool_into_postgres_then_grades_and_feedback_from_it(servers, course, klass, local, tmp_path):
    """``autograde --db`` without a broker, then ``grades --db`` and ``feedback --db``: the same
    grades CSV as the all-SQLite run, read from PostgreSQL alone."""
    _, pg = servers
    db = pg.create_database("localpool")
    mine = _fresh_course(course, tmp_path / "course")
    aegrade("--course", mine, "autograde", "--submitted", klass, "--db", db, "--workers", 2, *FAST)
    assert rows_from_db(db) == local["rows"]
    assert gradebook_scores(db) == local["gradebook"]
    assert not (mine / "gradebook.db").exists()                  # everything went to the database given
    again = aegrade("--course", mine, "autograde", "--submitted", klass, "--db", db, *FAST)
    assert "recorded: 0, already recorded (skipped): 11" in again.stdout
    # the statuses must come from the database: the report the run left in the course is removed
    (mine / "autograded" / ".grading" / "report.json").unlink()
    aegrade("--course", mine, "grades", "--db", db, "--out", tmp_path / "from_db.csv")
    aegrade("--course", local["course"], "grades", "--out", tmp_path / "local.csv")
    from_db = (tmp_path / "from_db.csv").read_text()
    assert from_db == (tmp_path / "local.csv").read_text()
    assert "mallory,flagged" in from_db and "eve,ungraded" in from_db
    bad = aegrade("--course", mine, "grades", "--db", "postgresql://nobody@127.0.0.1:1/none", "--out",
                  tmp_path / "x.csv", check=False)
    assert bad.returncode == 2 and "cannot read the gradebook database" in bad.stderr
    aegrade("--course", mine, "feedback", "--db", db)
    pages = sorted(p.relative_to(mine / "feedback").parts[0] for p in (mine / "feedback").rglob("*.html"))
    graded = sorted(s for (s, _), (status, _) in local["rows"].items() if status == "graded")
    assert pages == graded and len(pages) == 8
    assert "No response." in (mine / "feedback" / "blank0" / "toy" / "toy.html").read_text()
    assert local["gradebook"][("blank0", "toy")]["comment:row_means"] == "No response."
    assert not (mine / "gradebook.db").exists()


def test_make_distributed_trial_serves_a_class_and_cleans_up(course, klass, local, tmp_path):
    """The one command that starts a private Redis, PostgreSQL and workers for a trial."""
    _need_parts()
    makefile = (REPO / "Makefile").read_text()
    assert "-m aegrade.distributed.trial --course $(CURDIR)" in makefile.split("distributed-trial:")[-1]
    mine = _fresh_course(course, tmp_path / "course")
    log = tmp_path / "trial.log"
    trial = subprocess.Popen([sys.executable, "-m", "aegrade.distributed.trial", "--course", str(mine),
                              "--workers", "1"], env=env_bin_first(), stdout=open(log, "w"),
                             stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: "Grade with:" in log.read_text() or trial.poll() is not None, what="the trial")
        command = next(line.split() for line in log.read_text().splitlines()
                       if line.strip().startswith("aegrade --course"))
        broker, db = command[command.index("--broker") + 1], command[command.index("--db") + 1]
        names = ["ref0", "wrong0", "blank0", "mallory"]
        aegrade(*command[1:], "--submitted", _subset(klass, tmp_path / "sub", names), *FAST)
        assert rows_from_db(db) == {k: v for k, v in local["rows"].items() if k[0] in names}
    finally:
        trial.send_signal(signal.SIGINT)
        code = trial.wait(120)
    assert code == 0, log.read_text()[-3000:]
    for url in (broker, db):
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        with pytest.raises(OSError):                              # both servers are gone
            socket.create_connection(("127.0.0.1", port), timeout=2).close()


# ---------------------------------------------------------------------------- faults
def test_a_worker_killed_mid_class_loses_nothing_and_doubles_nothing(servers, workers, course, klass, local,
                                                                       tmp_path):
    redis, pg = servers
    db = pg.create_database("killworker")
    names = ["ref0", "wrong0", "blank0", "ref1", "wrong1"]
    sub = _subset(klass, tmp_path / "sub", names)
    client = redis_client(redis)
    before = set(client.scan_iter("aegrade-deliveries-*"))
    victim = []

    def kill_w0_while_it_grades():
        wait_until(lambda: any(t["worker"] == "w0@test" for t in started(client)), what="w0 grading")
        victim.append(next(t for t in started(client) if t["worker"] == "w0@test"))
        workers.kill9("w0")                                      # the worker, its pool and its kernel

    try:
        run = coordinate(course, sub, redis.url, db, fault=kill_w0_while_it_grades)
    finally:
        workers.start("w0")
    assert not run.not_graded
    rows = rows_from_db(db)
    assert sorted(s for s, _ in rows) == sorted(names)           # none missing (keys: none doubled)
    assert all(rows[k] == local["rows"][k] for k in rows)
    gb = gradebook_scores(db)
    assert sorted(s for s, _ in gb) == sorted(names)             # one gradebook submission each
    deliveries = {k.decode(): int(client.get(k)) for k in set(client.scan_iter("aegrade-deliveries-*")) - before}
    assert len(deliveries) == len(names) and sorted(deliveries.values())[-1] == 2, deliveries
    assert list(deliveries.values()).count(2) == 1               # the lost task went to the other worker
    assert rows[(victim[0]["student"], "toy")] == local["rows"][(victim[0]["student"], "toy")]


def test_the_coordinator_killed_and_started_again_grades_only_what_is_missing(servers, workers, course, klass,
                                                                               local, tmp_path):
    redis, pg = servers
    db = pg.create_database("resume")
    names = ["ref0", "ref1", "wrong0", "wrong1", "blank0", "blank1"]
    sub = _subset(klass, tmp_path / "sub", names)
    coordinator = aegrade_background("--course", course, "autograde", "--submitted", sub, "--broker", redis.url,
                                     "--db", db, "--lost-after", LOST_AFTER, *FAST, log=tmp_path / "c.log")
    wait_until(lambda: recorded_count(db) >= 2, what="two results recorded")
    os.killpg(coordinator.pid, signal.SIGKILL)
    coordinator.wait()
    done_before = recorded_count(db)
    assert done_before < len(names)
    run = coordinate(course, sub, redis.url, db)
    assert len(run.skipped) == done_before and len(run.results) == len(names) - done_before
    rows = rows_from_db(db)
    assert sorted(s for s, _ in rows) == sorted(names)
    assert all(rows[k] == local["rows"][k] for k in rows)
    one = _subset(klass, tmp_path / "one", ["ref0"])
    assert coordinate(course, one, redis.url, db).meta["tasks"] == 0
    forced = coordinate(course, one, redis.url, db, force=True)
    assert forced.meta["tasks"] == 1 and not forced.skipped
    assert rows_from_db(db)[("ref0", "toy")] == local["rows"][("ref0", "toy")]


def test_redis_restarted_during_the_run(servers, workers, course, klass, local, tmp_path):
    redis, pg = servers
    db = pg.create_database("redisrestart")
    names = ["ref0", "wrong0", "blank0", "ref1"]
    sub = _subset(klass, tmp_path / "sub", names)

    def restart_redis_after_a_first_result():
        wait_until(lambda: recorded_count(db) >= 1, what="a first result")
        redis.restart(down_for=2)

    run = coordinate(course, sub, redis.url, db, fault=restart_redis_after_a_first_result, stall_after=90)
    rows = rows_from_db(db)
    assert {k: v for k, v in rows.items() if v != local["rows"][k]} == {}
    # it completes, or it stops naming exactly the submissions it did not record
    assert {s for s, _ in rows} | {s for s, _ in run.not_graded} == set(names)
    assert not {s for s, _ in rows} & {s for s, _ in run.not_graded}


def test_a_submission_whose_worker_dies_twice_is_reported_ungraded_by_name(servers, workers, course, klass,
                                                                          tmp_path):
    redis, pg = servers
    db = pg.create_database("diestwice")
    sub = _subset(klass, tmp_path / "sub", ["wrong2"])
    client = redis_client(redis)
    kills = []

    def kill_whoever_grades_wrong2():          # as the OOM killer would, twice
        deadline = time.monotonic() + 240
        while len(kills) < 2:
            assert time.monotonic() < deadline, f"only {kills} killed"
            for t in started(client):
                if t["student"] == "wrong2" and t["delivery"] not in kills:
                    os.kill(t["pid"], signal.SIGKILL)        # the worker's grading process
                    kills.append(t["delivery"])
            time.sleep(0.05)

    run = coordinate(course, sub, redis.url, db, fault=kill_whoever_grades_wrong2)
    assert kills == [1, 2]
    rec = run.results["wrong2"]["toy"]
    assert rec["status"] == "ungraded"
    assert rec["reason"].startswith("the worker grading it was lost 2 times"), rec
    assert rows_from_db(db)[("wrong2", "toy")][0] == "ungraded"
    assert ("wrong2", "toy") not in gradebook_scores(db)


def test_postgres_unreachable_is_a_clear_error_before_any_grading(servers, workers, course, klass, tmp_path):
    from aegrade.distributed.local_servers import free_port

    redis, _ = servers
    client = redis_client(redis)
    queued = client.llen("aegrade")
    out = autograde_celery(course, klass, redis.url, f"postgresql://postgres@127.0.0.1:{free_port()}/nothing",
                           check=False)
    assert out.returncode == 2
    assert "cannot reach the gradebook database postgresql://postgres@127.0.0.1" in out.stderr
    assert "Nothing was graded" in out.stderr
    assert client.llen("aegrade") == queued == 0
    from aegrade.distributed.coordinator import autograde_distributed

    with pytest.raises(ValueError, match="expected a Redis URL"):
        autograde_distributed(course, klass, broker="amqp://x", db=f"sqlite:///{tmp_path / 'gb.db'}")
    assert not (tmp_path / "gb.db").exists()


def test_a_worker_on_another_course_version_is_refused(servers, course, klass, tmp_path):
    redis, pg = servers
    other = tmp_path / "other" / "course"
    shutil.copytree(course / "solutions", other / "solutions")
    shutil.copyfile(course / "nbgrader_config.py", other / "nbgrader_config.py")
    nb = other / "solutions" / "toy" / "toy.ipynb"
    nb.write_text(nb.read_text().replace("got == [9.0, 0.25, 0.0]", "got == [9.0, 0.25, 0.0] and True"))
    broker = redis.url[:-1] + "3"                                # a queue only this worker serves
    stale = Workers(other, broker, tmp_path)
    stale.start("stale")
    try:
        db = pg.create_database("version")
        out = autograde_celery(course, _subset(klass, tmp_path / "sub", ["ref0"]), broker, db, check=False)
    finally:
        stale.stop_all()
    assert out.returncode == 3, out.stdout + out.stderr
    assert "REFUSED the result of ref0/toy from worker stale@test" in out.stderr
    assert "ref0 / toy: refused" in out.stdout
    assert recorded_count(db) == 0 and gradebook_scores(db) == {}


# ---------------------------------------------------------------------------- grade one
def test_grade_one_writes_the_documented_result(course, klass, tmp_path):
    out = aegrade("--course", course, "grade-one", klass / "wrong0" / "toy" / "toy.ipynb", "--assignment", "toy",
                  "--student", "wrong0", "--out", tmp_path / "r.json", *FAST)
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["schema"] == "aegrade.result/1" and result["status"] == "graded"
    assert (result["student"], result["assignment"], result["total"], result["max_total"]) == ("wrong0", "toy", 4.0, 7.0)
    assert result["problems"]["test_row_means"] == {"notebook": "toy", "score": 0.0, "max": 3.0, "manual": False,
                                                    "needs_manual_grade": False}
    assert json.loads(result["autograded"]["toy.ipynb"])["cells"]
    assert len(result["source_sha256"]) == 64 and result["timings"]["total_s"] > 0
    assert "wrong0 / toy: graded 4/7" in out.stdout
    from aegrade.one import grade_one

    with pytest.raises(ValueError, match="invalid student id 'bad id!'"):
        grade_one(klass / "ref0" / "toy" / "toy.ipynb", assignment="toy", student="bad id!", course_dir=course)
    with pytest.raises(ValueError, match="unknown problem set 'ps9'"):
        grade_one(klass / "ref0" / "toy" / "toy.ipynb", assignment="ps9", student="ref0", course_dir=course)
