"""The one model registry and factory: every model key, where its class lives, and how to build it.

Modules are imported on first use, so importing `recsys.models` stays cheap (TensorFlow in particular is only
imported by the neural models when they fit or load). A model module that fails to import raises -- a broken
model never silently disappears from the app, the CLI or the tests.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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


# key -> "module:function" returning why the model cannot run on this machine (None when it can). The check must
# be cheap: it imports no optional dependency and starts nothing (e.g. no JVM).
REQUIREMENTS: dict[str, str] = {
    "spark_als": "recsys.spark.session:unavailable_reason",
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


@dataclass(frozen=True)
class ModelAvailability:
    """Whether a model can run here; when it cannot, why (`reason`) and the command that fixes it (`install`)."""

    key: str
    available: bool
    reason: str = ""
    install: str = ""

    @property
    def note(self) -> str:
        """One line for a list of models: 'pyspark is not installed; install with: make spark'."""
        return f"{self.reason}; install with: {self.install}" if self.install else self.reason


class ModelUnavailableError(RuntimeError, ValueError):
    """A model whose optional dependency is missing; the message names the model, the reason and the fix."""


def _reason_for(key: str) -> str | None:
    where = REQUIREMENTS.get(key)
    if where is None:
        return None
    module, name = where.split(":")
    check: Callable[[], str | None] = getattr(importlib.import_module(module), name)
    return check()


def model_availability(key: str) -> ModelAvailability:
    """Availability of one model (UnknownModelError for an unknown key)."""
    if key not in LOCATIONS:
        raise UnknownModelError(key)
    text = _reason_for(key)
    if not text:
        return ModelAvailability(key, True)
    text = text.removeprefix("unavailable: ")
    reason, sep, install = text.partition("; install with: ")
    return ModelAvailability(key, False, reason.strip(), install.strip() if sep else "")


def available_models() -> list[ModelAvailability]:
    """Every registered model with its availability, in registry order. "All models" (the CLI's `--models all`,
    the Compare page's "Select all") means the available ones; the others are listed with their reason."""
    return [model_availability(key) for key in LOCATIONS]


def available_keys() -> list[str]:
    """Keys of the models that can run here: what "all models" means."""
    return [a.key for a in available_models() if a.available]


def require_available(key: str) -> None:
    """Raise ModelUnavailableError (a ValueError) naming the model, the reason and the install command."""
    info = model_availability(key)
    if not info.available:
        raise ModelUnavailableError(f"model '{key}' is unavailable: {info.note}")
