"""Tuning on Optuna: search spaces from the declarations, nested validation that never sees the outer test part,
reproducible choices, stored studies that resume after a kill, pruning, and budgets that are checked."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time

import numpy as np
import optuna
import pandas as pd
import pytest

from recsys.evaluation import Experiment, make_split, tune
from recsys.evaluation import search_space as SS
from recsys.evaluation.tuned import TuneBudget
from recsys.evaluation.tuning import (
    CHOICES,
    check_budget,
    choose_trial,
    decode_scores,
    encode_scores,
    inner_split,
    open_study,
    run_study,
    tune_on_split,
)
from recsys.models import MODEL_KEYS, REGISTRY
from tests.conftest import ROOT


# ----- search spaces -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", MODEL_KEYS)
def test_search_space_comes_from_the_declarations(key):
    cls = REGISTRY[key]
    for rating in (False, True) if cls.predicts_ratings else (False,):
        space = SS.search_space(cls, rating_metric=rating)
        roles = SS.RATING_ROLES if rating else SS.RANKING_ROLES
        spec = cls.param_spec()
        for name, dist in space.items():
            p = spec[name]
            assert p.role in roles and p.kind != "mapping"
            if isinstance(dist, optuna.distributions.CategoricalDistribution):
                assert set(dist.choices) <= set(p.choices or (False, True))
            else:
                assert (p.low is None or dist.low >= p.low) and (p.high is None or dist.high <= p.high)
                assert dist.low < dist.high and dist.log == bool(p.log and dist.low > 0)
                for value in p.tune_grid:  # the declared grid lies inside the searched range
                    assert dist.low <= value <= dist.high
        searched_roles = {spec[n].role for n in space}
        assert not searched_roles & {"seed", "resource"}


def test_conditional_parameters_are_suggested_only_where_they_apply():
    cls = REGISTRY["embedding_regression"]
    space = SS.search_space(cls)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(12):
        trial = study.ask()
        params = SS.suggest(trial, cls, space)
        trees = params["estimator"] in ("random_forest", "gradient_boosting")
        assert ("n_estimators" in params) == trees and ("alpha" in params) == (not trees)
        study.tell(trial, 0.0)


# ----- budgets -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("trials, minutes", [(0, None), (-3, None), (10**9, None), (float("nan"), None), (2.5, None)])
def test_bad_trial_budgets_get_one_clear_message(trials, minutes):
    with pytest.raises(ValueError, match="trials"):
        check_budget(trials, minutes)


@pytest.mark.parametrize("minutes", [0, -1, float("nan"), float("inf"), 10**9])
def test_bad_time_budgets_get_one_clear_message(minutes):
    with pytest.raises(ValueError, match="minutes"):
        check_budget(None, minutes)
    with pytest.raises(ValueError, match="minutes"):
        TuneBudget(minutes=minutes)


@pytest.mark.parametrize("flag", ["0", "-2", "nan", "1e12"])
def test_compare_refuses_a_bad_tune_budget_before_loading_data(flag, small_data_dir):
    out = subprocess.run(
        [sys.executable, "-m", "recsys", "compare", "--data", str(small_data_dir), "--models", "ease", "--tune", flag],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "--tune" in out.stderr and "trials" in out.stderr


# ----- nested validation -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("protocol", ["new_learners", "holdout", "new_courses"])
def test_inner_split_never_holds_the_outer_test_part(small_dataset, protocol):
    outer = make_split(small_dataset, protocol, seed=0)
    test_users = set(outer.test["user"]) | (set(outer.fold_in["user"]) if outer.fold_in is not None else set())
    learners_held_out = protocol != "holdout"  # holdout hides ratings of learners who all stay in training
    inner = inner_split(outer.train, protocol, {}, seed=0, exclude_users=list(test_users) if learners_held_out else ())
    pairs = set(zip(outer.test["user"], outer.test["item"]))
    for part in (inner.train.ratings, inner.test, *([inner.fold_in] if inner.fold_in is not None else [])):
        assert not pairs & set(zip(part["user"], part["item"]))  # no held-out rating is seen while tuning
    if learners_held_out:
        assert not test_users & set(inner.test["user"])  # no outer test learner is scored while tuning
        if inner.fold_in is not None:
            assert not test_users & set(inner.fold_in["user"])
    if protocol == "new_courses":
        assert not set(outer.new_items) & set(inner.test["item"])


def test_tuned_comparison_fits_only_on_the_training_part(small_dataset, monkeypatch):
    """A model that records every dataset it is fitted on: during tuning none holds an outer test rating."""
    from recsys.models import registry
    from recsys.models.linear.ease import EASERecommender

    fitted: list[pd.DataFrame] = []

    class RecordingEASE(EASERecommender):
        def _fit(self, dataset, progress):
            fitted.append(dataset.ratings[["user", "item"]].copy())
            super()._fit(dataset, progress)

    monkeypatch.setitem(registry.REGISTRY._classes, "ease", RecordingEASE)
    experiment = Experiment(
        small_dataset, "holdout", ["ease"], k=5, seed=0, n_resamples=0, tune={"trials": 3}, study_storage="memory"
    )
    result = experiment.run()
    outer = experiment.make_split()
    held_out = set(zip(outer.test["user"], outer.test["item"]))
    assert len(fitted) == 4  # three tuning trials and the final fit on the whole training part
    for ratings in fitted:
        assert not held_out & set(zip(ratings["user"], ratings["item"]))
    tuning = result.details["ease"].tuning
    assert tuning["trials"] == 3 and set(tuning["params"]) == {"l2"}


def test_same_seed_same_choices_and_leaderboard(small_dataset):
    def run():
        return Experiment(
            small_dataset,
            "new_learners",
            ["popularity", "rp3beta", "hybrid"],
            k=10,
            seed=3,
            n_resamples=50,
            tune={"trials": 3},
            study_storage="memory",
        ).run()

    a, b = run(), run()
    for name in a.details:
        assert a.details[name].tuning["params"] == b.details[name].tuning["params"]
        assert a.details[name].metrics == b.details[name].metrics
    hybrid = a.details["hybrid"]
    members = hybrid.tuning["params"]["member_params"]
    assert members["rp3beta"] == a.details["rp3beta"].tuning["params"]  # tuned once, reused by the hybrid
    assert hybrid.params["member_params"] == members
    payload = json.loads(json.dumps(a.to_json(), allow_nan=False))
    entry = next(r for r in payload["results"] if r["name"] == "rp3beta")
    assert entry["tuning"]["trials"] == 3 and "study" in entry["tuning"]
    board = a.leaderboard()
    assert {"tuned", "tuned_params", "trials", "tuning_seconds"} <= set(board.columns)


def test_run_history_keeps_the_tuning(small_dataset, tmp_path):
    from recsys.evaluation import RunHistory

    history = RunHistory(tmp_path / "runs.sqlite")
    result = Experiment(
        small_dataset,
        "new_learners",
        ["ease"],
        k=5,
        n_resamples=0,
        tune={"trials": 2},
        study_storage="memory",
        history=history,
    ).run()
    stored = history.load_run(result.run_id)
    assert stored["results"][0]["tuning"]["params"] == result.details["ease"].tuning["params"]
    assert history.list_runs(limit=1)["summary"].iloc[0].startswith("tuned (2 per model)")


def test_the_first_trial_is_the_defaults_so_tuning_never_loses_on_validation(small_dataset):
    outer = make_split(small_dataset, "new_learners", seed=0)
    inner = inner_split(outer.train, "new_learners", {}, seed=0, exclude_users=outer.test["user"].unique())
    summary = tune_on_split(inner, "ease", 4, None, seed=0, k=10, storage="memory")
    assert summary.default_value is not None and summary.best_value >= summary.default_value
    # what it uses: the best, or a trial within one standard error of it (the defaults first)
    assert summary.choice in CHOICES and summary.chosen_value <= summary.best_value
    if summary.choice == "defaults":
        assert summary.chosen_value == summary.default_value and summary.chosen_trial == 0
    if summary.choice == "best":
        assert summary.chosen_value == summary.best_value
    assert summary.to_json()["choice"] == summary.choice


def _numbered(number: int, scores, fit_seconds: float, l2: float) -> optuna.trial.FrozenTrial:
    """A finished trial as Optuna stores it, with its per-learner validation scores."""
    trial = optuna.trial.create_trial(
        params={"l2": l2},
        distributions={"l2": optuna.distributions.FloatDistribution(1.0, 1000.0, log=True)},
        value=float(np.nanmean(scores)),
        user_attrs={"per_learner": encode_scores(np.asarray(scores)), "fit_seconds": fit_seconds},
    )
    trial.number = number
    return trial


def test_one_standard_error_rule_keeps_the_defaults_when_the_best_is_not_clearly_better():
    rng = np.random.default_rng(0)
    base = rng.random(400)
    defaults = _numbered(0, base, 1.0, 100.0)
    noisy_best = _numbered(1, np.clip(base + rng.normal(0.002, 0.05, 400), 0, 1), 1.0, 30.0)
    best = max([defaults, noisy_best], key=lambda t: t.value)
    assert best is noisy_best  # the search did find a (slightly) higher mean
    pick, choice, why = choose_trial(best, defaults)
    assert pick is defaults and choice == "defaults" and "400 validation learners" in why


def test_one_standard_error_rule_takes_a_clearly_better_trial():
    rng = np.random.default_rng(1)
    base = rng.random(400) * 0.5
    defaults = _numbered(0, base, 1.0, 100.0)
    better = _numbered(1, base + 0.02 + rng.normal(0.0, 0.05, 400), 9.0, 30.0)  # +0.02, standard error ~0.0025
    pick, choice, why = choose_trial(better, defaults)
    assert pick is better and choice == "best" and "over the defaults" in why
    assert choose_trial(defaults, defaults)[:2] == (defaults, "best")  # the defaults were the best


def test_per_learner_scores_survive_their_compact_encoding():
    values = np.array([0.0, 1.0, 0.123456, np.nan, 0.5])
    back = decode_scores(encode_scores(values))
    assert np.isnan(back[3]) and np.allclose(back[[0, 1, 2, 4]], values[[0, 1, 2, 4]], atol=2e-5)


# ----- stored studies ------------------------------------------------------------------------------------------------
KILLED_RUN = """
import os, signal, sqlite3, sys, time
from recsys.evaluation import studies
from recsys.evaluation.tuning import open_study, run_study
from recsys.models import REGISTRY
from recsys.evaluation import search_space as SS
cls = REGISTRY["ease"]
study = open_study("kill-test", studies.storage(sys.argv[1], heartbeat=1, grace=2))
def objective(trial, params):
    if trial.number == 2:
        # killed in the middle of a trial, once its heartbeat is on disk (as any trial running longer than a beat)
        with sqlite3.connect(sys.argv[1]) as con:
            while not con.execute("SELECT 1 FROM trial_heartbeats WHERE trial_id = ?", (trial._trial_id,)).fetchone():
                time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGKILL)
    return 1.0 / params.get("l2", 100.0)  # the defaults trial leaves l2 ("auto") to EASE's data rule
