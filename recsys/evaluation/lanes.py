"""Run independent jobs (one model's fit + scoring each) on a few threads, with progress on the caller's thread.

A comparison is a list of independent fits. On a 2-core machine most of them keep one core busy (numpy loops,
Surprise, the `implicit` library with one thread) and one waits on another process (Spark's JVM), so two lanes
finish the list in about half the time. Jobs start largest first (`cost` hints: longest-processing-time
scheduling), results come back in the caller's order, and the numbers do not depend on the number of lanes:
every job is seeded on its own, and BLAS runs one thread in the whole process (recsys/_blas.py), so no lane's
numbers depend on what runs beside it.

Progress: a job reports `(fraction, message)` through its own callback; this module keeps the latest report
per job and the caller's thread -- the only one allowed to touch a Streamlit page -- forwards the combined
fraction. When the caller stops (an error in a job, Ctrl-C, a Streamlit rerun raised from `progress`), jobs not
yet started are dropped and running ones stop at their next progress report (`Cancelled`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import TypeVar

from recsys._progress import Progress

T = TypeVar("T")

Job = Callable[[Progress], T]

POLL_SECONDS = 0.2  # how often the caller's thread forwards progress while jobs run


class Cancelled(RuntimeError):
    """Raised inside a job's progress report after the run was stopped."""


def default_lanes() -> int:
    """Threads for a comparison: the cores this process may use, at most 2 (enough to hide a JVM or a
    single-threaded library; more lanes mostly add memory and contention for the shared caches)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(2, cores))


def check_lanes(n_jobs) -> int:
    """A validated lane count: a positive integer, or None / -1 for `default_lanes()`."""
    if n_jobs is None or (not isinstance(n_jobs, bool) and n_jobs == -1):
        return default_lanes()
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive integer or -1 (all cores, at most 2), got {n_jobs!r}")
    return n_jobs


def run_jobs(
    jobs: Sequence[Job],
    n_jobs: int = 1,
    progress: Progress | None = None,
    cost: Sequence[float] | None = None,
) -> list:
    """Results of `jobs` (each called with its own progress callback), in the order given.

    n_jobs=1 runs them one after another on this thread (reports go straight through). The combined progress
    is the mean of the jobs' fractions. The first failing job's error is raised once running jobs have stopped.
    """
    if not jobs:
        return []
    n_jobs = min(int(n_jobs), len(jobs))
    if n_jobs <= 1:
        return [job(_share(progress, i, len(jobs))) for i, job in enumerate(jobs)]
    return _Lanes(jobs, n_jobs, progress, cost).run()


def _share(progress: Progress | None, index: int, count: int) -> Progress:
    def report(fraction: float, message: str = "") -> None:
        if progress is not None:
            progress((index + min(max(float(fraction), 0.0), 1.0)) / count, message)

    return report


class _Lanes:
    def __init__(self, jobs, n_jobs, progress, cost):
        self.jobs, self.n_jobs, self.progress = list(jobs), n_jobs, progress
        self.order = sorted(range(len(jobs)), key=lambda i: (-(cost[i] if cost is not None else 0.0), i))
        self.fractions = [0.0] * len(jobs)
        self.message = ""
        self.changed = threading.Condition()
        self.stopped = threading.Event()

    def report_for(self, index: int) -> Progress:
        def report(fraction: float, message: str = "") -> None:
            if self.stopped.is_set():
                raise Cancelled("the comparison was stopped")
            with self.changed:
                self.fractions[index] = max(self.fractions[index], min(max(float(fraction), 0.0), 1.0))
                self.message = message or self.message
                self.changed.notify()

        return report

    def call(self, index: int):
        if self.stopped.is_set():
            raise Cancelled("the comparison was stopped")
        try:
            return self.jobs[index](self.report_for(index))
        except BaseException:
            self.stopped.set()  # before this lane can take the next job: nothing new starts after a failure
            raise
        finally:
            with self.changed:
                self.fractions[index] = 1.0
                self.changed.notify()

    def forward(self) -> None:
        if self.progress is None:
            return
        with self.changed:
            fraction, message = sum(self.fractions) / len(self.fractions), self.message
        self.progress(fraction, message)

    def run(self) -> list:
        pool = ThreadPoolExecutor(max_workers=self.n_jobs, thread_name_prefix="recsys-lane")
        futures: dict[int, Future] = {}
        try:
            for index in self.order:
                futures[index] = pool.submit(self.call, index)
            pending = set(futures.values())
            while pending:
                with self.changed:
                    self.changed.wait(POLL_SECONDS)
                done, pending = wait(pending, timeout=0, return_when=FIRST_EXCEPTION)
                if any(f.exception() is not None for f in done):
                    self.stopped.set()  # queued jobs are dropped, running ones stop at their next report
                    wait(pending)
                    break
                self.forward()
        except BaseException:
            self.stopped.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        failures = [
            (i, futures[i].exception())
            for i in range(len(self.jobs))
            if futures[i].done() and not futures[i].cancelled() and futures[i].exception() is not None
        ]
        real = [(i, e) for i, e in failures if not isinstance(e, Cancelled)]
        if real or failures:
            raise (real or failures)[0][1]
        return [futures[i].result() for i in range(len(self.jobs))]
