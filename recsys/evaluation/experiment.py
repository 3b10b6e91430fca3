"""Fit several recommenders on one split and score them with the same metrics, intervals and timings.

The orchestration only: the split is built once (`splits`), its test side prepared once (`eval_data`), each
model resolved (`specs`), fitted on the training part and scored (`scoring`) in lanes (`lanes`), and the
result assembled (`reporting`) and recorded in the run history. The CLI `compare` command and the app both
call `Experiment(...).run()`, so the same dataset, split, models and seed give the same numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import clone

from recsys._progress import Progress, sub_progress
from recsys.evaluation import metrics as M
from recsys.evaluation import segments as S
from recsys.evaluation.eval_data import EvalData
from recsys.evaluation.lanes import Cancelled, check_lanes, run_jobs
from recsys.evaluation.reporting import ExperimentResult, dataset_info
from recsys.evaluation.scoring import CHUNK, ModelDetails, evaluate_model, fit_model
from recsys.evaluation.specs import ModelSpec, resolve_models
from recsys.evaluation.splits import SPLIT_NAMES, Split, make_split
from recsys.evaluation.tuned import TuneBudget, tune_models
from recsys.evaluation.uncertainty import N_RESAMPLES

log = logging.getLogger(__name__)

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
    tune: a `TuneBudget` (or {"trials": N, "minutes": M, "sampler": ...}): first tune every model with that same
    budget on an inner split of the training part (`tuned`), then compare what each chose. study_storage: where the
    Optuna studies live (default artifacts/tuning.sqlite; "memory" = not stored).
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
        tune=None,
        study_storage=None,
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
        if tune is not None and not isinstance(tune, TuneBudget):
            tune = TuneBudget(**dict(tune))
        self.tune, self.study_storage = tune, study_storage
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
        specs, tuning, start = self.specs, {}, 0.03
        if self.tune is not None:
            specs, tuning = tune_models(
                self.specs,
                split,
                self.tune,
                self.seed,
                self.k,
                self.n_jobs,
                self.study_storage,
                sub_progress(progress, 0.03, 0.6, ""),
            )
            split_info["tuning"] = {**self.tune.describe(), "validation": f"{split.name} split of the training part"}
            start = 0.63
        jobs = [self._model_job(spec, split, data) for spec in specs]
        overall = sub_progress(progress, start, 0.99 - start, "")  # the last 1% is recording; only the end reports 1
        fitted = run_jobs(jobs, self.n_jobs, overall, cost=[type(spec.model).fit_cost for spec in specs])
        failures = {spec.name: f.describe() for spec, f in zip(specs, fitted) if isinstance(f, ModelFailure)}
        if len(failures) == len(specs):  # nothing to show: the first model's error is the run's error
            raise next(f for f in fitted if isinstance(f, ModelFailure)).error
        details: dict[str, ModelDetails] = {
            spec.name: d for spec, d in zip(specs, fitted) if not isinstance(d, ModelFailure)
        }
        for name, report in tuning.items():
            if name in details:
                details[name].tuning = report
        result = ExperimentResult(
            dataset_info(self.dataset), split_info, self.k, self.seed, details, pairs=self.pairs, failures=failures
        )
        if self.history is not None:
            result.run_id = self.history.record_experiment(result)
        if progress:
            progress(1.0, "done")
        return result

    def _model_job(self, spec: ModelSpec, split: Split, data: EvalData):
        """Fit a fresh copy of one model and score it: one job of `lanes.run_jobs`. A model that fails becomes a
        `ModelFailure` (its error is reported next to the other models' results) instead of stopping the run;
        a stop (Cancelled, Ctrl-C, a Streamlit rerun) still stops everything."""

        def job(report: Progress) -> ModelDetails | ModelFailure:
            try:
                return score(report)
            except Cancelled:
                raise
            except Exception as exc:
                log.warning("model %s failed in the comparison: %s", spec.name, exc)
                log.debug("model %s failed (traceback)", spec.name, exc_info=exc)
                return ModelFailure(spec.key, spec.label, exc)

        def score(report: Progress) -> ModelDetails:
            model = clone(spec.model)  # a fresh model per run: results never share fitted state
            fit_seconds = fit_model(model, split.train, sub_progress(report, 0.0, 0.8, f"{spec.name} fit"))
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
                progress=sub_progress(report, 0.8, 0.2, f"{spec.name} eval"),
                activity_bins=self.activity_bins,
                level_target=self.level_target,
                head_share=self.head_share,
            )

        return job


@dataclass
class ModelFailure:
    """One model of a comparison that could not be fitted or scored."""

    key: str
    label: str
    error: Exception

    def describe(self) -> dict[str, str]:
        message = str(self.error.args[0]) if isinstance(self.error, KeyError) and self.error.args else str(self.error)
        return {"model": self.key, "label": self.label, "error": message or type(self.error).__name__}
