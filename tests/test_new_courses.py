"""New courses: the capability rule (informative vs constant or -inf scores), the per-course view, the content
prior that places a course nobody took, and the models that must say they cannot."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers import course_description
from scipy import sparse

from recsys.evaluation import Experiment, make_split
from recsys.evaluation.new_courses import (
    CANNOT,
    NewCourseScores,
    can_recommend_new_courses,
    per_course,
    reach_summary,
)
from recsys.models import make_model
from recsys.models.content import prior as P

NEW = [1, 3]  # new-course columns of the toy score matrices


# ----- the capability rule -------------------------------------------------------------------------
def test_constant_scores_cannot_recommend_new_courses():
    rng = np.random.default_rng(0)
    scores = rng.random((6, 5))
    scores[:, NEW] = 0.0  # finite, but the same for every learner and course (popularity, EASE)
    out = can_recommend_new_courses(scores, NEW)
    assert out["can_recommend"] is False and out["note"] == CANNOT and out["scored_new_courses"] == 2
    assert "same score" in out["reason"]


def test_minus_inf_cannot_recommend_new_courses():
    scores = np.random.default_rng(1).random((6, 5))
    scores[:, NEW] = -np.inf
    out = can_recommend_new_courses(scores, NEW)
    assert out["can_recommend"] is False and out["scored_new_courses"] == 0 and "-inf" in out["reason"]


def test_rounding_noise_is_not_information():
    scores = np.random.default_rng(2).random((6, 5)) * 100
    scores[:, NEW] = 0.0
    scores[0, 1] = 1e-12  # far below the model's score scale
    assert can_recommend_new_courses(scores, NEW)["can_recommend"] is False


def test_informative_scores_can_recommend_new_courses():
    base = np.random.default_rng(3).random((6, 5))
    by_learner = base.copy()
    by_learner[:, NEW] = np.arange(6)[:, None] * 0.1  # the same for both courses, different per learner
    out = can_recommend_new_courses(by_learner, NEW)
    assert out["can_recommend"] and out["varies_across_learners"] and not out["varies_across_courses"]
    by_course = base.copy()
    by_course[:, NEW] = [0.2, 0.7]  # the same for every learner, different per course
    out = can_recommend_new_courses(by_course, NEW)
    assert out["can_recommend"] and out["varies_across_courses"] and not out["varies_across_learners"]
    assert "note" not in out


def test_rule_accumulates_over_chunks_like_one_matrix():
    scores = np.random.default_rng(4).random((10, 5))
    scores[:, NEW] = 0.5
    scores[7, 3] = 0.9  # only one learner of the second chunk differs
    tracker = NewCourseScores(NEW)
    for start in range(0, 10, 4):
        tracker.update(scores[start : start + 4])
    assert tracker.summary() == can_recommend_new_courses(scores, NEW)
    assert tracker.summary()["can_recommend"]


# ----- the per-course view -------------------------------------------------------------------------
def test_per_course_counts_takers_reached_and_shown():
    top = np.array([[1, 0, -1], [2, 3, 1], [0, 2, 4], [3, -1, -1]])
    relevant = sparse.csr_matrix(
        np.array([[0, 1, 0, 1, 0], [0, 0, 0, 1, 0], [0, 1, 0, 0, 0], [0, 0, 0, 1, 0]], dtype=float)
    )
    frame = per_course(top, relevant, NEW, ["C1", "C3"], ["one", "three"])
    # C1: taken by learners 0 and 2; listed to learners 0 and 1 -> reached 1 (learner 0), shown to 2
    # C3: taken by learners 0, 1, 3; listed to learners 1 and 3 -> reached 2, shown to 2
    assert frame.to_dict("list") == {
        "course": ["C1", "C3"],
        "title": ["one", "three"],
        "takers": [2, 3],
        "reached": [1, 2],
        "reached_share": [0.5, pytest.approx(2 / 3)],
        "shown_to": [2, 2],
    }
    assert reach_summary(top, NEW) == {"reach": 1.0, "learners_shown_a_new_course": 3}


# ----- the content prior -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def new_courses_split(small_dataset):
    return make_split(small_dataset, "new_courses", seed=0, course_share=0.2)


@pytest.mark.parametrize("key", ["user_profile", "course_similarity"])
def test_a_copy_of_a_course_gets_that_courses_prior(small_dataset, key):
    """A new course whose text, genres, level and hours copy an enrolled course is expected to draw that
    course's enrolments, whichever predictor the validation chose."""
    model = make_model(key, seed=0).fit(small_dataset)
    counts = model.enrolments_
    spread = np.log1p(counts).std()
    for j in (int(np.argmax(counts)), int(np.argmin(np.where(counts > 0, counts, np.inf))), 7):
        predicted = model.predicted_new_course_enrolments(course_description(small_dataset, j))
        assert abs(np.log1p(predicted) - np.log1p(counts[j])) < 0.05 * spread, (j, predicted, counts[j])


