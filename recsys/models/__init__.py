"""Model zoo: recommender families in sub-packages (baseline, content, neighbours, factorization, neural),
all behind `recsys.models.base.Recommender`, built through the one factory in `recsys.models.registry`."""

from __future__ import annotations

from recsys.models.base import NotFittedError, Recommender
from recsys.models.params import HyperParam
from recsys.models.persistence import ArtifactError, load_model, save_model
from recsys.models.registry import (
    MODEL_KEYS,
    REGISTRY,
    ModelAvailability,
    ModelUnavailableError,
    UnknownModelError,
    available_keys,
    available_models,
    make_model,
    model_class,
    require_available,
)

__all__ = [
    "REGISTRY",
    "MODEL_KEYS",
    "make_model",
    "available_models",
    "available_keys",
    "require_available",
    "ModelAvailability",
    "ModelUnavailableError",
    "model_class",
    "load_model",
    "save_model",
    "Recommender",
    "HyperParam",
    "ArtifactError",
    "NotFittedError",
    "UnknownModelError",
]
