"""Content models (user_profile, course_similarity, clustering, clustering_pca) on the small generated dataset.

Each model is fitted once per module; tests check serving rules, persistence, determinism, thresholds, the
learned state the UI plots, and that every model ranks held-out courses better than popularity.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import ndcg_at_10
from scipy import sparse

from recsys.models import load_model, make_model, save_model

CONTENT = ("user_profile", "course_similarity", "clustering", "clustering_pca")


@pytest.fixture(scope="module")
def fitted(small_dataset):
    return {key: make_model(key).fit(small_dataset) for key in CONTENT}


@pytest.fixture(scope="module")
def history(small_dataset):
    """A real learner history with several courses (the learner with the most ratings among the first 200)."""
    counts = np.diff(small_dataset.matrix.indptr[:201])
    return small_dataset.user_history(small_dataset.user_ids[int(np.argmax(counts))])


# ----- holdout NDCG@10 (independent of the evaluation package) ------------------------------------
def holdout(dataset, seed=0):
    """Hide one random course per learner with >= 2 ratings; returns train Dataset, learner rows, hidden columns."""
    m = dataset.matrix
    counts = np.diff(m.indptr)
    users = np.flatnonzero(counts >= 2)
    rng = np.random.default_rng(seed)
    picked = m.indptr[users] + (rng.random(len(users)) * counts[users]).astype(np.int64)
    keep = np.ones(m.nnz, dtype=bool)
    keep[picked] = False
    rows = np.repeat(np.arange(m.shape[0]), counts)
    train = dataset.with_ratings(
        pd.DataFrame(
            {"user": dataset.user_ids[rows[keep]], "item": dataset.item_ids[m.indices[keep]], "rating": m.data[keep]}
        )
    )
    assert train.n_users == dataset.n_users  # same row order, so `users` indexes train rows too
    return train, users, m.indices[picked]


@pytest.fixture(scope="module")
def split(small_dataset):
    return holdout(small_dataset, seed=0)


@pytest.fixture(scope="module")
def popularity_ndcg(split):
    return ndcg_at_10(make_model("popularity").fit(split[0]), *split)


@pytest.mark.parametrize("key", CONTENT)
def test_beats_popularity_on_holdout_ndcg(key, split, popularity_ndcg):
    ndcg = ndcg_at_10(make_model(key).fit(split[0]), *split)
    assert ndcg > popularity_ndcg, f"{key}: NDCG@10 {ndcg:.4f} <= popularity {popularity_ndcg:.4f}"


# ----- serving rules ------------------------------------------------------------------------------
@pytest.mark.parametrize("key", CONTENT)
def test_recommends_for_a_new_learner(key, fitted, history, small_dataset):
    recs = fitted[key].recommend(history, k=7)
    assert 0 < len(recs) <= 7
    assert not set(recs.COURSE_ID) & set(history)
    assert set(recs.COURSE_ID) <= set(small_dataset.item_ids)
    assert recs.SCORE.is_monotonic_decreasing and np.isfinite(recs.SCORE).all()
    assert recs.REASON.map(lambda r: isinstance(r, str) and len(r) > 0).all()


def test_reasons_are_specific(fitted, history, small_dataset):
    titles = set(small_dataset.courses.set_index("COURSE_ID").loc[list(history), "TITLE"])
    profile = fitted["user_profile"].recommend(history, k=5)
    assert profile.REASON.str.startswith("matches your interests: ").all()
    genres = set(small_dataset.genres)
    for reason, cid in zip(profile.REASON, profile.COURSE_ID):
        named = reason.split(": ", 1)[1].split(";")[0].split(", ")
        course_genres = {g for g in genres if small_dataset.courses.set_index("COURSE_ID").loc[cid, g]}
        assert set(named) <= course_genres, (reason, course_genres)
    similar = fitted["course_similarity"].recommend(history, k=5)
    assert all(r.removeprefix("similar to ") in titles for r in similar.REASON), similar.REASON.tolist()
    for key in ("clustering", "clustering_pca"):
        model = fitted[key]
        cluster = int(model.assign(model.history_row(history))[0])
        assert model.recommend(history, k=5).REASON.str.contains(f"(cluster {cluster}", regex=False).all()


@pytest.mark.parametrize("key", CONTENT)
def test_empty_history_falls_back_to_popularity(key, fitted, small_dataset):
    model = fitted[key]
    recs = model.recommend([], k=5)
    counts = np.bincount(small_dataset.matrix.indices, minlength=small_dataset.n_items)
    assert list(recs.COURSE_ID) == list(small_dataset.item_ids[np.argsort(-counts, kind="stable")[:5]])
    assert recs.REASON.str.contains("popular with all learners").all()
    batch = sparse.csr_matrix((3, small_dataset.n_items))
    assert np.isfinite(model.score_histories(batch)).all()


@pytest.mark.parametrize("key", CONTENT)
def test_filters_are_honoured(key, fitted, history, small_dataset):
    model = fitted[key]
    courses = small_dataset.courses.set_index("COURSE_ID")
    genre = small_dataset.genres[int(np.argmax(small_dataset.genre_matrix.sum(axis=0)))]
    recs = model.recommend(
        history, k=20, filters={"genres": [genre], "levels": ["Beginner", "Intermediate"], "max_duration": 15}
    )
    assert len(recs) > 0
    chosen = courses.loc[recs.COURSE_ID]
    assert (chosen[genre] == 1).all()
    assert chosen.LEVEL.isin(["Beginner", "Intermediate"]).all()
    assert (chosen.DURATION_HOURS <= 15).all()


@pytest.mark.parametrize("key", CONTENT)
def test_save_load_round_trip(key, fitted, history, small_dataset, tmp_path):
    model = fitted[key]
    path = save_model(model, tmp_path / key)
    loaded = load_model(path, small_dataset)
    pd.testing.assert_frame_equal(loaded.recommend(history, k=10), model.recommend(history, k=10))
    rows = small_dataset.matrix[:50]
    np.testing.assert_array_equal(loaded.score_histories(rows), model.score_histories(rows))


@pytest.mark.parametrize("key", CONTENT)
def test_bad_histories_raise_clear_errors(key, fitted):
    model = fitted[key]
    with pytest.raises(ValueError, match="unknown course id"):
        model.recommend(["NOPE999"], k=5)
    with pytest.raises(ValueError, match="one per catalogue course"):
        model.score_histories(sparse.csr_matrix((2, 3)))


@pytest.mark.parametrize("key", CONTENT)
def test_deterministic_for_a_seed(key, small_dataset):
    rows = small_dataset.matrix[:300]
    a = make_model(key).fit(small_dataset).score_histories(rows)
    b = make_model(key).fit(small_dataset).score_histories(rows)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("key", CONTENT)
def test_batch_scores_equal_one_learner_at_a_time(key, fitted, small_dataset):
    model = fitted[key]
    rows = small_dataset.matrix[100:140]
    batch = model.score_histories(rows)
    single = np.vstack([model.score_histories(rows[i]) for i in range(rows.shape[0])])
    np.testing.assert_allclose(batch, single, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("key", CONTENT)
def test_popularity_weight_is_chosen_in_fit_or_taken_as_given(key, fitted, small_dataset):
    from recsys.models.content.profiles import WEIGHT_GRID

    auto = fitted[key]
    curve = auto.weight_curve_
    assert auto.popularity_weight_ in WEIGHT_GRID
    assert auto.popularity_weight_ == curve["popularity_weight"][int(np.argmax(curve["ndcg@10"]))]
    assert 0.0 <= curve["ndcg@10"].min() and curve["ndcg@10"].max() <= 1.0
    fixed = make_model(
        key, auto_weight=False, popularity_weight=1.0, **({"level_weight": 0.0} if key == "user_profile" else {})
    ).fit(small_dataset)
    assert fixed.popularity_weight_ == 1.0 and fixed.weight_curve_ is None
    # weight 1 = popularity only: the ranking is the enrolment ranking (log prior or share, same order)
    recs = fixed.recommend([small_dataset.item_ids[0]], k=5)
    counts = np.bincount(small_dataset.matrix.indices, minlength=small_dataset.n_items)
    counts[0] = -1
    assert list(recs.COURSE_ID) == list(small_dataset.item_ids[np.argsort(-counts, kind="stable")[:5]])


# ----- user_profile -------------------------------------------------------------------------------
def test_user_profile_threshold_removes_poor_genre_matches(fitted, history, small_dataset):
    model = make_model("user_profile", score_threshold=0.5).fit(small_dataset)
    row = model.history_row(history)
    # genre match computed independently: cosine of the rating-weighted genre profile and each course
    genres = small_dataset.genre_matrix.astype(float)
    profile = (row.toarray() / small_dataset.rating_scale[1]) @ genres
    norms = np.linalg.norm(profile) * np.linalg.norm(genres, axis=1)
    cosine = (profile @ genres.T).ravel() / np.where(norms > 0, norms, 1)
    scores = model.score_histories(row)[0]
    assert (cosine < 0.5).any() and (cosine >= 0.5).any()
    np.testing.assert_array_equal(np.isinf(scores), cosine < 0.5 - 1e-9)
    recs = model.recommend(history, k=small_dataset.n_items)
    kept = set(small_dataset.item_ids[cosine >= 0.5]) - set(history)
    assert set(recs.COURSE_ID) == kept
    assert len(fitted["user_profile"].recommend(history, k=small_dataset.n_items)) > len(recs)


def test_user_profile_prefers_the_next_level(small_dataset):
    """After a Beginner course in a genre, Intermediate courses of that genre are ready and Advanced are not."""
    courses = small_dataset.courses
    single = courses[small_dataset.genres].sum(axis=1) == 1
    for genre in small_dataset.genres:
        in_genre = single & (courses[genre] == 1)
        by_level = {
            lv: courses.index[in_genre & (courses.LEVEL == lv)] for lv in ("Beginner", "Intermediate", "Advanced")
        }
        if all(len(v) for v in by_level.values()):
            break
    else:
        pytest.skip("no genre with single-genre courses at all three levels")
    model = make_model("user_profile", level_weight=0.5).fit(small_dataset)
    beginner = courses.COURSE_ID[by_level["Beginner"][0]]
    readiness = model.readiness(model.history_row([beginner]))[0]
    assert (readiness[by_level["Intermediate"]] == 1).all()
    assert (readiness[by_level["Advanced"]] == 0).all()
    scores = model.score_histories(model.history_row([beginner]))[0]
    flat = (
        make_model("user_profile", level_weight=0.0)
        .fit(small_dataset)
        .score_histories(model.history_row([beginner]))[0]
    )
    lift = scores - flat
    assert lift[by_level["Intermediate"]].min() > lift[by_level["Advanced"]].max()
    reasons = model.explain(model.history_row([beginner]), np.asarray(by_level["Intermediate"][:1]))
    assert f"next step after your Beginner {genre} courses" in reasons[0]


# ----- course_similarity --------------------------------------------------------------------------
def test_course_similarity_threshold_removes_dissimilar_courses(fitted, history, small_dataset):
    base = fitted["course_similarity"]
    row = base.history_row(history)
    best = base.similarity_[row.indices].max(axis=0)
    threshold = float(np.quantile(best, 0.5))
    model = make_model("course_similarity", similarity_threshold=threshold).fit(small_dataset)
    scores = model.score_histories(row)[0]
    np.testing.assert_array_equal(np.isinf(scores), best < threshold)
    recs = model.recommend(history, k=small_dataset.n_items)
    assert (best[small_dataset.item_index.get_indexer(recs.COURSE_ID)] >= threshold).all()
    assert len(recs) < len(base.recommend(history, k=small_dataset.n_items))


def test_course_similarity_matches_a_direct_computation(small_dataset, monkeypatch):
    """The chunked max over history rows equals a plain per-learner loop, for both aggregates and vectorizers."""
    from recsys.models.content.course_similarity import CourseSimilarityRecommender

    monkeypatch.setattr(CourseSimilarityRecommender, "chunk_elements", 500)  # force many chunks
    rows = small_dataset.matrix[:60]
    for vectorizer, aggregate in (("tfidf", "max"), ("bow", "sum")):
        model = make_model(
            "course_similarity", vectorizer=vectorizer, aggregate=aggregate, auto_weight=False, popularity_weight=0.0
        ).fit(small_dataset)
        sim = model.similarity_
        assert np.allclose(np.diag(sim), 0) and np.allclose(sim, sim.T) and sim.max() <= 1 + 1e-9
        scores = model.score_histories(rows)
        for u in range(rows.shape[0]):
            cols, w = rows[u].indices, rows[u].data / small_dataset.rating_scale[1]
            expected = (w[:, None] * sim[cols]).max(axis=0) if aggregate == "max" else w @ sim[cols] / w.sum()
            np.testing.assert_allclose(scores[u], expected, atol=1e-12)


def test_course_similarity_rejects_min_df_above_catalogue_size(small_dataset):
    from recsys.data import Dataset

    courses = small_dataset.courses.head(10)
    ratings = small_dataset.ratings[small_dataset.ratings.item.isin(courses.COURSE_ID)]
    ten = Dataset(ratings, courses, small_dataset.genres, small_dataset.rating_scale)
    with pytest.raises(ValueError, match="min_df=11 is larger than the number of courses"):
        make_model("course_similarity", min_df=11).fit(ten)


# ----- clustering ---------------------------------------------------------------------------------
@pytest.mark.parametrize("key", ("clustering", "clustering_pca"))
def test_clustering_exposes_state_for_plots(key, fitted, small_dataset):
    model = fitted[key]
    assert model.labels_.shape == (small_dataset.n_users,)
    assert model.cluster_sizes_.sum() == small_dataset.n_users and (model.cluster_sizes_ > 0).all()
    np.testing.assert_array_equal(np.bincount(model.labels_, minlength=model.n_clusters), model.cluster_sizes_)
    features = model.learner_features(small_dataset.matrix)
    assert features.shape == (small_dataset.n_users, len(small_dataset.genres))
    np.testing.assert_allclose(features.mean(axis=0), 0, atol=1e-9)  # standardized on all training learners
    np.testing.assert_array_equal(model.assign(small_dataset.matrix), model.labels_)
    # a training learner is scored by the course shares of their own cluster (blended with global shares)
    u = 7
    members = model.labels_ == model.labels_[u]
    share = (small_dataset.matrix[members] > 0).mean(axis=0).A1
    w = model.popularity_weight_
    expected = (1 - w) * share + w * (small_dataset.matrix > 0).mean(axis=0).A1
    np.testing.assert_allclose(model.score_histories(small_dataset.matrix[u])[0], expected, atol=1e-12)


def test_clustering_pca_components(small_dataset):
    n_genres = len(small_dataset.genres)
    share = make_model("clustering_pca", pca_mode="variance_share", variance_share=0.8).fit(small_dataset)
    assert share.explained_variance_ratio_.sum() >= 0.8
    assert share.explained_variance_ratio_[:-1].sum() < 0.8  # the fewest components that reach the share
    assert share.cluster_space(small_dataset.matrix[:5]).shape == (5, share.n_components_)
    fixed = make_model("clustering_pca", pca_mode="n_components", n_components=3).fit(small_dataset)
    assert fixed.n_components_ == 3 and len(fixed.explained_variance_ratio_) == 3
    with pytest.raises(ValueError, match="n_components"):
        make_model("clustering_pca", pca_mode="n_components", n_components=n_genres + 1).fit(small_dataset)


def test_clustering_samples_for_fit_but_assigns_everyone(small_dataset):
    model = make_model("clustering", max_fit_learners=1000, n_clusters=5).fit(small_dataset)
    assert model.labels_.shape == (small_dataset.n_users,) and model.cluster_sizes_.sum() == small_dataset.n_users
    few = small_dataset.with_ratings(small_dataset.ratings[small_dataset.ratings.user.isin(small_dataset.user_ids[:4])])
    with pytest.raises(ValueError, match="n_clusters"):
        make_model("clustering", n_clusters=5).fit(few)


# ----- the real IBM catalogue (307 courses, lower-case titles, no LEVEL) with sampled ratings --------------
@pytest.fixture(scope="module")
def real_proxy(shared_catalogue, tmp_path_factory):
    """The real catalogue files plus ratings sampled here: Zipf course appeal x sparse genre interests."""
    from helpers import real_catalogue_proxy

    return real_catalogue_proxy(shared_catalogue, tmp_path_factory.mktemp("ibm_proxy"))


def test_real_catalogue_proxy(real_proxy):
    ds = real_proxy
    assert ds.n_items == 307 and ("LEVEL" not in ds.courses or ds.courses["LEVEL"].isna().all())
    train, users, hidden = holdout(ds, seed=0)
    baseline = ndcg_at_10(make_model("popularity").fit(train), train, users, hidden)
    history = list(ds.item_ids[ds.matrix[0].indices])
    for key in CONTENT:
        model = make_model(key).fit(train)
        assert ndcg_at_10(model, train, users, hidden) > baseline, key
        recs = model.recommend(history, k=5, filters={"genres": ["Python"]})
        assert len(recs) == 5 and not set(recs.COURSE_ID) & set(history) and (recs.REASON.str.len() > 0).all()
        assert ds.courses.set_index("COURSE_ID").loc[recs.COURSE_ID, "Python"].eq(1).all()
    # text similarity of the real descriptions: a course's nearest neighbour usually shares a genre
    sim = make_model("course_similarity").fit(ds).similarity_
    nearest = sim.argmax(axis=1)
    flags = ds.genre_matrix
    assert ((flags * flags[nearest]).sum(axis=1) > 0).mean() > 0.7