def test_prior_choice_is_validated_and_seeded(small_dataset):
    model = make_model("user_profile", seed=0).fit(small_dataset)
    state = model.content_prior_
    assert state["method"] in ("median", "regression", "neighbours")
    mae = state["validation_mae"]
    assert {"median", "regression"} <= set(mae) and any(n.startswith("neighbours_") for n in mae)
    chosen = mae[P._name(state["method"], state["k"])]
    assert chosen == min(mae.values()) and state["optimism"] > 0
    again = make_model("user_profile", seed=0).fit(small_dataset).content_prior_
    assert again["validation_mae"] == mae and again["method"] == state["method"]
    assert "validation MAE" in P.describe(state)


def test_too_few_enrolled_courses_fall_back_to_the_median():
    texts = [f"course {i} about python" for i in range(6)]
    genres = np.eye(6, 3)
    state = P.fit_content_prior(texts, genres, [None] * 6, [None] * 6, np.array([0, 3, 5, 9, 0, 2.0]), seed=0)
    assert state["method"] == "median" and state["validation_mae"] == {}
    out = P.predict_log_enrolments(state, ["new python course"], np.ones((1, 3)), [None], [None])
    assert out[0] == pytest.approx(np.median(np.log1p([3, 5, 9, 2.0])))


@pytest.mark.parametrize("key", ["user_profile", "course_similarity", "clustering"])
def test_courses_nobody_took_get_a_content_prior_not_zero(new_courses_split, key):
    train = new_courses_split.train
    model = make_model(key, seed=0, **({"n_clusters": 5} if key == "clustering" else {})).fit(train)
    cold = train.item_index.get_indexer(new_courses_split.new_items)
    assert set(model.cold_courses_) == set(cold)
    assert (model.prior_[cold] > 0).all() and (model.predicted_enrolments_[cold] > 0).all()
    top = model.content_prior_["top"]
    expected = P.ranking_log_enrolments(model.content_prior_, np.log1p(model.predicted_enrolments_[cold])) / top
    np.testing.assert_allclose(model.prior_[cold], expected)


@pytest.mark.parametrize("key", ["user_profile", "course_similarity"])
def test_catalogue_course_nobody_took_scores_as_the_same_course_placed_before_launch(new_courses_split, key):
    """Evaluation (`score_histories`) and the new-course story (`score_new_course`) place a course without
    enrolments the same way."""
    train = new_courses_split.train
    model = make_model(key, seed=0).fit(train)
    j = int(train.item_index.get_indexer(new_courses_split.new_items)[0])
    rows = train.matrix[:300]
    np.testing.assert_allclose(
        model.score_new_course(course_description(train, j), rows),
        model.score_histories(rows)[:, j],
        rtol=1e-9,
        atol=1e-12,
    )


