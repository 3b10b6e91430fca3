"""Clustering after PCA: the same k-means recommender, run on the principal components of the profiles.

Genre interests are correlated (Python with DataScience, Containers with CloudComputing), so a few
components carry most of the variance; clustering there removes noise dimensions and is cheaper.
Everything else -- assignment, cluster shares, reasons -- is inherited from `clustering`.
"""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA

from recsys.models.content.clustering import CLUSTER_PARAMS, SMALL_BATCH, ClusteringRecommender
from recsys.models.params import HyperParam


class ClusteringPCARecommender(ClusteringRecommender):
    """StandardScaler -> PCA (fixed count or variance share) -> k-means -> cluster course shares."""

    key = "clustering_pca"
    label = "Clustering + PCA"
    description = (
        "Like clustering, but groups learners on the main directions of their genre interests "
        "(principal components) instead of all genres."
    )
    param_conditions = {
        **ClusteringRecommender.param_conditions,
        "n_components": ("pca_mode", ("n_components",)),
        "variance_share": ("pca_mode", ("variance_share",)),
    }
    hyperparams = CLUSTER_PARAMS + (
        HyperParam(
            "pca_mode",
            "choice",
            "variance_share",
            choices=("variance_share", "n_components"),
            help="Keep the fewest components explaining `variance_share` of the variance, or exactly `n_components`",
        ),
        HyperParam(
            "n_components",
            "int",
            8,
            tune_grid=(4, 6, 8, 10),
            low=1,
            high=50,
            step=1,
            help="Number of principal components when pca_mode is n_components (at most the number of genres)",
        ),
        HyperParam(
            "variance_share",
            "float",
            0.9,
            tune_grid=(0.8, 0.9, 0.95),
            low=0.3,
            high=0.99,
            step=0.01,
            help="Share of profile variance the kept components must explain when pca_mode is variance_share",
        ),
    )

    def __init__(
        self,
        n_clusters: int = 20,
        n_init: int = 2,
        max_fit_learners: int = 200_000,
        auto_weight: bool = True,
        popularity_weight: float = 0.6,
        seed: int = 0,
        pca_mode: str = "variance_share",
        n_components: int = 8,
        variance_share: float = 0.9,
    ):
        super().__init__(
            n_clusters=n_clusters,
            n_init=n_init,
            max_fit_learners=max_fit_learners,
            auto_weight=auto_weight,
            popularity_weight=popularity_weight,
            seed=seed,
        )
        self.pca_mode = pca_mode
        self.n_components = n_components
        self.variance_share = variance_share

    def _fit_space(self, features: np.ndarray) -> None:
        if self.pca_mode == "n_components":
            if self.n_components > features.shape[1]:
                raise ValueError(
                    f"n_components={self.n_components} is more than the {features.shape[1]} genre "
                    f"features; use at most {features.shape[1]}"
                )
            target = int(self.n_components)
        else:
            target = float(self.variance_share)
        self.pca_ = PCA(n_components=target, svd_solver="full", random_state=int(self.seed)).fit(features)
        self.explained_variance_ratio_ = self.pca_.explained_variance_ratio_
        self.n_components_ = int(self.pca_.n_components_)

    def diagnostics(self) -> dict:
        return {**super().diagnostics(), "explained_variance": self.explained_variance_ratio_}

    def _to_space(self, features: np.ndarray) -> np.ndarray:
        if len(features) <= SMALL_BATCH and not self.pca_.whiten:  # PCA.transform's arithmetic, without validation
            projected = features @ self.pca_.components_.T
            projected -= np.reshape(self.pca_.mean_, (1, -1)) @ self.pca_.components_.T
            return projected
        return self.pca_.transform(features)

    def _from_space(self, points: np.ndarray) -> np.ndarray:
        return self.pca_.inverse_transform(points)
