"""Helpers shared by the item-to-item models (EASE, RP3beta): the binary enrolment matrix, scoring a batch of
histories against a dense course x course weight matrix, and "because you took X" reasons from those weights."""

from __future__ import annotations

import numpy as np
from scipy import sparse


def enrolment_matrix(matrix: sparse.spmatrix, dtype=np.float64) -> sparse.csr_matrix:
    """1 where the learner enrolled (completed or audited), as CSR. Ratings are ~98% identical, so the
    enrolment itself is the signal; the grade is not."""
    X = sparse.csr_matrix(matrix, dtype=dtype, copy=True)
    X.eliminate_zeros()
    X.data[:] = 1.0
    return X


def enrolment_counts(X: sparse.csr_matrix) -> np.ndarray:
    """Learners per course of a binary enrolment matrix."""
    return np.bincount(X.indices, minlength=X.shape[1]).astype(np.float64)


def score_with_weights(histories: sparse.csr_matrix, W: np.ndarray) -> np.ndarray:
    """Binary history rows times the course x course weights: one sparse x dense product for the whole batch."""
    X = enrolment_matrix(histories)
    return np.asarray(X @ W)


def because_you_took(
    W: np.ndarray, history: sparse.spmatrix, items, titles: np.ndarray, enrolments: np.ndarray
) -> list[str]:
    """Per recommended course: the taken course that contributes most to its score ("because you took X"),
    or its popularity when nothing in the history points to it."""
    taken = sparse.csr_matrix(history).indices
    items = np.asarray(items, dtype=np.int64)
    reasons = []
    for j in items:
        popular = f"popular: {int(enrolments[j]):,} learners enrolled"
        if len(taken) == 0:
            reasons.append(popular)
            continue
        contrib = W[taken, j]
        best = int(np.argmax(contrib))
        reasons.append(f"learners who took {titles[taken[best]]} also took this" if contrib[best] > 0 else popular)
    return reasons


class ItemWeightsRanker:
    """Mixin for models whose whole learned state is a course x course weight matrix `weights_` (EASE,
    RP3beta): scoring, dislike closeness and reasons are the same for all of them."""

    def score_histories(self, histories) -> np.ndarray:
        H = self._check_histories(histories)
        return score_with_weights(H, self.weights_)

    def course_closeness(self, items) -> np.ndarray:
        """Dislikes: a disliked course's row of the item-item weights (what it adds to each course's score)."""
        return self.weights_[np.asarray(items, dtype=np.int64)]

    def explain(self, history, items) -> list[str]:
        titles = self.catalogue_["TITLE"].astype(str).to_numpy()
        return because_you_took(self.weights_, history, items, titles, self.enrolments_)
