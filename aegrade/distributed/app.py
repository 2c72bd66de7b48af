"""The Celery application: one task, ``aegrade.grade_submission``, one submission per task.

The settings are those of production graders:

* **late acknowledgement** (``task_acks_late``) and **prefetch 1**: a message leaves the broker
  only once its submission is graded, and a worker holds one message per grading process;
* a task whose grading process dies (killed, out of memory) goes back to the queue at once
  (``task_reject_on_worker_lost``); one whose whole worker vanishes (``kill -9``, a machine lost)
  becomes visible again after ``visibility_timeout`` seconds, for any other worker;
* the worker counts deliveries (in the broker's Redis): the third delivery of one submission
  is not graded but reported ``ungraded`` by name (a submission that kills its worker is
  retried once, not forever); a delivery of a task whose result is already stored returns it;
* a per-task time limit from the coordinator (the notebook's wall limit plus margins), beside
  the grading's own watchdog.

The broker is Redis (``redis://`` or ``rediss://``), also the result backend: results are the
JSON of :func:`aegrade.one.grade_one`. Workers never see the gradebook.
"""
from __future__ import annotations

import base64
import os
import shutil
import tempfile
import time
from pathlib import Path

from .. import defaults

TASK_NAME = "aegrade.grade_submission"
QUEUE = "aegrade"
#: Deliveries of one task before it is reported ungraded without grading it again.
MAX_DELIVERIES = 2
#: How long results and delivery counts stay in Redis (seconds).
KEEP_RESULTS_S = 7 * 24 * 3600
#: Default seconds after which a task held by a vanished worker is handed to another one.
DEFAULT_LOST_AFTER_S = int(defaults.WALL_LIMIT + defaults.STARTUP_TIMEOUT + 240)


def check_broker_url(url: str) -> str:
    """``url`` if it names a Redis broker; a clear error otherwise."""
    if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "redis+socket://")):
        raise ValueError(f"broker {url!r}: expected a Redis URL such as redis://HOST:6379/0 "
                         "or redis+socket:///PATH/redis.sock")
    return url


def make_app(broker: str, *, lost_after: float = DEFAULT_LOST_AFTER_S):
    """The Celery app for ``broker`` (also its result backend), with the task registered.

    Parameters
    ----------
    broker : str
        Redis URL.
    lost_after : float
        Seconds after which a message held by a worker that vanished is delivered again
        (Redis's ``visibility_timeout``; must exceed the longest grading of one submission).
    """
    from celery import Celery

    broker = check_broker_url(broker)
    app = Celery("aegrade", broker=broker, backend=broker, set_as_current=False)
    transport = {"visibility_timeout": float(lost_after), "unacked_restore_interval": 5,
                 "unacked_restore_throttle": 1, "socket_timeout": 30, "socket_connect_timeout": 10}
    app.conf.update(
        task_serializer="json", result_serializer="json", accept_content=["json"],
        task_acks_late=True, worker_prefetch_multiplier=1, task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True, task_default_queue=QUEUE,
        broker_transport_options=transport, result_backend_transport_options=transport,
        broker_connection_retry_on_startup=True, broker_connection_max_retries=None,
        result_expires=KEEP_RESULTS_S, worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_hijack_root_logger=False, worker_send_task_events=False,
    )
    app.task(name=TASK_NAME, bind=True)(_grade_submission)
    return app


def encode_files(files: dict) -> dict:
    """``{relative name: path}`` -> ``{relative name: base64 text}`` for a task's payload."""
    return {rel: base64.b64encode(Path(p).read_bytes()).decode("ascii") for rel, p in files.items()}


def _unpack(files: dict, dest: Path) -> None:
    for rel, data in files.items():
        rel_path = Path(rel)
        if rel_path.is_absolute() or ".." in rel_path.parts:
            raise ValueError(f"file name {rel!r} in a task leaves the submission folder")
        (dest / rel_path).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel_path).write_bytes(base64.b64decode(data))


