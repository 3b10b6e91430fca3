"""Every per-learner metric per segment: learner activity and the popularity of the held-out course.

* Activity: a test learner's number of training (or fold-in) courses, binned by upper bounds; the default
  (1, 3, 10) gives the segments "1", "2-3", "4-10" and ">10".
* Popularity: each held-out course is "head" (among the courses holding the top 20% of training enrolments,
  `metrics.head_courses`) or "tail". A learner counts in a popularity segment when at least one of their
  held-out courses is in it, and is scored against those courses only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from recsys.evaluation import metrics as M

DEFAULT_ACTIVITY_BINS = (1, 3, 10)
SEGMENT_COLUMNS = ["kind", "segment", "n_learners"]


def check_bins(bins: Sequence[int]) -> tuple[int, ...]:
    """Validated activity upper bounds: positive, strictly increasing integers."""
    try:
        values = tuple(int(b) for b in bins)
    except (TypeError, ValueError):
        raise ValueError(f"activity bins must be integers, e.g. 1,3,10; got {bins!r}") from None
    if not values or any(float(b) != int(b) for b in bins):
        raise ValueError(f"activity bins must be integers, e.g. 1,3,10; got {bins!r}")
    if values[0] < 1 or any(b <= a for a, b in zip(values, values[1:])):
        raise ValueError(f"activity bins must be positive and strictly increasing (e.g. 1,3,10), got {list(values)}")
    return values


def activity_labels(bins: Sequence[int] = DEFAULT_ACTIVITY_BINS) -> list[str]:
    """Segment names for upper bounds, e.g. (1, 3, 10) -> ['1', '2-3', '4-10', '>10']."""
    bins = check_bins(bins)
    labels, low = [], 1
    for high in bins:
        labels.append(str(high) if high == low else f"{low}-{high}")
        low = high + 1
    return labels + [f">{bins[-1]}"]


def assign_activity(n_train, bins: Sequence[int] = DEFAULT_ACTIVITY_BINS) -> np.ndarray:
    """The activity segment name of each learner from their number of training courses."""
    bins = check_bins(bins)
    labels = np.asarray(activity_labels(bins), dtype=object)
    return labels[np.searchsorted(np.asarray(bins), np.asarray(n_train), side="left")]


def segment_frame(
    per_learner: pd.DataFrame,
    top: np.ndarray,
    relevant: sparse.csr_matrix,
    head: np.ndarray,
    genre_matrix: np.ndarray,
    info: np.ndarray,
    bins: Sequence[int] = DEFAULT_ACTIVITY_BINS,
) -> pd.DataFrame:
    """Long table: kind ('activity' | 'popularity'), segment, n_learners and every per-learner metric's mean."""
    metrics = [c for c in per_learner.columns if "@" in c]
    rows = []
    segments = assign_activity(per_learner["n_train"].to_numpy(), bins)
    for label in activity_labels(bins):
        mask = segments == label
        rows.append(
            {
                "kind": "activity",
                "segment": label,
                "n_learners": int(mask.sum()),
                **{m: _mean(per_learner[m].to_numpy()[mask]) for m in metrics},
            }
        )
    relevant = sparse.csr_matrix(relevant)
    for label, keep in (("head", head), ("tail", ~head)):
        restricted = relevant @ sparse.diags(keep.astype(np.float64))
        restricted.eliminate_zeros()
        has = np.diff(restricted.indptr) > 0
        per = M.per_learner_metrics(top[has], restricted[has], genre_matrix, info) if has.any() else {}
        rows.append(
            {
                "kind": "popularity",
                "segment": label,
                "n_learners": int(has.sum()),
                **{m: _mean(per[m]) if m in per else float("nan") for m in metrics},
            }
        )
    return pd.DataFrame(rows, columns=SEGMENT_COLUMNS + metrics)


def _mean(values) -> float:
    values = np.asarray(values, dtype=np.float64)
    return float(np.nanmean(values)) if np.any(~np.isnan(values)) else float("nan")
