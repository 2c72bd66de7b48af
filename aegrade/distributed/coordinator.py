"""The coordinating ``autograde`` run: one task per submission to Celery workers, one writer.

1. The gradebook's database is opened and the broker reached *before* anything is graded (a
   clear error otherwise).
2. Submissions are found as in a local run; those already recorded for the same problem-set
   version and the same files are skipped (``force`` regrades them): an interrupted run started
   again grades only what is missing.
3. Each remaining submission becomes one task (its files travel in the message; the worker's
   course must be the same version). Task ids are derived from student, problem set, both
   checksums and the run's regrade salt, so a resumed run finds the results that workers
   stored after the previous coordinator died, and a result that arrives twice is recorded once.
4. Results are checked (format, and the problem set's checksum: a worker on another course
   version is refused and the task sent again; refused twice, it stays not graded) and written by
   :class:`~aegrade.distributed.store.GradebookWriter`, with the autograded notebooks into the
   course's ``autograded/``.
5. When no result arrives for ``stall_after`` seconds (the broker lost its queue, no worker is
   running), the run stops and names every submission that is not graded; nothing is recorded
   for them, so the same command grades them later.
"""
from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..course import assignments_in, log
from ..gradebook import load_report, report_path
from ..one import check_result, source_checksum, tree_checksum
from ..options import GradingOptions
from ..submissions import discover_submissions
from .app import (DEFAULT_LOST_AFTER_S, MAX_DELIVERIES, QUEUE, TASK_NAME, check_broker_url, encode_files, make_app,
                  not_graded)
from .store import GradebookWriter


#: Failures of a task that say nothing about the submission (it is sent once more).
_INFRASTRUCTURE_ERRORS = {"ConnectionError", "TimeoutError", "OperationalError", "ConnectionResetError",
                          "BrokenPipeError", "OSError", "WorkerLostError"}


class BrokerUnreachable(RuntimeError):
    """The broker cannot be reached (raised before any grading starts)."""


@dataclass
class DistributedRun:
    """What :func:`autograde_distributed` returns.

    Attributes
    ----------
    results : dict
        ``{student: {assignment: record}}`` recorded by this run.
    skipped : list of (student, assignment)
        Already recorded (same version, same files) and not regraded.
    not_graded : dict
        ``{(student, assignment): why}`` for submissions this run could not grade (nothing is
        recorded for them; running the command again grades them).
    meta : dict
        ``seconds``, ``tasks``, ``duplicates``, ``refused``, ``warnings``.
    """

    results: dict = field(default_factory=dict)
    skipped: list = field(default_factory=list)
    not_graded: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)


def task_id_for(student: str, assignment: str, source_sha: str, submission_sha: str, salt: str) -> str:
    """The task id of one submission's grading (the same in a resumed run)."""
    h = hashlib.sha256("\0".join((student, assignment, source_sha, submission_sha, salt)).encode())
    return f"aegrade-{h.hexdigest()[:40]}"


def check_broker(app, timeout: float = 10.0) -> None:
    """Connect to the broker once; :class:`BrokerUnreachable` with the reason otherwise."""
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
        app.backend.client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure to connect is the same message
        raise BrokerUnreachable(f"cannot reach the broker {app.conf.broker_url}: "
                                f"{type(exc).__name__}: {exc}. Nothing was graded.") from exc


def _task_limits(opts: GradingOptions) -> tuple[float, float]:
    """(soft, hard) seconds for one task: the notebook's wall limit plus margins."""
    soft = opts.wall_limit + opts.startup_timeout + 90
    return soft, soft + 30


