"""Display tables for experiment and tuning results (formatting only; the numbers come from recsys.evaluation)."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

LOWER_IS_BETTER = {"rmse", "mae"}


def _fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def leaderboard_frame(table: pd.DataFrame, metrics: list[str], sort_by: str) -> pd.DataFrame:
    """One row per model: label, parameters, each metric as 'value [lo, hi]' ('n/a' when not applicable), timings.

    Sorted best first by `sort_by` (lower is better for rmse/mae); NaN last.
    """
    ascending = sort_by in LOWER_IS_BETTER
    ordered = table.sort_values(sort_by, ascending=ascending, kind="stable", na_position="last")
    out = pd.DataFrame({"Model": ordered["label"].to_numpy()})
    first = [m for m in metrics if m.startswith(sort_by.split("@")[0])]
    for metric in first + [m for m in metrics if m not in first]:
        values = ordered[metric].to_numpy(dtype=float)
        lo = ordered.get(f"{metric}_lo", pd.Series(np.nan, index=ordered.index)).to_numpy(dtype=float)
        hi = ordered.get(f"{metric}_hi", pd.Series(np.nan, index=ordered.index)).to_numpy(dtype=float)
        out[metric] = [
            "n/a" if not np.isfinite(v) else (f"{v:.3f} [{a:.3f}, {b:.3f}]" if np.isfinite(a) and np.isfinite(b) else f"{v:.3f}")
            for v, a, b in zip(values, lo, hi)
        ]
    out["Fit (s)"] = ordered["fit_seconds"].round(2).to_numpy()
    out["Recommend (ms/learner)"] = ordered["recommend_ms"].round(3).to_numpy()
    out["Learners"] = ordered["n_learners"].to_numpy()
    out["Parameters"] = ordered["params"].replace("", "defaults").to_numpy()
    return out


def paired_summary(result, name_a: str, name_b: str, label_a: str, label_b: str, metric: str) -> str:
    """One paragraph reading a PairedTestResult for a reviewer."""
    if result.n == 0:
        return f"No learner has a {metric} value for both models."
    lower = metric.split("@")[0] in LOWER_IS_BETTER
    lo, hi = result.ci
    diff = result.mean_diff
    if lo > 0 or hi < 0:
        better = label_a if (diff > 0) != lower else label_b
        verdict = f"**{better}** is better: the 95% interval of the difference excludes 0"
    else:
        verdict = "No clear difference: the 95% interval of the difference includes 0"
    return (f"{verdict}. Mean {metric} difference ({label_a} - {label_b}) = **{diff:+.4f}** "
            f"[{lo:+.4f}, {hi:+.4f}] over {result.n:,} learners; Wilcoxon p = {result.p_value:.3g}, "
            f"paired-bootstrap p = {result.p_bootstrap:.3g}.")


def tune_table(table: pd.DataFrame, param_names: list[str], metric: str) -> pd.DataFrame:
    """TuneResult.table ordered by rank with readable column names."""
    cols = ["rank", *param_names, "mean", "std", *[c for c in table.columns if c.startswith("fold_")], "fit_seconds"]
    out = table[cols].sort_values("rank", kind="stable").reset_index(drop=True)
    return out.rename(columns={"rank": "Rank", "mean": f"{metric} (mean)", "std": "std", "fit_seconds": "Fit (s)"})


def params_text(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} = {v}" for k, v in params.items()) or "defaults"


def top_lists(models: Mapping[str, Any], history, k: int, titles: Mapping[str, str]) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Side-by-side top-k titles of several fitted models for one learner history, plus the id lists."""
    lists, columns = {}, {}
    for name, model in models.items():
        recs = model.recommend(history, k=k)
        ids = recs["COURSE_ID"].astype(str).tolist()
        lists[name] = ids
        columns[name] = [titles.get(i, i) for i in ids] + [""] * (k - len(ids))
    frame = pd.DataFrame(columns, index=pd.RangeIndex(1, k + 1, name="Rank"))
    return frame, lists


def history_metrics(history, run_ids, metric: str) -> pd.DataFrame:
    """Long table (run, created_at, split, model, params, value) of `metric` for stored compare runs."""
    rows = []
    for run_id in run_ids:
        run = history.load_run(int(run_id))
        for r in run.get("results", []):
            value = (r.get("metrics") or {}).get(metric)
            if value is not None:
                rows.append({"run": int(run_id), "created_at": run.get("created_at"),
                             "split": (run.get("split") or {}).get("name"), "model": r.get("label") or r.get("name"),
                             "params": ", ".join(f"{k}={v}" for k, v in (r.get("params") or {}).items()),
                             "value": float(value)})
    return pd.DataFrame(rows, columns=["run", "created_at", "split", "model", "params", "value"])


def history_metric_names(history, run_ids) -> list[str]:
    names: list[str] = []
    for run_id in run_ids:
        for r in history.load_run(int(run_id)).get("results", []):
            for m in (r.get("metrics") or {}):
                if m not in names:
                    names.append(m)
    return names