def not_graded(payload: dict, reason: str, **extra) -> dict:
    """An ``ungraded`` result for a task that was not graded (``reason`` says why)."""
    from ..one import RESULT_SCHEMA

    return {"schema": RESULT_SCHEMA, "student": payload["student"], "assignment": payload["assignment"],
            "status": "ungraded", "reason": reason, "findings": [], "problems": {}, "total": None,
            "max_total": None, "notes": [], "autograded": {},
            "source_sha256": payload.get("source_sha256", ""),
            "submission_sha256": payload.get("submission_sha256", ""), "timings": {}, **extra}


def _patiently(call, wait: float = 120.0):
    """``call()``, tried again while Redis is unreachable (a restart), for up to ``wait`` seconds."""
    from redis.exceptions import ConnectionError as RedisConnectionError, TimeoutError as RedisTimeout

    deadline = time.monotonic() + wait
    while True:
        try:
            return call()
        except (RedisConnectionError, RedisTimeout, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)


def _grade_submission(self, payload: dict) -> dict:
    """The task: grade one submission on this worker's course snapshot (``app.conf.aegrade``)."""
    from ..one import grade_one
    from ..options import GradingOptions

    started = time.monotonic()
    task_id = self.request.id
    stored = _patiently(lambda: self.backend.get_task_meta(task_id, cache=False))
    if stored.get("status") == "SUCCESS" and isinstance(stored.get("result"), dict):
        return stored["result"]                  # a duplicate delivery of a finished task
    key = f"aegrade-deliveries-{task_id.split('~')[0]}"   # a task sent again counts on
    delivery = int(_patiently(lambda: self.backend.client.incr(key)))
    _patiently(lambda: self.backend.client.expire(key, KEEP_RESULTS_S))
    where = {"worker": self.request.hostname, "delivery": delivery, "task_id": task_id}
    if delivery > MAX_DELIVERIES:
        return not_graded(payload, f"the worker grading it was lost {delivery - 1} times (killed, "
                                   "out of memory or its machine gone); not tried again", **where)
    _patiently(lambda: self.update_state(state="STARTED", meta={
        "student": payload["student"], "assignment": payload["assignment"], "pid": os.getpid(), **where}))
    worker = self.app.conf.aegrade
    version = worker["versions"].get(payload["assignment"])
    if version != payload["source_sha256"]:
        return not_graded(payload, f"refused by worker {self.request.hostname}: its course has "
                                   f"{payload['assignment']} at version {str(version)[:12]}, the "
                                   f"coordinator's is {payload['source_sha256'][:12]}",
                          **dict(where, source_sha256=version or "", refused=True))
    tmp = Path(tempfile.mkdtemp(prefix="aegrade-task-", dir=worker["work_root"]))
    try:
        folder = tmp / "submission"
        folder.mkdir()
        _unpack(payload["files"], folder)
        opts = GradingOptions(**{**worker["options"], **payload.get("options", {})})
        prepared = _prepared_course(worker, opts)
        result = grade_one(folder, assignment=payload["assignment"], student=payload["student"],
                           course_dir=worker["snapshot"], work_dir=tmp / "grading", prepared=prepared)
        result["timings"]["task_s"] = round(time.monotonic() - started, 3)   # the whole task on the worker
        return {**result, **where}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _prepared_course(worker: dict, opts):
    """This grading process's prepared course (:func:`aegrade.run.prepare_course`) for ``opts``:
    made at its first task and kept, with its nbgrader process, for the next ones (a task with
    other options gets a new one)."""
    from dataclasses import asdict

    from ..run import prepare_course

    key = repr(sorted(asdict(opts).items()))
    held = worker["prepared"]
    if held.get("pid") == os.getpid() and held.get("key") == key:
        return held["course"]
    close_prepared(worker)                        # prepared for other options, or by the parent
    held.clear()
    work = Path(worker["prepared_root"]) / f"p{os.getpid()}-{os.urandom(3).hex()}"
    held.update(pid=os.getpid(), key=key, course=prepare_course(
        worker["snapshot"], work, options=opts, workers=1, hidden=[worker["work_root"]]))
    return held["course"]


def close_prepared(worker: dict) -> None:
    """End this process's prepared course (its nbgrader process), if it has one."""
    held = worker.get("prepared") or {}
    if held.get("pid") == os.getpid():
        held["course"].close()
        shutil.rmtree(held["course"].work, ignore_errors=True)
        held.clear()
