"""A few persistent helper threads that each run one share of a job, handed work through raw locks.

The fused training step (:mod:`autoencoder_np.fused`) hands work to its helpers twice per step,
thousands of times per epoch. ``concurrent.futures.ThreadPoolExecutor`` makes a future, a queue
entry and a condition wait of each hand-off: about 45 us for a round trip with nothing to do on
this course's 2-core machine. A helper here waits on a plain lock instead: handing it a share
and collecting the result is four lock operations, about 18 us (``benchmarks/README.md``).
"""
from __future__ import annotations

import os
import threading


class _Helper:
    """One daemon thread that runs ``fn(share)`` each time it is handed a job."""

    def __init__(self, name):
        self._go = threading.Lock()
        self._done = threading.Lock()
        self._go.acquire()        # released by hand(): the thread starts a job
        self._done.acquire()      # released by the thread: the job's result is ready
        self._job = self._result = None
        self.thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def _loop(self):
        while True:
            self._go.acquire()
            job, self._job = self._job, None
            if job is None:       # stop()
                return
            fn, share = job
            try:
                self._result = (True, fn(share))
            except BaseException as exc:  # noqa: B902 - re-raised on the calling thread by collect()
                self._result = (False, exc)
            del job, fn           # hold no reference to the job between calls
            self._done.release()

    def hand(self, fn, share):
        self._job = (fn, share)
        self._go.release()

    def collect(self):
        """Wait for the job handed last; its result, or its exception raised here."""
        self._done.acquire()
        (ok, value), self._result = self._result, None
        if not ok:
            raise value
        return value

    def stop(self):
        self._job = None
        self._go.release()


class HelperThreads:
    """``run(fn, shares)``: ``fn(0)`` on the calling thread, ``fn(1)``, ... on helper threads.

    Parameters
    ----------
    helpers : int
        Most helper threads (shares beyond ``helpers + 1`` run on the calling thread). They are
        started at the first :meth:`run` that needs them, and started again in a child process
        after a ``fork`` (threads do not survive it). If the system refuses to start a thread, the
        shares it would have run are run on the calling thread instead.
    name : str
        The threads' name.

    Notes
    -----
    One caller at a time: a set of helper threads belongs to one object (a :class:`~autoencoder_np.fused.FusedStep`),
    which is not meant to be stepped from two threads at once.
    """

    def __init__(self, helpers, name="autoencoder_np"):
        self.helpers, self.name = int(helpers), name
        self._threads, self._pid = [], None

    def _ready(self, wanted):
        if self._pid != os.getpid():      # first use, or a child process after fork()
            self._threads, self._pid = [], os.getpid()
        while len(self._threads) < min(wanted, self.helpers):
            helper = _Helper(self.name)
            try:
                helper.thread.start()
            except RuntimeError:          # "can't start new thread" (a process limit)
                break
            self._threads.append(helper)
        return self._threads[:wanted]

    def run(self, fn, shares):
        """``[fn(0), ..., fn(shares - 1)]``, computed side by side; the first exception is raised.

        Every share has finished when this returns or raises.
        """
        if shares == 1:
            return [fn(0)]
        helpers = self._ready(shares - 1)
        for share, helper in enumerate(helpers, start=1):
            helper.hand(fn, share)
        error, results = None, [None] * shares
        inline = [0] + list(range(len(helpers) + 1, shares))
        try:
            for share in inline:
                results[share] = fn(share)
        except BaseException as exc:  # noqa: B902 - the helpers must finish before it propagates
            error = exc
        for share, helper in enumerate(helpers, start=1):
            try:
                results[share] = helper.collect()
            except BaseException as exc:  # noqa: B902
                error = error or exc
        if error is not None:
            raise error
        return results

    def close(self):
        """Stop the helper threads (a later :meth:`run` starts new ones)."""
        threads, self._threads = self._threads, []
        if self._pid == os.getpid():
            for helper in threads:
                helper.stop()
