"""A course prepared once and graded many times (what a Celery worker's grading process does).

:func:`aegrade.run.prepare_course` releases the problem sets into a private gradebook, writes the
sandbox and keeps its forked nbgrader process between calls; :func:`aegrade.one.grade_one` with
``prepared=`` grades one submission on it. These tests check that grading this way gives the same
result as a one-shot run, that nothing of one submission carries over to the next (the same
student regraded after a mistake gets the new score), that the nbgrader process really is reused,
and that a worker's folder left behind by a killed worker is removed by the next one.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from aegrade import reference_submission
from aegrade.one import grade_one
from aegrade.run import prepare_course
from grading_corpus import find_target, toy_source_notebook, wrong_submission, write_toy_course

REPO = Path(__file__).resolve().parents[1]
FAST = dict(cell_timeout=10, wall_limit=60)
#: what a result holds that depends on when and where it was graded, not on the submission
_TIMING = ("timings", "autograded", "host")


def _same(result: dict) -> dict:
    return {k: v for k, v in result.items() if k not in _TIMING}


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    base = tmp_path_factory.mktemp("prepared")
    course = write_toy_course(base / "course", REPO / "nbgrader_config.py")
    source = toy_source_notebook()
    ref = reference_submission(source)
    wrong = wrong_submission(ref, find_target(source, "toy"))
    for name, nb in (("ref", ref), ("wrong", wrong)):
        (base / f"{name}.ipynb").write_text(json.dumps(nb))
    return base, course


@pytest.mark.slow  # starts kernels
def test_a_prepared_course_grades_like_a_one_shot_run_and_keeps_nothing_between_calls(toy):
    base, course = toy
    inbox = base / "inbox"
    inbox.mkdir()
    one_shot = {name: grade_one(base / f"{name}.ipynb", assignment="toy", student="s1", course_dir=course, **FAST)
                for name in ("wrong", "ref")}
    assert (one_shot["wrong"]["total"], one_shot["ref"]["total"]) == (4.0, 7.0)
    with prepare_course(course, base / "work", hidden=[inbox], workers=1, **FAST) as prepared:
        got = []
        for i, name in enumerate(("wrong", "ref", "wrong", "ref")):   # one student, graded four times
            got.append(grade_one(base / f"{name}.ipynb", assignment="toy", student="s1", course_dir=course,
                                 work_dir=inbox / f"task{i}", prepared=prepared))
            assert not any((prepared.root / "submitted").iterdir())        # nothing kept between calls
            assert not any((prepared.root / "autograded").iterdir())
            assert not list((prepared.work / "logs").glob("s1__*")) and not any((prepared.work / "status").iterdir())
        pool = prepared.pool
        assert pool.counter == 1 and len(pool.workers) == 1               # one nbgrader process, reused
        pid = next(iter(pool.workers.values())).pid
        with pytest.raises(ValueError, match="must be given and lie inside a folder it hides"):
            grade_one(base / "ref.ipynb", assignment="toy", student="s2", course_dir=course,
                      work_dir=base / "elsewhere", prepared=prepared)
    assert [_same(r) for r in got] == [_same(one_shot[n]) for n in ("wrong", "ref", "wrong", "ref")]
    assert [r["total"] for r in got] == [4.0, 7.0, 4.0, 7.0]
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)                                        # closed: the process is gone
    sandbox = json.loads((base / "work" / "sandbox.json").read_text())
    assert str(inbox.resolve()) in sandbox["hidden"]                      # submissions never visible


def test_a_killed_workers_folder_is_removed_by_the_next_worker(tmp_path):
    from aegrade.distributed.worker import WORKER_DIR_PREFIX, remove_stale_worker_folders

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    host = socket.gethostname()
    cases = {"killed": f"{host} {dead.stdout.strip()}", "running": f"{host} {os.getpid()}",
             "other-machine": f"elsewhere.example {dead.stdout.strip()}", "no-owner": None}
    for name, owner in cases.items():
        folder = tmp_path / f"{WORKER_DIR_PREFIX}{name}"
        (folder / "course").mkdir(parents=True)
        (folder / "course" / "file").write_text("x")
        os.chmod(folder / "course" / "file", 0o400)                      # snapshots are read-only
        if owner:
            (folder / "owner").write_text(owner + "\n")
    (tmp_path / "unrelated-killed").mkdir()
    (tmp_path / "unrelated-killed" / "owner").write_text(cases["killed"])
    removed = remove_stale_worker_folders(tmp_path)
    assert removed == [tmp_path / f"{WORKER_DIR_PREFIX}killed"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"{WORKER_DIR_PREFIX}{n}" for n in ("running", "other-machine", "no-owner")] + ["unrelated-killed"])
