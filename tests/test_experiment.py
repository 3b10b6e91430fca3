"""Experiment and tuning on a generated dataset: real fits, the new-learner path, determinism, JSON."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from recsys.evaluation import Experiment, RunHistory, holdout_split, tune
from recsys.evaluation import metrics as M
from recsys.models.base import Recommender
from recsys.models.params import HyperParam


class CooccurrenceRecommender(Recommender):
    """A genuinely personalised test model: courses taken together with the learner's courses score high.

    It streams per-'epoch' progress and keeps a `history_`, like the neural models do.
    """

    key = "cooccurrence"
    label = "Co-occurrence"
    hyperparams = (HyperParam("epochs", "int", 3, low=1, high=10),)

    def __init__(self, epochs: int = 3):
        self.epochs = epochs

    def _fit(self, dataset, progress):
        binary = (dataset.matrix > 0).astype(np.float64)
        self.co_ = (binary.T @ binary).toarray()
        np.fill_diagonal(self.co_, 0)
        self.pop_ = np.asarray(binary.sum(axis=0)).ravel()
        self.history_ = {"loss": []}
        for epoch in range(self.epochs):
            self.history_["loss"].append(1.0 / (epoch + 1))
            if progress:
                progress((epoch + 1) / self.epochs, f"epoch {epoch + 1}/{self.epochs}")

    def score_histories(self, histories):
        binary = (sparse.csr_matrix(histories) > 0).astype(np.float64)
        return np.asarray(binary @ self.co_) + 1e-6 * self.pop_


class LeastPopularRecommender(Recommender):
    """A genuinely worse test model: the least-taken courses first."""

    key = "least_popular"
    label = "Least popular"

    def _fit(self, dataset, progress):
        self.pop_ = np.bincount(dataset.matrix.indices, minlength=dataset.n_items).astype(np.float64)

    def score_histories(self, histories):
        return np.broadcast_to(-self.pop_, (histories.shape[0], len(self.pop_))).copy()


@pytest.fixture(scope="module")
def result(small_dataset):
    exp = Experiment(
        small_dataset,
        "holdout",
        [
            "popularity",
            ("popularity", {"weight_completions": True}),
            CooccurrenceRecommender(),
            LeastPopularRecommender(),
        ],
        k=10,
        seed=0,
        n_resamples=300,
    )
    return exp.run()


def test_table_and_names(result):
    table = result.table
    assert list(table["name"]) == ["popularity", "popularity#2", "cooccurrence", "least_popular"]
    assert list(table["model"]) == ["popularity", "popularity", "cooccurrence", "least_popular"]
    assert table.loc[1, "label"] != table.loc[0, "label"] and "weight_completions=True" in table.loc[1, "label"]
    for metric in M.metric_names(10):
        assert metric in table and f"{metric}_lo" in table and f"{metric}_hi" in table
    for metric in ["precision@10", "recall@10", "ndcg@10", "map@10", "hit_rate@10", "diversity@10", "novelty@10"]:
        assert (table[f"{metric}_lo"] <= table[metric]).all() and (table[metric] <= table[f"{metric}_hi"]).all()
    assert table["rmse"].isna().all()  # ranking-only models: n/a
    assert (table["recommend_ms"] > 0).all() and (table["fit_seconds"] >= 0).all()
    assert ((table["coverage@10"] > 0) & (table["coverage@10"] <= 1)).all()


def test_lists_exclude_training_courses_and_match_recommend(result, small_dataset):
    """The engine's numbers equal a plain loop over the public `recommend` API for the same learners."""
    details = result.details["cooccurrence"]
    split = holdout_split(small_dataset, n=1, min_ratings=2, seed=0)
    model = details.model
    users = details.per_learner["user"].to_numpy()
    test_items = split.test.groupby("user")["item"].apply(set)
    for row in range(0, len(users), max(1, len(users) // 60)):
        user = users[row]
        history = split.train.user_history(user)
        recs = model.recommend(history, k=10)
        listed = list(model.item_index_[details.top[row][details.top[row] >= 0]])
        assert listed == list(recs["COURSE_ID"])
        assert not set(listed) & set(history)
        relevant = test_items[user]
        dcg = sum(1 / math.log2(r + 2) for r, c in enumerate(listed) if c in relevant)
        ideal = sum(1 / math.log2(r + 2) for r in range(min(len(relevant), 10)))
        assert details.per_learner.loc[row, "ndcg@10"] == pytest.approx(dcg / ideal)
        assert details.per_learner.loc[row, "n_train"] == len(history)


def test_paired_test_finds_the_better_model(result):
    better = result.paired_test("popularity", "least_popular")
    assert better.mean_diff > 0 and better.ci[0] > 0 and better.p_value < 0.01
    same = result.paired_test("popularity", "popularity")
    assert same.p_value == 1.0 and same.mean_diff == 0
    with pytest.raises(KeyError):
        result.paired_test("popularity", "nope")


def test_learning_curve_and_progress(small_dataset):
    events = []
    exp = Experiment(small_dataset, "holdout", [CooccurrenceRecommender(epochs=4)], k=5, seed=1, n_resamples=0)
    res = exp.run(progress=lambda f, m: events.append((f, m)))
    fractions = [f for f, _ in events]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and 0 <= fractions[0]
    assert any("epoch 2/4" in m for _, m in events)  # fit progress streams through
    curve = res.details["cooccurrence"].learning_curve
    assert list(curve["epoch"]) == [1, 2, 3, 4] and list(curve["loss"]) == [1, 1 / 2, 1 / 3, 1 / 4]
    assert res.details["cooccurrence"].ci == {}  # n_resamples=0: no intervals


def test_same_seed_same_numbers(small_dataset, result):
    again = Experiment(
        small_dataset,
        "holdout",
        [
            "popularity",
            ("popularity", {"weight_completions": True}),
            CooccurrenceRecommender(),
            LeastPopularRecommender(),
        ],
        k=10,
        seed=0,
        n_resamples=300,
    ).run()
    timing = ["fit_seconds", "recommend_ms"]
    pd.testing.assert_frame_equal(result.table.drop(columns=timing), again.table.drop(columns=timing))
    other = Experiment(small_dataset, "holdout", ["popularity"], k=10, seed=1, n_resamples=300).run()
    assert other.table.loc[0, "ndcg@10"] != result.table.loc[0, "ndcg@10"]


def test_to_json_format(result):
    payload = json.loads(json.dumps(result.to_json(), allow_nan=False))
    assert set(payload) == {"dataset", "split", "results"}
    assert {"name", "fingerprint", "counts"} <= set(payload["dataset"])
    assert payload["split"]["name"] == "holdout" and payload["split"]["k"] == 10
    keys = [
        "precision@10",
        "recall@10",
        "ndcg@10",
        "map@10",
        "hit_rate@10",
        "coverage@10",
        "diversity@10",
        "novelty@10",
        "rmse",
        "mae",
    ]
    for entry in payload["results"]:
        assert list(entry["metrics"]) == keys
        assert entry["metrics"]["rmse"] is None and entry["metrics"]["mae"] is None
        assert all(isinstance(entry["metrics"][k], float) for k in keys[:8])
        assert isinstance(entry["params"], dict) and isinstance(entry["model"], str)
        lo, hi = entry["ci"]["ndcg@10"]
        assert lo <= entry["metrics"]["ndcg@10"] <= hi
        assert isinstance(entry["fit_seconds"], float) and isinstance(entry["recommend_ms"], float)
    assert [e["name"] for e in payload["results"]] == ["popularity", "popularity#2", "cooccurrence", "least_popular"]


def test_ratio_split_skips_learners_without_history(small_dataset):
    res = Experiment(
        small_dataset, "ratio", ["popularity"], k=10, seed=0, split_params={"test_size": 0.3}, n_resamples=0
    ).run()
    split = res.split
    assert split["skipped_test_learners"] == split["test_learners_without_train_history"] > 0
    assert split["evaluated_learners"] + split["skipped_test_learners"] == split["test_learners"]
    assert len(res.details["popularity"].per_learner) == split["evaluated_learners"]


def test_rating_model_reports_rmse(small_dataset):
    res = Experiment(small_dataset, "holdout", [("knn", {"n_neighbours": 20})], k=10, seed=0, n_resamples=200).run()
    d = res.details["knn"]
    split = holdout_split(small_dataset, seed=0)
    assert len(d.errors) == len(split.test) == len(d.predictions)
    assert d.metrics["rmse"] == pytest.approx(
        np.sqrt(np.mean((d.predictions["predicted"] - d.predictions["actual"]) ** 2))
    )
    assert d.metrics["mae"] == pytest.approx(np.mean(np.abs(d.errors)))
    assert d.ci["rmse"][0] <= d.metrics["rmse"] <= d.ci["rmse"][1]
    assert res.to_json()["results"][0]["metrics"]["rmse"] == pytest.approx(d.metrics["rmse"])


def test_experiment_validates_input(small_dataset):
    with pytest.raises(ValueError, match="unknown model"):
        Experiment(small_dataset, "holdout", ["nope"])
    with pytest.raises(ValueError, match="no parameter"):
        Experiment(small_dataset, "holdout", [("popularity", {"alpha": 1})])
    with pytest.raises(ValueError, match="true or false"):
        Experiment(small_dataset, "holdout", [("popularity", {"weight_completions": "maybe"})])
    with pytest.raises(ValueError, match="unknown split"):
        Experiment(small_dataset, "loo", ["popularity"])
    with pytest.raises(ValueError, match="k must be"):
        Experiment(small_dataset, "holdout", ["popularity"], k=0)


def test_experiment_records_history(small_dataset, tmp_path):
    history = RunHistory(tmp_path / "runs.sqlite")
    res = Experiment(small_dataset, "holdout", ["popularity"], k=5, seed=0, n_resamples=0, history=history).run()
    assert res.run_id is not None
    stored = history.load_run(res.run_id)
    assert stored["results"][0]["metrics"]["ndcg@5"] == pytest.approx(res.table.loc[0, "ndcg@5"])


# ----- tuning ------------------------------------------------------------------------------------
def test_tune_grid(small_dataset):
    res = tune(small_dataset, "popularity", {"weight_completions": [False, "true"]}, metric="recall@5", folds=3, seed=0)
    table = res.table
    assert sorted(table["weight_completions"]) == [False, True]  # every combination once (trial order is seeded)
    assert {"mean", "std", "fold_1", "fold_2", "fold_3", "fit_seconds", "rank"} <= set(table.columns)
    np.testing.assert_allclose(table["mean"], table[["fold_1", "fold_2", "fold_3"]].mean(axis=1))
    best = table.loc[table["mean"].idxmax()]
    assert res.best_params == {"weight_completions": bool(best["weight_completions"])}
    assert res.best_score == pytest.approx(best["mean"]) and res.metric == "recall@5" and res.k == 5
    again = tune(small_dataset, "popularity", {"weight_completions": [False, True]}, metric="recall@5", folds=3, seed=0)
    pd.testing.assert_frame_equal(table.drop(columns="fit_seconds"), again.table.drop(columns="fit_seconds"))
    payload = json.loads(json.dumps(res.to_json(), allow_nan=False))
    assert payload["best_params"] == res.best_params and len(payload["results"]) == 2


def test_tune_default_grid_and_random_search(small_dataset):
    res = tune(small_dataset, "popularity", None, folds=2, seed=0)  # declared grid: [False, True]
    assert len(res.table) == 2
    res = tune(small_dataset, "popularity", {"weight_completions": [False, True]}, folds=2, search="random", n_iter=1)
    assert len(res.table) == 1  # a budget smaller than the grid: that many trials


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"model_key": "nope"}, "unknown model"),
        ({"grid": {"alpha": [1]}}, "no parameter"),
        ({"grid": {"weight_completions": ["maybe"]}}, "true or false"),
        ({"grid": {"weight_completions": []}}, "empty"),
        ({"metric": "auc@10"}, "unknown metric"),
        ({"metric": "rmse"}, "rating model"),
        ({"search": "bayes"}, "unknown sampler"),
        ({"folds": 1}, "folds"),
    ],
)
def test_tune_validates(small_dataset, kwargs, message):
    args = {"model_key": "popularity", "grid": {"weight_completions": [False, True]}, **kwargs}
    with pytest.raises(ValueError, match=message):
        tune(small_dataset, **args)


