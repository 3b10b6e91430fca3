"""The learner being served on the Recommend page: picked courses plus thumbs feedback (session only).

Kept as plain data (dicts in `st.session_state`) so it is per browser session and never written to disk.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable


@dataclass
class LearnerState:
    """`history`: course id -> rating (picked, loaded from a sample learner); `feedback`: id -> 'up' | 'down'."""

    fingerprint: str
    history: dict[str, float] = field(default_factory=dict)
    feedback: dict[str, str] = field(default_factory=dict)
    origin: str = "your picks"

    def combined(self, scale: tuple[float, float]) -> dict[str, float]:
        """History used for scoring: picks, then liked courses at the top and disliked at the bottom of the scale."""
        out = dict(self.history)
        for cid, vote in self.feedback.items():
            out[cid] = scale[1] if vote == "up" else scale[0]
        return out

    def disliked(self) -> list[str]:
        return [cid for cid, vote in self.feedback.items() if vote == "down"]

    def vote(self, course_id: str, vote: str) -> None:
        if vote not in ("up", "down"):
            raise ValueError(f"vote must be 'up' or 'down', got {vote!r}")
        self.feedback[str(course_id)] = vote

    def reconcile(self, visible: Iterable[str], selected: Iterable[str], top: float) -> bool:
        """Apply a table selection made on the `visible` (filtered) rows; courses not visible keep their state.

        Returns True if the history changed.
        """
        visible, selected = [str(v) for v in visible], {str(s) for s in selected}
        changed = False
        for cid in visible:
            if cid in selected and cid not in self.history:
                self.history[cid] = top
                changed = True
            elif cid not in selected and cid in self.history:
                del self.history[cid]
                changed = True
        return changed

    def set_picks(self, ids: Iterable[str], top: float) -> None:
        """Replace the picked courses by `ids` (keeping known ratings)."""
        self.history = {str(i): self.history.get(str(i), top) for i in ids}

    def load(self, history: dict[str, float], origin: str) -> None:
        self.history = {str(k): float(v) for k, v in history.items()}
        self.feedback = {}
        self.origin = origin
