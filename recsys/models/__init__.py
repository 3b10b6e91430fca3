"""Model zoo: one recommender family per module, all behind `recsys.models.base.Recommender`.

`REGISTRY` maps a model key to its class. Modules are imported on first use, so importing `recsys.models`
stays cheap (TensorFlow in particular is only imported by the neural models when they fit or load).
"""
from __future__ import annotations

import importlib
from collections.abc import Mapping

from recsys.models.base import ArtifactError, NotFittedError, Recommender, load_model
from recsys.models.params import HyperParam

_LOCATIONS = {
    "popularity": "recsys.models.popularity:PopularityRecommender",
    "user_profile": "recsys.models.user_profile:UserProfileRecommender",
    "course_similarity": "recsys.models.course_similarity:CourseSimilarityRecommender",
    "clustering": "recsys.models.clustering:ClusteringRecommender",
    "clustering_pca": "recsys.models.clustering_pca:ClusteringPCARecommender",
    "knn": "recsys.models.knn:KNNRecommender",
    "nmf": "recsys.models.nmf:NMFRecommender",
    "neural": "recsys.models.neural:NeuralRecommender",
    "embedding_regression": "recsys.models.embedding_regression:EmbeddingRegressionRecommender",
    "embedding_classifier": "recsys.models.embedding_classifier:EmbeddingClassifierRecommender",
}


class _Registry(Mapping):
    """key -> model class, importing each module on first access."""

    def __init__(self, locations: dict[str, str]):
        self._locations = dict(locations)
        self._classes: dict[str, type[Recommender]] = {}

    def __getitem__(self, key: str) -> type[Recommender]:
        if key not in self._locations:
            raise KeyError(key)
        if key not in self._classes:
            module, name = self._locations[key].split(":")
            self._classes[key] = getattr(importlib.import_module(module), name)
        return self._classes[key]

    def __iter__(self):
        return iter(self._locations)

    def __len__(self) -> int:
        return len(self._locations)


REGISTRY: Mapping[str, type[Recommender]] = _Registry(_LOCATIONS)
MODEL_KEYS = tuple(_LOCATIONS)


def make_model(key: str, **params) -> Recommender:
    """Build a model by registry key, validating parameter names and values against its spec."""
    if key not in REGISTRY:
        raise ValueError(f"unknown model '{key}' (known: {', '.join(MODEL_KEYS)})")
    cls = REGISTRY[key]
    return cls(**cls.validate_params(params))


__all__ = ["REGISTRY", "MODEL_KEYS", "make_model", "load_model", "Recommender", "HyperParam",
           "ArtifactError", "NotFittedError"]
