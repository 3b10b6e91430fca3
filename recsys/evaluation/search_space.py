"""Optuna search spaces generated from a model's `HyperParam` declarations -- the one source the widgets, the CLI
and the grid tuner already read, so a parameter is declared once and searched the same way everywhere.

The range searched for a number is the span of its declared `tune_grid` (the values someone who knows the model
would try) widened by one grid step on each side -- on the log scale for `log` parameters -- and clipped to the
declared `low`/`high`; without a grid, the declared `low`/`high`. Choices and booleans search their grid, else all
their values. Only parameters that change what is optimised are searched: `ranking`/`both` for a ranking metric,
`rating`/`both` for RMSE/MAE; `seed` and `resource` parameters (compute caps) never are. A parameter that applies
only under another's value (`param_conditions`, e.g. tree depth only for a tree estimator) is suggested only then.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from recsys.models.params import HyperParam

RANKING_ROLES = ("ranking", "both")
RATING_ROLES = ("rating", "both")


def searched_params(cls, rating_metric: bool = False, fixed: Mapping[str, Any] | None = None) -> list[HyperParam]:
    """The declared parameters a search varies, parents of conditional parameters first."""
    roles = RATING_ROLES if rating_metric else RANKING_ROLES
    fixed = fixed or {}
    params = [
        p for p in cls.hyperparams if p.role in roles and p.kind != "mapping" and p.name not in fixed and _has_room(p)
    ]
    conditions = getattr(cls, "param_conditions", {})
    ordered: list[HyperParam] = []
    pending = list(params)
    while pending:  # parents before children (conditions are one level deep, but order them robustly)
        progressed = False
        for p in list(pending):
            parent = conditions.get(p.name, (None,))[0]
            if parent is None or parent not in {q.name for q in pending}:
                ordered.append(p)
                pending.remove(p)
                progressed = True
        if not progressed:
            ordered += pending
            break
    return ordered


def _has_room(p: HyperParam) -> bool:
    if p.kind in ("bool", "choice"):
        return len(categorical_values(p)) > 1
    low, high = search_range(p)
    return high > low


def categorical_values(p: HyperParam) -> tuple:
    if p.kind == "bool":
        return tuple(p.tune_grid) or (False, True)
    return tuple(p.tune_grid) or tuple(p.choices)


def search_range(p: HyperParam) -> tuple[float, float]:
    """(low, high) searched for a numeric parameter (see the module docstring)."""
    grid = sorted(float(v) for v in p.tune_grid if not is_auto(v))
    low = -math.inf if p.low is None else float(p.low)
    high = math.inf if p.high is None else float(p.high)
    if len(grid) >= 2:
        if p.log and grid[0] > 0:
            ratio = (grid[-1] / grid[0]) ** (1.0 / (len(grid) - 1))
            lo, hi = grid[0] / ratio, grid[-1] * ratio
        else:
            width = (grid[-1] - grid[0]) / (len(grid) - 1)
            lo, hi = grid[0] - width, grid[-1] + width
    elif len(grid) == 1:
        lo = hi = grid[0]
    else:
        lo, hi = low, high
    lo, hi = max(lo, low), min(hi, high)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        default = lo if is_auto(p.default) else float(p.default)
        return default, default
    if p.kind == "int":
        lo, hi = math.ceil(lo), math.floor(hi)
    return lo, hi


def distribution(p: HyperParam, values: Sequence | None = None) -> BaseDistribution:
    """The Optuna distribution of one parameter; `values` (validated) restricts it to those values."""
    if values is not None:
        return CategoricalDistribution(tuple(values))
    if p.kind in ("bool", "choice"):
        return CategoricalDistribution(categorical_values(p))
    low, high = search_range(p)
    if p.kind == "int":
        low, high = int(low), int(high)
        if p.log and low >= 1:
            return IntDistribution(low, high, log=True)
        step = max(1, int(p.step or 1))
        if isinstance(p.default, int) and low <= p.default <= high:  # the grid passes through the default
            low = p.default - (p.default - low) // step * step
        high = low + (high - low) // step * step
        return IntDistribution(low, high, step=step)
    if p.log and low > 0:
        return FloatDistribution(low, high, log=True)
    return FloatDistribution(low, high)


def search_space(cls, rating_metric: bool = False, fixed: Mapping[str, Any] | None = None, restrict=None) -> dict:
    """{name: distribution} of every searched parameter (`restrict`: {name: [values]} to try only those)."""
    restrict = restrict or {}
    params = searched_params(cls, rating_metric, fixed)
    names = {p.name for p in params}
    out = {p.name: distribution(p, restrict.get(p.name)) for p in params}
    spec = cls.param_spec()
    for name, values in restrict.items():  # a restricted parameter is searched even if it would not be by default
        if name not in names and name not in (fixed or {}):
            out[name] = distribution(spec[name], values)
    return out


def applies(cls, name: str, chosen: Mapping[str, Any]) -> bool:
    """Whether `name` is used given the other values (`param_conditions`; undeclared = always)."""
    condition = getattr(cls, "param_conditions", {}).get(name)
    if not condition:
        return True
    other, allowed = condition
    return chosen.get(other, cls.param_spec()[other].default) in allowed


def suggest(
    trial, cls, space: Mapping[str, BaseDistribution], fixed: Mapping[str, Any] | None = None, defaults: bool = False
) -> dict:
    """Define-by-run: the trial's parameters (fixed ones included), skipping parameters that do not apply.

    `defaults`: the trial of the declared defaults. A parameter whose default is "auto" (chosen from the data in
    `fit`) is then left out, so the model applies its rule; the other defaults come from the enqueued trial."""
    chosen: dict[str, Any] = dict(fixed or {})
    spec = cls.param_spec()
    for name, dist in space.items():
        if not applies(cls, name, chosen):
            continue
        if defaults and is_auto(spec[name].default):
            continue
        chosen[name] = _suggest_one(trial, name, dist)
    return chosen


def is_auto(value: Any) -> bool:
    """The value "auto": the model chooses the number from the data when it fits."""
    return isinstance(value, str) and value.strip().lower() == "auto"


def _suggest_one(trial, name: str, dist: BaseDistribution):
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
    if isinstance(dist, FloatDistribution):
        return trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)
    return trial.suggest_categorical(name, dist.choices)


def grid_values(cls, space: Mapping[str, BaseDistribution], restrict=None) -> dict[str, list]:
    """The grid sampler's values per searched parameter: the restriction, else the declared `grid()`."""
    restrict = restrict or {}
    spec = cls.param_spec()
    out = {}
    for name, dist in space.items():
        if name in restrict:
            out[name] = list(restrict[name])
        elif isinstance(dist, CategoricalDistribution):
            out[name] = list(dist.choices)
        else:
            inside = [v for v in spec[name].grid() if dist.low <= v <= dist.high]
            out[name] = inside or [spec[name].default]
    return out


def combinations(space: Mapping[str, BaseDistribution]) -> int | None:
    """How many parameter combinations a space holds when every parameter is categorical (None otherwise)."""
    if not all(isinstance(d, CategoricalDistribution) for d in space.values()):
        return None
    return math.prod(len(d.choices) for d in space.values())


def describe(p: HyperParam) -> str:
    """'searched over 8.68 to 6,915 (log scale)' for a numeric parameter."""
    dist = distribution(p)
    if isinstance(dist, CategoricalDistribution):
        return "searched over " + ", ".join(map(str, dist.choices))
    scale = " (log scale)" if dist.log else ""
    return f"searched over {dist.low:,.4g} to {dist.high:,.4g}{scale}"
