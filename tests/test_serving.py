"""The serving policy on plain arrays (recsys.models.serving): the same functions serve `recommend`, the
pages and the evaluation engine, so each rule is checked here once, without a model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from recsys.models import serving


def test_rank_row_is_a_stable_descending_sort_without_unavailable_or_never_courses():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 4, 40).astype(float)  # many ties
    scores[[3, 7]] = -np.inf
    unavailable = np.zeros(40, dtype=bool)
    unavailable[[0, 5, 9]] = True
    expected = [i for i in np.argsort(-scores, kind="stable") if not unavailable[i] and np.isfinite(scores[i])]
    for k in (0, 1, 10, 35, 100):
        np.testing.assert_array_equal(serving.rank_row(scores, k, unavailable), expected[:k])
    assert serving.rank_row(scores, -3).size == 0


def test_batched_top_k_and_one_row_agree():
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 5, (30, 50)).astype(float)
    seen = sparse.random(30, 50, density=0.1, random_state=2, format="csr")
    top = serving.top_k(scores, 10, exclude=seen)
    for r in range(30):
        unavailable = np.zeros(50, dtype=bool)
        unavailable[seen[r].indices] = True
        row = serving.rank_row(scores[r], 10, unavailable)
        np.testing.assert_array_equal(top[r][top[r] >= 0], row)


def test_nan_or_plus_infinity_is_a_model_fault():
    with pytest.raises(ValueError, match="model 'm' produced 2 NaN or infinite"):
        serving.check_scores(np.array([0.1, np.nan, np.inf, -np.inf]), "m")
    np.testing.assert_array_equal(serving.check_scores(np.array([[1.0, -np.inf]]), "m"), [1.0, -np.inf])


def _catalogue() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "COURSE_ID": ["a", "b", "c", "d"],
            "Python": [1, 0, 1, 0],
            "Cloud": [0, 1, 1, 0],
            "LEVEL": ["Beginner", "Advanced", "Beginner", None],
            "DURATION_HOURS": [5.0, 20.0, np.nan, 3.0],
        }
    )


def test_filter_mask_genres_levels_duration():
    cat, genres = _catalogue(), ["Python", "Cloud"]
    assert serving.filter_mask(cat, genres, None).all()
    np.testing.assert_array_equal(serving.filter_mask(cat, genres, {"genres": ["Cloud"]}), [0, 1, 1, 0])
    np.testing.assert_array_equal(serving.filter_mask(cat, genres, {"levels": ["Beginner"]}), [1, 0, 1, 0])
    # an unknown duration never passes a duration limit
    np.testing.assert_array_equal(serving.filter_mask(cat, genres, {"max_duration": 10}), [1, 0, 0, 1])
    with pytest.raises(ValueError, match="unknown filter"):
        serving.filter_mask(cat, genres, {"colour": "red"})
    with pytest.raises(ValueError, match="unknown genre"):
        serving.filter_mask(cat, genres, {"genres": ["Java"]})
    with pytest.raises(ValueError, match="needs course LEVEL"):
        serving.filter_mask(cat.drop(columns="LEVEL"), genres, {"levels": ["Beginner"]})


def test_feedback_folds_likes_in_at_the_top_rating_and_takes_dislikes_out():
    index = pd.Index(["a", "b", "c", "d"])
    H = sparse.csr_matrix(np.array([[2.0, 3.0, 0, 0], [0, 0, 2.0, 0]]))
    liked = serving.feedback_matrix(index, [["a"], ["d"]], 2, "liked")
    disliked = serving.feedback_matrix(index, [["b"], []], 2, "disliked")
    folded = serving.fold_feedback(H, liked, disliked, top_rating=3.0)
    np.testing.assert_array_equal(folded.toarray(), [[3.0, 0, 0, 0], [0, 0, 2.0, 3.0]])
    with pytest.raises(ValueError, match="both liked and disliked"):
        serving.fold_feedback(H, liked, liked, 3.0)
    with pytest.raises(ValueError, match="unknown liked course id.*zz"):
        serving.feedback_matrix(index, [["zz"], []], 2, "liked")


def test_dislike_penalty_scales_with_the_score_spread_and_closeness():
    scores = np.array([[4.0, 3.0, 2.0, 1.0, 0.0]])
    disliked = sparse.csr_matrix(([1.0], ([0], [0])), shape=(1, 5))
    closeness = np.array([[1.0, 0.9, 0.0, 0.0, 0.5]])  # course 1 is the closest to the disliked course 0
    out = serving.dislike_penalty(scores, disliked, closeness)
    # spread = best - median = 4 - 2; relative closeness of course 1 = 1 (the closest), of course 4 = 0.5 / 0.9
    # rescaled from the median closeness (0.25 of the remaining four) -> (0.5 - 0.25) / (0.9 - 0.25)
    assert out[0, 0] == -np.inf
    assert out[0, 1] == pytest.approx(3.0 - 2.0 * 1.0)
    assert out[0, 4] == pytest.approx(0.0 - 2.0 * (0.5 - 0.25) / (0.9 - 0.25))
    assert out[0, 2] == 2.0 and out[0, 3] == 1.0
    np.testing.assert_array_equal(serving.dislike_penalty(scores, sparse.csr_matrix((1, 5)), closeness), scores)


def test_liked_reasons_say_liked_not_took():
    reasons = ["because you took Intro to Python", "similar to Cloud Basics", "popular"]
    out = serving.liked_reasons(reasons, ["Intro to Python", "Cloud Basics"])
    assert out == [
        "because you liked Intro to Python",
        "because you liked Cloud Basics: similar to Cloud Basics",
        "popular",
    ]
