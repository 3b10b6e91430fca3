"""The learner being served on the Recommend page: picked courses plus thumbs feedback (session only).

Kept as plain data (dicts in `st.session_state`) so it is per browser session and never written to disk.
Completed courses, liked courses and "not for me" courses are kept apart because they mean different things
to a model (see `Recommender.recommend(history, liked=..., disliked=...)`): a like is positive evidence but
not a completion, a dislike is never an enrolment.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

VOTES = ("up", "down")


@dataclass
class LearnerState:
    """`history`: course id -> rating (picked, loaded from a sample learner); `feedback`: id -> 'up' | 'down'."""

    fingerprint: str
    history: dict[str, float] = field(default_factory=dict)
    feedback: dict[str, str] = field(default_factory=dict)
    origin: str = "your picks"

    def liked(self) -> list[str]:
        return [cid for cid, vote in self.feedback.items() if vote == "up"]

    def disliked(self) -> list[str]:
        return [cid for cid, vote in self.feedback.items() if vote == "down"]

    def combined(self, scale: tuple[float, float]) -> dict[str, float]:
        """One history for pages that take a plain history (no feedback argument): the picks plus liked
        courses at the top of the scale. Disliked courses are left out -- they are not enrolments."""
        out = dict(self.history)
        for cid in self.liked():
            out.setdefault(cid, scale[1])
        return out

    def vote(self, course_id: str, vote: str) -> None:
        if vote not in VOTES:
            raise ValueError(f"vote must be 'up' or 'down', got {vote!r}")
        self.feedback[str(course_id)] = vote

    def undo(self, course_id: str) -> None:
        """Forget the vote on one course (it can be recommended again)."""
        self.feedback.pop(str(course_id), None)

    def _picked(self, cid: str, top: float) -> None:
        self.history[cid] = top
        self.feedback.pop(cid, None)  # ticked as completed: that replaces a like or a "not for me"

    def reconcile(self, visible: Iterable[str], selected: Iterable[str], top: float) -> bool:
        """Apply a table selection made on the `visible` (filtered) rows; courses not visible keep their state.

        Returns True if the history changed.
        """
        visible, selected = [str(v) for v in visible], {str(s) for s in selected}
        changed = False
        for cid in visible:
            if cid in selected and cid not in self.history:
                self._picked(cid, top)
                changed = True
            elif cid not in selected and cid in self.history:
                del self.history[cid]
                changed = True
        return changed

    def set_picks(self, ids: Iterable[str], top: float) -> None:
        """Replace the picked courses by `ids` (keeping known ratings)."""
        ids = [str(i) for i in ids]
        self.history = {i: self.history.get(i, top) for i in ids}
        for i in ids:
            self.feedback.pop(i, None)

    def load(self, history: dict[str, float], origin: str) -> None:
        self.history = {str(k): float(v) for k, v in history.items()}
        self.feedback = {}
        self.origin = origin
