"""Which models a comparison runs: keys, (key, params) pairs or instances turned into named, unfitted models.

Resolution happens before any data is read, so an unknown key or a bad parameter fails at once, and a model
that declares a seed parameter gets the run's seed unless one was given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sklearn.base import clone

from recsys._json import to_jsonable


@dataclass
class ModelSpec:
    """One model to evaluate: a unique `name` (key, or key#2 for a repeated key), label and an unfitted model."""

    name: str
    key: str
    label: str
    model: Any  # unfitted Recommender
    given: dict[str, Any] = field(default_factory=dict)  # parameters the caller set (a tuned comparison keeps them)

    @property
    def params(self) -> dict[str, Any]:
        return to_jsonable(self.model.get_params())


def format_params(params: Mapping[str, Any]) -> str:
    """'k=20, similarity=cosine' (empty string for none)."""
    return ", ".join(f"{k}={v}" for k, v in params.items())


def resolve_models(models, seed: int = 0) -> list[ModelSpec]:
    """Turn keys, (key, params) pairs or Recommender instances into named, validated, unfitted models.

    A model whose spec declares `random_state`/`seed` gets the experiment seed unless it was given.
    Unknown keys or parameters raise ValueError.
    """
    from recsys.models import Recommender, make_model

    if isinstance(models, (str, Recommender)) or (
        isinstance(models, tuple) and len(models) == 2 and isinstance(models[0], str) and isinstance(models[1], Mapping)
    ):
        models = [models]
    models = list(models)
    if not models:
        raise ValueError("no models to evaluate: give at least one model key")
    built = []
    for entry in models:
        if isinstance(entry, Recommender):
            model, explicit = clone(entry), set(entry.get_params())
        else:
            if isinstance(entry, str):
                key, params = entry, {}
            elif isinstance(entry, (tuple, list)) and len(entry) == 2 and isinstance(entry[1], Mapping):
                key, params = entry[0], dict(entry[1])
            else:
                raise ValueError(f"cannot read model {entry!r}: use a key, (key, params) or a Recommender")
            model, explicit = make_model(key, **{"seed": seed, **params}), set(params)
        cls = type(model)
        defaults = {p.name: p.default for p in cls.hyperparams}
        shown = {
            k: v
            for k, v in model.get_params().items()
            if k in explicit and k != cls.seed_param() and defaults.get(k, object()) != v
        }
        label = (cls.label or cls.key) + (f" ({format_params(shown)})" if shown else "")
        given = {k: v for k, v in model.get_params().items() if k in explicit and k != cls.seed_param()}
        built.append(ModelSpec(cls.key, cls.key, label, model, given))
    seen: dict[str, int] = {}
    for spec in built:
        seen[spec.key] = seen.get(spec.key, 0) + 1
        if seen[spec.key] > 1:
            spec.name = f"{spec.key}#{seen[spec.key]}"
    return built