run_study(study, cls, SS.search_space(cls), objective, 5, "tpe", 0)
"""


def test_a_study_resumes_after_a_kill(tmp_path):
    from recsys.evaluation import studies

    path = tmp_path / "tuning.sqlite"
    out = subprocess.run([sys.executable, "-c", KILLED_RUN, str(path)], cwd=ROOT, capture_output=True, timeout=120)
    assert out.returncode != 0  # the process was killed
    store = studies.storage(path, heartbeat=1, grace=2)
    study = open_study("kill-test", store)
    before = {t.number: (t.state, t.params) for t in study.get_trials(deepcopy=False)}
    assert before[2][0] == optuna.trial.TrialState.RUNNING  # a consistent study: the killed trial is just unfinished
    assert [before[n][0] for n in (0, 1)] == [optuna.trial.TrialState.COMPLETE] * 2
    deadline = time.monotonic() + 60
    while study.trials[2].state == optuna.trial.TrialState.RUNNING and time.monotonic() < deadline:
        time.sleep(0.2)  # until its last heartbeat is older than the grace period
        optuna.storages.fail_stale_trials(study)
    cls = REGISTRY["ease"]
    run = run_study(study, cls, SS.search_space(cls), lambda trial, params: 1.0 / params.get("l2", 100.0), 5, "tpe", 0)
    states = {t.number: t.state for t in study.get_trials(deepcopy=False)}
    assert states[2] == optuna.trial.TrialState.FAIL  # marked failed, then ignored
    assert len(run.trials) == 5 and run.new_trials == 3
    assert {t.number: t.params for t in run.trials if t.number < 2} == {n: before[n][1] for n in (0, 1)}


def test_a_repeated_tuning_reuses_the_stored_trials(small_dataset, tmp_path):
    path = tmp_path / "tuning.sqlite"
    first = tune(small_dataset, "ease", n_trials=4, folds=2, seed=0, storage=path)
    again = tune(small_dataset, "ease", n_trials=4, folds=2, seed=0, storage=path)
    assert again.best_params == first.best_params and again.study_name == first.study_name
    pd.testing.assert_frame_equal(first.table.drop(columns="fit_seconds"), again.table.drop(columns="fit_seconds"))
    fewer = tune(small_dataset, "ease", n_trials=2, folds=2, seed=0, storage=path)  # the first two of the same study
    pd.testing.assert_frame_equal(
        fewer.table.drop(columns=["fit_seconds", "rank"]),
        first.table[first.table["trial"] < 2].drop(columns=["fit_seconds", "rank"]),
    )


def test_a_pruned_trial_is_recorded_as_pruned(small_dataset):
    result = tune(small_dataset, "knn", n_trials=14, folds=3, seed=0, storage="memory")
    pruned = result.table[result.table["state"] == "pruned"]
    assert len(pruned) >= 1
    assert pruned["mean"].isna().all() and pruned["fold_1"].notna().all()  # stopped after its first fold
    assert result.n_pruned == len(pruned)
    assert all(r["state"] == "pruned" for r in result.to_json()["results"] if r["trial"] in set(pruned["trial"]))


def test_mid_fit_scores_are_few_and_at_the_same_steps_for_every_trial():
    from recsys.evaluation.tuning import checkpoint_steps

    scored = [s for s in range(1, 301) if checkpoint_steps(s)]
    assert scored == [4, 8, 16, 32, 64, 128, 256]


def test_iterative_models_report_checkpoints_that_can_stop_the_fit(small_dataset):
    """ALS calls the checkpoint after each sweep with a usable partial model; raising stops the fit."""
    from recsys.models import make_model

    model = make_model("als", iterations=6, factors=8, seed=0)
    seen: list[tuple[int, float]] = []

    def checkpoint(step):
        scores = model.score_histories(small_dataset.matrix[:5])
        seen.append((step, float(np.abs(scores).sum())))
        if step == 3:
            raise optuna.TrialPruned()

    with pytest.raises(optuna.TrialPruned):
        model.fit(small_dataset, checkpoint=checkpoint)
    assert [s for s, _ in seen] == [1, 2, 3] and all(math.isfinite(v) and v > 0 for _, v in seen)
    assert "_checkpoint" not in model.__dict__
    fresh = make_model("als", iterations=6, factors=8, seed=0).fit(small_dataset)
    again = make_model("als", iterations=6, factors=8, seed=0).fit(small_dataset, checkpoint=lambda step: None)
    np.testing.assert_array_equal(fresh.item_factors_, again.item_factors_)  # checkpoints change nothing
