"""Popularity: rank courses by how many learners took them -- the baseline every model must beat."""

from __future__ import annotations

import numpy as np

from recsys.models.base import Recommender
from recsys.models.params import HyperParam


class PopularityRecommender(Recommender):
    """Scores every course by its enrolment count (optionally counting an audit as half a completion)."""

    key = "popularity"
    label = "Popularity"
    description = "Most-enrolled courses first; the same list for everyone (minus what they took)."
    hyperparams = (
        HyperParam(
            "weight_completions",
            "bool",
            False,
            help="Count a completion as 1 and an audit as 0.5 instead of counting every enrolment as 1",
        ),
    )

    def __init__(self, weight_completions: bool = False):
        self.weight_completions = weight_completions

    def _fit(self, dataset, progress) -> None:
        m = dataset.matrix
        counts = np.bincount(m.indices, minlength=dataset.n_items).astype(np.float64)
        self.enrolments_ = counts
        if self.weight_completions:
            completed = np.bincount(
                m.indices, weights=(m.data >= dataset.rating_scale[1]).astype(float), minlength=dataset.n_items
            )
            self.popularity_ = completed + 0.5 * (counts - completed)
        else:
            self.popularity_ = counts

    def score_histories(self, histories) -> np.ndarray:
        self._check_fitted()
        return np.broadcast_to(self.popularity_, (histories.shape[0], len(self.popularity_))).copy()

    def explain(self, history, items) -> list[str]:
        return [f"popular: {int(self.enrolments_[i]):,} learners enrolled" for i in items]
