"""Fit several recommenders on one split and score them with the same metrics, intervals and timings.

Every model is scored through the new-learner path: the batched `score_histories` on the test learners'
histories (their training rows, or under `new_learners` their fold-in courses; these courses are excluded
from the lists), exactly as the app serves a learner who types in their courses. Besides the accuracy
metrics each model gets product KPIs (`metrics.product_kpis`), per-segment metrics (`segments`) and, over
all models, corrected comparisons with the best model (`comparison`). The CLI `compare` command and the app
both call `Experiment(...).run()`, so the same dataset, split, models and seed give the same numbers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import clone

from recsys._json import to_jsonable as _jsonable
from recsys._json import write_json_atomic
from recsys.evaluation import comparison as C
from recsys.evaluation import metrics as M
from recsys.evaluation import segments as S
from recsys.evaluation.lanes import check_lanes, run_jobs
from recsys.evaluation.splits import SPLIT_NAMES, Split, make_split
from recsys.evaluation.uncertainty import N_RESAMPLES, PairedTestResult, bootstrap_intervals, paired_test

Progress = Callable[[float, str], None]
CHUNK = 2048  # learners scored per score_histories call


# ----- model specifications -----------------------------------------------------------------------
@dataclass
class ModelSpec:
    """One model to evaluate: a unique `name` (key, or key#2 for a repeated key), label and an unfitted model."""

    name: str
    key: str
    label: str
    model: Any  # unfitted Recommender

    @property
    def params(self) -> dict[str, Any]:
        return _jsonable(self.model.get_params())


def format_params(params: Mapping[str, Any]) -> str:
    """'k=20, similarity=cosine' (empty string for none)."""
    return ", ".join(f"{k}={v}" for k, v in params.items())


def resolve_models(models, seed: int = 0) -> list[ModelSpec]:
    """Turn keys, (key, params) pairs or Recommender instances into named, validated, unfitted models.

    A model whose spec declares `random_state`/`seed` gets the experiment seed unless it was given.
    Unknown keys or parameters raise ValueError.
    """
    from recsys.models import Recommender, make_model

    if isinstance(models, (str, Recommender)) or (
        isinstance(models, tuple) and len(models) == 2 and isinstance(models[0], str) and isinstance(models[1], Mapping)
    ):
        models = [models]
    models = list(models)
    if not models:
        raise ValueError("no models to evaluate: give at least one model key")
    built = []
    for entry in models:
        if isinstance(entry, Recommender):
            model, explicit = clone(entry), set(entry.get_params())
        else:
            if isinstance(entry, str):
                key, params = entry, {}
            elif isinstance(entry, (tuple, list)) and len(entry) == 2 and isinstance(entry[1], Mapping):
                key, params = entry[0], dict(entry[1])
            else:
                raise ValueError(f"cannot read model {entry!r}: use a key, (key, params) or a Recommender")
            model, explicit = make_model(key, **{"seed": seed, **params}), set(params)
        cls = type(model)
        defaults = {p.name: p.default for p in cls.hyperparams}
        shown = {
            k: v
            for k, v in model.get_params().items()
            if k in explicit and k != cls.seed_param() and defaults.get(k, object()) != v
        }
        label = (cls.label or cls.key) + (f" ({format_params(shown)})" if shown else "")
        built.append(ModelSpec(cls.key, cls.key, label, model))
    seen: dict[str, int] = {}
    for spec in built:
        seen[spec.key] = seen.get(spec.key, 0) + 1
        if seen[spec.key] > 1:
            spec.name = f"{spec.key}#{seen[spec.key]}"
    return built


# ----- evaluation data shared by every model on a split --------------------------------------------
@dataclass
class EvalData:
    """Test learners with a history, their history rows and their held-out (relevant) courses."""

    users: np.ndarray  # learner ids, row order of histories/relevant
    histories: sparse.csr_matrix  # training rows, or fold-in rows under new_learners (learners x courses)
    relevant: sparse.csr_matrix  # 1 where the course was held out
    test: pd.DataFrame  # all test ratings (rating metrics use every pair)
    info: np.ndarray  # self-information per course (from train)
    genre_matrix: np.ndarray
    skipped_learners: int  # test learners without any history (ratio / new_courses splits)
    enrolment: np.ndarray | None = None  # training learners per course
    head: np.ndarray | None = None  # head-course mask (metrics.head_courses)
    levels: np.ndarray | None = None  # LEVEL per course (None when the dataset has none)
    new_cols: np.ndarray | None = None  # catalogue indices of the new courses (new_courses split)
    known_learners: bool = True  # False under new_learners: `predict` cannot fold learners in

    @classmethod
    def from_split(cls, split: Split, head_share: float = M.DEFAULT_HEAD_SHARE) -> EvalData:
        train, test = split.train, split.test
        if split.fold_in is not None:
            # New learners: absent from train; their rows are built from the fold-in ratings.
            users = np.sort(pd.unique(split.fold_in["user"]))
            user_index = pd.Index(users)
            rows_of = user_index.get_indexer(split.fold_in["user"])
            histories = sparse.csr_matrix(
                (
                    split.fold_in["rating"].to_numpy(np.float32),
                    (rows_of, train.item_index.get_indexer(split.fold_in["item"])),
                ),
                shape=(len(users), train.n_items),
            )
            histories.sum_duplicates()
            histories.sort_indices()
            pos = user_index.get_indexer(test["user"])
            known = pos >= 0
            row_of_test = pos[known]
        else:
            pos = train.user_index.get_indexer(test["user"])
            known = pos >= 0
            rows = np.unique(pos[known])
            users, histories = train.user_ids[rows], train.matrix[rows]
            row_of_test = np.searchsorted(rows, pos[known])
        cols = train.item_index.get_indexer(test["item"][known])
        if (cols < 0).any():
            raise ValueError("test ratings name courses outside the catalogue")
        relevant = sparse.csr_matrix(
            (np.ones(int(known.sum())), (row_of_test, cols)), shape=(len(users), train.n_items)
        )
        relevant.sum_duplicates()
        relevant.data[:] = 1.0
        enrolment = M.enrolments(train.matrix)
        levels = None
        if "LEVEL" in train.courses and train.courses["LEVEL"].notna().any():
            levels = train.courses["LEVEL"].to_numpy(dtype=object)
        new_cols = None if split.new_items is None else train.item_index.get_indexer(split.new_items)
        return cls(
            users=users,
            histories=histories,
            relevant=relevant,
            test=test,
            info=M.self_information(train.matrix),
            genre_matrix=train.genre_matrix,
            skipped_learners=int(test.loc[~known, "user"].nunique()),
            enrolment=enrolment,
            head=M.head_courses(enrolment, head_share),
            levels=levels,
            new_cols=new_cols,
            known_learners=split.fold_in is None,
        )


@dataclass
class ModelDetails:
    """Everything measured for one model; per-learner arrays feed intervals, paired tests and plots."""

    name: str
    key: str
    label: str
    params: dict[str, Any]
    metrics: dict[str, float | None]
    ci: dict[str, tuple[float, float]]
    per_learner: pd.DataFrame  # user, n_train, n_test, precision@K ... novelty@K
    top: np.ndarray  # learners x K recommended catalogue indices (-1 = none), rows as per_learner
    fit_seconds: float
    recommend_ms: float
    predictions: pd.DataFrame | None = None  # user, item, actual, predicted (rating models)
    errors: np.ndarray | None = None  # predicted - actual per test rating (rating models)
    learning_curve: pd.DataFrame | None = None  # model.history_ (e.g. loss per epoch) when present
    model: Any = None  # the fitted Recommender
    kpis: dict[str, float] = field(default_factory=dict)  # product KPIs (metrics.kpi_names)
    segments: pd.DataFrame | None = None  # kind, segment, n_learners, metric means (segments.segment_frame)
    new_courses: dict[str, Any] | None = None  # new_courses split: can_recommend, reach, listed_new


def _learning_curve(model) -> pd.DataFrame | None:
    curve = getattr(model, "history_", None)
    if curve is None:
        return None
    if isinstance(curve, pd.DataFrame):
        return curve.copy()
    try:
        frame = pd.DataFrame(curve)
    except (ValueError, TypeError):
        return None
    if "epoch" not in frame:
        frame.insert(0, "epoch", np.arange(1, len(frame) + 1))
    return frame


def evaluate_model(
    model,
    data: EvalData,
    k: int = 10,
    seed: int = 0,
    n_resamples: int = N_RESAMPLES,
    name: str | None = None,
    label: str | None = None,
    fit_seconds: float = float("nan"),
    chunk_size: int = CHUNK,
    progress: Progress | None = None,
    extras: bool = True,
    activity_bins=S.DEFAULT_ACTIVITY_BINS,
    level_target=M.DEFAULT_LEVEL_TARGET,
    head_share: float = M.DEFAULT_HEAD_SHARE,
) -> ModelDetails:
    """Score a FITTED model on prepared test learners: top-K lists, metrics, intervals, timings.

    `n_resamples=0` skips the bootstrap (used by tuning, where the spread across folds is reported).
    `extras` adds product KPIs, segments and (new_courses split) whether the model can score new courses.
    """
    n, n_items = data.histories.shape
    tops, seconds = [], 0.0
    new_cols = data.new_cols if data.new_cols is not None else np.zeros(0, dtype=np.int64)
    finite_new = np.zeros(len(new_cols), dtype=bool)
    for start in range(0, n, chunk_size):
        rows = data.histories[start : start + chunk_size]
        began = time.perf_counter()
        scores = np.asarray(model.score_histories(rows))
        if scores.shape != (rows.shape[0], n_items):
            raise ValueError(
                f"model '{model.key}' returned scores of shape {scores.shape}, expected {(rows.shape[0], n_items)}"
            )
        tops.append(M.top_k(scores, k, exclude=rows))
        seconds += time.perf_counter() - began
        if len(new_cols):
            finite_new |= np.isfinite(scores[:, new_cols]).any(axis=0)
        if progress:
            progress(
                min(start + chunk_size, n) / max(n, 1) * 0.8, f"scoring {min(start + chunk_size, n):,}/{n:,} learners"
            )
    top = np.vstack(tops) if tops else np.zeros((0, k), dtype=np.int64)
    per = M.per_learner_metrics(top, data.relevant, data.genre_matrix, data.info)
    values: dict[str, float | None] = {}
    for metric in M.metric_names(k):
        if metric in per:
            column = per[metric]
            values[metric] = float(np.nanmean(column)) if np.any(~np.isnan(column)) else None
    values[f"coverage@{k}"] = M.coverage_at_k(top, n_items)
    ci = bootstrap_intervals(per, n_resamples, seed) if n_resamples and n else {}

    predictions = errors = None
    values["rmse"] = values["mae"] = None
    # `predict` knows only training learners: under new_learners it cannot fold anyone in, so no RMSE/MAE.
    if getattr(model, "predicts_ratings", False) and len(data.test) and data.known_learners:
        predicted = np.asarray(
            model.predict(data.test["user"].to_numpy(object), data.test["item"].to_numpy(object)), dtype=np.float64
        )
        actual = data.test["rating"].to_numpy(np.float64)
        errors = predicted - actual
        predictions = pd.DataFrame(
            {
                "user": data.test["user"].to_numpy(),
                "item": data.test["item"].to_numpy(),
                "actual": actual,
                "predicted": predicted,
            }
        )
        values["rmse"], values["mae"] = M.rmse(errors), M.mae(errors)
        if n_resamples:
            # Intervals over test ratings: bootstrap the mean squared / absolute error.
            rating_ci = bootstrap_intervals({"se": errors**2, "ae": np.abs(errors)}, n_resamples, seed)
            ci["rmse"] = tuple(float(np.sqrt(v)) for v in rating_ci["se"])
            ci["mae"] = rating_ci["ae"]
    values = {m: values.get(m) for m in M.metric_names(k)}

    frame = pd.DataFrame(
        {"user": data.users, "n_train": np.diff(data.histories.indptr), "n_test": np.diff(data.relevant.indptr)}
    )
    for metric, column in per.items():
        frame[metric] = column
    kpis, segments, new_courses = {}, None, None
    if extras:
        enrolment = data.enrolment if data.enrolment is not None else np.zeros(n_items)
        head = data.head if data.head is not None else M.head_courses(enrolment, head_share)
        kpis = M.product_kpis(top, enrolment, data.genre_matrix, data.levels, head_share, level_target)
        segments = S.segment_frame(frame, top, data.relevant, head, data.genre_matrix, data.info, activity_bins)
        if data.new_cols is not None:
            listed_new = np.isin(top, new_cols) & (top >= 0)
            new_courses = {
                "can_recommend": bool(finite_new.any()),
                "scored_new_courses": int(finite_new.sum()),
                "reach": float(len(np.unique(top[listed_new])) / max(len(new_cols), 1)),
                "learners_shown_a_new_course": int(listed_new.any(axis=1).sum()),
            }
            if not new_courses["can_recommend"]:
                new_courses["note"] = "cannot recommend new courses"
    if progress:
        progress(1.0, "metrics done")
    return ModelDetails(
        name=name or model.key,
        key=model.key,
        label=label or (type(model).label or model.key),
        params=_jsonable(model.get_params()),
        metrics=values,
        ci=ci,
        per_learner=frame,
        top=top,
        fit_seconds=float(fit_seconds),
        recommend_ms=1000.0 * seconds / max(n, 1),
        predictions=predictions,
        errors=errors,
        learning_curve=_learning_curve(model),
        model=model,
        kpis=kpis,
        segments=segments,
        new_courses=new_courses,
    )


def fit_model(model, train, progress: Progress | None = None) -> float:
    """Fit and return wall-clock seconds."""
    began = time.perf_counter()
    model.fit(train, progress=progress)
    return time.perf_counter() - began


def _dataset_info(dataset) -> dict[str, Any]:
    return {
        "name": dataset.name,
        "fingerprint": dataset.fingerprint,
        "counts": {
            "learners": int(dataset.n_users),
            "courses": int(dataset.n_items),
            "ratings": int(len(dataset.ratings)),
        },
    }


def _sub_progress(progress: Progress | None, start: float, width: float, prefix: str) -> Progress | None:
    if progress is None:
        return None

    def report(fraction: float, message: str = "") -> None:
        fraction = min(max(float(fraction), 0.0), 1.0)
        progress(start + width * fraction, f"{prefix}: {message}" if message and prefix else message or prefix)

    return report


# ----- results -----------------------------------------------------------------------------------
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
        NaN becomes null.
        """
        vs_best = self.vs_best()
        results = []
        for d in self.details.values():
            entry = {
                "model": d.key,
                "name": d.name,
                "label": d.label,
                "params": d.params,
                "metrics": {m: _clean(d.metrics.get(m)) for m in self.metric_names},
                "ci": {m: [_clean(lo), _clean(hi)] for m, (lo, hi) in d.ci.items()},
                "fit_seconds": _clean(d.fit_seconds),
                "recommend_ms": _clean(d.recommend_ms),
                "kpis": {m: _clean(d.kpis.get(m)) for m in self.kpi_names} if d.kpis else {},
                "vs_best": {
                    r.metric: _comparison_json(r, best=True) for r in vs_best[vs_best["name"] == d.name].itertuples()
                },
                "segments": _segments_json(d.segments),
            }
            if d.new_courses is not None:
                entry["new_courses"] = _jsonable(d.new_courses)
            results.append(entry)
        out = {"dataset": dict(self.dataset), "split": dict(self.split), "results": results}
        if self.pairs == "all":
            out["pairs"] = [
                {"a": r.a, "b": r.b, "metric": r.metric, **_comparison_json(r, best=False)}
                for r in self.all_pairs().itertuples()
            ]
        return out

    def write_json(self, path) -> Path:
        """Write `to_json()` atomically (temporary file + rename)."""
        return write_json_atomic(path, self.to_json())


def _clean(value):
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None


def _comparison_json(row, best: bool) -> dict[str, Any]:
    out = {
        "mean_diff": _clean(row.mean_diff),
        "ci": [_clean(row.ci_lo), _clean(row.ci_hi)],
        "p_value": _clean(row.p_value),
        "p_holm": _clean(row.p_holm),
        "effect_size": _clean(row.effect_size),
        "n": int(row.n),
    }
    if best:
        out = {"best": row.best, **out, "tied_with_best": bool(row.tied_with_best)}
    else:
        out["significant"] = bool(row.significant)
    return out


def _segments_json(segments: pd.DataFrame | None) -> dict[str, list]:
    if segments is None:
        return {}
    metrics = [c for c in segments.columns if "@" in c]
    out: dict[str, list] = {}
    for r in segments.to_dict("records"):
        out.setdefault(r["kind"], []).append(
            {"segment": r["segment"], "n_learners": int(r["n_learners"]), "metrics": {m: _clean(r[m]) for m in metrics}}
        )
    return out


# ----- the experiment ----------------------------------------------------------------------------
PAIRS = ("best", "all")


class Experiment:
    """Compare models on one split of `dataset`.

    split: a `Split` or a name (SPLIT_NAMES: 'new_learners', 'holdout', 'ratio', 'new_courses'; built with
    `split_params` and `seed`).
    models: keys, (key, params) pairs or Recommender instances (cloned, then fitted on the split's train).
    history: a `RunHistory` (or a path to one); when given, `run` records the result and sets `run_id`.
    activity_bins: upper bounds of the learner-activity segments (default 1, 3, 10 -> 1, 2-3, 4-10, >10).
    head_share: share of enrolments the head courses hold (default 0.2); level_target: target level mix
    (Beginner, Intermediate, Advanced; default 30/40/30). pairs: "best" (each model vs the best) or "all".
    n_jobs: models fitted side by side (`lanes`; -1 = the cores, at most 2). The numbers do not depend on it;
    fit_seconds and recommend_ms are wall times measured while the other lane runs too.
    """

    def __init__(
        self,
        dataset,
        split: Split | str = "holdout",
        models: Iterable = ("popularity",),
        k: int = 10,
        seed: int = 0,
        split_params: Mapping[str, Any] | None = None,
        n_resamples: int = N_RESAMPLES,
        history=None,
        chunk_size: int = CHUNK,
        activity_bins=S.DEFAULT_ACTIVITY_BINS,
        head_share: float = M.DEFAULT_HEAD_SHARE,
        level_target=M.DEFAULT_LEVEL_TARGET,
        pairs: str = "best",
        n_jobs: int = -1,
    ):
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        if n_resamples and (int(n_resamples) != n_resamples or n_resamples < 10):
            raise ValueError(f"n_resamples must be 0 (no intervals) or an integer >= 10, got {n_resamples!r}")
        if isinstance(split, str) and split not in SPLIT_NAMES:
            raise ValueError(f"unknown split '{split}' (known: {', '.join(SPLIT_NAMES)})")
        if not isinstance(split, (str, Split)):
            raise ValueError(f"split must be a Split or one of {', '.join(SPLIT_NAMES)}, got {split!r}")
        options = self.check_options(activity_bins, head_share, level_target, pairs)
        self.activity_bins, self.head_share, self.level_target, self.pairs = options
        self.dataset, self.split, self.k, self.seed = dataset, split, int(k), int(seed)
        self.split_params = dict(split_params or {})
        self.n_resamples, self.chunk_size = int(n_resamples), int(chunk_size)
        self.specs = resolve_models(models, self.seed)
        self.n_jobs = check_lanes(n_jobs)
        if history is not None and not hasattr(history, "record_experiment"):
            from recsys.evaluation.history import RunHistory

            history = RunHistory(history)
        self.history = history

    @staticmethod
    def check_options(
        activity_bins=S.DEFAULT_ACTIVITY_BINS,
        head_share: float = M.DEFAULT_HEAD_SHARE,
        level_target=M.DEFAULT_LEVEL_TARGET,
        pairs: str = "best",
    ):
        """Validated (activity_bins, head_share, level_target, pairs); ValueError naming the bad option."""
        if pairs not in PAIRS:
            raise ValueError(f"pairs must be one of {', '.join(PAIRS)}, got {pairs!r}")
        return S.check_bins(activity_bins), M.check_head_share(head_share), M.check_level_target(level_target), pairs

    def make_split(self) -> Split:
        if isinstance(self.split, Split):
            return self.split
        return make_split(self.dataset, self.split, seed=self.seed, **self.split_params)

    def run(self, progress: Progress | None = None) -> ExperimentResult:
        """Fit and score every model; `progress(fraction, message)` covers the whole run."""
        for spec in self.specs:
            type(spec.model).warm_up()
        if progress:
            progress(0.0, "splitting")
        split = self.make_split()
        data = EvalData.from_split(split, self.head_share)
        if len(data.users) == 0:
            raise ValueError("the split has no test learners with training history; use a larger dataset or test share")
        split_info = {
            **split.describe(),
            "k": self.k,
            "seed": self.seed,
            "n_resamples": self.n_resamples,
            "evaluated_learners": int(len(data.users)),
            "skipped_test_learners": data.skipped_learners,
            "activity_bins": list(self.activity_bins),
            "activity_segments": S.activity_labels(self.activity_bins),
            "head_share": self.head_share,
            "head_courses": int(data.head.sum()),
            "level_target": dict(zip(M.LEVEL_NAMES, self.level_target)),
            "pairs": self.pairs,
        }
        if not data.known_learners:
            split_info["rating_metrics"] = "n/a: predict() scores training learners only, new learners are folded in"
        jobs = [self._model_job(spec, split, data) for spec in self.specs]
        overall = _sub_progress(progress, 0.03, 0.96, "")  # the last 1% is recording; only the end reports 1.0
        fitted = run_jobs(jobs, self.n_jobs, overall, cost=[type(spec.model).fit_cost for spec in self.specs])
        details: dict[str, ModelDetails] = {spec.name: d for spec, d in zip(self.specs, fitted)}
        result = ExperimentResult(_dataset_info(self.dataset), split_info, self.k, self.seed, details, pairs=self.pairs)
        if self.history is not None:
            result.run_id = self.history.record_experiment(result)
        if progress:
            progress(1.0, "done")
        return result

    def _model_job(self, spec: ModelSpec, split: Split, data: EvalData):
        """Fit a fresh copy of one model and score it: one job of `lanes.run_jobs`."""

        def job(report: Progress) -> ModelDetails:
            model = clone(spec.model)  # a fresh model per run: results never share fitted state
            fit_seconds = fit_model(model, split.train, _sub_progress(report, 0.0, 0.8, f"{spec.name} fit"))
            return evaluate_model(
                model,
                data,
                self.k,
                self.seed,
                self.n_resamples,
                name=spec.name,
                label=spec.label,
                fit_seconds=fit_seconds,
                chunk_size=self.chunk_size,
                progress=_sub_progress(report, 0.8, 0.2, f"{spec.name} eval"),
                activity_bins=self.activity_bins,
                level_target=self.level_target,
                head_share=self.head_share,
            )

        return job
