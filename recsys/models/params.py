"""Hyperparameter declarations: one spec per parameter, read by the UI, the CLI and tuning alike.

A numeric parameter whose good value depends on the size of the data (a penalty that competes with counts of
enrolments) can declare `auto`: the one-line rule the model applies in `fit` when the value is the string
"auto". Such a parameter keeps its numeric range (low / high / log) for widgets and tuning; "auto" is one more
accepted value, and an explicit number is always used exactly as given.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

KINDS = ("int", "float", "choice", "bool", "mapping")
"""`mapping`: a JSON object of settings (e.g. the hybrid's member parameters): set by code or `--param` as JSON,
never drawn as a widget nor searched."""
AUTO = "auto"
"""The value of a parameter with an `auto` rule that asks the model to choose it from the data in `fit`."""
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
    auto: str = ""  # int/float only: the rule `fit` applies for the value "auto" (empty = "auto" not accepted)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.auto and self.kind not in ("int", "float"):
            raise ValueError(f"{self.name}: only int and float parameters can have an auto rule")
        if self.default == AUTO and not self.auto:
            raise ValueError(f"{self.name}: the default 'auto' needs an auto rule")
        if self.role not in ROLES:
            raise ValueError(f"{self.name}: role must be one of {ROLES}, got {self.role!r}")
        for value in self.tune_grid:
            self.validate(value)

    @property
    def allows_auto(self) -> bool:
        """True when "auto" (chosen from the data in fit) is an accepted value."""
        return bool(self.auto)

    def is_auto(self, value: Any) -> bool:
        """True when `value` asks for the data-derived value (only for parameters with an auto rule)."""
        return self.allows_auto and isinstance(value, str) and value.strip().lower() == AUTO

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
        if self.is_auto(value):
            return AUTO
        try:
            number = float(value)
        except (TypeError, ValueError):
            what = "an integer" if self.kind == "int" else "a number"
            raise ValueError(
                f"parameter '{self.name}' expects {what}{' or auto' if self.allows_auto else ''}, got {value!r}"
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
            "auto": self.auto,
        }

    def typical(self) -> Any:
        """A number to show for a parameter whose default is "auto" (the middle of its tuning grid, else low)."""
        if not self.is_auto(self.default):
            return self.default
        grid = [v for v in self.grid() if not self.is_auto(v)]
        if grid:
            return grid[len(grid) // 2]
        return self.low if self.low is not None else 0.0

    def resolve(self, value: Any, rule) -> Any:
        """The number actually used: `value` itself when it is a number, else `rule()` (the data-derived
        value), clipped to [low, high] and coerced to this parameter's kind."""
        if not self.is_auto(value):
            return value
        number = float(rule())
        if self.low is not None:
            number = max(number, float(self.low))
        if self.high is not None:
            number = min(number, float(self.high))
        return int(round(number)) if self.kind == "int" else number


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
