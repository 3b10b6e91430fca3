"""Embedding classifier: a scikit-learn classifier of completed (top rating) vs audited on neural embeddings.

Ranking uses the expected outcome P(enrol) x P(completed | enrol) (see `embedding_features`): P(completed)
alone is ~0.98 for nearly every course on this data and would lose to popularity. `predict` returns the
expected rating P * top rating + (1 - P) * mean non-top rating of the training data, so the model also
predicts ratings.
"""

from __future__ import annotations

import numpy as np

from recsys.models.neural.embedding_features import EmbeddingFeatureRecommender, embedding_hyperparams, forest_sample

ESTIMATORS = ("logistic_regression", "random_forest", "gradient_boosting")


class EmbeddingClassifierRecommender(EmbeddingFeatureRecommender):
    """Logistic regression / random forest / histogram gradient boosting on [learner, course, product].

    `gradient_boosting` is scikit-learn's HistGradientBoostingClassifier. Scores: P(enrol) x P(completed).
    """

    key = "embedding_classifier"
    label = "Embedding classifier"
    description = (
        "Classifier of completed vs audited on neural learner/course embeddings; ranks by enrol "
        "probability x completion probability."
    )
    estimator_names = ESTIMATORS
    hyperparams = embedding_hyperparams(ESTIMATORS, "completed vs audited")

    def __init__(
        self,
        estimator: str = "logistic_regression",
        alpha: float = 1.0,
        n_estimators: int = 50,
        max_depth: int = 8,
        candidates: int = 30,
        max_train_rows: int = 100_000,
        embedding_size: int = 32,
        epochs: int = 10,
        negatives: int = 2,
        regularization: float = 0.01,
        seed: int = 0,
    ):
        self.estimator = estimator
        self.alpha = alpha
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.candidates = candidates
        self.max_train_rows = max_train_rows
        self.embedding_size = embedding_size
        self.epochs = epochs
        self.negatives = negatives
        self.regularization = regularization
        self.seed = seed

    def _fit(self, dataset, progress) -> None:
        lo, hi = dataset.rating_scale
        ratings = dataset.ratings["rating"].to_numpy(np.float64)
        below = ratings[ratings < hi]
        self.audit_rating_ = float(below.mean()) if len(below) else float(lo)
        super()._fit(dataset, progress)

    def _make_estimator(self, n_rows: int):
        if self.estimator == "logistic_regression":
            from sklearn.linear_model import LogisticRegression

            return LogisticRegression(C=1.0 / float(self.alpha), max_iter=1000)
        if self.estimator == "random_forest":
            from sklearn.ensemble import RandomForestClassifier

            return RandomForestClassifier(
                n_estimators=int(self.n_estimators),
                max_depth=int(self.max_depth),
                max_features="sqrt",
                min_samples_leaf=5,
                max_samples=forest_sample(n_rows),
                random_state=int(self.seed),
            )
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(
            max_iter=int(self.n_estimators),
            max_depth=int(self.max_depth),
            early_stopping=False,
            random_state=int(self.seed),
        )

    def _target(self, ratings: np.ndarray) -> np.ndarray:
        return (ratings >= self.rating_scale_[1]).astype(np.int64)

    def _raw(self, features: np.ndarray) -> np.ndarray:
        proba = self.estimator_.predict_proba(features)
        return np.asarray(proba[:, list(self.estimator_.classes_).index(1)], np.float64)

    def _outcome(self, raw: np.ndarray) -> np.ndarray:
        return raw

    def _rating(self, raw: np.ndarray) -> np.ndarray:
        return raw * self.rating_scale_[1] + (1.0 - raw) * self.audit_rating_

    def _reason(self, raw: float) -> str:
        return f"predicted completion chance {raw:.0%}"
