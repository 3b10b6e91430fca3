"""Hyperparameter declarations: one spec per parameter, read by the UI, the CLI and tuning alike."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

KINDS = ("int", "float", "choice", "bool", "mapping")
"""`mapping`: a JSON object of settings (e.g. the hybrid's member parameters): set by code or `--param` as JSON,
never drawn as a widget nor searched."""
ROLES = ("ranking", "rating", "both", "seed", "resource")
"""What a parameter changes: the ranked list, only predicted ratings, both, the random stream, or only the
compute spent (a cap such as the learners a clustering is fitted on; never searched by tuning)."""


@dataclass(frozen=True)
class HyperParam:
    """One hyperparameter: its kind, default, allowed range or choices, UI step and one-line help."""

    name: str
    kind: str
    default: Any
    help: str = ""
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: tuple = field(default_factory=tuple)
    log: bool = False  # suggest a log-spaced grid when tuning
    role: str = "both"
    tune_grid: tuple = ()  # the sensible values to try when tuning; empty = spread over [low, high]

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.role not in ROLES:
            raise ValueError(f"{self.name}: role must be one of {ROLES}, got {self.role!r}")
        for value in self.tune_grid:
            self.validate(value)

    @property
    def changes_ranking(self) -> bool:
        """False for parameters that only change predicted ratings (or only the seed)."""
        return self.role in ("ranking", "both")

    def validate(self, value: Any) -> Any:
        """Coerce `value` to this parameter's type or raise ValueError saying what was expected."""
        if self.kind == "mapping":
            return _mapping(self.name, value)
        if self.kind == "bool":
            if isinstance(value, (bool, np.bool_)):
                return bool(value)
            if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "false", "0", "no"):
                return value.strip().lower() in ("true", "1", "yes")
            raise ValueError(f"parameter '{self.name}' expects true or false, got {value!r}")
        if self.kind == "choice":
            for c in self.choices:
                if value == c or str(value).strip() == str(c):
                    return c
            raise ValueError(
                f"parameter '{self.name}' expects one of {', '.join(map(str, self.choices))}; got {value!r}"
            )
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(
                f"parameter '{self.name}' expects a{'n integer' if self.kind == 'int' else ' number'}, got {value!r}"
            ) from None
        if not np.isfinite(number):
            raise ValueError(f"parameter '{self.name}' expects a finite number, got {value!r}")
        if self.kind == "int":
            if number != int(number):
                raise ValueError(f"parameter '{self.name}' expects an integer, got {value!r}")
            number = int(number)
        if (self.low is not None and number < self.low) or (self.high is not None and number > self.high):
            raise ValueError(f"parameter '{self.name}' must be between {self.low} and {self.high}; got {value!r}")
        return number

    def grid(self, n: int = 5) -> list:
        """The declared sensible grid, else about `n` values spanning the declared range."""
        if self.tune_grid:
            return list(self.tune_grid)
        if self.kind == "mapping":
            return [self.default]
        if self.kind == "bool":
            return [False, True]
        if self.kind == "choice":
            return list(self.choices)
        lo, hi = self.low, self.high
        if lo is None or hi is None:
            return [self.default]
        if self.log and lo > 0:
            values = np.geomspace(lo, hi, n)
        else:
            values = np.linspace(lo, hi, n)
        if self.kind == "int":
            return sorted({int(round(v)) for v in values})
        return [float(f"{v:.4g}") for v in values]

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "default": self.default,
            "help": self.help,
            "low": self.low,
            "high": self.high,
            "step": self.step,
            "choices": list(self.choices),
            "log": self.log,
            "role": self.role,
            "tune_grid": list(self.tune_grid),
        }


def _mapping(name: str, value: Any) -> dict | None:
    """None, a dict, or a JSON object as text -> a dict with text keys (None stays None)."""
    if value is None or (isinstance(value, str) and value.strip() in ("", "none", "None", "{}")):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError(
                f'parameter \'{name}\' expects a JSON object such as {{"ease": {{"l2": 100}}}}, got {value!r}'
            ) from None
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ValueError(f"parameter '{name}' expects a mapping with text keys, got {value!r}")
    return dict(value) or None
