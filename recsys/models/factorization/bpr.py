"""Bayesian personalized ranking (Rendle et al., UAI 2009) with the `implicit` library (CPU).

Course factors and biases are learned by SGD on sampled (taken, not taken) course pairs. The library runs
one thread here: its multi-threaded SGD updates shared factors without locks, so two fits with the same seed
would differ. BPR has no closed-form fold-in, so every learner -- training or new -- is scored from factors
fitted to their history by `fold_in.bpr_fold_in` (deterministic full-gradient ascent on the frozen course
factors, started from the average training learner; ~1-3 ms for a handful of courses).
"""

from __future__ import annotations

import numpy as np

from recsys.models.base import Recommender, cosine_rows
from recsys.models.factorization._implicit import binary_float32, epoch_callback
from recsys.models.factorization.fold_in import bpr_fold_in
from recsys.models.params import HyperParam


class BPRRecommender(Recommender):
    """Pairwise-ranking matrix factorization; new learners by gradient steps on the frozen course factors."""

    key = "bpr"
    reports_checkpoints = True
    fit_cost = 6
    label = "BPR (implicit library)"
    description = (
        "Learns latent factors so that courses a learner took rank above courses they did not, "
        "and recommends the courses that best fit your factors."
    )
    hyperparams = (
        HyperParam(
            "factors",
            "int",
            64,
            low=1,
            high=512,
            step=8,
            role="ranking",
            tune_grid=(32, 64, 128),
            help="Latent factors per learner and course (plus a course bias)",
            log=True,
        ),
        HyperParam(
            "learning_rate",
            "float",
            0.05,
            low=1e-4,
            high=1.0,
            step=0.005,
            log=True,
            role="ranking",
            tune_grid=(0.01, 0.05, 0.1),
            help="SGD step size",
        ),
        HyperParam(
            "regularization",
            "float",
            0.001,
            low=0.0,
            high=10.0,
            step=0.001,
            role="ranking",
            tune_grid=(0.0005, 0.001, 0.01),
            help="L2 penalty on the factors (training and fold-in)",
        ),
        HyperParam(
            "iterations",
            "int",
            100,
            low=1,
            high=1000,
            step=10,
            role="ranking",
            tune_grid=(50, 100, 200),
            help="SGD passes (each samples as many pairs as there are enrolments)",
            log=True,
        ),
        HyperParam(
            "fold_in_steps",
            "int",
            30,
            low=1,
            high=500,
            step=5,
            role="ranking",
            tune_grid=(10, 30, 60),
            help="Gradient steps that fit a learner's factors to their history at recommendation time",
        ),
        HyperParam("seed", "int", 0, low=0, high=2**31 - 1, role="seed", help="Seed of the factors and pair sampling"),
    )

    def __init__(
        self,
        factors: int = 64,
        learning_rate: float = 0.05,
        regularization: float = 0.001,
        iterations: int = 100,
        fold_in_steps: int = 30,
        seed: int = 0,
    ):
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.fold_in_steps = fold_in_steps
        self.seed = seed

    def _fit(self, dataset, progress) -> None:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        X = binary_float32(dataset.matrix)
        self.enrolments_ = np.bincount(X.indices, minlength=X.shape[1]).astype(np.float64)
        model = BayesianPersonalizedRanking(
            factors=int(self.factors),
            learning_rate=float(self.learning_rate),
            regularization=float(self.regularization),
            iterations=int(self.iterations),
            num_threads=1,
            random_state=int(self.seed),
        )
        report = epoch_callback(progress, int(self.iterations), "BPR")
        active = np.diff(X.indptr) > 0

        def callback(iteration, *rest):
            if report:
                report(iteration, *rest)
            if self._wants_checkpoints() and iteration + 1 < int(self.iterations):  # tuning scores it after this epoch
                self._set_factors(model, active)
                self._checkpoint_reached(iteration + 1)

        model.fit(X, show_progress=False, callback=callback)
        self._set_factors(model, active)

    def _set_factors(self, model, active: np.ndarray) -> None:
        items = np.asarray(model.item_factors, dtype=np.float64)  # last column: course bias
        users = np.asarray(model.user_factors, dtype=np.float64)  # last column: constant 1
        self.item_factors_ = items[:, :-1].copy()
        self.item_bias_ = items[:, -1].copy()
        self.mean_user_ = users[active, :-1].mean(axis=0) if active.any() else np.zeros(items.shape[1] - 1)

    def user_factors(self, histories) -> np.ndarray:
        """Factors fitted to each history row (course factors frozen)."""
        H = self._check_histories(histories)
        return bpr_fold_in(
            H,
            self.item_factors_,
            self.item_bias_,
            float(self.regularization),
            steps=int(self.fold_in_steps),
            init=self.mean_user_,
        )

    def score_histories(self, histories) -> np.ndarray:
        return self.user_factors(histories) @ self.item_factors_.T + self.item_bias_

    def course_closeness(self, items) -> np.ndarray:
        """Dislikes: cosine of the learned course factors."""
        return cosine_rows(self.item_factors_, items)

    def explain(self, history, items) -> list[str]:
        taken = binary_float32(history).indices
        items = np.asarray(items, dtype=np.int64)
        titles = self.catalogue_["TITLE"].astype(str).to_numpy()
        norms = np.linalg.norm(self.item_factors_, axis=1) + 1e-12
        unit = self.item_factors_ / norms[:, None]
        reasons = []
        for j in items:
            similar = unit[taken] @ unit[j] if len(taken) else np.zeros(0)
            if len(similar) and similar.max() > 0:
                reasons.append(f"learners who took {titles[taken[np.argmax(similar)]]} also took this")
            else:
                reasons.append(f"popular: {int(self.enrolments_[j]):,} learners enrolled")
        return reasons
