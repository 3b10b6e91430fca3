"""Embedding regression: a scikit-learn regressor predicting the rating from neural embeddings.

Ranking uses the expected outcome P(enrol) x predicted rating / top rating (see `embedding_features`):
the predicted rating alone is almost the same for every course on this data and would lose to popularity.
"""

from __future__ import annotations

import numpy as np

from recsys.models.neural.embedding_features import EmbeddingFeatureRecommender, embedding_hyperparams, forest_sample

ESTIMATORS = ("ridge", "random_forest", "gradient_boosting")


class EmbeddingRegressionRecommender(EmbeddingFeatureRecommender):
    """Ridge / random forest / histogram gradient boosting on [learner, course, learner * course] vectors.

    `gradient_boosting` is scikit-learn's HistGradientBoostingRegressor (the classic one is too slow for
    hundreds of thousands of rows). Scores: P(enrol) x clip(predicted rating / top rating, 0, 1).
    """

    key = "embedding_regression"
    label = "Embedding regression"
    description = (
        "Regression of the rating on neural learner/course embeddings; ranks by enrol probability x predicted rating."
    )
    estimator_names = ESTIMATORS
    hyperparams = embedding_hyperparams(ESTIMATORS, "the rating")

    def __init__(
        self,
        estimator: str = "ridge",
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

    def _make_estimator(self, n_rows: int):
        if self.estimator == "ridge":
            from sklearn.linear_model import Ridge

            return Ridge(alpha=float(self.alpha))
        if self.estimator == "random_forest":
            from sklearn.ensemble import RandomForestRegressor

            return RandomForestRegressor(
                n_estimators=int(self.n_estimators),
                max_depth=int(self.max_depth),
                max_features="sqrt",
                min_samples_leaf=5,
                max_samples=forest_sample(n_rows),
                random_state=int(self.seed),
            )
        from sklearn.ensemble import HistGradientBoostingRegressor

        return HistGradientBoostingRegressor(
            max_iter=int(self.n_estimators),
            max_depth=int(self.max_depth),
            early_stopping=False,
            random_state=int(self.seed),
        )

    def _target(self, ratings: np.ndarray) -> np.ndarray:
        return ratings

    def _raw(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(self.estimator_.predict(features), np.float64)

    def _outcome(self, raw: np.ndarray) -> np.ndarray:
        lo, hi = self.rating_scale_
        share = raw / hi if lo >= 0 and hi > 0 else (raw - lo) / max(hi - lo, 1e-12)
        return np.clip(share, 0.0, 1.0)

    def _rating(self, raw: np.ndarray) -> np.ndarray:
        return raw

    def _reason(self, raw: float) -> str:
        return f"predicted rating {raw:.2f}"
