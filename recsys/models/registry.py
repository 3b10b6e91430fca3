"""The one model registry and factory: every model key, where its class lives, and how to build it.

Modules are imported on first use, so importing `recsys.models` stays cheap (TensorFlow in particular is only
imported by the neural models when they fit or load). A model module that fails to import raises -- a broken
model never silently disappears from the app, the CLI or the tests.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from recsys.models.base import Recommender

# key -> "module:Class". The family is the sub-package (see ARCHITECTURE.md); a new model adds one line here.
LOCATIONS: dict[str, str] = {
    "popularity": "recsys.models.baseline.popularity:PopularityRecommender",
    "user_profile": "recsys.models.content.user_profile:UserProfileRecommender",
    "course_similarity": "recsys.models.content.course_similarity:CourseSimilarityRecommender",
    "clustering": "recsys.models.content.clustering:ClusteringRecommender",
    "clustering_pca": "recsys.models.content.clustering_pca:ClusteringPCARecommender",
    "knn": "recsys.models.neighbours.knn:KNNRecommender",
    "nmf": "recsys.models.factorization.nmf:NMFRecommender",
    "spark_als": "recsys.models.factorization.spark_als:SparkALSRecommender",
    "neural": "recsys.models.neural.recommender:NeuralRecommender",
    "embedding_regression": "recsys.models.neural.embedding_regression:EmbeddingRegressionRecommender",
    "embedding_classifier": "recsys.models.neural.embedding_classifier:EmbeddingClassifierRecommender",
    "ease": "recsys.models.linear.ease:EASERecommender",
    "rp3beta": "recsys.models.neighbours.rp3beta:RP3betaRecommender",
    "als": "recsys.models.factorization.als:ALSRecommender",
    "bpr": "recsys.models.factorization.bpr:BPRRecommender",
    "hybrid": "recsys.models.ensemble.hybrid:HybridRecommender",
}


class UnknownModelError(KeyError, ValueError):
    """A model key that is not in the registry. A ValueError too, so callers reporting bad input catch it."""

    def __init__(self, key: object):
        super().__init__(f"unknown model '{key}' (known: {', '.join(LOCATIONS)})")

    def __str__(self) -> str:
        return str(self.args[0])


class _Registry(Mapping):
    """key -> model class, importing each module on first access."""

    def __init__(self, locations: dict[str, str]):
        self._locations = locations
        self._classes: dict[str, type[Recommender]] = {}

    def __getitem__(self, key: str) -> type[Recommender]:
        if key not in self._locations:
            raise UnknownModelError(key)
        if key not in self._classes:
            module, name = self._locations[key].split(":")
            self._classes[key] = getattr(importlib.import_module(module), name)
        return self._classes[key]

    def __iter__(self):
        return iter(self._locations)

    def __len__(self) -> int:
        return len(self._locations)


REGISTRY: Mapping[str, type[Recommender]] = _Registry(LOCATIONS)
MODEL_KEYS: tuple[str, ...] = tuple(LOCATIONS)


def model_class(key: str) -> type[Recommender]:
    """The class registered under `key`; UnknownModelError for any other key."""
    return REGISTRY[key]


def make_model(key: str, seed: int | None = None, **params: Any) -> Recommender:
    """Build a model by registry key, validating parameter names and values against its spec.

    `seed` goes to the model's seed parameter (the one declared with role "seed"); models without randomness
    ignore it. Callers with a default seed and user parameters write `make_model(key, **{"seed": s, **params})`
    so that a seed the user set explicitly wins. This is the only place that knows how seeds reach models.
    """
    cls = model_class(key)
    seed_name = cls.seed_param()
    if seed is not None and seed_name is not None and seed_name not in params:
        params = {**params, seed_name: seed}
    return cls(**cls.validate_params(params))
