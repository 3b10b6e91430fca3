"""The new_courses protocol's own reports: can a model place a course nobody took, and whom does each reach.

Capability rule: a model *can recommend new courses* only when its scores for the courses without training
interactions carry information -- they vary across learners (some new course scores differently for
different learners) or across those courses (some learner scores the new courses differently). A constant
(popularity's 0, EASE's empty column) or -inf (never recommended) cannot place a new course anywhere but
where every other model without information would put it, so it is reported as "cannot recommend new
courses" -- even though the number is finite. Differences below RELATIVE_TOLERANCE of the model's own score
scale are rounding, not information.

Per-course view: for every new course, how many of the learners who took it (in the held-out part) got it in
their top-K, and how many learners were shown it at all -- per model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

CANNOT = "cannot recommend new courses"
RELATIVE_TOLERANCE = 1e-9
PER_COURSE_COLUMNS = ["course", "title", "takers", "reached", "reached_share", "shown_to"]


class NewCourseScores:
    """Accumulates, chunk by chunk of learners, what the capability rule needs from a model's scores of the
    new courses (columns `new_cols`): per course the finite minimum and maximum over learners, the largest
    spread over the new courses within one learner, and the model's score scale (largest finite |score|)."""

    def __init__(self, new_cols: Sequence[int]):
        self.new_cols = np.asarray(new_cols, dtype=np.int64)
        self.low = np.full(len(self.new_cols), np.inf)
        self.high = np.full(len(self.new_cols), -np.inf)
        self.within_learner = 0.0
        self.scale = 0.0

    def update(self, scores: np.ndarray) -> None:
        """Add a chunk of scores (learners x catalogue courses)."""
        scores = np.asarray(scores, dtype=np.float64)
        finite_all = scores[np.isfinite(scores)]
        if len(finite_all):
            self.scale = max(self.scale, float(np.abs(finite_all).max()))
        if not len(self.new_cols) or not len(scores):
            return
        new = scores[:, self.new_cols]
        finite = np.isfinite(new)
        self.low = np.minimum(self.low, np.where(finite, new, np.inf).min(axis=0))
        self.high = np.maximum(self.high, np.where(finite, new, -np.inf).max(axis=0))
        row_high = np.where(finite, new, -np.inf).max(axis=1)
        row_low = np.where(finite, new, np.inf).min(axis=1)
        spread = np.where(finite.sum(axis=1) >= 2, row_high - row_low, 0.0)
        if len(spread):
            self.within_learner = max(self.within_learner, float(spread.max()))

    @property
    def scored(self) -> np.ndarray:
        """Per new course: did any learner get a finite score for it."""
        return np.isfinite(self.low)

    def summary(self) -> dict[str, Any]:
        """can_recommend (the capability rule), how the scores vary, and how many new courses got a finite score."""
        tolerance = RELATIVE_TOLERANCE * max(self.scale, 1.0)
        scored = self.scored
        across_learners = float((self.high - self.low)[scored].max()) if scored.any() else 0.0
        return can_recommend_summary(across_learners, self.within_learner, int(scored.sum()), tolerance)


def can_recommend_summary(across_learners: float, across_courses: float, scored: int, tolerance: float) -> dict:
    varies_learners = across_learners > tolerance
    varies_courses = across_courses > tolerance
    out: dict[str, Any] = {
        "can_recommend": bool(scored and (varies_learners or varies_courses)),
        "scored_new_courses": int(scored),
        "varies_across_learners": bool(varies_learners),
        "varies_across_courses": bool(varies_courses),
    }
    if not out["can_recommend"]:
        out["note"] = CANNOT
        out["reason"] = (
            "every score of a new course is -inf" if not scored else "the same score for every new course and learner"
        )
    return out


def can_recommend_new_courses(scores: np.ndarray, new_cols: Sequence[int]) -> dict[str, Any]:
    """The capability rule on one matrix of scores (learners x catalogue courses); see the module docstring."""
    tracker = NewCourseScores(new_cols)
    tracker.update(scores)
    return tracker.summary()


def per_course(
    top: np.ndarray,
    relevant: sparse.csr_matrix,
    new_cols: Sequence[int],
    course_ids: Sequence[str],
    titles: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per new course: takers (test learners who took it), reached (takers with it in their top-K),
    reached_share and shown_to (test learners with it in their top-K, takers or not)."""
    new_cols = np.asarray(new_cols, dtype=np.int64)
    top = np.asarray(top)
    relevant = sparse.csr_matrix(relevant)
    n = top.shape[0]
    rows = np.repeat(np.arange(n), top.shape[1])
    listed = top.ravel()
    keep = listed >= 0
    in_top = sparse.csr_matrix(
        (np.ones(int(keep.sum())), (rows[keep], listed[keep])), shape=(n, relevant.shape[1])
    ).tocsc()
    taken = relevant.tocsc().astype(bool).astype(np.float64)
    takers = np.asarray(taken[:, new_cols].sum(axis=0)).ravel().astype(np.int64)
    reached = np.asarray(taken[:, new_cols].multiply(in_top[:, new_cols]).sum(axis=0)).ravel().astype(np.int64)
    shown = np.asarray((in_top[:, new_cols] > 0).sum(axis=0)).ravel().astype(np.int64)
    frame = pd.DataFrame(
        {
            "course": [str(c) for c in course_ids],
            "title": [str(t) for t in (titles if titles is not None else [""] * len(new_cols))],
            "takers": takers,
            "reached": reached,
            "reached_share": np.where(takers > 0, reached / np.maximum(takers, 1), np.nan),
            "shown_to": shown,
        }
    )
    return frame[PER_COURSE_COLUMNS]


def reach_summary(top: np.ndarray, new_cols: Sequence[int]) -> dict[str, Any]:
    """reach (share of the new courses listed to anyone) and learners shown at least one new course."""
    new_cols = np.asarray(new_cols, dtype=np.int64)
    top = np.asarray(top)
    listed_new = np.isin(top, new_cols) & (top >= 0)
    return {
        "reach": float(len(np.unique(top[listed_new])) / max(len(new_cols), 1)),
        "learners_shown_a_new_course": int(listed_new.any(axis=1).sum()) if top.ndim == 2 else 0,
    }


def per_course_table(details: Mapping[str, Any]) -> pd.DataFrame:
    """Long table over models: name, label, and the per-course columns (models without the view are skipped)."""
    frames = []
    for d in details.values():
        rows = (d.new_courses or {}).get("per_course")
        if rows:
            frames.append(pd.DataFrame(rows).assign(name=d.name, label=d.label))
    if not frames:
        return pd.DataFrame(columns=["name", "label", *PER_COURSE_COLUMNS])
    out = pd.concat(frames, ignore_index=True)
    return out[["name", "label", *PER_COURSE_COLUMNS]]
