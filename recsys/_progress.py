"""The progress callback every long task takes, and the one way to nest a part of a task inside another."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[float, str], None]
"""Progress callback: fraction done in [0, 1] and a short message (e.g. 'epoch 3/10: loss 0.21')."""


def sub_progress(progress: Progress | None, start: float, width: float, prefix: str = "") -> Progress | None:
    """Map a part's own 0..1 onto [start, start + width] of `progress`, prefixing its messages (None stays None)."""
    if progress is None:
        return None

    def report(fraction: float, message: str = "") -> None:
        fraction = min(max(float(fraction), 0.0), 1.0)
        progress(start + width * fraction, f"{prefix}: {message}" if message and prefix else message or prefix)

    return report
