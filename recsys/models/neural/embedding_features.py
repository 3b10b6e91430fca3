"""Shared base of the scikit-learn models trained on neural embeddings (embedding_regression/_classifier).

Fit: a `NeuralRecommender` is trained first (its main hyperparameters are exposed here); each observed
(learner, course) rating becomes a feature row [learner vector, course vector, their element-wise product]
(the product lets linear estimators see the interaction the embeddings were trained on) and a
scikit-learn estimator learns the rating outcome from it.

Ranking: the outcome alone is near-constant on this data (~98% of enrolments are completed), so ranking by
it loses to popularity. Courses are ranked by the expected outcome instead:

    score = P(enrol | learner)  x  outcome(learner, course) in [0, 1]

P(enrol) is the neural model's distribution over courses (softmax of its ranking scores); the outcome is
defined by the subclass (P(completed), or the predicted rating as a share of the top rating). The estimator
is evaluated only on each learner's `candidates` most likely courses; the others get the training average
outcome, which keeps batched scoring cheap without changing the top of the list.
"""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

import numpy as np
from scipy import sparse

from recsys.models.base import Recommender
from recsys.models.neural.recommender import NeuralRecommender
from recsys.models.params import HyperParam

_PREDICT_CHUNK = 200_000  # feature rows per estimator call (memory: rows x 3d floats)
_SCORE_CHUNK = 1024  # learners per ranking block (their candidate rows go to the estimator at once)
TREE_SAMPLE_ROWS = 10_000  # a random forest grows each tree on a bootstrap sample of at most this many rows


def forest_sample(n_rows: int) -> int | None:
    """scikit-learn's `max_samples` for a random forest on `n_rows`: every tree sees a bootstrap sample of at most
    TREE_SAMPLE_ROWS rows (the forest as a whole still draws from all of them), so a forest of 100 trees on
    100,000 ratings fits in seconds instead of a minute; None (= all rows) on smaller data."""
    return TREE_SAMPLE_ROWS if n_rows > TREE_SAMPLE_ROWS else None


def pair_features(user_vectors: np.ndarray, item_vectors: np.ndarray) -> np.ndarray:
    """Feature rows for aligned (learner vector, course vector) pairs: [u, v, u * v]."""
    return np.hstack([user_vectors, item_vectors, user_vectors * item_vectors]).astype(np.float32)


NETWORK_HELP = {
    "embedding_size": "length of the learner and course vectors",
    "epochs": "training passes over the learners",
    "negatives": "sampled non-enrolled courses per enrolment",
    "regularization": "L2 penalty per training example",
}
NETWORK_PARAMS = tuple(NETWORK_HELP)


def embedding_hyperparams(estimators: tuple[str, ...], target: str) -> tuple[HyperParam, ...]:
    """Hyperparameters shared by both models; `estimators` lists the estimator choices, first = default.
    The embedding ones are the inner `NeuralRecommender`'s own declarations (same defaults, ranges, grids)."""
    nn = {p.name: p for p in NeuralRecommender.hyperparams}
    return (
        HyperParam(
            "estimator",
            "choice",
            estimators[0],
            choices=estimators,
            help=f"scikit-learn model predicting {target} from the embeddings",
        ),
        HyperParam(
            "alpha",
            "float",
            1.0,
            tune_grid=(0.1, 1.0, 10.0),
            low=1e-4,
            high=1e3,
            log=True,
            help="L2 strength of the linear estimator (logistic regression uses C = 1 / alpha)",
        ),
        HyperParam(
            "n_estimators",
            "int",
            50,
            tune_grid=(20, 50, 100),
            low=10,
            high=1000,
            step=10,
            help="Trees of the random forest / boosting iterations of gradient boosting (tuned within 10-200: more "
            "trees cost fit time and, on a near-constant outcome, add nothing to the ranking)",
            log=True,
        ),
        HyperParam(
            "max_depth",
            "int",
            8,
            tune_grid=(4, 8, 12),
            low=2,
            high=40,
            step=1,
            help="Maximum depth of each tree",
            log=True,
        ),
        HyperParam(
            "candidates",
            "int",
            30,
            tune_grid=(10, 30, 100),
            low=0,
            high=10_000,
            step=10,
            help="Courses per learner (most likely enrolments) scored by the estimator; 0 = all",
            log=True,
        ),
        HyperParam(
            "max_train_rows",
            "int",
            100_000,
            tune_grid=(50_000, 100_000, 300_000),
            low=1_000,
            high=100_000_000,
            step=1_000,
            log=True,
            help="Ratings sampled (seeded) to train the estimator; bounds fit time on large data",
            role="resource",
        ),
        *(replace(nn[name], help=f"Neural embeddings: {text}") for name, text in NETWORK_HELP.items()),
        HyperParam(
            "seed",
            "int",
            0,
            low=0,
            high=2**31 - 1,
            role="seed",
            help="Seed of the embeddings, the row sample and the estimator",
        ),
    )


