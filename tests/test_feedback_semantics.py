"""Thumbs feedback means what the learner said, for every registered model (issue 10, item 1).

A liked course is positive evidence (reasons say "liked", not "took"); a disliked course is never recommended,
never counts as taken, and the courses closest to it -- by the model's own `course_closeness` -- move down.
Parametrized over MODEL_KEYS, so a model added to the registry is covered without editing this file.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import learner_history
from scipy import sparse

from recsys.models import make_model, serving


def _ranks(frame, ids) -> np.ndarray:
    order = {c: r for r, c in enumerate(frame.COURSE_ID)}
    return np.array([order.get(c, len(order)) for c in ids], dtype=np.float64)


def test_dislike_removes_the_course_and_pushes_its_neighbours_down(fitted, tiny_dataset):
    key, model = fitted
    history = learner_history(tiny_dataset)
    n = tiny_dataset.n_items
    before = model.recommend(history, k=n)
    disliked = before.COURSE_ID.iloc[0]
    c = int(model.item_index_.get_loc(disliked))
    after = model.recommend(history, k=n, disliked=[disliked])
    titles = tiny_dataset.courses.set_index("COURSE_ID")["TITLE"]
    # (a) never recommended again
    assert disliked not in set(after.COURSE_ID), key
    # (b) no reason says the learner took it
    assert not any(f"took {titles[disliked]}" in r and "learners who took" not in r for r in after.REASON), key
    assert not any(f"you took {titles[disliked]}" in r for r in after.REASON), key
    # (c) its five nearest courses (by this model's closeness), among the courses still rankable, do not rise
    closeness = np.asarray(model.course_closeness(np.array([c])), dtype=np.float64)[0]
    candidates = [
        i for i in np.argsort(-closeness, kind="stable") if i != c and str(model.item_index_[i]) not in set(history)
    ]
    nearest = [str(model.item_index_[i]) for i in candidates[:5]]
    reference = model.recommend(history, k=n, exclude=[disliked])  # same ranking with c only hidden
    moved = _ranks(after, nearest).mean() - _ranks(reference, nearest).mean()
    assert moved >= 0, (key, moved)
    if closeness[candidates[:5]].max() > 0:
        assert moved > 0, f"{key}: disliking a course must push its nearest courses down"


def test_a_disliked_course_is_not_an_enrolment(fitted, tiny_dataset):
    key, model = fitted
    history = learner_history(tiny_dataset)
    scored, disliked_rows = serving.with_feedback(model, model.history_row(history), disliked=[[history[0]]])
    assert history[0] not in set(model.item_index_[scored.indices]), key
    # a course already in the history and then disliked leaves the history as well
    recs = model.recommend(history, k=5, disliked=[history[0]])
    assert history[0] not in set(recs.COURSE_ID)


def test_like_is_positive_evidence_with_its_own_reason(fitted, tiny_dataset):
    key, model = fitted
    history = learner_history(tiny_dataset, 3)
    liked = history[-1]
    as_taken = model.recommend(history, k=8)
    as_liked = model.recommend(history[:-1], k=8, liked=[liked])
    assert liked not in set(as_liked.COURSE_ID), key
    assert as_liked.COURSE_ID.tolist() == as_taken.COURSE_ID.tolist(), "a like weighs like a completion"
    title = str(tiny_dataset.courses.set_index("COURSE_ID").loc[liked, "TITLE"])
    assert not any(f"you took {title}" in r for r in as_liked.REASON), key
    named = [r for r in as_liked.REASON if title in r]
    assert all("you liked" in r for r in named), (key, named)


def test_batched_feedback_matches_onelearner_history(fitted, tiny_dataset):
    key, model = fitted
    history = learner_history(tiny_dataset)
    rows = sparse.vstack([model.history_row(history)] * 2).tocsr()
    other = [c for c in model.item_index_.astype(str) if c not in history][:2]
    batch = model.score_with_feedback(rows, liked=[[other[0]], []], disliked=[[other[1]], [other[1]]])
    assert batch.shape == (2, tiny_dataset.n_items)
    assert np.isneginf(batch[:, model.item_index_.get_loc(other[1])]).all(), key
    single = model.recommend(history, k=5, liked=[other[0]], disliked=[other[1]])
    listed = serving.ranked_frame(model, batch[0], rows[0], 5, exclude=[other[0]])
    top = listed.COURSE_ID.tolist()
    assert top == single.COURSE_ID.tolist(), key


def test_contradictory_or_unknown_feedback_is_a_clear_error(tiny_dataset):
    model = make_model("popularity").fit(tiny_dataset)
    course = str(tiny_dataset.item_ids[0])
    with pytest.raises(ValueError, match="both liked and disliked"):
        model.recommend([], liked=[course], disliked=[course])
    with pytest.raises(ValueError, match="NOPE"):
        model.recommend([], disliked=["NOPE"])
