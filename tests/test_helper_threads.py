"""The helper threads of the fused step (autoencoder_np._helper_threads): order, errors, fallback, restart."""
import os
import threading
import time

import pytest

from autoencoder_np._helper_threads import HelperThreads


def test_results_come_back_in_share_order_and_shares_run_on_distinct_threads():
    helpers = HelperThreads(2)
    seen = {}

    def share(k):
        time.sleep(0.01 * (3 - k))            # the last share finishes first
        seen[k] = threading.get_ident()
        return k * k

    for _ in range(3):                        # the same helpers serve every call
        assert helpers.run(share, 3) == [0, 1, 4]
    assert seen[0] == threading.get_ident()
    assert len(set(seen.values())) == 3
    helpers.close()


def test_more_shares_than_helpers_run_the_rest_on_the_calling_thread():
    helpers = HelperThreads(1)
    threads = {}
    assert helpers.run(lambda k: threads.setdefault(k, threading.get_ident()) and k + 10, 4) == [10, 11, 12, 13]
    here = threading.get_ident()
    assert [threads[k] == here for k in range(4)] == [True, False, True, True]
    helpers.close()


def test_an_exception_in_a_helper_is_raised_after_every_share_has_finished():
    helpers = HelperThreads(2)
    finished = []

    def share(k):
        if k == 1:
            raise ZeroDivisionError("share 1 failed")
        time.sleep(0.05)
        finished.append(k)
        return k

    with pytest.raises(ZeroDivisionError, match="share 1 failed"):
        helpers.run(share, 3)
    assert sorted(finished) == [0, 2]         # nothing still running when the error arrives
    assert helpers.run(lambda k: -k, 3) == [0, -1, -2]   # and the helpers still works
    helpers.close()


def test_an_exception_on_the_calling_thread_waits_for_the_helpers_too():
    helpers = HelperThreads(1)
    finished = []

    def share(k):
        if k == 0:
            raise KeyError("share 0")
        time.sleep(0.05)
        finished.append(k)

    with pytest.raises(KeyError):
        helpers.run(share, 2)
    assert finished == [1]
    helpers.close()


def test_a_refused_thread_start_runs_every_share_inline(monkeypatch):
    def refuse(self):
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    helpers = HelperThreads(3)
    assert helpers.run(lambda k: (k, threading.get_ident()), 3) == [(k, threading.get_ident()) for k in range(3)]


def test_close_stops_the_helpers_and_a_later_run_starts_new_ones():
    helpers = HelperThreads(1)
    helpers.run(lambda k: k, 2)
    (helper,) = helpers._threads
    helpers.close()
    helper.thread.join(timeout=5)
    assert not helper.thread.is_alive()
    assert helpers.run(lambda k: k + 1, 2) == [1, 2]
    helpers.close()


def test_helpers_are_started_again_in_a_forked_child():
    """After fork() the parent's threads are gone in the child; the child's first run notices the
    new pid and starts its own helper (a real fork: the child reports through a pipe)."""
    helpers = HelperThreads(1)
    assert helpers.run(lambda k: threading.get_ident(), 2)[1] != threading.get_ident()
    parent_helper = helpers._threads[0]
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, never return into pytest
        code = 1
        try:
            results = helpers.run(lambda k: (2 * k, threading.get_ident()), 2)
            fresh = helpers._threads[0] is not parent_helper and helpers._threads[0].thread.is_alive()
            os.write(write_end, repr(([r[0] for r in results], results[1][1] != results[0][1], fresh)).encode())
            helpers.close()
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as fh:
        report = fh.read()
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, report
    assert report == repr(([0, 2], True, True))   # right results, computed on a new helper thread
    assert helpers.run(lambda k: k + 1, 2) == [1, 2]  # the parent's helpers are untouched
    helpers.close()
