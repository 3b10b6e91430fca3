"""Many models at once, corrected for multiple comparisons.

With ten or more models a "best" picked from dozens of uncorrected pairwise tests is often a tie. For every
per-learner metric this module compares each model with the best one (highest mean) on the same learners:
the mean paired difference (model - best), its percentile-bootstrap interval, the Wilcoxon signed-rank p,
the Holm-adjusted p over that metric's family of comparisons, the effect size (mean difference relative to
the best model's mean) and "tied with best" (adjusted p >= alpha). `all_pairs` does the same for every pair,
Holm-adjusted over all pairs of a metric.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations

import numpy as np
import pandas as pd

from recsys.evaluation.uncertainty import N_RESAMPLES, holm, paired_columns

ALPHA = 0.05
VS_BEST_COLUMNS = [
    "metric",
    "name",
    "best",
    "mean",
    "best_mean",
    "mean_diff",
    "ci_lo",
    "ci_hi",
    "p_value",
    "p_holm",
    "effect_size",
    "tied_with_best",
    "n",
]
PAIR_COLUMNS = [
    "metric",
    "a",
    "b",
    "mean_a",
    "mean_b",
    "mean_diff",
    "ci_lo",
    "ci_hi",
    "p_value",
    "p_holm",
    "effect_size",
    "significant",
    "n",
]


def _means(per_learner: Mapping[str, pd.DataFrame], metric: str) -> dict[str, float]:
    out = {}
    for name, frame in per_learner.items():
        column = frame[metric].to_numpy(dtype=np.float64)
        out[name] = float(np.nanmean(column)) if np.any(~np.isnan(column)) else float("nan")
    return out


def _check_aligned(per_learner: Mapping[str, pd.DataFrame]) -> None:
    lengths = {len(f) for f in per_learner.values()}
    if len(lengths) > 1:
        raise ValueError("paired comparisons need the same test learners for every model (got different counts)")


def _relative(diff: float, base: float) -> float:
    return float(diff / abs(base)) if np.isfinite(base) and base != 0 else float("nan")


def _paired(
    per_learner: Mapping[str, pd.DataFrame],
    comparisons: Sequence[tuple[str, str, str]],
    seed: int,
    n_resamples: int,
) -> pd.DataFrame:
    """The one pipeline behind both tables: for each (metric, a, b), the paired per-learner difference a - b
    (bootstrap over the same resampled learners for every comparison), its Wilcoxon p and the Holm-adjusted p
    within the metric's family. Columns: mean_diff, ci_lo, ci_hi, p_value, p_holm, n (one row per comparison)."""
    columns = [
        per_learner[a][metric].to_numpy(dtype=np.float64) - per_learner[b][metric].to_numpy(dtype=np.float64)
        for metric, a, b in comparisons
    ]
    stats = paired_columns(np.column_stack(columns), n_resamples, seed)
    out = pd.DataFrame({"metric": [metric for metric, _, _ in comparisons]})
    out["mean_diff"], out["ci_lo"], out["ci_hi"] = stats["mean"], stats["lo"], stats["hi"]
    out["p_value"], out["n"] = stats["p"], stats["n"]
    out["p_holm"] = np.nan
    for _metric, rows_of in out.groupby("metric", sort=False).groups.items():
        out.loc[rows_of, "p_holm"] = holm(out.loc[rows_of, "p_value"].to_numpy(dtype=np.float64))
    return out


def compare_to_best(
    per_learner: Mapping[str, pd.DataFrame],
    metrics: Sequence[str],
    seed: int = 0,
    n_resamples: int = N_RESAMPLES,
    alpha: float = ALPHA,
) -> pd.DataFrame:
    """One row per (metric, model): each model against the metric's best model (columns VS_BEST_COLUMNS).

    Higher is better for every per-learner metric. The best model's own row has difference 0, p = 1 and
    tied_with_best True. Holm's family is one metric's (models - 1) comparisons with the best.
    """
    _check_aligned(per_learner)
    names = list(per_learner)
    rows, comparisons, index = [], [], []
    for metric in metrics:
        means = _means(per_learner, metric)
        ranked = [n for n in names if np.isfinite(means[n])]
        if not ranked:
            continue
        best = max(ranked, key=lambda n: means[n])  # first of equal means wins (model order)
        for name in names:
            rows.append({"metric": metric, "name": name, "best": best, "mean": means[name], "best_mean": means[best]})
            if name != best:
                comparisons.append((metric, name, best))
                index.append(len(rows) - 1)
    frame = pd.DataFrame(rows, columns=VS_BEST_COLUMNS[:5])
    if frame.empty:
        return pd.DataFrame(columns=VS_BEST_COLUMNS)
    for col, default in (("mean_diff", 0.0), ("ci_lo", 0.0), ("ci_hi", 0.0), ("p_value", 1.0), ("p_holm", 1.0)):
        frame[col] = default
    frame["n"] = [
        int(np.sum(~np.isnan(per_learner[n][m].to_numpy(dtype=np.float64))))
        for m, n in zip(frame["metric"], frame["name"])
    ]
    if comparisons:
        stats = _paired(per_learner, comparisons, seed, n_resamples)
        for col in ("mean_diff", "ci_lo", "ci_hi", "p_value", "n", "p_holm"):
            frame.loc[index, col] = stats[col].to_numpy()
    frame["effect_size"] = [_relative(d, b) for d, b in zip(frame["mean_diff"], frame["best_mean"])]
    frame["tied_with_best"] = (frame["name"] == frame["best"]) | ~(frame["p_holm"] < alpha)
    return frame[VS_BEST_COLUMNS]


def all_pairs(
    per_learner: Mapping[str, pd.DataFrame],
    metrics: Sequence[str],
    seed: int = 0,
    n_resamples: int = N_RESAMPLES,
    alpha: float = ALPHA,
) -> pd.DataFrame:
    """Every pair (a, b) of models, per metric: a - b with interval, Wilcoxon p and Holm p over all pairs.

    Effect size = mean difference relative to b's mean. `significant` = Holm-adjusted p < alpha.
    """
    _check_aligned(per_learner)
    names = list(per_learner)
    rows, comparisons = [], []
    for metric in metrics:
        means = _means(per_learner, metric)
        for a, b in combinations(names, 2):
            rows.append({"metric": metric, "a": a, "b": b, "mean_a": means[a], "mean_b": means[b]})
            comparisons.append((metric, a, b))
    if not rows:
        return pd.DataFrame(columns=PAIR_COLUMNS)
    frame = pd.DataFrame(rows)
    stats = _paired(per_learner, comparisons, seed, n_resamples)
    for col in ("mean_diff", "ci_lo", "ci_hi", "p_value", "n", "p_holm"):
        frame[col] = stats[col].to_numpy()
    frame["effect_size"] = [_relative(d, b) for d, b in zip(frame["mean_diff"], frame["mean_b"])]
    frame["significant"] = frame["p_holm"] < alpha
    return frame[PAIR_COLUMNS]
