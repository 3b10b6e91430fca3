"""One conversion to JSON-safe values, shared by artifacts' manifests, run history/--json output and benchmarks."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np


def to_jsonable(value):
    """Plain JSON types: numpy scalars/arrays unwrapped, NaN/inf -> None, paths -> str, anything else -> repr."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)
