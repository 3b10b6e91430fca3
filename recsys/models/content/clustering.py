"""Clustering: group learners by their genre profiles (k-means) and recommend what their group takes.

A learner -- new or known -- is assigned to the nearest centroid from their history profile, and a course
scores by the share of that cluster's members who took it, blended with the share of all learners who took
it: hard clusters are coarse (a learner between two interest groups gets only one), and the global share
keeps the well-attended courses of neighbouring interests in the list. Profiles are L2-normalised before
standardizing, which gave balanced clusters (L1 shares or raw sums left one cluster with ~40% of learners).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler

from recsys.models.content.profiles import BlendParts, ContentRecommender, blend_params, genre_profiles, top_genres
from recsys.models.params import HyperParam

# A served learner (a batch this small) is mapped with numpy instead of sklearn's transform/predict, whose
# input validation costs ~1 ms per call; same arithmetic, so the same cluster.
SMALL_BATCH = 16

CLUSTER_PARAMS = (
    HyperParam(
        "n_clusters",
        "int",
        20,
        tune_grid=(5, 10, 20, 30),
        low=2,
        high=50,
        step=1,
        help="Number of learner groups k-means looks for",
        log=True,
    ),
    HyperParam(
        "n_init",
        "int",
        2,
        tune_grid=(1, 2, 5),
        low=1,
        high=10,
        step=1,
        help="k-means restarts; the best (lowest inertia) run is kept",
    ),
    HyperParam(
        "max_fit_learners",
        "int",
        200_000,
        tune_grid=(20_000, 50_000, 200_000),
        low=1_000,
        high=10_000_000,
        step=1_000,
        help="k-means is fitted on a seeded random sample of at most this many learners (all learners "
        "are then assigned); keeps fitting fast on millions of learners",
        role="resource",
    ),
    *blend_params(
        0.6,
        "the course's share inside your cluster",
        seed_help="k-means initialisation, the fit sample and the learners sampled to choose the weight",
    ),
)


class ClusteringRecommender(ContentRecommender):
    """k-means on standardized genre profiles; score = course share in the learner's cluster, blended with the global share."""

    key = "clustering"
    label = "Clustering (k-means)"
    description = "Groups learners with similar genre interests and recommends what learners in your group took most."
    hyperparams = CLUSTER_PARAMS

    def __init__(
        self,
        n_clusters: int = 20,
        n_init: int = 2,
        max_fit_learners: int = 200_000,
        auto_weight: bool = True,
        popularity_weight: float = 0.6,
        seed: int = 0,
    ):
        self.n_clusters = n_clusters
        self.n_init = n_init
        self.max_fit_learners = max_fit_learners
        self.auto_weight = auto_weight
        self.popularity_weight = popularity_weight
        self.seed = seed

    # ----- feature space (overridden by clustering_pca) ------------------------------------------
    def learner_features(self, histories) -> np.ndarray:
        """Standardized (L2-normalised) genre profiles, n x n_genres: the space to plot learners in (e.g. PCA)."""
        histories = self.check_histories(histories)
        profiles = genre_profiles(histories, self.genre_matrix_, self.top_rating_, norm="l2")
        if histories.shape[0] <= SMALL_BATCH and self.scaler_.with_mean and self.scaler_.with_std:
            standardized = np.array(profiles, copy=True)  # StandardScaler.transform's own arithmetic
            standardized -= self.scaler_.mean_
            standardized /= self.scaler_.scale_
            return standardized
        return self.scaler_.transform(profiles)

    def _fit_space(self, features: np.ndarray) -> None:
        """Fit the map from standardized profiles to the k-means space (identity here)."""

    def _to_space(self, features: np.ndarray) -> np.ndarray:
        return features

    def cluster_space(self, histories) -> np.ndarray:
        """Learners in the space k-means works in (standardized profiles here; PCA scores in clustering_pca)."""
        return self._to_space(self.learner_features(histories))

    def assign(self, histories) -> np.ndarray:
        """Cluster of each learner (nearest centroid), from their history rows."""
        points = self.cluster_space(histories)
        if len(points) <= SMALL_BATCH:  # k-means' own criterion: argmin of |c|^2 - 2 x.c
            centers = self.kmeans_.cluster_centers_
            distances = (centers * centers).sum(axis=1)[None, :] - 2.0 * (points @ centers.T)
            return np.argmin(distances, axis=1).astype(np.int64)
        return self.kmeans_.predict(points).astype(np.int64)

    # ----- fitting ----------------------------------------------------------------------------
    def _fit_content(self, dataset, progress) -> None:
        matrix = dataset.matrix
        n_users = matrix.shape[0]
        if n_users < self.n_clusters:
            raise ValueError(
                f"n_clusters={self.n_clusters} is more than the {n_users} learners in the data; lower n_clusters"
            )
        rng = np.random.default_rng(self.seed)
        sample = (
            np.sort(rng.choice(n_users, self.max_fit_learners, replace=False))
            if n_users > self.max_fit_learners
            else np.arange(n_users)
        )
        profiles = genre_profiles(matrix[sample], self.genre_matrix_, self.top_rating_, norm="l2")
        self.scaler_ = StandardScaler().fit(profiles)
        standardized = self.scaler_.transform(profiles)
        self._fit_space(standardized)
        if progress:
            progress(0.2, f"k-means on {len(sample):,} learners")
        self.kmeans_ = KMeans(
            n_clusters=int(self.n_clusters), n_init=int(self.n_init), random_state=int(self.seed)
        ).fit(self._to_space(standardized))
        if progress:
            progress(0.7, "assigning learners to clusters")
        labels = np.empty(n_users, dtype=np.int64)
        step = 200_000
        for lo in range(0, n_users, step):
            labels[lo : lo + step] = self.assign(matrix[lo : lo + step])
        self.labels_ = labels
        self.cluster_sizes_ = np.bincount(labels, minlength=int(self.n_clusters))
        self.cluster_centers_ = self.kmeans_.cluster_centers_
        taken = matrix.copy()
        taken.data = np.ones_like(taken.data)
        members = sparse.csr_matrix(
            (np.ones(n_users), (labels, np.arange(n_users))), shape=(int(self.n_clusters), n_users)
        )
        self.cluster_counts_ = np.asarray((members @ taken).todense(), dtype=np.float64)
        self.cluster_share_ = self.cluster_counts_ / np.maximum(self.cluster_sizes_, 1)[:, None]
        self.global_share_ = self.enrolments_ / n_users
        cold = self.cold_courses_
        if len(cold) and len(cold) < len(self.enrolments_):  # nobody took them: placed as `score_new_course` does
            self.cluster_share_[:, cold] = self.genre_share_estimate(self.genre_matrix_[cold])
            self.global_share_[cold] = self._popular_from_log(self.prior_[cold] * self.content_prior_["top"])
        # what characterises each cluster, for explanations: its centroid back in genre-profile terms
        centers = self.scaler_.inverse_transform(self._from_space(self.cluster_centers_))
        self.cluster_genres_ = np.clip(centers, 0.0, None)

    def _popular_from_log(self, logged: np.ndarray) -> np.ndarray:
        """Popularity part of clustering: the share of all learners, here of courses with these log-enrolments."""
        return np.expm1(logged) / max(1, len(self.labels_))

    def _place_cold_courses(self) -> None:
        """Also the global share of the courses nobody took, once the clusters exist (after the optimism)."""
        super()._place_cold_courses()
        cold = self.cold_courses_
        if hasattr(self, "global_share_") and len(cold) and self.content_prior_["top"] > 0:
            self.global_share_[cold] = self._popular_from_log(self.prior_[cold] * self.content_prior_["top"])

    def _from_space(self, points: np.ndarray) -> np.ndarray:
        """Inverse of `_to_space` (approximate for PCA), to describe centroids in genre terms."""
        return points

    # ----- scoring ----------------------------------------------------------------------------
    def diagnostics(self) -> dict:
        return {
            "cluster_sizes": self.cluster_sizes_,
            "learner_map": lambda histories: (self.learner_features(histories), self.assign(histories)),
        }

    def course_closeness(self, items) -> np.ndarray:
        """Dislikes: courses taken more than average by the same clusters are close (cosine of each course's
        per-cluster share minus its global share)."""
        lift = (self.cluster_share_ - self.global_share_[None, :]).T
        norms = np.linalg.norm(lift, axis=1)
        unit = lift / np.where(norms > 0, norms, 1.0)[:, None]
        return unit[np.asarray(items, dtype=np.int64)] @ unit.T

    def _parts(self, histories) -> BlendParts:
        return BlendParts(self.cluster_share_[self.assign(histories)], self.global_share_[None, :])

    def _calibration_parts(self, histories, users) -> BlendParts:
        """As `_parts`, but each sampled training learner's own enrolments are taken out of the shares of the
        cluster they were counted in, so choosing the weight does not reward a cluster for memorising them."""
        clusters = self.assign(histories)
        own = self.train_matrix_[users].astype(bool).astype(np.float64).toarray()
        same = (clusters == self.labels_[users])[:, None]
        counts = self.cluster_counts_[clusters] - same * own
        sizes = self.cluster_sizes_[clusters][:, None] - same
        n = len(self.labels_)
        popular = (self.enrolments_[None, :] - own) / max(1, n - 1)
        return BlendParts(counts / np.maximum(sizes, 1), popular)

    def genre_share_estimate(self, genres: np.ndarray) -> np.ndarray:
        """Cluster shares (clusters x courses) of courses nobody took yet, given their genre vectors (courses x
        genres): the cosine-weighted mean share of the enrolled courses with alike genres (0 without any)."""
        genres = np.atleast_2d(np.asarray(genres, dtype=np.float64))
        enrolled = np.flatnonzero(self.enrolments_ > 0)
        known = self.genre_matrix_[enrolled]
        norms = np.linalg.norm(known, axis=1)[:, None] * np.linalg.norm(genres, axis=1)[None, :]
        alike = np.where(norms > 0, (known @ genres.T) / np.where(norms > 0, norms, 1.0), 0.0)
        total = alike.sum(axis=0)
        shares = self.cluster_counts_[:, enrolled] / np.maximum(self.cluster_sizes_, 1)[:, None]
        return (shares @ alike) / np.where(total > 0, total, 1.0)

    def _new_course_parts(self, course, genres, histories, enrolments, prior) -> BlendParts:
        """Nobody in any cluster took the course yet, so its cluster share is estimated from the courses with
        the same genres (`genre_share_estimate`); the global share is `enrolments` / learners."""
        estimate = self.genre_share_estimate(genres)[:, 0]
        n = histories.shape[0]
        return BlendParts(estimate[self.assign(histories)], np.full(n, enrolments / len(self.labels_)))

    def _explain(self, history, items) -> list[str]:
        cluster = int(self.assign(history)[0])
        genres = top_genres(self.cluster_genres_[cluster], self.genres_, k=2)
        about = f", mostly {' and '.join(genres)}" if genres else ""
        reasons = []
        for i in items:
            share = self.cluster_counts_[cluster, i] / max(1, self.cluster_sizes_[cluster])
            if share >= 0.01:
                reasons.append(
                    f"popular with learners like you (cluster {cluster}{about}): {share:.0%} of them took it"
                )
            else:
                reasons.append(
                    f"{self._popular_reason(i)}; rarely taken yet by learners like you (cluster {cluster}{about})"
                )
        return reasons