def autograde_distributed(course_dir, submitted, *, broker: str, db: str, options: GradingOptions | None = None,
                          force: bool = False, lost_after: float = DEFAULT_LOST_AFTER_S,
                          stall_after: float | None = None, poll: float = 1.0,
                          sweep: float = 10.0) -> DistributedRun:
    """Grade every submission in ``submitted`` on Celery workers; record into the ``db`` gradebook.

    Parameters
    ----------
    course_dir : path
        The course (its ``solutions/``; the autograded notebooks and the report go into it).
    submitted : path
        The submissions, in any layout :func:`aegrade.discover_submissions` accepts.
    broker : str
        Redis URL of the broker the workers listen to.
    db : str
        The gradebook's database URL (any nbgrader accepts; PostgreSQL for many machines).
    options : GradingOptions, optional
        ``cell_timeout``, ``wall_limit`` and ``static_scan`` travel with each task.
    force : bool
        Regrade submissions already recorded.
    lost_after : float
        Seconds after which a task held by a vanished worker is delivered again.
    stall_after : float, optional
        Stop when no result arrived for this long (default: a task's time limit plus
        ``lost_after`` plus a minute).
    poll : float
        Longest wait for an announced result before the coordinator looks at the time (a result
        is read as soon as it is announced).
    sweep : float
        Seconds between full reads of every pending result (announcements can be missed while
        Redis restarts).
    """
    t0 = time.monotonic()
    opts = options or GradingOptions()
    course_dir = Path(course_dir).resolve()
    check_broker_url(broker)
    writer = GradebookWriter(db)                        # DatabaseUnreachable before any grading
    try:
        app = make_app(broker, lost_after=lost_after)
        check_broker(app)                               # BrokerUnreachable before any grading
        run = _Coordinator(app, writer, course_dir, opts, force, lost_after, stall_after, poll, sweep)
        run.plan(Path(submitted))
        run.send_all()
        run.wait()
        run.out.meta.update(seconds=round(time.monotonic() - t0, 2))
        return run.out
    finally:
        writer.close()