def test_tune_numeric_grid_on_a_real_model(small_dataset):
    res = tune(small_dataset, "knn", {"n_neighbours": ["40", 5]}, metric="ndcg@10", folds=2, seed=0)
    assert sorted(res.table["n_neighbours"]) == [5, 40]  # values coerced by the model's HyperParam spec
    assert res.table["mean"].between(0, 1).all() and (res.table["std"] >= 0).all()
    assert res.best_params["n_neighbours"] in (5, 40)
    with pytest.raises(ValueError, match="between"):
        tune(small_dataset, "knn", {"n_neighbours": [0]}, folds=2)


def test_experiment_seed_reaches_seeded_models():
    from recsys.evaluation import resolve_models

    key = "clustering"
    assert resolve_models([key], seed=5)[0].model.seed == 5
    assert resolve_models([(key, {"seed": 2})], seed=5)[0].model.seed == 2  # an explicit seed wins


# ----- new_learners / new_courses protocols, KPIs, segments, corrected comparison ----------------------
class NoColdStartRecommender(CooccurrenceRecommender):
    """Like co-occurrence, but a course nobody took in training scores -inf (it cannot be recommended)."""

    key = "no_cold_start"
    label = "No cold start"

    def score_histories(self, histories):
        scores = super().score_histories(histories)
        scores[:, self.pop_ == 0] = -np.inf
        return scores


