"""k-nearest-neighbour collaborative filtering: the model the user picks, composed of two halves.

* Predicted ratings (`predict`) follow scikit-surprise exactly (KNNBasic / KNNWithMeans / KNNBaseline),
  batched: recsys.models.neighbours.rating_predictor.
* Ranking (`score_histories`, `recommend`) uses who-took-what (`ranking_similarity`): asymmetric cosine
  (default), BM25 or TF-IDF weighted item-kNN (implicit's), or Surprise's predicted rating (for comparison;
  it loses to popularity on ~constant ratings): recsys.models.neighbours.implicit_ranker.
  Popularity breaks remaining ties and ranks everything for an empty history.

Parameters that only change predicted ratings are tagged role="rating" so the UI can say so. New learners
need no retraining: item-based scores read the learned course x course similarities; user-based ones compare
the new enrolment vector with every training learner by a sparse product.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from recsys.models.base import Recommender
from recsys.models.neighbours.implicit_ranker import ImplicitNeighbourRanker
from recsys.models.neighbours.rating_predictor import SurpriseRatingPredictor
from recsys.models.params import HyperParam
from recsys.models.shared.surprise_data import popularity_scores

__all__ = ["KNNRecommender"]


class KNNRecommender(SurpriseRatingPredictor, ImplicitNeighbourRanker, Recommender):
    """Surprise k-NN: exact Surprise rating predictions, implicit-neighbourhood ranking."""

    key = "knn"
    label = "k-nearest neighbours (Surprise)"
    description = (
        "Collaborative filtering: courses similar to the ones you took (item-based) or taken by "
        "learners like you (user-based)."
    )
    predicts_ratings = True
    hyperparams = (
        HyperParam(
            "variant",
            "choice",
            "basic",
            choices=("basic", "with_means", "baseline"),
            role="rating",
            help="Surprise algorithm for predicted ratings: KNNBasic, KNNWithMeans or KNNBaseline",
        ),
        HyperParam(
            "user_based",
            "bool",
            False,
            help="Neighbours are learners (true) or courses (false; scales to millions of learners)",
        ),
        HyperParam(
            "n_neighbours",
            "int",
            40,
            low=1,
            high=500,
            step=1,
            tune_grid=(10, 20, 40, 80, 160),
            help="Maximum number of neighbours (courses or learners) taken into account",
            log=True,
        ),
        HyperParam(
            "min_k",
            "int",
            1,
            low=1,
            high=50,
            step=1,
            role="rating",
            tune_grid=(1, 2, 5),
            help="Fewer neighbours than this -> fall back to the mean/baseline rating",
        ),
        HyperParam(
            "similarity",
            "choice",
            "msd",
            choices=("cosine", "msd", "pearson", "pearson_baseline"),
            role="rating",
            help="Surprise similarity between rating vectors (used for predicted ratings)",
        ),
        HyperParam(
            "shrinkage",
            "float",
            100.0,
            low=0.0,
            high=1000.0,
            step=10.0,
            role="rating",
            tune_grid=(0.0, 100.0, 300.0),
            help="Shrinks pearson_baseline similarities supported by few common ratings",
        ),
        HyperParam(
            "min_support",
            "int",
            1,
            low=1,
            high=100,
            step=1,
            role="rating",
            tune_grid=(1, 3, 10),
            help="Minimum number of common ratings for a non-zero similarity",
        ),
        HyperParam(
            "ranking_similarity",
            "choice",
            "implicit_cosine",
            choices=("implicit_cosine", "bm25", "tfidf", "surprise"),
            role="ranking",
            help="Ranking: cosine on who-took-what (default), BM25 or TF-IDF weighted item-kNN "
            "(item-based only), or Surprise's predicted ratings (degenerate on ~98% identical "
            "ratings; for comparison)",
        ),
        HyperParam(
            "implicit_alpha",
            "float",
            0.4,
            low=0.0,
            high=1.0,
            step=0.05,
            role="ranking",
            tune_grid=(0.2, 0.3, 0.4, 0.5),
            help="Implicit ranking similarity common / (n_query^(1-a) * n_neighbour^a): 0.5 is the plain "
            "cosine, lower values favour popular courses and active learners as neighbours",
        ),
    )

    def __init__(
        self,
        variant: str = "basic",
        user_based: bool = False,
        n_neighbours: int = 40,
        min_k: int = 1,
        similarity: str = "msd",
        shrinkage: float = 100.0,
        min_support: int = 1,
        ranking_similarity: str = "implicit_cosine",
        implicit_alpha: float = 0.4,
    ):
        self.variant = variant
        self.user_based = user_based
        self.n_neighbours = n_neighbours
        self.min_k = min_k
        self.similarity = similarity
        self.shrinkage = shrinkage
        self.min_support = min_support
        self.ranking_similarity = ranking_similarity
        self.implicit_alpha = implicit_alpha

    # ----- fitting ----------------------------------------------------------------------------
    def _fit(self, dataset, progress) -> None:
        if self.user_based and self.ranking_similarity in ("bm25", "tfidf"):
            raise ValueError(
                f"ranking_similarity '{self.ranking_similarity}' weights course vectors and needs "
                f"user_based=false (item-based)"
            )
        R = self._fit_ratings(dataset, progress)
        self.popularity_ = popularity_scores(R)
        if progress:
            progress(0.7, "implicit neighbourhoods")
        self._fit_implicit(R)

    # ----- ranking ----------------------------------------------------------------------------
    def score_histories(self, histories) -> np.ndarray:
        H = self._check_histories(histories)
        if self.ranking_similarity == "surprise":
            scores = self._surprise_scores(H)
        elif self.user_based:
            scores = self._implicit_user_scores(H)[0]
        else:
            B = H.copy()
            B.data = np.ones_like(B.data)
            scores = np.asarray(B @ self.implicit_sim_)
        # A popularity tie-break far below any similarity step (and the whole ranking for an empty history).
        tie = self.popularity_ / (self.popularity_.max() + 1.0) * 1e-6
        return scores + tie[None, :]

    def course_closeness(self, items) -> np.ndarray:
        """Dislikes: the course x course similarity this model ranks by (item-based: a disliked course's row,
        i.e. what it would have added to each course had it been taken); user-based or Surprise ranking: the
        plain cosine of who-took-what."""
        items = np.asarray(items, dtype=np.int64)
        if not self.user_based and self.ranking_similarity != "surprise":
            return np.asarray(self.implicit_sim_[items])
        from recsys.models.neighbours.similarities import asymmetric_cosine

        B = sparse.csr_matrix(self.train_matrix_, dtype=np.float64, copy=True)
        B.data = np.ones_like(B.data)
        return asymmetric_cosine(B, 0.5)[items]

    def __getstate__(self):
        state = dict(super().__getstate__())
        state.pop("_enrol_t_cache", None)
        state.pop("_sim_cache", None)
        return state

    # ----- reasons ----------------------------------------------------------------------------
    def explain(self, history, items) -> list[str]:
        H = sparse.csr_matrix(history, dtype=np.float64)
        taken = H.indices
        items = np.asarray(items, dtype=np.int64)
        popular = [f"popular: {int(self.popularity_[i]):,} learners enrolled" for i in items]
        if len(taken) == 0:
            return [f"{p} (no history yet)" for p in popular]
        if self.ranking_similarity == "surprise":
            predicted = self.score_histories(H)[0]
        if self.user_based:
            if self.ranking_similarity == "surprise":
                return [f"learners who rated like you would rate it {predicted[i]:.2f}" for i in items]
            _, (W,) = self._implicit_user_scores(H, keep_neighbours=True)
            votes = np.asarray(self.enrol_[W.indices].sum(axis=0)).ravel()
            return [
                f"learners with similar courses took this ({int(votes[i])} of your {W.nnz} most similar learners)"
                if votes[i] > 0
                else p
                for i, p in zip(items, popular)
            ]
        S = self.sim_ if self.ranking_similarity == "surprise" else self.implicit_sim_
        contrib = S[np.ix_(taken, items)]
        best = taken[np.argmax(contrib, axis=0)]
        titles = self.catalogue_["TITLE"].astype(str).to_numpy()
        return [
            f"because you took {titles[b]}" if contrib[:, n].max() > 0 else p
            for n, (b, p) in enumerate(zip(best, popular))
        ]
