"""The helper threads of the fused step (autoencoder_np._crew): order, errors, fallback, restart."""
import threading
import time

import pytest

from autoencoder_np._crew import Crew


def test_results_come_back_in_share_order_and_shares_run_on_distinct_threads():
    crew = Crew(2)
    seen = {}

    def share(k):
        time.sleep(0.01 * (3 - k))            # the last share finishes first
        seen[k] = threading.get_ident()
        return k * k

    for _ in range(3):                        # the same helpers serve every call
        assert crew.run(share, 3) == [0, 1, 4]
    assert seen[0] == threading.get_ident()
    assert len(set(seen.values())) == 3
    crew.close()


def test_more_shares_than_helpers_run_the_rest_on_the_calling_thread():
    crew = Crew(1)
    threads = {}
    assert crew.run(lambda k: threads.setdefault(k, threading.get_ident()) and k + 10, 4) == [10, 11, 12, 13]
    here = threading.get_ident()
    assert [threads[k] == here for k in range(4)] == [True, False, True, True]
    crew.close()


def test_an_exception_in_a_helper_is_raised_after_every_share_has_finished():
    crew = Crew(2)
    finished = []

    def share(k):
        if k == 1:
            raise ZeroDivisionError("share 1 failed")
        time.sleep(0.05)
        finished.append(k)
        return k

    with pytest.raises(ZeroDivisionError, match="share 1 failed"):
        crew.run(share, 3)
    assert sorted(finished) == [0, 2]         # nothing still running when the error arrives
    assert crew.run(lambda k: -k, 3) == [0, -1, -2]   # and the crew still works
    crew.close()


def test_an_exception_on_the_calling_thread_waits_for_the_helpers_too():
    crew = Crew(1)
    finished = []

    def share(k):
        if k == 0:
            raise KeyError("share 0")
        time.sleep(0.05)
        finished.append(k)

    with pytest.raises(KeyError):
        crew.run(share, 2)
    assert finished == [1]
    crew.close()


def test_a_refused_thread_start_runs_every_share_inline(monkeypatch):
    def refuse(self):
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    crew = Crew(3)
    assert crew.run(lambda k: (k, threading.get_ident()), 3) == [(k, threading.get_ident()) for k in range(3)]


def test_close_stops_the_helpers_and_a_later_run_starts_new_ones():
    crew = Crew(1)
    crew.run(lambda k: k, 2)
    (helper,) = crew._crew
    crew.close()
    helper.thread.join(timeout=5)
    assert not helper.thread.is_alive()
    assert crew.run(lambda k: k + 1, 2) == [1, 2]
    crew.close()


def test_helpers_are_started_again_in_a_forked_child(monkeypatch):
    """After fork() the parent's threads are gone; a crew that notices the new pid makes new ones."""
    crew = Crew(1)
    crew.run(lambda k: k, 2)
    old = crew._crew[0]
    monkeypatch.setattr("os.getpid", lambda: -1)     # what a forked child would see: another pid
    assert crew.run(lambda k: 2 * k, 2) == [0, 2]
    assert crew._crew[0] is not old
    crew.close()                                     # stops the new helper (same "pid")
    monkeypatch.undo()
    old.stop()
