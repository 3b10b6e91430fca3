"""Implicit ALS (Hu, Koren & Volinsky, "Collaborative Filtering for Implicit Feedback Datasets", ICDM 2008)
with the `implicit` library (CPU).

Learners and courses get latent factors fitted to the binary enrolment matrix, with confidence
c_ui = 1 + alpha for a course taken and 1 for the rest. The library's own `alpha` multiplies its input and
uses the product as the confidence (c = alpha * r), so we hand it the confidence matrix 1 + alpha * r
directly (library alpha = 1): the model is the paper's. Any learner is scored by folding them in from their
history with the course factors frozen -- the closed-form least-squares step in `fold_in.als_fold_in`, the
library's `recalculate_user=True` -- so training and new learners take the same path.

Default penalty: `regularization="auto"` is 0.66 x sqrt(training enrolments) (`regularization_` holds the value
used; an explicit number is used as given). A fixed lambda cannot follow the data: 300, right for the 34,000
built-in learners (207,000 training enrolments, where auto gives 300), flattens 1,000 learners into popularity
(NDCG@10 0.38, the same as popularity), where auto gives ~50 and 0.61. Rule and figures: docs/defaults.md.
"""

from __future__ import annotations

import numpy as np

from recsys.models.base import Recommender, cosine_rows
from recsys.models.factorization._implicit import binary_float32, epoch_callback
from recsys.models.factorization.fold_in import als_contributions, als_fold_in, taste_reasons
from recsys.models.params import HyperParam
from recsys.models.shared.data_scale import per_root_enrolment

REGULARIZATION_PER_ROOT = 0.66
"""Auto lambda per sqrt(enrolment), anchored at the old default (300 at 34k built-in learners); the best lambda
measured at 1k / 3k / 10k learners (45 / 100 / ~170 for 6k / 18k / 59k enrolments, 0.59-0.75 x sqrt) and on a
60-course cut of 1k learners (45) lies on the same curve."""


def confidence_matrix(matrix, alpha: float):
    """1 + alpha * r on the enrolment matrix (r = 1 where taken): what the library fits."""
    C = binary_float32(matrix)
    C.data = (1.0 + float(alpha) * C.data).astype(np.float32)
    return C


class ALSRecommender(Recommender):
    """Implicit-feedback matrix factorization; new learners by the exact least-squares fold-in."""

    key = "als"
    reports_checkpoints = True
    fit_cost = 3
    label = "Implicit ALS (implicit library)"
    description = (
        "Learns latent taste factors from who took what, weighting taken courses by a confidence, "
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
            help="Latent factors per learner and course",
            log=True,
        ),
        HyperParam(
            "regularization",
            "float",
            "auto",
            low=0.0,
            high=100000.0,
            step=10.0,
            log=True,
            role="ranking",
            tune_grid=(50.0, 150.0, 300.0, 600.0),
            help="L2 penalty lambda on the factors (larger = smoother, closer to popularity); auto = "
            f"{REGULARIZATION_PER_ROOT} x sqrt(training enrolments)",
            auto=f"{REGULARIZATION_PER_ROOT} x sqrt(training enrolments)",
        ),
        HyperParam(
            "alpha",
            "float",
            20.0,
            low=0.0,
            high=1000.0,
            step=1.0,
            role="ranking",
            tune_grid=(5.0, 10.0, 20.0, 40.0),
            help="Confidence of a taken course: 1 + alpha (untaken courses have confidence 1)",
        ),
        HyperParam(
            "iterations",
            "int",
            15,
            low=1,
            high=200,
            step=1,
            role="ranking",
            tune_grid=(10, 15, 30),
            help="Alternating least-squares sweeps over learners and courses",
            log=True,
        ),
        HyperParam("seed", "int", 0, low=0, high=2**31 - 1, role="seed", help="Seed of the initial factors"),
    )

    def __init__(
        self,
        factors: int = 64,
        regularization: float | str = "auto",
        alpha: float = 20.0,
        iterations: int = 15,
        seed: int = 0,
    ):
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.seed = seed

    def _fit(self, dataset, progress) -> None:
        from implicit.cpu.als import AlternatingLeastSquares

        C = confidence_matrix(dataset.matrix, float(self.alpha))
        self.enrolments_ = np.bincount(C.indices, minlength=C.shape[1]).astype(np.float64)
        self.regularization_ = float(
            self.param_spec()["regularization"].resolve(
                self.regularization, lambda: per_root_enrolment(REGULARIZATION_PER_ROOT, C)
            )
        )
        model = AlternatingLeastSquares(
            factors=int(self.factors),
            regularization=self.regularization_,
            alpha=1.0,
            iterations=int(self.iterations),
            random_state=int(self.seed),
            calculate_training_loss=False,
        )
        report = epoch_callback(progress, int(self.iterations), "ALS")

        def callback(iteration, *rest):
            if report:
                report(iteration, *rest)
            if self._wants_checkpoints() and iteration + 1 < int(self.iterations):  # tuning scores it after this sweep
                self._set_factors(model.item_factors)
                self._checkpoint_reached(iteration + 1)

        model.fit(C, show_progress=False, callback=callback)
        self._set_factors(model.item_factors)

    def _set_factors(self, item_factors) -> None:
        self.item_factors_ = np.asarray(item_factors, dtype=np.float64)
        self.gram_ = self.item_factors_.T @ self.item_factors_  # Y^T Y, shared by every fold-in

    def user_factors(self, histories) -> np.ndarray:
        """Folded-in factors for history rows (the library's recalculate_user, batched)."""
        H = self._check_histories(histories)
        return als_fold_in(
            binary_float32(H), self.item_factors_, self.regularization_, float(self.alpha), gram=self.gram_
        )

    def score_histories(self, histories) -> np.ndarray:
        return self.user_factors(histories) @ self.item_factors_.T

    def course_closeness(self, items) -> np.ndarray:
        """Dislikes: cosine of the learned course factors."""
        return cosine_rows(self.item_factors_, items)

    def explain(self, history, items) -> list[str]:
        items = np.asarray(items, dtype=np.int64)
        taken, contrib = als_contributions(
            binary_float32(history),
            self.item_factors_,
            self.regularization_,
            float(self.alpha),
            items,
            gram=self.gram_,
        )
        titles = self.catalogue_["TITLE"].astype(str).to_numpy()
        return taste_reasons(taken, contrib, items, titles, self.enrolments_)
