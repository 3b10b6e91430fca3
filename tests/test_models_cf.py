"""Collaborative filtering on scikit-surprise: knn (item/user-based) and nmf.

Rating predictions are checked against Surprise itself (an algorithm fitted through Surprise's public
Dataset API), ranking against popularity on a per-learner holdout, serving through the shared interface.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import surprise
from helpers import ndcg_at_10_on_frame
from scipy.optimize import nnls

from recsys.models import load_model, make_model, save_model
from recsys.models.baseline.popularity import PopularityRecommender
from recsys.models.factorization.nmf import NMFRecommender
from recsys.models.neighbours.knn import KNNRecommender
from recsys.models.shared.surprise_data import build_trainset, standard_trainset

KNN_CLASSES = {"basic": surprise.KNNBasic, "with_means": surprise.KNNWithMeans, "baseline": surprise.KNNBaseline}
SERVING = [("knn", {}), ("knn", {"user_based": True}), ("nmf", {})]


@pytest.fixture(scope="module")
def cf_data(small_dataset):
    """small_dataset minus every rating of one course, so some predictions involve a course nobody rated."""
    dropped = small_dataset.item_ids[-1]
    ratings = small_dataset.ratings[small_dataset.ratings["item"] != dropped]
    return small_dataset.with_ratings(ratings, name="cf"), dropped


@pytest.fixture(scope="module")
def reference_trainset(cf_data):
    return standard_trainset(cf_data[0])


@pytest.fixture(scope="module")
def pairs(cf_data):
    """Known learners x random courses (rated or not, incl. the unrated course) plus unknown learners."""
    ds, dropped = cf_data
    rng = np.random.default_rng(0)
    rated = ds.ratings.sample(150, random_state=0)
    users = list(ds.user_ids[rng.integers(0, ds.n_users, 250)]) + list(rated["user"])
    items = list(ds.item_ids[rng.integers(0, ds.n_items, 250)]) + list(rated["item"])
    users += list(ds.user_ids[:5]) + ["no-such-learner"] * 5
    items += [dropped] * 5 + list(ds.item_ids[:5])
    return np.array(users, dtype=object), np.array(items, dtype=object)


def _surprise_estimates(algo, users, items):
    preds = [algo.predict(u, i) for u, i in zip(users, items)]
    return np.array([p.est for p in preds]), np.array([p.details["was_impossible"] for p in preds])


def test_fast_trainset_equals_surprise_public_api(cf_data, reference_trainset):
    ds, _ = cf_data
    ours, ref = build_trainset(ds), reference_trainset
    assert list(ours.ur.items()) == list(ref.ur.items())
    assert list(ours.ir.items()) == list(ref.ir.items())
    assert ours._raw2inner_id_users == ref._raw2inner_id_users
    assert ours._raw2inner_id_items == ref._raw2inner_id_items
    assert (ours.n_users, ours.n_items, ours.n_ratings) == (ref.n_users, ref.n_items, ref.n_ratings)
    assert ours.global_mean == ref.global_mean and ours.rating_scale == ref.rating_scale


@pytest.mark.parametrize(
    "params",
    [
        {"variant": "basic", "similarity": "msd"},
        {"variant": "basic", "similarity": "pearson", "n_neighbours": 5, "min_k": 3},
        {"variant": "with_means", "similarity": "cosine", "n_neighbours": 10},
        {"variant": "baseline", "similarity": "pearson_baseline", "shrinkage": 50.0},
        {"variant": "with_means", "similarity": "pearson", "min_support": 3, "n_neighbours": 3, "min_k": 2},
        {"variant": "basic", "similarity": "cosine", "user_based": True},
        {"variant": "basic", "similarity": "pearson", "user_based": True, "n_neighbours": 10, "min_k": 4},
        {"variant": "with_means", "similarity": "msd", "user_based": True, "n_neighbours": 15},
        {"variant": "baseline", "similarity": "pearson_baseline", "user_based": True, "n_neighbours": 20},
        {"variant": "baseline", "similarity": "msd", "user_based": True, "min_k": 5},
    ],
)
def test_knn_predict_equals_surprise(params, cf_data, reference_trainset, pairs):
    ds, _ = cf_data
    model = KNNRecommender(**params).fit(ds)
    algo = KNN_CLASSES[model.variant](
        k=model.n_neighbours, min_k=model.min_k, sim_options=model._sim_options(), verbose=False
    )
    algo.fit(reference_trainset)
    users, items = pairs
    expected, impossible = _surprise_estimates(algo, users, items)
    got = model.predict(users, items)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    if model.variant != "baseline":  # KNNBaseline never reports impossible: it falls back to its baseline
        assert impossible.sum() >= 10
    if model.similarity in ("msd", "cosine"):  # similarities that are positive for most pairs
        assert (~impossible).sum() >= 200 and len(np.unique(np.round(got, 6))) > 5


@pytest.mark.parametrize(
    "params",
    [
        {"variant": "basic", "similarity": "msd"},
        {"variant": "with_means", "similarity": "pearson", "n_neighbours": 10, "min_k": 4},
        {"variant": "baseline", "similarity": "pearson_baseline", "n_neighbours": 20},
    ],
)
def test_knn_user_based_on_the_fly_similarities_equal_surprise(params, cf_data, reference_trainset, pairs, monkeypatch):
    """Beyond a few thousand learners no learner x learner matrix is kept: blocks are computed per course."""
    monkeypatch.setattr(KNNRecommender, "similarity_cache_max_cells", 0)
    ds, _ = cf_data
    model = KNNRecommender(user_based=True, **params).fit(ds)
    assert model._user_sim_cache() is None
    algo = KNN_CLASSES[model.variant](
        k=model.n_neighbours, min_k=model.min_k, sim_options=model._sim_options(), verbose=False
    )
    algo.fit(reference_trainset)
    users, items = pairs
    np.testing.assert_allclose(
        model.predict(users, items), _surprise_estimates(algo, users, items)[0], rtol=0, atol=1e-6
    )


@pytest.mark.parametrize("params", [{}, {"biased": True}, {"n_factors": 4, "n_epochs": 10, "seed": 7, "reg_qi": 0.2}])
def test_nmf_predict_equals_surprise(params, cf_data, reference_trainset, pairs):
    ds, _ = cf_data
    model = NMFRecommender(**params).fit(ds)
    algo = surprise.NMF(
        n_factors=model.n_factors,
        n_epochs=model.n_epochs,
        biased=model.biased,
        reg_pu=model.reg_pu,
        reg_qi=model.reg_qi,
        lr_bu=model.lr,
        lr_bi=model.lr,
        random_state=model.seed,
    ).fit(reference_trainset)
    users, items = pairs
    expected, impossible = _surprise_estimates(algo, users, items)
    np.testing.assert_allclose(model.predict(users, items), expected, rtol=0, atol=1e-6)
    if not model.biased:
        assert impossible.sum() >= 10


def test_item_based_surprise_ranking_is_surprise_prediction_for_training_learners(cf_data):
    ds, _ = cf_data
    model = KNNRecommender(ranking_similarity="surprise").fit(ds)
    rows = np.arange(0, ds.n_users, 97)
    scores = model.score_histories(ds.matrix[rows])
    items = np.arange(ds.n_items)
    for r in rows[:5]:
        predicted = model._predict(np.full(ds.n_items, r), items)
        np.testing.assert_allclose(scores[list(rows).index(r)], predicted, atol=1e-5)


def test_predict_rejects_unknown_course_and_non_rating_models(small_dataset):
    model = KNNRecommender().fit(small_dataset)
    with pytest.raises(ValueError, match="unknown course"):
        model.predict([small_dataset.user_ids[0]], ["NOT-A-COURSE"])
    with pytest.raises(TypeError, match="does not predict ratings"):
        PopularityRecommender().fit(small_dataset).predict([small_dataset.user_ids[0]], [small_dataset.item_ids[0]])


@pytest.fixture(scope="module")
def fitted(small_dataset):
    return {f"{key}{params}": make_model(key, **params).fit(small_dataset) for key, params in SERVING}


def _history(ds, n=3):
    counts = np.bincount(ds.matrix.indices, minlength=ds.n_items)
    return list(ds.item_ids[np.argsort(-counts, kind="stable")[[1, 7, 15][:n]]])


@pytest.mark.parametrize("key,params", SERVING)
def test_new_learner_recommendations(key, params, fitted, small_dataset):
    model = fitted[f"{key}{params}"]
    history = _history(small_dataset)
    recs = model.recommend(history, k=8)
    assert 0 < len(recs) <= 8
    assert not set(recs["COURSE_ID"]) & set(history)
    assert set(recs["COURSE_ID"]) <= set(small_dataset.item_ids)
    assert (np.diff(recs["SCORE"].to_numpy()) <= 0).all()
    assert all(isinstance(r, str) and r.strip() for r in recs["REASON"])
    if key == "knn" and not params:
        assert recs["REASON"].str.startswith("because you took").any()
    # a different history gives a different list (the model is personalised)
    other = model.recommend(list(small_dataset.item_ids[-3:]), k=8)
    assert list(other["COURSE_ID"]) != list(recs["COURSE_ID"])


@pytest.mark.parametrize("key,params", SERVING)
def test_filters_exclusions_and_empty_history(key, params, fitted, small_dataset):
    model = fitted[f"{key}{params}"]
    genre = small_dataset.genres[int(np.argmax(small_dataset.genre_matrix.sum(axis=0)))]
    recs = model.recommend(_history(small_dataset), k=5, filters={"genres": [genre]})
    in_genre = set(small_dataset.courses.loc[small_dataset.courses[genre] == 1, "COURSE_ID"])
    assert len(recs) and set(recs["COURSE_ID"]) <= in_genre
    banned = model.recommend(_history(small_dataset), k=3)["COURSE_ID"].iloc[0]
    assert banned not in set(model.recommend(_history(small_dataset), k=10, exclude=[banned])["COURSE_ID"])
    cold = model.recommend([], k=5)
    popular = PopularityRecommender().fit(small_dataset).recommend([], k=5)
    assert list(cold["COURSE_ID"]) == list(popular["COURSE_ID"])
    assert cold["REASON"].str.contains("popular").all()


@pytest.mark.parametrize("key,params", SERVING)
def test_unknown_course_in_history_is_a_value_error(key, params, fitted):
    with pytest.raises(ValueError, match="NOPE123"):
        fitted[f"{key}{params}"].recommend(["NOPE123"])


@pytest.mark.parametrize(
    "key,params",
    SERVING
    + [
        ("knn", {"variant": "baseline", "ranking_similarity": "surprise"}),
        ("nmf", {"biased": True, "ranking": "surprise"}),
    ],
)
def test_save_load_gives_identical_output(key, params, small_dataset, tmp_path):
    model = make_model(key, **params).fit(small_dataset)
    users, items = small_dataset.user_ids[:40], small_dataset.item_ids[np.arange(40) % small_dataset.n_items]
    history = _history(small_dataset)
    loaded = load_model(save_model(model, tmp_path / key), small_dataset)
    pd.testing.assert_frame_equal(loaded.recommend(history, k=10), model.recommend(history, k=10))
    np.testing.assert_array_equal(loaded.predict(users, items), model.predict(users, items))
    np.testing.assert_array_equal(
        loaded.score_histories(small_dataset.matrix[:50]), model.score_histories(small_dataset.matrix[:50])
    )


def test_deterministic_for_a_seed(small_dataset):
    rows = small_dataset.matrix[:100]
    a, b = NMFRecommender(seed=3).fit(small_dataset), NMFRecommender(seed=3).fit(small_dataset)
    np.testing.assert_array_equal(a.score_histories(rows), b.score_histories(rows))
    np.testing.assert_array_equal(a.pu_, b.pu_)
    c = NMFRecommender(seed=4).fit(small_dataset)
    assert not np.allclose(a.pu_, c.pu_)
    k1, k2 = KNNRecommender(user_based=True).fit(small_dataset), KNNRecommender(user_based=True).fit(small_dataset)
    np.testing.assert_array_equal(k1.score_histories(rows), k2.score_histories(rows))


def test_batched_scores_equal_single_row_scores(fitted, small_dataset):
    rows = small_dataset.matrix[:30]
    for model in fitted.values():
        batch = model.score_histories(rows)
        single = np.vstack([model.score_histories(rows[i]) for i in range(5)])
        np.testing.assert_allclose(batch[:5], single, rtol=0, atol=1e-12)


def test_nmf_fold_in_is_the_ridge_nnls_solution(fitted, small_dataset):
    model = fitted["nmf{}"]
    rows = small_dataset.matrix[:20]
    H, lam = model.components_, model.fold_in_lambda_
    A = np.vstack([H.T, np.sqrt(lam) * np.eye(H.shape[0])])
    expected = [nnls(A, np.r_[rows[i].toarray().ravel() > 0, np.sqrt(lam) * model.w_mean_])[0] for i in range(20)]
    np.testing.assert_allclose(model.fold_in(rows), np.array(expected), atol=1e-6)


def test_user_based_refuses_too_many_learners(small_dataset, monkeypatch):
    monkeypatch.setattr(KNNRecommender, "max_user_based_learners", 1000)
    with pytest.raises(ValueError, match="user_based=false"):
        KNNRecommender(user_based=True).fit(small_dataset)
    KNNRecommender(user_based=False).fit(small_dataset)  # item-based is not limited


def test_every_model_beats_popularity_on_a_holdout(small_dataset):
    ratings = small_dataset.ratings
    rng = np.random.default_rng(0)
    shuffled = ratings.iloc[rng.permutation(len(ratings))]
    counts = shuffled.groupby("user")["item"].transform("size")
    test = shuffled[counts >= 2].groupby("user").head(1)
    train = small_dataset.with_ratings(ratings.drop(index=test.index))
    baseline = ndcg_at_10_on_frame(PopularityRecommender().fit(train), train, test)
    results = {}
    for key, params in SERVING + [
        ("knn", {"variant": "baseline", "similarity": "pearson_baseline"}),
        ("nmf", {"biased": True}),
    ]:
        results[f"{key}{params}"] = ndcg_at_10_on_frame(make_model(key, **params).fit(train), train, test)
    assert all(v > baseline for v in results.values()), (baseline, results)


def test_top_k_selection_matches_a_stable_sort():
    """The partition-based neighbour selection equals heapq/sorted order: ties go to the lower column."""
    from recsys.models.neighbours.topk import top_k_mask

    rng = np.random.default_rng(0)
    for trial in range(200):
        n, m, k = rng.integers(1, 6), rng.integers(1, 30), rng.integers(1, 12)
        sim = rng.choice([-0.5, 0.0, 0.25, 0.5, 1.0], size=(n, m)) if trial % 2 else rng.normal(size=(n, m))
        expected = np.zeros((n, m), dtype=bool)
        for i in range(n):
            for j in sorted(range(m), key=lambda col: -sim[i, col])[:k]:
                expected[i, j] = sim[i, j] > 0
        np.testing.assert_array_equal(top_k_mask(sim, int(k)), expected)


@pytest.mark.parametrize("weighting", ["bm25", "tfidf"])
def test_knn_weighted_ranking_scores_equal_implicits_item_knn(weighting, small_dataset):
    """ranking_similarity bm25/tfidf scores a learner exactly like implicit's BM25/TFIDF item-kNN recommender."""
    from implicit.nearest_neighbours import BM25Recommender, TFIDFRecommender

    model = make_model("knn", ranking_similarity=weighting, n_neighbours=30).fit(small_dataset)
    B = small_dataset.matrix.copy()
    B.data[:] = 1.0
    B = B.astype(np.float32).tocsr()
    reference = BM25Recommender(K=31, num_threads=1) if weighting == "bm25" else TFIDFRecommender(K=31, num_threads=1)
    reference.fit(B, show_progress=False)
    users = np.flatnonzero(np.diff(B.indptr) >= 2)[:25]
    ours = model.score_histories(small_dataset.matrix[users])
    for row, u in enumerate(users):
        ids, scores = reference.recommend(u, B[u], N=10, filter_already_liked_items=True)
        np.testing.assert_allclose(ours[row, ids], scores, rtol=1e-4, atol=1e-5)


def test_knn_weighted_ranking_needs_item_based(small_dataset):
    with pytest.raises(ValueError, match="item-based"):
        make_model("knn", ranking_similarity="bm25", user_based=True).fit(small_dataset)