class _Coordinator:
    def __init__(self, app, writer, course_dir, opts, force, lost_after, stall_after, poll, sweep):
        self.app, self.writer, self.course, self.opts = app, writer, course_dir, opts
        self.force, self.poll, self.sweep = force, poll, sweep
        self.t0 = time.monotonic()
        soft, hard = _task_limits(opts)
        self.limits = {"soft_time_limit": soft, "time_limit": hard}
        self.stall_after = stall_after if stall_after is not None else hard + lost_after + 60
        # the same submission graded for another gradebook or with other limits is another task
        self.salt = "|".join((secrets.token_hex(8) if force else "", writer.db_url,
                              json.dumps([opts.cell_timeout, opts.wall_limit, opts.static_scan])))
        self.out = DistributedRun(meta={"tasks": 0, "duplicates": 0, "refused": 0, "warnings": []})
        self.payloads: dict = {}      # task id -> payload
        self.keys: dict = {}          # task id -> (student, assignment)
        self.sends: dict = {}         # (student, assignment) -> tasks sent for it

    # ------------------------------------------------------------------ plan and send
    def plan(self, submitted: Path) -> None:
        assignments = assignments_in(self.course)
        self.versions = {a: source_checksum(self.course, a) for a in assignments}
        subs, warnings = discover_submissions(submitted, assignments)
        self.out.meta["warnings"] = warnings
        for w in warnings:
            log(f"grading: {w}")
        done = self.writer.rows()
        options = {"cell_timeout": self.opts.cell_timeout, "wall_limit": self.opts.wall_limit,
                   "static_scan": self.opts.static_scan}
        for sub in subs:
            source_sha = self.versions[sub.assignment]
            sub_sha = tree_checksum(sub.files) if not sub.problem else ""
            row = done.get(sub.key)
            if not self.force and row and (row["source_sha256"], row["submission_sha256"]) == (source_sha, sub_sha):
                self.out.skipped.append(sub.key)
                continue
            payload = {"student": sub.student, "assignment": sub.assignment, "source_sha256": source_sha,
                       "submission_sha256": sub_sha, "options": options}
            tid = task_id_for(sub.student, sub.assignment, source_sha, sub_sha, self.salt)
            if sub.problem:                              # nothing a worker could grade
                self._record(not_graded(payload, sub.problem), tid)
                continue
            payload["files"] = encode_files(sub.files)
            self.payloads[tid], self.keys[tid] = payload, sub.key
        needed = sorted({a for _, a in self.keys.values()})
        if needed:
            self.writer.prepare(self.course, needed)

    def send_all(self) -> None:
        stored = self._fetch(list(self.payloads))
        for tid in list(self.payloads):
            meta = stored.get(tid)
            if meta and meta["status"] == "SUCCESS":
                continue          # graded after an earlier coordinator stopped: collected below
            # queued or started for an earlier coordinator, or lost: sent (again); a copy that
            # finds the result already stored returns it without grading
            self._send(tid)
        log(f"grading: {len(self.payloads)} task(s) for the workers, {len(self.out.skipped)} already "
            f"recorded{' (regrading all: --force)' if self.force else ''}")

    def _send(self, tid: str) -> None:
        self.out.meta.setdefault("first_send_s", round(time.monotonic() - self.t0, 3))
        self.sends[self.keys[tid]] = self.sends.get(self.keys[tid], 0) + 1
        self.out.meta["tasks"] += 1
        self.app.send_task(TASK_NAME, args=[self.payloads[tid]], task_id=tid, queue=QUEUE, **self.limits)

    # ------------------------------------------------------------------ collect
    def _fetch(self, tids: list) -> dict:
        backend = self.app.backend
        out = {}
        for i in range(0, len(tids), 500):
            chunk = tids[i:i + 500]
            for tid, raw in zip(chunk, backend.mget([backend.get_key_for_task(t) for t in chunk])):
                if raw is not None:
                    out[tid] = backend.decode_result(raw)
        return out

    def wait(self) -> None:
        """Record results as they arrive, until none is pending (or the run stalls).

        The result backend announces every stored result on a Redis channel named after its key:
        the coordinator listens to the channels of this run's tasks (one pattern) and reads only
        the results announced. Announcements sent while it was not listening (a Redis restart, the
        moment before it subscribed) are caught by a full sweep of the pending keys, at the start,
        after an outage and every ``sweep`` seconds.
        """
        from redis.exceptions import RedisError

        pending = set(self.payloads)
        last = time.monotonic()
        outage = False
        listener = None
        next_sweep = 0.0
        while pending:
            metas: dict = {}
            try:
                if listener is None:
                    listener = self._listen()
                    next_sweep = 0.0                      # whatever was announced before: sweep
                if time.monotonic() >= next_sweep:
                    metas = self._fetch(sorted(pending))
                    next_sweep = time.monotonic() + self.sweep
                metas.update(self._announced(listener, pending, wait=0 if metas else self.poll))
                if outage:
                    log("grading: the broker is back")
                    outage = False
            except (RedisError, OSError) as exc:
                if not outage:
                    log(f"grading: the broker is unreachable ({type(exc).__name__}); waiting for it")
                    outage = True
                listener = self._close_listener(listener)
                time.sleep(self.poll)
            for tid, meta in metas.items():
                if tid not in pending or meta["status"] not in ("SUCCESS", "FAILURE", "REVOKED"):
                    continue
                last = time.monotonic()
                new_tid = self._handle(tid, meta)
                pending.discard(tid)
                if new_tid:
                    pending.add(new_tid)
            if pending and time.monotonic() - last > self.stall_after:
                for tid in sorted(pending, key=lambda t: self.keys[t]):
                    self.out.not_graded[self.keys[tid]] = (
                        f"no result within {self.stall_after:.0f} s (no worker running, or the broker "
                        "lost the task); run the same command again to grade it")
                break
        self._close_listener(listener)

    def _listen(self):
        """A subscription to the announcements of this kind of task's results."""
        listener = self.app.backend.client.pubsub()
        listener.psubscribe(self.app.backend.get_key_for_task("aegrade-*"))
        deadline = time.monotonic() + 10
        while True:                   # subscribed for sure before the sweep reads what came earlier
            message = listener.get_message(timeout=1.0)
            if message is not None and message.get("type") == "psubscribe":
                return listener
            if time.monotonic() > deadline:
                raise TimeoutError("the broker did not confirm the subscription to results")

    @staticmethod
    def _close_listener(listener):
        if listener is not None:
            try:
                listener.close()
            except Exception:  # noqa: BLE001 - a broken connection is closed anyway
                pass
        return None

    def _announced(self, listener, pending: set, wait: float) -> dict:
        """``{task id: meta}`` of the results announced within ``wait`` seconds (all that are queued)."""
        backend = self.app.backend
        prefix = backend.task_keyprefix
        prefix = prefix.decode() if isinstance(prefix, bytes) else prefix
        out = {}
        message = listener.get_message(timeout=wait)
        while message is not None:
            channel = message.get("channel")
            channel = channel.decode() if isinstance(channel, bytes) else str(channel)
            tid = channel[len(prefix):] if channel.startswith(prefix) else ""
            if tid in pending and message.get("type") == "pmessage":
                out[tid] = backend.decode_result(message["data"])
            message = listener.get_message(timeout=0)
        return out

    def _handle(self, tid: str, meta: dict) -> str | None:
        """Record one finished task; the id of a task sent again (refused result), or None."""
        payload, key = self.payloads[tid], self.keys[tid]
        if meta["status"] != "SUCCESS":
            exc = meta.get("result")
            if type(exc).__name__ in _INFRASTRUCTURE_ERRORS and self.sends.get(key, 0) < MAX_DELIVERIES:
                log(f"grading: {key[0]}/{key[1]} failed on its worker ({type(exc).__name__}: "
                    f"{str(exc)[:200]}); sent again")
                return self._send_again(tid)
            why = (f"grading took longer than the task time limit ({self.limits['time_limit']:.0f} s)"
                   if type(exc).__name__ in ("TimeLimitExceeded", "SoftTimeLimitExceeded")
                   else f"the task failed on its worker: {type(exc).__name__}: {str(exc)[:300]}")
            self._record(not_graded(payload, why), tid)
            return None
        try:
            result = check_result(meta["result"])
        except ValueError as exc:
            self._record(not_graded(payload, f"the worker sent an unreadable result: {exc}"), tid)
            return None
        if (result["student"], result["assignment"]) != key or \
                result["source_sha256"] != self.versions[key[1]]:
            self.out.meta["refused"] += 1
            log(f"grading: REFUSED the result of {key[0]}/{key[1]} from worker {result.get('worker', '?')}: "
                f"{result.get('reason') or 'graded against another version of the problem set'}")
            if self.sends.get(key, 0) < MAX_DELIVERIES:
                return self._send_again(tid)
            self.out.not_graded[key] = (f"refused: {result.get('reason') or 'another course version'}; "
                                        "start workers with this course version and run the command again")
            return None
        self._record(result, tid)
        return None

    def _send_again(self, tid: str) -> str:
        key = self.keys[tid]
        new_tid = f"{tid.split('~')[0]}~{self.sends[key] + 1}"
        self.payloads[new_tid], self.keys[new_tid] = self.payloads[tid], key
        self._send(new_tid)
        return new_tid

    def _record(self, result: dict, tid: str) -> None:
        key = (result["student"], result["assignment"])
        record = self.writer.record(result, tid)
        if record is None:
            self.out.meta["duplicates"] += 1
            return
        dest = self.course / "autograded" / key[0] / key[1]
        if dest.exists():
            shutil.rmtree(dest)
        if result["status"] == "graded":
            dest.mkdir(parents=True)
            for name, text in (result.get("autograded") or {}).items():
                (dest / Path(name).name).write_text(text)
        self.out.results.setdefault(key[0], {})[key[1]] = record
        self.out.meta["last_record_s"] = round(time.monotonic() - self.t0, 3)


def publish_report(course_dir: Path, run: DistributedRun, extra_meta: dict) -> None:
    """Merge this run's records into ``<course>/autograded/.grading/report.json``."""
    report = load_report(course_dir)
    for student, per in run.results.items():
        report["results"].setdefault(student, {}).update(per)
    report["meta"] = {**run.meta, **extra_meta,
                      "not_graded": [f"{s}/{a}" for s, a in sorted(run.not_graded)]}
    path = report_path(course_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1))


def options_payload(opts: GradingOptions) -> dict:
    """The grading options a worker takes from its own command line (not from a task)."""
    d = asdict(opts)
    d.pop("workers")
    return d
