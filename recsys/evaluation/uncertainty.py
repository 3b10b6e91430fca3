"""Uncertainty of per-learner metrics: seeded percentile bootstrap over learners and a paired test.

Resampling is vectorized: each batch of resamples is turned into a (resamples x learners) count matrix
and every metric's resampled mean is one matrix product, so 1,000 resamples over tens of thousands of
learners take well under a second. The same seed gives the same resamples for the same learners, so
models evaluated on the same split get comparable intervals.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

N_RESAMPLES = 1000
_BATCH_CELLS = 4_000_000  # resamples x learners per batch (bounds memory to ~32 MB)
# Resample counts kept per (learners, resamples, seed): every model of a comparison is evaluated on the same
# learners with the same seed, so drawing them once saves most of the bootstrap time (same numbers).
_COUNTS: dict[tuple[int, int, int], list[np.ndarray]] = {}
_COUNTS_MAX_CELLS = 64_000_000  # ~64 MB of small-integer counts in total
_COUNTS_LOCK = threading.Lock()  # Streamlit sessions run comparisons in threads


def _resampled_means(values: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """(n_resamples x metrics) means of `values` (learners x metrics) over bootstrap resamples.

    NaN entries (e.g. diversity of a one-course list) are left out of each resample's mean.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    n = values.shape[0]
    present = ~np.isnan(values)
    filled = np.where(present, values, 0.0)
    has_nan = not present.all()
    batch = max(1, min(n_resamples, _BATCH_CELLS // max(n, 1)))
    out = np.empty((n_resamples, values.shape[1]))
    for start, small in zip(range(0, n_resamples, batch), _resample_counts(n, n_resamples, seed, batch)):
        b = len(small)
        counts = small.astype(np.float64)
        sums = counts @ filled
        if has_nan:
            with np.errstate(invalid="ignore", divide="ignore"):
                out[start : start + b] = sums / (counts @ present)
        else:
            out[start : start + b] = sums / n
    return out


def _resample_counts(n: int, n_resamples: int, seed: int, batch: int) -> list[np.ndarray]:
    """Per batch of resamples, how often each of the n learners is drawn (seeded; cached, see _COUNTS)."""
    key = (n, n_resamples, seed)
    with _COUNTS_LOCK:
        if key in _COUNTS:
            return _COUNTS[key]
    rng = np.random.default_rng(seed)
    batches = []
    for start in range(0, n_resamples, batch):
        b = min(batch, n_resamples - start)
        idx = rng.integers(0, n, size=(b, n))
        counts = np.bincount((np.arange(b)[:, None] * n + idx).ravel(), minlength=b * n).reshape(b, n)
        batches.append(counts.astype(np.min_scalar_type(int(counts.max()))))
    if n * n_resamples <= _COUNTS_MAX_CELLS:
        with _COUNTS_LOCK:
            while _COUNTS and sum(k[0] * k[1] for k in _COUNTS) + n * n_resamples > _COUNTS_MAX_CELLS:
                _COUNTS.pop(next(iter(_COUNTS)))
            _COUNTS[key] = batches
    return batches


def bootstrap_ci(
    values, n_resamples: int = N_RESAMPLES, seed: int = 0, confidence: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` (one value per learner, NaN ignored)."""
    return bootstrap_intervals({"x": values}, n_resamples, seed, confidence)["x"]


def bootstrap_intervals(
    per_learner: Mapping[str, np.ndarray], n_resamples: int = N_RESAMPLES, seed: int = 0, confidence: float = 0.95
) -> dict[str, tuple[float, float]]:
    """Intervals for several per-learner metrics at once, from the same resamples of learners."""
    _check(n_resamples, confidence)
    names = list(per_learner)
    if not names:
        return {}
    columns = [np.asarray(per_learner[name], dtype=np.float64).ravel() for name in names]
    if len({len(c) for c in columns}) != 1:
        raise ValueError("every per-learner metric array must have one value per learner (same length)")
    if len(columns[0]) == 0:
        return {name: (float("nan"), float("nan")) for name in names}
    means = _resampled_means(np.column_stack(columns), n_resamples, seed)
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.nanquantile(means, [alpha, 1.0 - alpha], axis=0)
    return {name: (float(lo[j]), float(hi[j])) for j, name in enumerate(names)}


def _check(n_resamples, confidence) -> None:
    if isinstance(n_resamples, bool) or int(n_resamples) != n_resamples or n_resamples < 10:
        raise ValueError(f"n_resamples must be an integer >= 10, got {n_resamples!r}")
    if not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")


@dataclass(frozen=True)
class PairedTestResult:
    """A - B over the same learners: mean difference, its bootstrap interval and two p-values."""

    mean_diff: float
    ci: tuple[float, float]
    p_value: float  # Wilcoxon signed-rank (two-sided, zero differences dropped); 1.0 when every difference is zero
    p_bootstrap: float  # two-sided paired-bootstrap p-value (share of resampled means across zero, x2)
    n: int  # learners with a value for both models

    def to_dict(self) -> dict:
        out = asdict(self)
        out["ci"] = list(self.ci)
        return out


def paired_test(
    per_learner_a, per_learner_b, seed: int = 0, n_resamples: int = N_RESAMPLES, confidence: float = 0.95
) -> PairedTestResult:
    """Is model A better or worse than B on the same learners? Paired bootstrap + Wilcoxon signed-rank.

    The arrays must be aligned (row i is the same learner in both); pairs with a NaN are dropped.
    """
    _check(n_resamples, confidence)
    a = np.asarray(per_learner_a, dtype=np.float64).ravel()
    b = np.asarray(per_learner_b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired test needs one value per learner for both models (got {len(a)} and {len(b)})")
    keep = ~(np.isnan(a) | np.isnan(b))
    diff = a[keep] - b[keep]
    n = int(len(diff))
    if n == 0:
        return PairedTestResult(float("nan"), (float("nan"), float("nan")), float("nan"), float("nan"), 0)
    mean = float(diff.mean())
    if not np.any(diff != 0):
        return PairedTestResult(0.0, (0.0, 0.0), 1.0, 1.0, n)
    means = _resampled_means(diff, n_resamples, seed)[:, 0]
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    # Two-sided bootstrap p: how often the resampled mean lands on the other side of zero (+1 smoothing).
    other_side = np.sum(means <= 0) if mean > 0 else np.sum(means >= 0)
    p_boot = float(min(1.0, 2.0 * (other_side + 1) / (n_resamples + 1)))
    return PairedTestResult(mean, (float(lo), float(hi)), _wilcoxon_p(diff), p_boot, n)


def holm(p_values) -> np.ndarray:
    """Holm step-down adjusted p-values (family-wise error control); NaN entries stay NaN and do not count.

    Sorted ascending p_(1) <= ... <= p_(m): adjusted p_(i) = max over j <= i of min(1, (m - j + 1) * p_(j)).
    A comparison is significant at level alpha when its adjusted p < alpha.
    """
    p = np.asarray(p_values, dtype=np.float64).ravel()
    out = np.full(len(p), np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    if len(ok) == 0:
        return out
    if ((p[ok] < 0) | (p[ok] > 1)).any():
        raise ValueError("p-values must lie between 0 and 1")
    order = ok[np.argsort(p[ok], kind="stable")]
    m = len(order)
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


def _wilcoxon_p(diff: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p of paired differences (zeros dropped); 1.0 when all are zero."""
    diff = diff[~np.isnan(diff)]
    if len(diff) == 0:
        return float("nan")
    if not np.any(diff != 0):
        return 1.0
    return float(stats.wilcoxon(diff, zero_method="wilcox").pvalue)


def paired_columns(
    differences, n_resamples: int = N_RESAMPLES, seed: int = 0, confidence: float = 0.95
) -> dict[str, np.ndarray]:
    """Many paired comparisons at once: one column of per-learner differences (A - B) per comparison.

    Returns arrays (one entry per column): mean, lo, hi (percentile bootstrap over the same resampled
    learners for every column; NaN without resamples), p (Wilcoxon signed-rank) and n (learners with a value).
    For a column without NaN this matches `paired_test` on that pair with the same seed.
    """
    d = np.asarray(differences, dtype=np.float64)
    if d.ndim == 1:
        d = d[:, None]
    n_cols = d.shape[1]
    present = ~np.isnan(d)
    counts = present.sum(axis=0)
    with np.errstate(invalid="ignore"):
        mean = np.where(counts > 0, np.where(present, d, 0.0).sum(axis=0) / np.maximum(counts, 1), np.nan)
    lo = np.full(n_cols, np.nan)
    hi = np.full(n_cols, np.nan)
    if n_resamples and d.shape[0] and n_cols:
        _check(n_resamples, confidence)
        means = _resampled_means(d, int(n_resamples), seed)
        alpha = (1.0 - confidence) / 2.0
        with warnings.catch_warnings():  # an all-NaN column (no learner has a value) stays NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            lo, hi = np.nanquantile(means, [alpha, 1.0 - alpha], axis=0)
        constant = np.array([not np.any(d[present[:, j], j] != 0) for j in range(n_cols)])
        lo = np.where(constant & (counts > 0), 0.0, lo)
        hi = np.where(constant & (counts > 0), 0.0, hi)
    p = np.array([_wilcoxon_p(d[:, j]) for j in range(n_cols)])
    return {
        "mean": mean,
        "lo": np.asarray(lo, dtype=np.float64),
        "hi": np.asarray(hi, dtype=np.float64),
        "p": p,
        "n": counts.astype(int),
    }
