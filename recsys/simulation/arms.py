"""Arms for online experiments: models named and labelled like the Compare page names them, then fitted."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from recsys.simulation.abtest import Arm

LETTERS = "ABCD"


def arm_names(models: Sequence[tuple[str, Mapping[str, Any]]], seed: int = 0) -> list[str]:
    """'A: Popularity', 'B: KNN (k=20)' ... -- the letter keeps repeated models apart (A/A tests)."""
    from recsys.evaluation.specs import resolve_models

    specs = resolve_models([(key, dict(params)) for key, params in models], seed)
    return [f"{LETTERS[i]}: {spec.label}" for i, spec in enumerate(specs)]


def build_arms(
    models: Sequence[tuple[str, Mapping[str, Any]]], fit: Callable[[str, dict], Any], seed: int = 0
) -> list[Arm]:
    """(key, params) pairs -> Arms with fitted models; `fit(key, params)` returns a fitted model (the app
    passes its model store, the CLI fits directly). The first arm is the control."""
    if not 2 <= len(models) <= 4:
        raise ValueError(f"an A/B test needs 2 to 4 arms, got {len(models)}")
    names = arm_names(models, seed)
    return [Arm(name, fit(key, dict(params))) for name, (key, params) in zip(names, models)]
