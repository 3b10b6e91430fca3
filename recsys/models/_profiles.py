"""Shared pieces of the content models (user_profile, course_similarity, clustering, clustering_pca).

All four score a learner from their history row, fall back to a popularity prior when the history is
empty, and need the same genre-profile arithmetic, so it lives here once.
"""
from __future__ import annotations

import numpy as np
from scipy import sparse

from recsys.models.base import Recommender


def popularity_prior(matrix: sparse.csr_matrix, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """Enrolment counts and a log-popularity prior scaled to [0, 1].

    Log because enrolments are heavy-tailed (top 20 courses hold ~60%): a linear prior would drown any
    content signal, a log prior only breaks ties and nudges towards courses people actually finish.
    """
    counts = np.bincount(matrix.indices, minlength=n_items).astype(np.float64)
    top = np.log1p(counts.max()) if counts.max() > 0 else 1.0
    return counts, np.log1p(counts) / top


def rating_weights(histories: sparse.csr_matrix, top_rating: float) -> sparse.csr_matrix:
    """History rows with each rating divided by the top of the scale (a completion weighs 1, an audit less)."""
    weights = histories.astype(np.float64, copy=True)
    weights.data = np.clip(weights.data / float(top_rating), 0.0, None)
    return weights


def genre_profiles(histories: sparse.csr_matrix, genre_matrix: np.ndarray, top_rating: float,
                   norm: str = "l2") -> np.ndarray:
    """Rating-weighted sum of the genre vectors of each learner's courses (n x n_genres), row-normalized.

    `norm` "l2" (unit length, for cosine matching), "l1" (genre shares, for clustering) or "none".
    """
    profile = np.asarray(rating_weights(histories, top_rating) @ genre_matrix, dtype=np.float64)
    if norm == "l2":
        scale = np.linalg.norm(profile, axis=1, keepdims=True)
    elif norm == "l1":
        scale = np.abs(profile).sum(axis=1, keepdims=True)
    else:
        return profile
    return profile / np.where(scale > 0, scale, 1.0)


def top_genres(weights: np.ndarray, names: list[str], k: int = 2) -> list[str]:
    """Names of the `k` largest positive weights, largest first."""
    order = np.argsort(-weights, kind="stable")[:k]
    return [names[g] for g in order if weights[g] > 0]


class ContentRecommender(Recommender):
    """Base of the four content models: popularity prior, history validation and the empty-history fallback.

    Subclasses implement `_fit_content`, `_score` (rows with at least one rated course) and `_explain`.
    """

    def _fit(self, dataset, progress) -> None:
        self.enrolments_, self.prior_ = popularity_prior(dataset.matrix, dataset.n_items)
        self.genre_matrix_ = np.asarray(dataset.genre_matrix, dtype=np.float64)
        self._fit_content(dataset, progress)

    def _fit_content(self, dataset, progress) -> None:
        raise NotImplementedError

    def check_histories(self, histories) -> sparse.csr_matrix:
        """The batch as CSR float64 with one column per catalogue course, or a ValueError saying why not."""
        self._check_fitted()
        if not sparse.issparse(histories):
            histories = np.asarray(histories, dtype=np.float64)
            if histories.ndim == 1:
                histories = histories[None, :]
            if histories.ndim != 2:
                raise ValueError(f"histories must be a 2-D (learners x courses) matrix, got {histories.ndim} dimensions")
        histories = sparse.csr_matrix(histories, dtype=np.float64)
        if histories.shape[1] != len(self.item_index_):
            raise ValueError(f"histories have {histories.shape[1]} columns; expected one per catalogue course "
                             f"({len(self.item_index_)})")
        histories.eliminate_zeros()
        return histories

    def score_histories(self, histories) -> np.ndarray:
        histories = self.check_histories(histories)
        out = np.empty(histories.shape, dtype=np.float64)
        active = np.diff(histories.indptr) > 0
        out[~active] = self.prior_
        if active.any():
            out[active] = self._score(histories[active] if not active.all() else histories)
        return out

    def _score(self, histories: sparse.csr_matrix) -> np.ndarray:
        raise NotImplementedError

    def explain(self, history, items) -> list[str]:
        history = self.check_histories(history)[:1]
        items = np.asarray(items, dtype=np.int64).ravel()
        if history.nnz == 0:
            return [f"popular with all learners ({int(self.enrolments_[i]):,} enrolled); add courses to your "
                    f"history for personal picks" for i in items]
        return self._explain(history, items)

    def _explain(self, history: sparse.csr_matrix, items: np.ndarray) -> list[str]:
        raise NotImplementedError

    def _popular_reason(self, i: int) -> str:
        return f"popular: {int(self.enrolments_[i]):,} learners enrolled"
