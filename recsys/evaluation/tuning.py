"""Hyperparameter search by per-learner K-fold cross-validation (grid or seeded random search).

Each parameter combination is fitted on every fold's train part and scored on its held-out courses through
the same new-learner path and metrics as `Experiment`; the table reports the mean and standard deviation
across folds, ready for a metric-vs-parameter plot.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from recsys._json import to_jsonable, write_json_atomic
from recsys._progress import Progress
from recsys.evaluation import metrics as M
from recsys.evaluation.eval_data import EvalData
from recsys.evaluation.reporting import clean_number, dataset_info
from recsys.evaluation.scoring import evaluate_model
from recsys.evaluation.splits import kfold_splits

SEARCHES = ("grid", "random")
MAX_COMBINATIONS = 200


@dataclass
class TuneResult:
    """`table`: one row per combination (parameter columns, mean, std, fold_1..fold_K, fit_seconds, rank)."""

    model: str
    metric: str
    table: pd.DataFrame
    best_params: dict[str, Any]
    best_score: float | None
    param_names: list[str]
    dataset: dict[str, Any]
    split: dict[str, Any]
    k: int
    seed: int
    search: str
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    run_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        folds = [c for c in self.table.columns if c.startswith("fold_")]
        results = []
        for _, row in self.table.iterrows():
            results.append(
                {
                    "params": to_jsonable({p: row[p] for p in self.param_names}),
                    "mean": clean_number(row["mean"]),
                    "std": clean_number(row["std"]),
                    "folds": [clean_number(row[f]) for f in folds],
                    "fit_seconds": clean_number(row["fit_seconds"]),
                }
            )
        return {
            "dataset": dict(self.dataset),
            "split": dict(self.split),
            "model": self.model,
            "metric": self.metric,
            "k": self.k,
            "seed": self.seed,
            "search": self.search,
            "results": results,
            "best_params": to_jsonable(self.best_params),
            "best_score": clean_number(self.best_score),
        }

    def write_json(self, path):
        return write_json_atomic(path, self.to_json())


def parse_grid_values(cls, grid: Mapping[str, Sequence] | None) -> dict[str, list]:
    """Validate grid names and values against the model's HyperParam spec (defaults when grid is empty)."""
    spec = cls.param_spec()
    if not grid:
        grid = {name: p.grid() for name, p in spec.items() if p.role != "seed"}
        if not grid:
            raise ValueError(f"model '{cls.key}' has no hyperparameters to tune")
    out = {}
    for name, values in grid.items():
        if name not in spec:
            raise ValueError(f"model '{cls.key}' has no parameter '{name}' (known: {', '.join(spec) or 'none'})")
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            values = [values]
        if len(values) == 0:
            raise ValueError(f"grid for '{name}' is empty: give at least one value")
        checked = []
        for v in values:
            v = spec[name].validate(v)
            if v not in checked:
                checked.append(v)
        out[name] = checked
    return out


