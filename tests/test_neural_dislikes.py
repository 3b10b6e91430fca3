"""Dislikes under the neural family (issue 24, item 9): after a "not for me", the courses the neural model
itself places next to the disliked one -- those whose scores rise and fall with it across learners -- never
rise in the learner's list."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from recsys.models import make_model
from recsys.models.serving import penalise_dislikes


def _rank(scores: np.ndarray) -> np.ndarray:
    ranks = np.empty(len(scores))
    ranks[np.argsort(-scores, kind="stable")] = np.arange(len(scores))
    return ranks


@pytest.mark.parametrize("key", ["neural", "embedding_classifier"])
def test_courses_placed_next_to_a_disliked_one_do_not_rise(key, small_dataset):
    model = make_model(key, epochs=3, **({"embedding_size": 8} if key == "neural" else {})).fit(small_dataset)
    # "placed next to", measured from the scores the model serves (not from course_closeness): the correlation
    # of two courses' scores over every learner of the data, folded in through the serving path
    served = model.score_histories(small_dataset.matrix)
    together = np.corrcoef(served.T)
    n = small_dataset.n_items
    rng = np.random.default_rng(0)
    learners = rng.choice(np.flatnonzero(np.diff(small_dataset.matrix.indptr) >= 1), 120, replace=False)
    rose = 0
    for row in learners:
        history = small_dataset.matrix[row]
        before = model.score_histories(history)[0]
        before[history.indices] = -np.inf
        disliked = int(np.argmax(before))  # "not for me" on the first recommendation
        after = penalise_dislikes(model, before[None, :], sparse.csr_matrix(([1.0], ([0], [disliked])), shape=(1, n)))[
            0
        ]
        nearest = [
            i for i in np.argsort(-together[disliked], kind="stable") if i != disliked and np.isfinite(before[i])
        ][:5]
        rose += _rank(after)[nearest].mean() < _rank(before)[nearest].mean()
    assert rose == 0, f"{key}: the disliked course's neighbours rose for {rose} of {len(learners)} learners"