@pytest.mark.parametrize("key", ["user_profile", "course_similarity", "hybrid"])
def test_learners_matching_a_new_course_see_it_in_their_top_k(new_courses_split, key):
    """A learner whose courses match a new course -- the same genres (genre profile, hybrid), the most alike
    texts (text similarity) -- gets it in the top 10, for most new courses."""
    train = new_courses_split.train
    params = {"member_4": "none"} if key == "hybrid" else {}
    model = make_model(key, seed=0, **params).fit(train)
    cold = train.item_index.get_indexer(new_courses_split.new_items)
    genres = train.genre_matrix
    enrolled = model.train_matrix_.getnnz(axis=0) > 0
    reached = 0
    for j in cold:
        if key == "course_similarity":
            alike = np.argsort(-np.where(enrolled, model.similarity_[j], -np.inf), kind="stable")[:3]
        else:
            alike = np.flatnonzero((genres == genres[j]).all(axis=1) & enrolled)[:3]
        if not len(alike):
            continue
        history = {str(train.item_ids[c]): 3.0 for c in alike}
        listed = model.recommend(history, k=10)["COURSE_ID"].tolist()
        reached += str(train.item_ids[j]) in listed
    assert reached >= max(1, len(cold) // 2), f"{key}: {reached} of {len(cold)} new courses reached their learners"


# ----- which models can place a new course -----------------------------------------------------------
def test_protocol_reports_which_models_can_recommend_new_courses(small_dataset):
    cannot = ["popularity", "knn", "ease", "rp3beta", "als", "bpr", "nmf"]
    can = ["user_profile", "course_similarity", ("clustering", {"n_clusters": 5}), "hybrid"]
    res = Experiment(small_dataset, "new_courses", cannot + can, k=10, seed=0, n_resamples=100).run()
    for name in cannot:
        report = res.details[name].new_courses
        assert report["can_recommend"] is False and report["note"] == CANNOT, (name, report)
    for name in ("user_profile", "course_similarity", "clustering", "hybrid"):
        d = res.details[name]
        assert d.new_courses["can_recommend"] and "note" not in d.new_courses, name
        assert d.new_courses["reach"] > 0 and d.metrics["ndcg@10"] > 0, name
    table = res.new_course_table
    assert set(table["name"]) == set(res.details) and len(table) == len(res.details) * len(res.split["new_courses"])
    per = table[table["name"] == "user_profile"].set_index("course")
    top = res.details["user_profile"].top
    for course, row in per.iterrows():  # the per-course counts are the top-K lists' own
        col = small_dataset.item_index.get_loc(course)
        assert row["shown_to"] == int((top == col).any(axis=1).sum())
    summary = res.to_json()["results"][0]["new_courses"]
    assert summary["per_course"][0].keys() == {"course", "title", "takers", "reached", "reached_share", "shown_to"}


def test_neural_scores_no_course_it_never_saw_taken(tiny_dataset):
    split = make_split(tiny_dataset, "new_courses", seed=0, course_share=0.2)
    model = make_model("neural", seed=0, epochs=2).fit(split.train)
    cold = split.train.item_index.get_indexer(split.new_items)
    scores = model.score_histories(split.train.matrix[:50])
    assert np.isneginf(scores[:, cold]).all() and np.isfinite(np.delete(scores, cold, axis=1)).all()
    assert can_recommend_new_courses(scores, cold)["can_recommend"] is False


def test_hybrid_without_a_content_member_cannot_place_new_courses(new_courses_split):
    train = new_courses_split.train
    model = make_model(
        "hybrid", seed=0, member_1="ease", member_2="rp3beta", member_3="none", member_4="none", learn_weights=False
    ).fit(train)
    cold = train.item_index.get_indexer(new_courses_split.new_items)
    scores = model.score_histories(train.matrix[:100])
    assert not model.places_new_courses and np.isneginf(scores[:, cold]).all()
    course = {"title": "Python data", "genres": [train.genres[0]]}
    assert np.isneginf(model.score_new_course(course, train.matrix[:5])).all()


def test_hybrid_places_a_new_course_through_its_content_member(new_courses_split):
    """With rank normalisation, a co-enrolment member that knows nothing of a new course abstains: the new
    course's hybrid score is its content member's normalised rank (weights rescaled to that member)."""
    from recsys.models.ensemble.hybrid import rank_normalize

    train = new_courses_split.train
    model = make_model(
        "hybrid",
        seed=0,
        member_1="ease",
        member_2="course_similarity",
        member_3="none",
        member_4="none",
        learn_weights=False,
        weight_1=0.9,
        weight_2=0.1,
    ).fit(train)
    rows = train.matrix[:200]
    cold = train.item_index.get_indexer(new_courses_split.new_items)
    content = model.members[1]
    expected = rank_normalize(content.score_histories(rows), seen=rows)[:, cold]
    np.testing.assert_allclose(model.score_histories(rows)[:, cold], expected)
    assert pd.Series(model.score_histories(rows)[:, cold].ravel()).nunique() > 1
    # before launch: the course's place among the content member's scores of the learner's untaken courses
    j = int(cold[0])
    new = content.score_new_course(course_description(train, j), rows)
    raw = content.score_histories(rows)
    raw[rows.nonzero()] = -np.inf
    rank = 1 + (raw > new[:, None]).sum(axis=1) + 0.5 * (raw == new[:, None]).sum(axis=1)
    placed = model.score_new_course(course_description(train, j), rows)
    np.testing.assert_allclose(placed, 1 - np.log(rank) / np.log(rows.shape[1]), atol=1e-12)
    assert (placed <= expected[:, 0] + 1e-12).all()  # the catalogue's own copy ties with it: never above


# ----- the new-course story ------------------------------------------------------------------------------
def test_new_course_story_uses_the_content_prior_and_keeps_the_what_if(small_dataset):
    from recsys.stories.insights import ExposureStudy, assumed_enrolments

    models = [make_model(k, seed=0).fit(small_dataset) for k in ("popularity", "user_profile", "hybrid")]
    study = ExposureStudy(small_dataset, models, n_learners=300, seed=1, k=10)
    course = {"title": "Python for data work", "genres": [small_dataset.genres[0]], "level": "Beginner"}
    assert assumed_enrolments(small_dataset, "predicted") is None
    report = study.new_course_report(course)  # default: each model's content prior
    assert report["enrolments_assumed"] is None
    profile = report["models"]["user_profile"]
    model = models[1]
    assert profile["predicted_enrolments"] == pytest.approx(model.predicted_new_course_enrolments(course))
    assert profile["ranked_with_enrolments"] > profile["predicted_enrolments"] > 0  # one error of optimism
    assert report["models"]["hybrid"]["placeable"] and report["models"]["hybrid"]["shown"] > 0
    assert report["models"]["popularity"]["placeable"] is False
    launch = study.new_course_report(course, 0.0)  # the what-if stays
    assert launch["models"]["user_profile"]["ranked_with_enrolments"] == 0.0
    assert launch["models"]["user_profile"]["shown"] <= profile["shown"]


# ----- the real catalogue (307 courses, no LEVEL, skewed popularity; ratings sampled) ----------------------
@pytest.fixture(scope="module")
def real_proxy(shared_catalogue, tmp_path_factory):
    from helpers import real_catalogue_proxy

    return real_catalogue_proxy(shared_catalogue, tmp_path_factory.mktemp("ibm_new_courses"))


def test_real_catalogue_new_courses_reach_their_learners(real_proxy):
    """On the real catalogue with skewed popularity unrelated to content, the prior stays sane and the content
    models and the hybrid place new courses for the learners who take them; popularity cannot."""
    models = ["popularity", "course_similarity", "user_profile", "hybrid"]
    res = Experiment(real_proxy, "new_courses", models, k=10, seed=0, n_resamples=200).run()
    assert res.details["popularity"].new_courses["can_recommend"] is False
    for name in models[1:]:
        d = res.details[name]
        assert d.new_courses["can_recommend"] and d.new_courses["reach"] >= 0.5, (name, d.new_courses["reach"])
        assert d.metrics["ndcg@10"] > 0 and d.ci["ndcg@10"][0] > 0, name
    state = res.details["user_profile"].model.content_prior_
    cold = res.details["user_profile"].model.cold_courses_
    prior = res.details["user_profile"].model.prior_
    assert np.isfinite(prior).all() and (prior[cold] > 0).all() and (prior <= 1).all()
    assert state["validation_mae"][P._name(state["method"], state["k"])] <= state["validation_mae"]["median"]


@pytest.mark.parametrize("key", ["user_profile", "course_similarity"])
def test_new_courses_get_about_their_share_of_the_lists(new_courses_split, key):
    """The optimism is calibrated to a fair share: courses nobody took appear in learners' top-10 lists, but
    take roughly their share of the catalogue's slots, not the whole list."""
    train = new_courses_split.train
    model = make_model(key, seed=0).fit(train)
    cold = model.cold_courses_
    assert "fair share" in model.content_prior_["optimism_rule"] and model.content_prior_["optimism"] >= 0
    rows = train.matrix[np.flatnonzero(train.matrix.getnnz(axis=1) > 0)[:400]]
    scores = model.score_histories(rows)
    scores[rows.nonzero()] = -np.inf
    listed = np.argsort(-scores, axis=1, kind="stable")[:, :10]
    per_list = np.isin(listed, cold).sum(axis=1).mean()
    share = len(cold) / train.n_items
    assert 0.25 * 10 * share < per_list < 3 * 10 * share, per_list


def test_run_history_names_the_models_that_cannot(small_dataset, tmp_path):
    from recsys.evaluation.history import RunHistory

    history = RunHistory(tmp_path / "runs.sqlite")
    res = Experiment(
        small_dataset, "new_courses", ["popularity", "user_profile"], seed=0, n_resamples=0, history=history
    ).run()
    runs = history.list_runs(protocol="new_courses")
    assert "cannot recommend new courses: popularity" in runs.loc[0, "summary"]
    stored = history.load_run(res.run_id)["results"]
    assert [r["new_courses"]["can_recommend"] for r in stored] == [False, True]
    assert stored[1]["new_courses"]["per_course"] == json.loads(
        json.dumps(res.to_json()["results"][1]["new_courses"]["per_course"])
    )
