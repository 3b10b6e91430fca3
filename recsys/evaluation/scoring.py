"""Score one fitted model on prepared test learners: top-K lists, per-learner metrics, intervals, KPIs, segments.

Every model is scored through the new-learner path -- the batched `score_histories` on the test learners'
histories, whose courses are excluded from the lists -- exactly as the app serves a learner who types in their
courses. Rating metrics (RMSE/MAE) are added for models that predict ratings of known learners.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from recsys._json import to_jsonable
from recsys._progress import Progress
from recsys.evaluation import metrics as M
from recsys.evaluation import segments as S
from recsys.evaluation.eval_data import EvalData
from recsys.evaluation.new_courses import NewCourseScores, per_course, reach_summary
from recsys.evaluation.uncertainty import N_RESAMPLES, bootstrap_intervals

CHUNK = 2048  # learners scored per score_histories call


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
    tuning: dict[str, Any] | None = None  # tuned comparison: tuned, params, trials, pruned, seconds, study


def learning_curve(model) -> pd.DataFrame | None:
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
    new_scores = NewCourseScores(new_cols)
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
            new_scores.update(scores)
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
            table = per_course(top, data.relevant, new_cols, data.new_ids, data.new_titles)
            new_courses = {
                **new_scores.summary(),
                **reach_summary(top, new_cols),
                "per_course": table.to_dict("records"),
            }
    if progress:
        progress(1.0, "metrics done")
    return ModelDetails(
        name=name or model.key,
        key=model.key,
        label=label or (type(model).label or model.key),
        params=to_jsonable(model.get_params()),
        metrics=values,
        ci=ci,
        per_learner=frame,
        top=top,
        fit_seconds=float(fit_seconds),
        recommend_ms=1000.0 * seconds / max(n, 1),
        predictions=predictions,
        errors=errors,
        learning_curve=learning_curve(model),
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
