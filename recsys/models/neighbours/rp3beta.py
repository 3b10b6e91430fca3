"""RP3beta (Paudel et al., "Updatable, accurate, diverse, and scalable recommendations for interactive
applications", ACM TiiS 2017; the strong baseline of Dacrema et al. 2019).

Course-to-course weights from a three-step random walk course -> learner -> course on the enrolment graph,
with each transition probability raised to `alpha` and the destination's popularity discounted by `beta`:

    W_ij = sum_u  P(u | i)^alpha  P(j | u)^alpha  /  pop_j^beta,     P(u | i) = 1/pop_i,  P(j | u) = 1/deg_u

(on the binary enrolment matrix, so the sum is one weighted Gram product X^T diag(deg^-alpha) X). The
diagonal is zeroed and each course optionally keeps only its `top_k` strongest neighbours. A learner is
scored as x W from their history row, like any item-to-item model.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from recsys.models.base import Recommender
from recsys.models.params import HyperParam
from recsys.models.shared.item_weights import ItemWeightsRanker, enrolment_counts, enrolment_matrix


def _safe_power(values: np.ndarray, exponent: float) -> np.ndarray:
    """values ** exponent with 0 where the value is 0 (a course nobody took has no walk through it)."""
    out = np.zeros_like(values, dtype=np.float64)
    positive = values > 0
    out[positive] = values[positive] ** exponent
    return out


def rp3beta_weights(X, alpha: float, beta: float, top_k: int = 0) -> np.ndarray:
    """Dense course x course RP3beta weights for a binary (learners x courses) matrix."""
    X = sparse.csr_matrix(X, dtype=np.float64)
    degree = np.diff(X.indptr).astype(np.float64)  # courses per learner
    popularity = enrolment_counts(X)  # learners per course
    walk = X.T @ sparse.diags(_safe_power(degree, -alpha)) @ X  # sum_u X_ui X_uj deg_u^-alpha
    W = np.asarray(walk.todense(), dtype=np.float64)
    W *= _safe_power(popularity, -alpha)[:, None]  # P(u | i)^alpha
    W *= _safe_power(popularity, -beta)[None, :]  # destination popularity discount
    np.fill_diagonal(W, 0.0)
    if top_k and top_k < W.shape[1]:
        drop = np.argpartition(-W, top_k, axis=1)[:, top_k:]
        np.put_along_axis(W, drop, 0.0, axis=1)
    return W


class RP3betaRecommender(ItemWeightsRanker, Recommender):
    """Random-walk item-to-item model with a popularity penalty: score = history x W."""

    key = "rp3beta"
    label = "RP3beta (random-walk item-item)"
    description = (
        "Follows course -> learner -> course steps on who took what and damps very popular courses, "
        "so it surfaces courses your fellow learners took next, not only the bestsellers."
    )
    hyperparams = (
        HyperParam(
            "alpha",
            "float",
            0.8,
            low=0.0,
            high=2.0,
            step=0.05,
            role="ranking",
            tune_grid=(0.4, 0.6, 0.8, 1.0, 1.2),
            help="Exponent on each transition probability (1 = plain random walk; lower flattens it)",
        ),
        HyperParam(
            "beta",
            "float",
            0.3,
            low=0.0,
            high=1.0,
            step=0.05,
            role="ranking",
            tune_grid=(0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6),
            help="Popularity penalty on the recommended course (0 = none; higher = more niche courses)",
        ),
        HyperParam(
            "top_k",
            "int",
            0,
            low=0,
            high=5000,
            step=10,
            role="ranking",
            tune_grid=(0, 20, 50, 100),
            help="Keep only each course's top-k neighbours (0 = keep all)",
        ),
    )

    def __init__(self, alpha: float = 0.8, beta: float = 0.3, top_k: int = 0):
        self.alpha = alpha
        self.beta = beta
        self.top_k = top_k

    def _fit(self, dataset, progress) -> None:
        X = enrolment_matrix(dataset.matrix)
        if progress:
            progress(0.1, "random-walk weights X^T D^-alpha X")
        self.enrolments_ = enrolment_counts(X)
        self.weights_ = rp3beta_weights(X, float(self.alpha), float(self.beta), int(self.top_k))
