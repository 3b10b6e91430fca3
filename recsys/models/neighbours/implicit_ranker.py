"""Ranking by who-took-what: the implicit co-enrolment neighbourhood of KNNRecommender.

With ~98% of ratings equal to 3.0, rating-based similarities are degenerate, so ranking uses enrolments:
item-based, each course keeps its n_neighbours most similar courses (asymmetric cosine, or BM25 / TF-IDF
weighted cosine through `implicit`) and scores sum over the learner's courses; user-based, the learner's
n_neighbours most similar learners vote for their courses with their similarity.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from recsys.models.neighbours.similarities import ITEM_WEIGHTINGS, asymmetric_cosine, weighted_item_similarity
from recsys.models.neighbours.topk import keep_top_k_per_column, top_k_rows

_CHUNK_SIM_CELLS = 4_000_000  # learner x learner similarity cells held at once


class ImplicitNeighbourRanker:
    """Mixin for KNNRecommender: the ranking half (n_neighbours, ranking_similarity, implicit_alpha)."""

    def _fit_implicit(self, R: sparse.csr_matrix) -> None:
        """Enrolment matrix and, item-based, the course x course similarity (n_neighbours best per course)."""
        B = R.copy()
        B.data = np.ones_like(B.data)
        if self.user_based:
            self.enrol_ = B
            self.enrol_count_ = np.diff(B.indptr).astype(np.float64)
        else:
            if self.ranking_similarity in ITEM_WEIGHTINGS:
                self.implicit_sim_ = weighted_item_similarity(B, self.ranking_similarity, int(self.n_neighbours))
            else:
                S = asymmetric_cosine(B, float(self.implicit_alpha))
                self.implicit_sim_ = keep_top_k_per_column(S, int(self.n_neighbours))

    def _implicit_user_scores(self, H, keep_neighbours: bool = False):
        """Learner-learner asymmetric cosine on enrolments; the k most similar learners vote with it."""
        B = H.copy()
        B.data = np.ones_like(B.data)
        n_train = self.enrol_.shape[0]
        k = min(int(self.n_neighbours), n_train)
        # The query learner's own normaliser is a constant per row: only the neighbour side shapes the ranking.
        query_norm = np.maximum(np.diff(B.indptr), 1.0) ** (1.0 - float(self.implicit_alpha))
        out = np.zeros(H.shape, dtype=np.float64)
        neighbours = []
        per_chunk = max(1, _CHUNK_SIM_CELLS // max(1, n_train))
        enrol_t = self._enrol_columns()
        B = B.astype(np.float32)
        for lo in range(0, H.shape[0], per_chunk):
            hi = min(H.shape[0], lo + per_chunk)
            sim = B[lo:hi] @ enrol_t  # common courses / n_neighbour^alpha
            W = top_k_rows(sim, k)
            W.data /= np.repeat(query_norm[lo:hi], np.diff(W.indptr)).astype(W.dtype)
            out[lo:hi] = (W @ self.enrol_).toarray()
            if keep_neighbours:
                neighbours.append(W)
        return out, neighbours

    def _enrol_columns(self) -> np.ndarray:
        """Dense courses x learners matrix (float32) holding 1 / n_learner^alpha where the learner took the
        course; built on first use, not saved. Sparse @ dense gives every learner's (normalised) common-course
        count ~30x faster than sparse @ sparse."""
        cached = self.__dict__.get("_enrol_t_cache")
        if cached is None:
            B = self.enrol_.tocsc()
            weight = 1.0 / np.maximum(self.enrol_count_, 1.0) ** float(self.implicit_alpha)
            cached = np.zeros((B.shape[1], B.shape[0]), dtype=np.float32)
            cached[np.repeat(np.arange(B.shape[1]), np.diff(B.indptr)), B.indices] = weight[B.indices]
            self.__dict__["_enrol_t_cache"] = cached
        return cached
