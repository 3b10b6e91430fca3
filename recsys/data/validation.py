"""Checks of one recommendation request (history, k, liked/disliked/exclude lists, filters) before any scoring.

Why: a library caller passing `None`, a course id string instead of a list, a NaN or 1e308 rating or a filter
with a typo used to get an empty list or a message about something else ("unknown course id(s): M, L, 0").
Each check raises one ValueError that names the argument and says what was expected. The functions work on
plain values and a catalogue, so the serving code can call them wherever it lives.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

from recsys.data.dataset import LEVELS
from recsys.data.loader import RATING_RANGE

FILTER_KEYS = ("genres", "levels", "max_duration")


def _is_text(value) -> bool:
    return isinstance(value, (str, bytes, bytearray))


def check_history(history, max_rating: float = RATING_RANGE[1]) -> None:
    """`history` is a mapping course id -> finite rating of magnitude at most `max_rating` (the loader's bound
    for safe arithmetic; a model's own rating scale is not the data's, e.g. implicit-feedback models store
    (0, 1)) or an iterable of course ids -- never None, a string or a number."""
    if history is None:
        raise ValueError("history: expected a list of course ids or a mapping course id -> rating, got None")
    if _is_text(history):
        shown = str(history)[:40]
        raise ValueError(
            f"history: expected a list of course ids, got the string {shown!r}; "
            f"pass a list, e.g. [{shown!r}], or a mapping course id -> rating"
        )
    if isinstance(history, Mapping):
        for course, rating in history.items():
            _check_rating(course, rating, max_rating)
        return
    if not isinstance(history, Iterable):
        raise ValueError(
            f"history: expected a list of course ids or a mapping course id -> rating, got {type(history).__name__}"
        )


def _check_rating(course, rating, max_rating: float) -> None:
    if isinstance(rating, bool) or not isinstance(rating, numbers.Real):
        try:
            value = float(rating)
        except (TypeError, ValueError):
            raise ValueError(f"history: the rating of {course!r} must be a number, got {rating!r}") from None
    else:
        value = float(rating)
    if not math.isfinite(value):
        raise ValueError(f"history: the rating of {course!r} must be a finite number, got {value}")
    if abs(value) > max_rating:
        raise ValueError(
            f"history: the rating of {course!r} is {value:g}; expected a rating of magnitude at most {max_rating:g}"
        )


def check_k(k) -> None:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"k: expected a positive integer (the list length), got {k!r}")


def check_course_list(name: str, values) -> None:
    """`liked`, `disliked`, `exclude`: an iterable of course ids (None means none), never one string."""
    if values is None:
        return
    if _is_text(values):
        raise ValueError(f"{name}: expected a list of course ids, got the string {str(values)[:40]!r}")
    if isinstance(values, Mapping) or not isinstance(values, Iterable):
        raise ValueError(f"{name}: expected a list of course ids, got {type(values).__name__}")


def check_filters(filters, genres: Iterable[str] = (), levels: Iterable[str] = LEVELS) -> None:
    """{genres: [...], levels: [...], max_duration: hours} with known keys, lists (not strings), known
    levels and a finite, non-negative duration."""
    if filters is None:
        return
    if not isinstance(filters, Mapping):
        raise ValueError(f"filters: expected a mapping like {{'levels': ['Beginner']}}, got {type(filters).__name__}")
    unknown = sorted(set(map(str, filters)) - set(FILTER_KEYS))
    if unknown:
        raise ValueError(f"filters: unknown filter(s) {', '.join(unknown)} (use {', '.join(FILTER_KEYS)})")
    known = {"genres": list(genres), "levels": list(levels)}
    for key in ("genres", "levels"):
        value: Any = filters.get(key)
        if value is None:
            continue
        if _is_text(value) or isinstance(value, Mapping) or not isinstance(value, Iterable):
            raise ValueError(
                f"filters['{key}']: expected a list, e.g. ['{known[key][0] if known[key] else '...'}'], "
                f"got {value!r:.60}"
            )
        bad = [v for v in value if not isinstance(v, str) or (known[key] and v not in known[key])]
        if bad:
            raise ValueError(
                f"filters['{key}']: unknown {key[:-1]}(s) {', '.join(map(repr, bad[:5]))} "
                f"(known: {', '.join(known[key])})"
            )
    duration = filters.get("max_duration")
    if duration is not None:
        try:
            hours = float(duration)
        except (TypeError, ValueError):
            raise ValueError(f"filters['max_duration']: expected a number of hours, got {duration!r:.60}") from None
        if isinstance(duration, bool) or not math.isfinite(hours) or hours < 0:
            raise ValueError(f"filters['max_duration']: expected a finite number of hours >= 0, got {duration!r}")


def check_request(
    history,
    k,
    *,
    liked=(),
    disliked=(),
    exclude=(),
    filters=None,
    genres: Iterable[str] = (),
) -> None:
    """Every argument of a recommendation request, each refused with a ValueError naming it."""
    check_history(history)
    check_k(k)
    for name, values in (("liked", liked), ("disliked", disliked), ("exclude", exclude)):
        check_course_list(name, values)
    check_filters(filters, genres)
