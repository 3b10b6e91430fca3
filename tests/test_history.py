"""Run history: runs persist across processes, list newest first, load whole, concurrent writers."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from recsys.evaluation import Experiment, RunHistory, tune

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def experiment_result(small_dataset):
    return Experiment(
        small_dataset,
        "holdout",
        ["popularity", ("popularity", {"weight_completions": True})],
        k=5,
        seed=0,
        n_resamples=100,
    ).run()


def test_record_list_and_load(tmp_path, experiment_result, small_dataset):
    history = RunHistory(tmp_path / "nested" / "runs.sqlite")  # folder is created
    run_id = history.record_experiment(experiment_result)
    tuned = tune(small_dataset, "popularity", {"weight_completions": [False, True]}, metric="ndcg@5", folds=2)
    tune_id = history.record_tuning(tuned)
    assert tune_id > run_id

    runs = history.list_runs()
    assert list(runs["id"]) == [tune_id, run_id]  # newest first
    assert list(runs["kind"]) == ["tune", "compare"]
    assert runs.loc[1, "models"] == "popularity, popularity#2"
    assert runs.loc[1, "fingerprint"] == small_dataset.fingerprint
    assert runs.loc[1, "split"].startswith("holdout(")
    assert list(history.list_runs(kind="compare")["id"]) == [run_id]
    assert len(history.list_runs(limit=1)) == 1

    stored = history.load_run(run_id)
    assert stored["kind"] == "compare" and stored["recsys_version"]
    assert stored["results"] == experiment_result.to_json()["results"]
    assert stored["dataset"]["fingerprint"] == small_dataset.fingerprint
    stored_tune = history.load_run(tune_id)
    assert stored_tune["best_params"] == tuned.best_params and stored_tune["metric"] == "ndcg@5"

    with pytest.raises(KeyError, match="not found"):
        history.load_run(9999)
    with pytest.raises(ValueError, match="kind"):
        history.list_runs(kind="other")


def test_wal_mode(tmp_path):
    history = RunHistory(tmp_path / "runs.sqlite")
    with sqlite3.connect(history.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_concurrent_writers(tmp_path, experiment_result):
    """Two connections (app + CLI) writing at once: every run lands, ids are distinct."""
    path = tmp_path / "runs.sqlite"
    errors = []

    def write(n):
        try:
            history = RunHistory(path)
            for _ in range(n):
                history.record_experiment(experiment_result)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(10,)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    runs = RunHistory(path).list_runs(limit=100)
    assert len(runs) == 30 and runs["id"].is_unique


def test_history_persists_across_processes(tmp_path, small_data_dir):
    db = tmp_path / "runs.sqlite"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    write = (
        "import sys\n"
        "from recsys.data import load_dataset\n"
        "from recsys.evaluation import Experiment, RunHistory\n"
        "ds = load_dataset(sys.argv[1])\n"
        "r = Experiment(ds, 'holdout', ['popularity'], k=5, n_resamples=50, history=RunHistory(sys.argv[2])).run()\n"
        "print(r.run_id, r.table.loc[0, 'ndcg@5'])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", write, str(small_data_dir), str(db)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    run_id, ndcg = out.stdout.split()
    read = (
        "import sys\nfrom recsys.evaluation import RunHistory\n"
        "h = RunHistory(sys.argv[1])\nr = h.list_runs()\n"
        "print(len(r), r.loc[0, 'id'], h.load_run(int(r.loc[0, 'id']))['results'][0]['metrics']['ndcg@5'])\n"
    )
    out = subprocess.run([sys.executable, "-c", read, str(db)], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    count, listed_id, stored = out.stdout.split()
    assert count == "1" and listed_id == run_id and float(stored) == pytest.approx(float(ndcg))


def test_history_stores_new_fields_and_filters_on_protocol(tmp_path, small_dataset, experiment_result):
    history = RunHistory(tmp_path / "runs.sqlite")
    holdout_id = history.record_experiment(experiment_result)
    new = Experiment(
        small_dataset,
        "new_learners",
        ["popularity", ("popularity", {"weight_completions": True})],
        k=5,
        seed=0,
        n_resamples=50,
    ).run()
    new_id = history.record_experiment(new)
    runs = history.list_runs()
    assert list(runs["protocol"]) == ["new_learners", "holdout"]
    assert list(history.list_runs(protocol="new_learners")["id"]) == [new_id]
    assert list(history.list_runs(kind="compare", protocol="holdout")["id"]) == [holdout_id]
    assert history.list_runs(protocol="new_courses").empty
    stored = history.load_run(new_id)
    assert stored["split"]["name"] == "new_learners" and stored["split"]["activity_segments"] == [
        "1",
        "2-3",
        "4-10",
        ">10",
    ]
    entry = stored["results"][0]
    assert entry["kpis"]["niche_share@5"] == pytest.approx(new.details["popularity"].kpis["niche_share@5"])
    assert {"best", "p_holm", "tied_with_best", "effect_size"} <= set(entry["vs_best"]["ndcg@5"])
    assert {"activity", "popularity"} == set(entry["segments"])
    with pytest.raises(ValueError, match="protocol"):
        history.list_runs(protocol="loo")


@pytest.mark.parametrize("store", ["runs", "feedback"])
def test_many_openers_of_a_new_database_never_see_it_locked(tmp_path, store):
    """Opening a brand-new file from several threads at once (two browser sessions, the app and the CLI): the
    switch to WAL mode raced and one opener got 'database is locked' (~1 trial in 15 before the fix)."""
    from recsys.serving.feedback import FeedbackLog

    for trial in range(60):
        path = tmp_path / f"{trial}.sqlite"
        errors = []

        def open_and_read(path=path, errors=errors):
            try:
                if store == "runs":
                    RunHistory(path).list_runs()
                else:
                    FeedbackLog(path).votes()
            except Exception as exc:  # collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=open_and_read) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, (trial, errors)
