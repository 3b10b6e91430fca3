"""EASE^R (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019).

A course x course weight matrix B that reconstructs each learner's enrolments from their *other* enrolments,
learned in closed form on the binary enrolment matrix X:

    P = (X^T X + l2 I)^-1,    B = I - P diagMat(1 / diag(P))    (so diag(B) = 0)

A learner -- in the training data or brand new -- is scored as x B from their history row alone, so the
new-learner path is one sparse x dense product. Fitting costs one n_courses^2 Gram matrix and one inverse,
independent of how many learners there are beyond the sparse product.

Default penalty: `l2="auto"` is 0.44 x sqrt(training enrolments) (`l2_` holds the value used; an explicit
number is used as given). On the 34,000 built-in learners that is 200, the old fixed default (50-200 are
equally good there); on 1,000 learners it is ~35, where the fixed 200 loses ~0.04 NDCG@10. Rule and figures:
docs/defaults.md.
"""

from __future__ import annotations

import numpy as np

from recsys.models.base import Recommender
from recsys.models.params import HyperParam
from recsys.models.shared.data_scale import per_root_enrolment
from recsys.models.shared.item_weights import ItemWeightsRanker, enrolment_counts, enrolment_matrix

L2_PER_ROOT = 0.44
"""Auto l2 per sqrt(enrolment), anchored at the old default (200 at 34k built-in learners, 207k training
enrolments); the best l2 measured at 1k and 3k learners (~40; 20-80 within 0.003 NDCG@10) and on a 60-course
cut of 1k learners (20-40) lies on the same curve."""


def ease_weights(X, l2: float) -> np.ndarray:
    """The EASE^R weight matrix for a (learners x courses) binary matrix; dense n_courses x n_courses."""
    G = np.asarray((X.T @ X).todense(), dtype=np.float64)
    G[np.diag_indices_from(G)] += float(l2)
    P = np.linalg.inv(G)
    B = -P / np.diag(P)[None, :]
    B[np.diag_indices_from(B)] = 0.0
    return B


class EASERecommender(ItemWeightsRanker, Recommender):
    """Closed-form linear item-to-item model: score = history x B, B learned with an L2 penalty."""

    key = "ease"
    label = "EASE^R (linear item-item)"
    description = (
        "Learns, for every course, how much each other course predicts it (closed-form ridge "
        "regression on who took what); strong and fast on enrolment data."
    )
    hyperparams = (
        HyperParam(
            "l2",
            "float",
            "auto",
            low=0.1,
            high=100000.0,
            step=10.0,
            log=True,
            role="ranking",
            tune_grid=(20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 3000.0),
            help="L2 penalty lambda: larger shrinks the weights toward popularity-like smooth scores; auto = "
            f"{L2_PER_ROOT} x sqrt(training enrolments)",
            auto=f"{L2_PER_ROOT} x sqrt(training enrolments)",
        ),
    )

    def __init__(self, l2: float | str = "auto"):
        self.l2 = l2

    def _fit(self, dataset, progress) -> None:
        X = enrolment_matrix(dataset.matrix)
        if progress:
            progress(0.1, "Gram matrix X^T X")
        self.enrolments_ = enrolment_counts(X)
        self.l2_ = float(self.param_spec()["l2"].resolve(self.l2, lambda: per_root_enrolment(L2_PER_ROOT, X)))
        if progress:
            progress(0.5, f"inverting the {X.shape[1]} x {X.shape[1]} regularised Gram matrix")
        self.weights_ = ease_weights(X, self.l2_)
