"""Models fitted side by side (recsys.evaluation.lanes): same numbers as one after another, progress on the
caller's thread, a failure stops the rest. No timings (bench/compare_all.py measures the speed)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from recsys.evaluation import Experiment
from recsys.evaluation.lanes import Cancelled, check_lanes, run_jobs
from recsys.models import make_model
from recsys.models.neural import shared_embedding


def test_jobs_run_side_by_side_and_results_keep_the_callers_order():
    both_running = threading.Barrier(2, timeout=30)  # one after another, the first job would wait forever

    def job(value):
        def run(report):
            report(0.5, f"job {value} half way")
            both_running.wait()
            return value

        return run

    assert run_jobs([job("a"), job("b")], n_jobs=2, cost=[1.0, 5.0]) == ["a", "b"]


def test_progress_reaches_only_the_callers_thread_and_ends_complete():
    caller = threading.get_ident()
    seen = []

    def job(report):
        for step in range(5):
            report(step / 5, f"step {step}")
        return threading.get_ident()

    workers = run_jobs([job] * 4, n_jobs=2, progress=lambda f, m: seen.append((threading.get_ident(), f)))
    assert caller not in workers  # the jobs ran on the lanes ...
    assert seen and {t for t, _ in seen} == {caller}  # ... and every report was forwarded by the caller
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)


def test_a_failing_job_stops_running_jobs_and_drops_queued_ones():
    started, stopped = [], []

    def failing(report):
        started.append("failing")
        raise ValueError("model 'x' could not be fitted")

    def long_running(report):
        started.append("long")
        try:
            while True:  # a fit that reports progress now and then
                report(0.1, "still fitting")
                threading.Event().wait(0.01)
        except Cancelled:
            stopped.append("long")
            raise

    def queued(report):
        started.append("queued")
        return 1

    with pytest.raises(ValueError, match="could not be fitted"):
        run_jobs([long_running, failing, queued, queued], n_jobs=2)
    assert sorted(started) == ["failing", "long"] and stopped == ["long"]


def test_lane_counts_are_checked():
    assert check_lanes(3) == 3
    assert 1 <= check_lanes(-1) <= 2 and check_lanes(None) == check_lanes(-1)
    for bad in (0, -2, 1.5, True, "2"):
        with pytest.raises(ValueError, match="n_jobs"):
            check_lanes(bad)


def test_experiment_numbers_do_not_depend_on_the_lanes(small_dataset):
    models = ["popularity", "ease", ("knn", {"n_neighbours": 10}), ("als", {"factors": 8, "iterations": 3}), "nmf"]
    one, two = (
        Experiment(small_dataset, "holdout", models, k=5, seed=2, n_resamples=200, n_jobs=n).run() for n in (1, 2)
    )
    assert list(one.details) == list(two.details)
    for name in one.details:
        a, b = one.details[name], two.details[name]
        np.testing.assert_array_equal(a.top, b.top)
        assert a.metrics == b.metrics and a.ci == b.ci and a.kpis == b.kpis
    assert one.vs_best().equals(two.vs_best())


def test_two_identical_neural_fits_at_once_train_one_network(tiny_dataset):
    shared_embedding.clear()
    params = {"epochs": 2, "embedding_size": 8, "seed": 5}
    start = threading.Barrier(2, timeout=60)
    messages: dict[str, list[str]] = {"neural": [], "embedding_regression": []}
    fitted = {}

    def fit(key):
        start.wait()
        fitted[key] = make_model(key, **params).fit(tiny_dataset, progress=lambda f, m: messages[key].append(m))

    threads = [threading.Thread(target=fit, args=(key,)) for key in messages]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    reused = [key for key, said in messages.items() if any("reused" in m for m in said)]
    assert len(reused) == 1, messages  # the second waited for the first and adopted its network
    np.testing.assert_array_equal(
        fitted["neural"].item_embeddings_, fitted["embedding_regression"].embedder_.item_embeddings_
    )


def test_a_comparison_on_another_thread_gives_the_same_numbers_as_on_the_main_thread(small_dataset):
    """The CLI runs on the main thread, the app on a Streamlit script thread: BLAS is one thread for the process
    (recsys/_blas.py), so a matrix product cannot round differently in one of them."""
    from threadpoolctl import threadpool_info

    def run():
        return Experiment(small_dataset, "holdout", ["popularity", "ease", "knn"], k=5, seed=3, n_resamples=200).run()

    here = run()
    box = {}
    thread = threading.Thread(target=lambda: box.setdefault("result", run()))
    thread.start()
    thread.join()
    there = box["result"]
    for name in here.details:
        assert here.details[name].ci == there.details[name].ci
        assert here.details[name].metrics == there.details[name].metrics
    assert {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"} == {1}