class EmbeddingFeatureRecommender(Recommender):
    """Neural embeddings -> scikit-learn estimator; subclasses define the target and the outcome."""

    predicts_ratings = True
    uses_tensorflow = True
    estimator_names: ClassVar[tuple[str, ...]] = ()
    network_params: ClassVar[tuple[str, ...]] = NETWORK_PARAMS
    """Parameters of the inner neural network (a tuned comparison takes them from the tuned `neural` model)."""
    # parameter -> (the parameter it depends on, the values for which it is used); the UI hides the others
    param_conditions: ClassVar[dict] = {
        "alpha": ("estimator", ("ridge", "logistic_regression")),
        "n_estimators": ("estimator", ("random_forest", "gradient_boosting")),
        "max_depth": ("estimator", ("random_forest", "gradient_boosting")),
    }

    # ----- subclass hooks ---------------------------------------------------------------------
    def _make_estimator(self, n_rows: int):
        """The unfitted scikit-learn estimator for `n_rows` training rows."""
        raise NotImplementedError

    def _target(self, ratings: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _raw(self, features: np.ndarray) -> np.ndarray:
        """Estimator output per feature row (P(completed) or a rating)."""
        raise NotImplementedError

    def _outcome(self, raw: np.ndarray) -> np.ndarray:
        """Raw output -> value in [0, 1] multiplied with P(enrol) for ranking."""
        raise NotImplementedError

    def _rating(self, raw: np.ndarray) -> np.ndarray:
        """Raw output -> predicted rating (before clipping to the scale)."""
        raise NotImplementedError

    def _reason(self, raw: float) -> str:
        raise NotImplementedError

    # ----- fitting ----------------------------------------------------------------------------
    def _fit(self, dataset, progress) -> None:
        self.embedder_ = NeuralRecommender(
            embedding_size=self.embedding_size,
            epochs=self.epochs,
            negatives=self.negatives,
            regularization=self.regularization,
            seed=self.seed,
        )

        def embed_progress(fraction, message):
            if progress and message != "done":
                progress(0.8 * fraction, message)

        self.embedder_.fit(dataset, embed_progress)
        m = dataset.matrix.tocoo()
        rng = np.random.default_rng([self.seed, 7])
        rows = np.arange(m.nnz)
        if m.nnz > self.max_train_rows:
            rows = np.sort(rng.choice(m.nnz, int(self.max_train_rows), replace=False))
        users, items, ratings = m.row[rows], m.col[rows], m.data[rows].astype(np.float64)
        X = pair_features(self.embedder_.user_embeddings_[users], self.embedder_.item_embeddings_[items])
        y = self._target(ratings)
        if progress:
            progress(0.85, f"fitting {self.estimator} on {len(y):,} ratings")
        self.constant_ = None
        if len(np.unique(y)) < 2:  # e.g. every sampled rating is "completed": nothing to learn
            self.constant_ = float(y[0])
            self.estimator_ = None
        else:
            self.estimator_ = self._make_estimator(len(y)).fit(X, y)
        self.train_rows_ = int(len(y))
        self.mean_outcome_ = float(np.mean(self._outcome(self._raw_chunked(X))))

    def share_fitted(self) -> None:
        """Offer the inner neural network to the other neural-family models (see `shared_embedding`)."""
        self.embedder_.share_fitted()

    @property
    def history_(self):
        """Per-epoch loss of the embedding network (the only iterative part)."""
        return self.embedder_.history_

    def _raw_chunked(self, X: np.ndarray) -> np.ndarray:
        if self.constant_ is not None:
            return np.full(len(X), self.constant_, np.float64)
        return np.concatenate(
            [self._raw(X[s : s + _PREDICT_CHUNK]) for s in range(0, len(X), _PREDICT_CHUNK)] or [np.zeros(0)]
        )

    # ----- scoring ----------------------------------------------------------------------------
    def _rank_scores(self, vectors: np.ndarray, taken: sparse.csr_matrix) -> np.ndarray:
        """P(enrol) x outcome, in blocks of learners (bounds the candidate feature matrix)."""
        out = np.empty((len(vectors), self.embedder_.item_embeddings_.shape[0]))
        for s in range(0, len(vectors), _SCORE_CHUNK):
            out[s : s + _SCORE_CHUNK] = self._rank_block(vectors[s : s + _SCORE_CHUNK], taken[s : s + _SCORE_CHUNK])
        return out

    def _rank_block(self, vectors: np.ndarray, taken: sparse.csr_matrix) -> np.ndarray:
        enrol = self.embedder_.scores_from_vectors(vectors)
        p_enrol = np.exp(enrol - enrol.max(axis=1, keepdims=True))
        p_enrol /= p_enrol.sum(axis=1, keepdims=True)
        n, n_items = enrol.shape
        c = n_items if self.candidates <= 0 else min(int(self.candidates), n_items)
        if c < n_items:  # candidates: the most likely courses the learner has not taken
            masked = enrol.copy()
            masked[np.repeat(np.arange(n), np.diff(taken.indptr)), taken.indices] = -np.inf
            cand = np.argpartition(-masked, c - 1, axis=1)[:, :c]
        else:
            cand = np.tile(np.arange(n_items), (n, 1))
        outcome = np.full((n, n_items), self.mean_outcome_)
        X = pair_features(np.repeat(vectors, c, axis=0), self.embedder_.item_embeddings_[cand.ravel()])
        outcome[np.repeat(np.arange(n), c), cand.ravel()] = self._outcome(self._raw_chunked(X))
        return p_enrol * outcome

    def score_histories(self, histories) -> np.ndarray:
        """Expected outcome P(enrol) x outcome for learners given their rating rows (numpy fold-in)."""
        self._check_fitted()
        histories = sparse.csr_matrix(histories)
        return self._rank_scores(self.embedder_.fold_in(histories), histories)

    def course_closeness(self, items) -> np.ndarray:
        """Dislikes: the neural model's own ranking closeness (courses whose enrol scores move together)."""
        return self.embedder_.course_closeness(items)

    def explain(self, history, items) -> list[str]:
        items = np.asarray(items, np.int64)
        if len(items) == 0:
            return []
        vector = self.embedder_.fold_in(history)
        raw = self._raw_chunked(
            pair_features(np.repeat(vector, len(items), axis=0), self.embedder_.item_embeddings_[items])
        )
        base = self.embedder_.explain(history, items)
        return [f"{b}; {self._reason(r)}" for b, r in zip(base, raw)]

    # ----- ratings ----------------------------------------------------------------------------
    def _predict(self, user_pos, item_pos) -> np.ndarray:
        known = user_pos >= 0
        U = self.embedder_.user_embeddings_
        vectors = np.where(known[:, None], U[np.where(known, user_pos, 0)], self.embedder_.mean_user_embedding_)
        raw = self._raw_chunked(pair_features(vectors, self.embedder_.item_embeddings_[item_pos]))
        lo, hi = self.rating_scale_
        return np.clip(self._rating(raw), lo, hi)

    # ----- persistence (the inner Keras model is saved as model.keras next to the state) -----------
    def _save_extra(self) -> dict[str, bytes]:
        return self.embedder_._save_extra()

    def _load_extra(self, files) -> None:
        self.embedder_._load_extra(files)