@pytest.fixture(scope="module")
def new_learner_result(small_dataset):
    return Experiment(
        small_dataset,
        "new_learners",
        ["popularity", CooccurrenceRecommender(), LeastPopularRecommender(), "knn"],
        k=10,
        seed=0,
        n_resamples=200,
    ).run()


def test_new_learners_scored_like_the_recommend_page(new_learner_result, small_dataset):
    from recsys.evaluation import make_split

    split = make_split(small_dataset, "new_learners", seed=0)
    details = new_learner_result.details["cooccurrence"]
    users = details.per_learner["user"].to_numpy()
    assert set(users) == set(split.test["user"]) and not set(users) & set(details.model.user_index_)
    known = split.fold_in.groupby("user").apply(lambda g: dict(zip(g["item"], g["rating"])), include_groups=False)
    for row in range(0, len(users), max(1, len(users) // 30)):
        history = known[users[row]]
        recs = details.model.recommend(history, k=10)  # what the Recommend page shows this learner
        assert list(details.model.item_index_[details.top[row][details.top[row] >= 0]]) == list(recs["COURSE_ID"])
        assert details.per_learner.loc[row, "n_train"] == len(history)
    split_info = new_learner_result.split
    assert split_info["name"] == "new_learners" and split_info["evaluated_learners"] == len(users)
    assert new_learner_result.details["knn"].metrics["rmse"] is None and "rating_metrics" in split_info


def test_kpis_segments_and_vs_best_in_results(new_learner_result, small_dataset):
    res = new_learner_result
    kpis = res.kpi_table.set_index("name")
    for name, d in res.details.items():  # KPIs of each model's own lists, training enrolments, catalogue levels
        expected = M.product_kpis(
            d.top,
            M.enrolments(d.model.train_matrix_),
            small_dataset.genre_matrix,
            small_dataset.courses["LEVEL"].to_numpy(),
        )
        assert kpis.loc[name, list(expected)].to_dict() == pytest.approx(expected)
    seg = res.segment_table
    activity = seg[(seg["name"] == "popularity") & (seg["kind"] == "activity")]
    assert list(activity["segment"]) == ["1", "2-3", "4-10", ">10"]
    assert activity["n_learners"].sum() == res.split["evaluated_learners"]
    vs = res.vs_best()
    ndcg = vs[vs["metric"] == "ndcg@10"].set_index("name")
    best = ndcg["best"].iloc[0]
    assert ndcg.loc[best, "mean"] == pytest.approx(res.table["ndcg@10"].max()) and ndcg.loc[best, "tied_with_best"]
    assert ndcg.loc["least_popular", "mean_diff"] == pytest.approx(
        ndcg.loc["least_popular", "mean"] - ndcg.loc[best, "mean"]
    )
    assert not ndcg.loc["least_popular", "tied_with_best"] and ndcg.loc["least_popular", "p_holm"] < 0.05
    payload = json.loads(json.dumps(res.to_json(), allow_nan=False))
    assert set(payload) == {"dataset", "split", "results"}
    entry = payload["results"][2]
    assert set(entry["kpis"]) == set(M.kpi_names(10))
    assert entry["vs_best"]["ndcg@10"]["tied_with_best"] is False and entry["vs_best"]["ndcg@10"]["p_holm"] < 0.05
    assert [s["segment"] for s in entry["segments"]["popularity"]] == ["head", "tail"]


def test_same_seed_same_comparison(small_dataset, new_learner_result):
    again = Experiment(
        small_dataset,
        "new_learners",
        ["popularity", CooccurrenceRecommender(), LeastPopularRecommender(), "knn"],
        k=10,
        seed=0,
        n_resamples=200,
    ).run()
    pd.testing.assert_frame_equal(again.vs_best(), new_learner_result.vs_best())
    pd.testing.assert_frame_equal(again.kpi_table, new_learner_result.kpi_table)
    pd.testing.assert_frame_equal(again.segment_table, new_learner_result.segment_table)


def test_new_courses_report_models_that_cannot_recommend_them(small_dataset):
    res = Experiment(
        small_dataset,
        "new_courses",
        [NoColdStartRecommender(), ("course_similarity", {})],
        k=10,
        seed=0,
        n_resamples=0,
        pairs="all",
    ).run()
    blind, content = res.details["no_cold_start"].new_courses, res.details["course_similarity"].new_courses
    assert blind["can_recommend"] is False and blind["note"] == "cannot recommend new courses"
    assert blind["reach"] == 0 and res.details["no_cold_start"].metrics["recall@10"] == 0
    assert content["can_recommend"] is True and "note" not in content
    payload = res.to_json()
    assert payload["results"][0]["new_courses"]["note"] == "cannot recommend new courses"
    assert len(payload["pairs"]) == len(res.per_learner_metrics)  # one pair of models per metric
    with pytest.raises(ValueError, match="pairs"):
        Experiment(small_dataset, "new_courses", ["popularity"], pairs="some")