def tune(
    dataset,
    model_key: str,
    grid: Mapping[str, Sequence] | None = None,
    metric: str = "ndcg@10",
    folds: int = 3,
    k: int = 10,
    seed: int = 0,
    search: str = "grid",
    n_iter: int | None = None,
    progress: Progress | None = None,
    history=None,
    max_combinations: int = MAX_COMBINATIONS,
) -> TuneResult:
    """Cross-validate `model_key` over `grid` and pick the best combination by `metric`.

    metric: 'ndcg@10'-style (its K wins over `k`; without '@K' the `k` argument is used), or 'rmse'/'mae'
    for rating models (lower is better). grid: {param: [values]} validated by the model's spec; empty or
    None uses every parameter's default grid. search='random' evaluates `n_iter` (default 10) combinations
    drawn without replacement (seeded). When `history` is given the run is recorded there.
    """
    from recsys.models import make_model, model_class

    cls = model_class(model_key)
    base, metric_k = M.parse_metric(metric, default_k=k)
    metric = base if metric_k is None else f"{base}@{metric_k}"
    eval_k = metric_k or int(k)
    if base in M.RATING and not cls.predicts_ratings:
        raise ValueError(f"metric '{base}' needs a rating model; '{model_key}' only ranks courses")
    if search not in SEARCHES:
        raise ValueError(f"unknown search '{search}' (known: {', '.join(SEARCHES)})")
    values = parse_grid_values(cls, grid)
    names = list(values)
    combos = list(itertools.product(*values.values()))
    if search == "random":
        n_iter = 10 if n_iter is None else n_iter
        if isinstance(n_iter, bool) or int(n_iter) != n_iter or n_iter < 1:
            raise ValueError(f"n_iter must be a positive integer, got {n_iter!r}")
        pick = np.random.default_rng(seed).choice(len(combos), size=min(int(n_iter), len(combos)), replace=False)
        combos = [combos[i] for i in sorted(pick)]
    elif len(combos) > max_combinations:
        raise ValueError(
            f"the grid has {len(combos)} combinations (limit {max_combinations}); "
            f"narrow it or use random search with n_iter"
        )
    if history is not None and not hasattr(history, "record_tuning"):
        from recsys.evaluation.history import RunHistory

        history = RunHistory(history)

    if progress:
        progress(0.0, "splitting into folds")
    splits = kfold_splits(dataset, folds=folds, seed=seed)
    data = [EvalData.from_split(s) for s in splits]
    scores = np.full((len(combos), len(splits)), np.nan)
    fit_times = np.zeros((len(combos), len(splits)))
    total, done = len(combos) * len(splits), 0
    for c, combo in enumerate(combos):
        params = dict(zip(names, combo))
        for f, (split, fold_data) in enumerate(zip(splits, data)):
            label = ", ".join(f"{n}={v}" for n, v in params.items())
            if progress:
                progress(done / total, f"{label} fold {f + 1}/{len(splits)}")
            model = make_model(model_key, **{"seed": seed, **params})
            began = time.perf_counter()
            model.fit(split.train)
            fit_times[c, f] = time.perf_counter() - began
            if len(fold_data.users):
                details = evaluate_model(model, fold_data, eval_k, seed, n_resamples=0, extras=False)
                value = details.metrics.get(metric)
                scores[c, f] = np.nan if value is None else value
            done += 1
    table = pd.DataFrame([dict(zip(names, combo)) for combo in combos], columns=names)
    with np.errstate(all="ignore"):
        table["mean"] = np.nanmean(scores, axis=1) if scores.size else np.nan
        table["std"] = np.nanstd(scores, axis=1, ddof=1) if len(splits) > 1 else 0.0
    for f in range(len(splits)):
        table[f"fold_{f + 1}"] = scores[:, f]
    table["fit_seconds"] = fit_times.mean(axis=1)
    lower = base in M.LOWER_IS_BETTER
    table["rank"] = table["mean"].rank(ascending=lower, method="min", na_option="bottom").astype(int)
    if table["mean"].notna().any():
        best = int(table["mean"].idxmin() if lower else table["mean"].idxmax())
        best_params, best_score = dict(zip(names, combos[best])), float(table["mean"].iloc[best])
    else:
        best_params, best_score = {}, None
    split_info = {"name": "kfold", "params": {"folds": int(folds), "min_ratings": 2, "seed": int(seed)}}
    result = TuneResult(
        model_key,
        metric,
        table,
        best_params,
        best_score,
        names,
        dataset_info(dataset),
        split_info,
        eval_k,
        int(seed),
        search,
    )
    if history is not None:
        result.run_id = history.record_tuning(result)
    if progress:
        progress(1.0, "done")
    return result


# ----- what the Tune page needs before a run -------------------------------------------------------
def parse_values(text: str, param) -> list:
    """'5, 10, 20' (commas or semicolons) -> distinct validated values of HyperParam `param`, in order;
    ValueError names the bad entry or says that none was given."""
    values = []
    for part in [t.strip() for t in str(text).replace(";", ",").split(",") if t.strip()]:
        value = param.validate(part)
        if value not in values:
            values.append(value)
    if not values:
        raise ValueError(f"give at least one value for '{param.name}'")
    return values


def measured_fit_seconds(history, model_key: str, fingerprint: str, limit: int = 30) -> list[float]:
    """Fit times of `model_key` already measured on the dataset `fingerprint` (tuning folds and comparison
    training splits in the run history, newest `limit` runs), for estimating a run before starting it."""
    runs = history.list_runs(limit=limit)
    out: list[float] = []
    for run_id in runs.loc[runs["fingerprint"] == fingerprint, "id"]:
        payload = history.load_run(int(run_id))
        if payload.get("kind") == "tune":
            rows = payload.get("results", []) if payload.get("model") == model_key else []
        else:
            rows = [r for r in payload.get("results", []) if r.get("model") == model_key]
        out += [float(r["fit_seconds"]) for r in rows if r.get("fit_seconds") is not None]
    return out


def estimate_seconds(fit_seconds: Sequence[float], n_fits: int) -> float | None:
    """Expected time of `n_fits` fits from measured ones (their median; None when nothing was measured)."""
    measured = [float(s) for s in fit_seconds if s is not None and np.isfinite(s)]
    if not measured:
        return None
    return float(np.median(measured)) * int(n_fits)
