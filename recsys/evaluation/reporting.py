"""What a comparison reports: the per-model table, leaderboard, paired tests, KPI and segment tables, and JSON.

`ExperimentResult` only reads what scoring measured (`ModelDetails`); it fits nothing and scores nothing, so
the CLI, the app and the run history all present the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys._json import to_jsonable, write_json_atomic
from recsys.evaluation import comparison as C
from recsys.evaluation import metrics as M
from recsys.evaluation import new_courses as NC
from recsys.evaluation import segments as S
from recsys.evaluation.scoring import ModelDetails
from recsys.evaluation.specs import format_params
from recsys.evaluation.uncertainty import N_RESAMPLES, PairedTestResult, paired_test


def dataset_info(dataset) -> dict[str, Any]:
    return {
        "name": dataset.name,
        "fingerprint": dataset.fingerprint,
        "counts": {
            "learners": int(dataset.n_users),
            "courses": int(dataset.n_items),
            "ratings": int(len(dataset.ratings)),
        },
    }


@dataclass
class ExperimentResult:
    """One row per model in `table`, full detail per model name in `details`."""

    dataset: dict[str, Any]
    split: dict[str, Any]
    k: int
    seed: int
    details: dict[str, ModelDetails]
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    run_id: int | None = None
    pairs: str = "best"  # "all": to_json also holds every pair of models (Holm-adjusted)
    # models that failed to fit or score: name -> {"model", "label", "error"}; the others are still reported
    failures: dict[str, dict[str, str]] = field(default_factory=dict)
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def metric_names(self) -> list[str]:
        return M.metric_names(self.k)

    @property
    def per_learner_metrics(self) -> list[str]:
        """Metrics with one value per test learner (the ones paired tests and segments use)."""
        return [f"{m}@{self.k}" for m in M.PER_LEARNER]

    @property
    def kpi_names(self) -> list[str]:
        return M.kpi_names(self.k)

    @property
    def n_resamples(self) -> int:
        return int(self.split.get("n_resamples", N_RESAMPLES) or 0)

    def vs_best(self) -> pd.DataFrame:
        """Each model against the best per per-learner metric, Holm-adjusted (see `comparison.compare_to_best`)."""
        if "vs_best" not in self._cache:
            per = {name: d.per_learner for name, d in self.details.items()}
            self._cache["vs_best"] = C.compare_to_best(per, self.per_learner_metrics, self.seed, self.n_resamples)
        return self._cache["vs_best"]

    def all_pairs(self) -> pd.DataFrame:
        """Every pair of models per per-learner metric, Holm-adjusted over all pairs of that metric."""
        if "all_pairs" not in self._cache:
            per = {name: d.per_learner for name, d in self.details.items()}
            self._cache["all_pairs"] = C.all_pairs(per, self.per_learner_metrics, self.seed, self.n_resamples)
        return self._cache["all_pairs"]

    @property
    def kpi_table(self) -> pd.DataFrame:
        """name, label and every product KPI, one row per model."""
        rows = [
            {"name": d.name, "label": d.label, **{m: d.kpis.get(m, np.nan) for m in self.kpi_names}}
            for d in self.details.values()
        ]
        return pd.DataFrame(rows, columns=["name", "label", *self.kpi_names])

    @property
    def segment_table(self) -> pd.DataFrame:
        """Long table: name, label, kind, segment, n_learners and every per-learner metric's mean."""
        frames = [
            d.segments.assign(name=d.name, label=d.label) for d in self.details.values() if d.segments is not None
        ]
        if not frames:
            return pd.DataFrame(columns=["name", "label", *S.SEGMENT_COLUMNS])
        out = pd.concat(frames, ignore_index=True)
        return out[["name", "label", *[c for c in out.columns if c not in ("name", "label")]]]

    @property
    def new_course_table(self) -> pd.DataFrame:
        """Under new_courses, one row per (model, new course): takers, reached, reached_share, shown_to
        (`new_courses.per_course`); empty on the other protocols."""
        return NC.per_course_table(self.details)

    @property
    def table(self) -> pd.DataFrame:
        """name, model, label, params (text), each metric with <metric>_lo/_hi, n_learners, timings."""
        rows = []
        for d in self.details.values():
            row = {"name": d.name, "model": d.key, "label": d.label, "params": format_params(d.params)}
            for metric in self.metric_names:
                value = d.metrics.get(metric)
                lo, hi = d.ci.get(metric, (None, None))
                row[metric] = np.nan if value is None else value
                row[f"{metric}_lo"] = np.nan if lo is None else lo
                row[f"{metric}_hi"] = np.nan if hi is None else hi
            row.update(n_learners=len(d.per_learner), fit_seconds=d.fit_seconds, recommend_ms=d.recommend_ms)
            if d.tuning is not None:
                row.update(
                    tuned=bool(d.tuning.get("tuned")),
                    tuned_params=format_params(d.tuning.get("params") or {}),
                    tuned_choice=str(d.tuning.get("choice") or ""),
                    trials=int(d.tuning.get("trials") or 0),
                    pruned=int(d.tuning.get("pruned") or 0),
                    tuning_seconds=float(d.tuning.get("seconds") or 0.0),
                )
            rows.append(row)
        return pd.DataFrame(rows)

    def leaderboard(self, metric: str | None = None) -> pd.DataFrame:
        """`table` sorted best first by `metric` (default ndcg@K)."""
        metric = metric or f"ndcg@{self.k}"
        if metric not in self.metric_names:
            raise ValueError(f"unknown metric '{metric}' (known: {', '.join(self.metric_names)})")
        ascending = metric in M.LOWER_IS_BETTER
        return self.table.sort_values(metric, ascending=ascending, kind="stable", na_position="last").reset_index(
            drop=True
        )

    def paired_test(
        self, name_a: str, name_b: str, metric: str | None = None, n_resamples: int = N_RESAMPLES
    ) -> PairedTestResult:
        """A - B on the same test learners for a per-learner metric (default ndcg@K)."""
        metric = metric or f"ndcg@{self.k}"
        for name in (name_a, name_b):
            if name not in self.details:
                raise KeyError(f"no model named '{name}' in this experiment (have: {', '.join(self.details)})")
        a, b = self.details[name_a].per_learner, self.details[name_b].per_learner
        if metric not in a:
            raise ValueError(
                f"'{metric}' is not a per-learner metric (use one of: {', '.join(c for c in a.columns if '@' in c)})"
            )
        return paired_test(a[metric].to_numpy(), b[metric].to_numpy(), seed=self.seed, n_resamples=n_resamples)

    def segment_matrix(self, metric: str) -> pd.DataFrame:
        """One row per segment (kind, segment, n_learners), one column per model name: `metric`'s mean."""
        table = self.segment_table
        if metric not in table:
            raise ValueError(
                f"'{metric}' is not a per-learner metric (use one of: {', '.join(self.per_learner_metrics)})"
            )
        wide = table.pivot_table(index=["kind", "segment"], columns="name", values=metric, sort=False, dropna=False)
        counts = table.drop_duplicates(["kind", "segment"]).set_index(["kind", "segment"])["n_learners"]
        wide = wide.reindex(counts.index)[list(self.details)]
        wide.columns.name = None
        return wide.assign(n_learners=counts).reset_index()[["kind", "segment", "n_learners", *self.details]]

    def to_json(self) -> dict[str, Any]:
        """The JSON report: {"dataset": {...}, "split": {...}, "results": [...]} (+ "pairs" when pairs="all").

        Each result holds metrics and ci as before, plus "kpis" (product KPIs), "vs_best" (per metric: best,
        mean_diff, ci, p_value, p_holm, effect_size, tied_with_best, n), "segments" ({"activity": [...],
        "popularity": [...]}, each {segment, n_learners, metrics}) and, under new_courses, "new_courses".
        NaN becomes null. Models that failed are listed under "failed" ({name, model, label, error}).
        """
        vs_best = self.vs_best()
        results = []
        for d in self.details.values():
            entry = {
                "model": d.key,
                "name": d.name,
                "label": d.label,
                "params": d.params,
                "metrics": {m: clean_number(d.metrics.get(m)) for m in self.metric_names},
                "ci": {m: [clean_number(lo), clean_number(hi)] for m, (lo, hi) in d.ci.items()},
                "fit_seconds": clean_number(d.fit_seconds),
                "recommend_ms": clean_number(d.recommend_ms),
                "kpis": {m: clean_number(d.kpis.get(m)) for m in self.kpi_names} if d.kpis else {},
                "vs_best": {
                    r.metric: comparison_json(r, best=True) for r in vs_best[vs_best["name"] == d.name].itertuples()
                },
                "segments": segments_json(d.segments),
            }
            if d.new_courses is not None:
                entry["new_courses"] = to_jsonable(d.new_courses)
            if d.tuning is not None:
                entry["tuning"] = to_jsonable(d.tuning)
            results.append(entry)
        out = {"dataset": dict(self.dataset), "split": dict(self.split), "results": results}
        if self.failures:
            out["failed"] = [{"name": name, **failure} for name, failure in self.failures.items()]
        if self.pairs == "all":
            out["pairs"] = [
                {"a": r.a, "b": r.b, "metric": r.metric, **comparison_json(r, best=False)}
                for r in self.all_pairs().itertuples()
            ]
        return out

    def write_json(self, path) -> Path:
        """Write `to_json()` atomically (temporary file + rename)."""
        return write_json_atomic(path, self.to_json())


def clean_number(value):
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None


def comparison_json(row, best: bool) -> dict[str, Any]:
    out = {
        "mean_diff": clean_number(row.mean_diff),
        "ci": [clean_number(row.ci_lo), clean_number(row.ci_hi)],
        "p_value": clean_number(row.p_value),
        "p_holm": clean_number(row.p_holm),
        "effect_size": clean_number(row.effect_size),
        "n": int(row.n),
    }
    if best:
        out = {"best": row.best, **out, "tied_with_best": bool(row.tied_with_best)}
    else:
        out["significant"] = bool(row.significant)
    return out


def segments_json(segments: pd.DataFrame | None) -> dict[str, list]:
    if segments is None:
        return {}
    metrics = [c for c in segments.columns if "@" in c]
    out: dict[str, list] = {}
    for r in segments.to_dict("records"):
        out.setdefault(r["kind"], []).append(
            {
                "segment": r["segment"],
                "n_learners": int(r["n_learners"]),
                "metrics": {m: clean_number(r[m]) for m in metrics},
            }
        )
    return out
