"""Hyperparameter search with Optuna: Tune (one model, per-learner K-fold cross-validation) and the inner search
of a tuned comparison (one validation split made from the comparison's training part only).

Search spaces come from the models' `HyperParam` declarations (`search_space`); studies are stored and resumed
(`studies`). Every trial fits the model and scores held-out courses through the same new-learner path and metrics
as `Experiment`. Iterative models are scored after each epoch/iteration of the first fold (`Recommender.fit`'s
`checkpoint`) and K-fold trials after each fold, so a median pruner stops hopeless trials early. The first trial
of a new TPE or random study is the declared defaults: a tuned model is never chosen below its defaults on the
validation data.
"""

from __future__ import annotations

import base64
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import optuna
import pandas as pd

from recsys._json import to_jsonable, write_json_atomic
from recsys._progress import Progress
from recsys.evaluation import metrics as M
from recsys.evaluation import search_space as SS
from recsys.evaluation import studies
from recsys.evaluation.eval_data import EvalData
from recsys.evaluation.reporting import clean_number, dataset_info
from recsys.evaluation.scoring import evaluate_model
from recsys.evaluation.splits import Split, kfold_splits, make_split

SAMPLERS = studies.SAMPLERS
SEARCHES = SAMPLERS  # the former name of the sampler choice
DEFAULT_TRIALS = 20
MAX_TRIALS = 1000
MAX_COMBINATIONS = 200  # a grid larger than this needs tpe or random
MAX_MINUTES = 24 * 60
FOLD_STEP = 100_000  # intermediate steps: epochs of the first fold are 1, 2, ...; fold f ends at FOLD_STEP + f
PRUNER_STARTUP_TRIALS = 5
MIN_FAILURES = 5
CHECKPOINT_FIRST = 4  # first epoch/iteration scored mid-fit (then 8, 16, 32, ...)  # failed trials (infeasible or unscorable) in one call before the search gives up


def check_budget(n_trials=None, minutes=None, what: str = "trials") -> tuple[int | None, float | None]:
    """Validated (trials, minutes): trials an integer 1..MAX_TRIALS, minutes a finite number in (0, MAX_MINUTES]."""
    if n_trials is not None:
        if isinstance(n_trials, bool) or not isinstance(n_trials, (int, float, np.integer, np.floating)):
            raise ValueError(f"{what} must be a whole number from 1 to {MAX_TRIALS}, got {n_trials!r}")
        if not math.isfinite(float(n_trials)) or float(n_trials) != int(n_trials):
            raise ValueError(f"{what} must be a whole number from 1 to {MAX_TRIALS}, got {n_trials!r}")
        if not 1 <= int(n_trials) <= MAX_TRIALS:
            raise ValueError(f"{what} must be from 1 to {MAX_TRIALS}, got {int(n_trials)}")
        n_trials = int(n_trials)
    if minutes is not None:
        if isinstance(minutes, bool) or not isinstance(minutes, (int, float, np.integer, np.floating)):
            raise ValueError(f"the time budget must be a number of minutes, got {minutes!r}")
        if not math.isfinite(float(minutes)) or not 0 < float(minutes) <= MAX_MINUTES:
            raise ValueError(f"the time budget must be more than 0 and at most {MAX_MINUTES} minutes, got {minutes!r}")
        minutes = float(minutes)
    return n_trials, minutes


def check_sampler(sampler: str) -> str:
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler '{sampler}' (known: {', '.join(SAMPLERS)})")
    return sampler


# ----- the study loop shared by Tune and the tuned comparison --------------------------------------------------
@dataclass
class StudyRun:
    """The trials a question is answered from (the first `n_trials` finished ones) and what this call added."""

    study: optuna.Study
    trials: list[optuna.trial.FrozenTrial]
    new_trials: int
    seconds: float

    @property
    def complete(self) -> list[optuna.trial.FrozenTrial]:
        return [t for t in self.trials if t.state == optuna.trial.TrialState.COMPLETE and t.value is not None]

    @property
    def pruned(self) -> int:
        return sum(t.state == optuna.trial.TrialState.PRUNED for t in self.trials)


def open_study(name: str, storage=None, lower_is_better: bool = False) -> optuna.Study:
    """Create or load the named study (`storage`: a path, None = artifacts/tuning.sqlite, "memory" = not stored, or
    an Optuna storage)."""
    if isinstance(storage, optuna.storages.BaseStorage):
        store = storage
    else:
        store = optuna.storages.InMemoryStorage() if storage == "memory" else studies.storage(storage)
    return optuna.create_study(
        study_name=name,
        storage=store,
        direction="minimize" if lower_is_better else "maximize",
        load_if_exists=True,
        pruner=optuna.pruners.MedianPruner(n_startup_trials=PRUNER_STARTUP_TRIALS, n_warmup_steps=0),
    )


def run_study(
    study: optuna.Study,
    cls,
    space: Mapping[str, Any],
    objective: Callable[[optuna.Trial, dict], float],
    n_trials: int,
    sampler: str,
    seed: int,
    minutes: float | None = None,
    fixed: Mapping[str, Any] | None = None,
    grid: Mapping[str, list] | None = None,
    progress: Progress | None = None,
    label: str = "",
) -> StudyRun:
    """Run trials until the study holds `n_trials` finished ones (or `minutes` pass), one at a time (ask/tell)."""
    began = time.perf_counter()
    defaults_trial = None
    if sampler != "grid" and not study.get_trials(deepcopy=False):
        defaults = {p.name: p.default for p in cls.hyperparams if p.name in space}
        applicable = {k: v for k, v in defaults.items() if SS.applies(cls, k, {**defaults, **(fixed or {})})}
        study.enqueue_trial({k: v for k, v in applicable.items() if not SS.is_auto(v)})
        defaults_trial = 0
    new = failures = 0
    while True:
        done = studies.finished(study)
        if len(done) >= n_trials or (minutes is not None and time.perf_counter() - began > 60 * minutes):
            break
        if sampler == "grid" and _grid_exhausted(study, grid):
            break
        number = len(study.get_trials(deepcopy=False))
        study.sampler = studies.make_sampler(sampler, seed, number, grid)

        def run_trial(trial: optuna.Trial) -> float:
            params = SS.suggest(trial, cls, space, fixed, defaults=trial.number == defaults_trial)
            try:
                value = objective(trial, params)
            except ValueError as exc:  # parameters the model refuses together (e.g. a user-based tf-idf kNN)
                trial.set_user_attr("error", str(exc))
                raise Infeasible(str(exc)) from None
            if value is None or not math.isfinite(value):
                raise NoScore("no test learner could be scored")
            return float(value)

        # One trial per optimize call: the storage's heartbeat runs (a killed trial is failed, then retried) and
        # the sampler is re-seeded for each trial number.
        study.optimize(run_trial, n_trials=1, catch=(NoScore, Infeasible), gc_after_trial=False)
        last = study.get_trials(deepcopy=False)[-1]
        failures += last.state == optuna.trial.TrialState.FAIL
        if failures >= max(MIN_FAILURES, n_trials):
            errors = {t.user_attrs.get("error") for t in study.get_trials(deepcopy=False) if t.user_attrs.get("error")}
            raise ValueError(
                f"{cls.key}: {failures} trials failed"
                + (f" ({'; '.join(sorted(errors))[:300]})" if errors else " (no test learner could be scored)")
            )
        new += 1
        if progress:
            best = _best_value(study)
            progress(
                min(1.0, len(studies.finished(study)) / n_trials),
                f"{label}trial {len(studies.finished(study))}/{n_trials}"
                + ("" if best is None else f", best so far {best:.4f}"),
            )
    trials = sorted(studies.finished(study), key=lambda t: t.number)[:n_trials]
    return StudyRun(study, trials, new, time.perf_counter() - began)


class NoScore(RuntimeError):
    """A trial that produced no number (no test learner could be scored): recorded as failed."""


class Infeasible(RuntimeError):
    """Parameters the model refuses in combination: the trial is recorded as failed and the search goes on."""


def _grid_exhausted(study: optuna.Study, grid) -> bool:
    combos = math.prod(len(v) for v in (grid or {}).values()) if grid else 1
    return len(studies.finished(study)) >= combos


def _best_value(study: optuna.Study) -> float | None:
    try:
        return float(study.best_value)
    except ValueError:
        return None


def best_trial(run: StudyRun, lower_is_better: bool) -> optuna.trial.FrozenTrial | None:
    """The best completed trial among those the answer uses (ties: the earliest)."""
    complete = run.complete
    if not complete:
        return None
    pick = min if lower_is_better else max
    best = pick(t.value for t in complete)
    return next(t for t in complete if t.value == best)


def _scorer(metric: str, k: int, seed: int):
    """value of `metric` for a fitted model on prepared test learners (None when nothing could be scored)."""

    def score(model, data: EvalData) -> float | None:
        if not len(data.users):
            return None
        return evaluate_model(model, data, k, seed, n_resamples=0, extras=False).metrics.get(metric)

    return score


def _make(cls, params: Mapping[str, Any], seed: int):
    from recsys.models import make_model

    return make_model(cls.key, **{"seed": seed, **params})


# ----- Tune: one model, K-fold cross-validation ------------------------------------------------------------------
@dataclass
class TuneResult:
    """`table`: one row per trial (parameter columns, mean, std, fold_1..fold_K, fit_seconds, state, trial, rank)."""

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
    study_name: str = ""
    study_storage: str = ""
    notes: list[str] = field(default_factory=list)
    search_space: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    run_id: int | None = None

    @property
    def sampler(self) -> str:
        return self.search

    @property
    def n_pruned(self) -> int:
        return int((self.table["state"] == "pruned").sum()) if "state" in self.table else 0

    def to_json(self) -> dict[str, Any]:
        folds = [c for c in self.table.columns if c.startswith("fold_")]
        results = []
        for _, row in self.table.iterrows():
            results.append(
                {
                    "trial": int(row["trial"]) if "trial" in row else None,
                    "state": row.get("state", "complete"),
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
            "sampler": self.search,
            "study": self.study_name,
            "search_space": to_jsonable(self.search_space),
            "results": results,
            "best_params": to_jsonable(self.best_params),
            "best_score": clean_number(self.best_score),
            "notes": list(self.notes),
        }

    def write_json(self, path):
        return write_json_atomic(path, self.to_json())


def parse_grid_values(cls, grid: Mapping[str, Sequence] | None) -> dict[str, list]:
    """Validate grid names and values against the model's HyperParam spec (the declared grids when empty)."""
    spec = cls.param_spec()
    if not grid:
        grid = {
            name: p.grid() for name, p in spec.items() if p.role not in ("seed", "resource") and p.kind != "mapping"
        }
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
    sampler: str | None = None,
    n_trials: int | None = None,
    timeout: float | None = None,
    progress: Progress | None = None,
    history=None,
    storage=None,
    search: str | None = None,
    n_iter: int | None = None,
    searched: Sequence[str] | None = None,
) -> TuneResult:
    """Search `model_key`'s parameters by per-learner K-fold cross-validation and pick the best by `metric`.

    metric: 'ndcg@10'-style (its K wins over `k`), or 'rmse'/'mae' for rating models (lower is better).
    grid: {param: [values]} restricts those parameters to those values (validated by the model's spec); without
    it every declared parameter is searched over its declared range. sampler: 'tpe' (seeded; the default without
    `grid`), 'random' or 'grid' (the default with `grid`: its combinations, else the declared grids); a space of
    finitely many combinations, no more than the trials, is searched exhaustively by the grid sampler whatever the
    choice. n_trials: default 20 (grid: every combination);
    timeout: seconds after which no new trial starts. storage: a SQLite path (default artifacts/tuning.sqlite) or
    "memory". `search`/`n_iter` are the former names of `sampler`/`n_trials`.
    """
    from recsys.models import model_class

    sampler = check_sampler(search or sampler or ("grid" if grid else "tpe"))
    n_trials = n_iter if n_trials is None else n_trials
    cls = model_class(model_key)
    base, metric_k = M.parse_metric(metric, default_k=k)
    metric = base if metric_k is None else f"{base}@{metric_k}"
    eval_k = metric_k or int(k)
    lower = base in M.LOWER_IS_BETTER
    if base in M.RATING and not cls.predicts_ratings:
        raise ValueError(f"metric '{base}' needs a rating model; '{model_key}' only ranks courses")
    restrict = parse_grid_values(cls, grid) if (grid or sampler == "grid") else {}
    fixed = {}
    if searched is not None:
        unknown = [n for n in searched if n not in cls.param_spec()]
        if unknown:
            raise ValueError(f"model '{model_key}' has no parameter(s) {', '.join(unknown)}")
        fixed = {p.name: p.default for p in cls.hyperparams if p.name not in searched and p.role != "seed"}
        fixed = {n: v for n, v in fixed.items() if n not in restrict}
    space = SS.search_space(cls, rating_metric=base in M.RATING, fixed=fixed, restrict=restrict)
    if sampler == "grid":
        space = {name: SS.distribution(cls.param_spec()[name], values) for name, values in restrict.items()}
    if not space:
        raise ValueError(f"model '{model_key}' has no hyperparameters that change {metric}")
    finite = SS.combinations(space)
    if sampler != "grid" and finite is not None and finite <= (n_trials or DEFAULT_TRIALS):
        sampler = "grid"  # repeating the same few combinations would waste trials
    grid_values = SS.grid_values(cls, space, restrict) if sampler == "grid" else None
    combos = math.prod(len(v) for v in grid_values.values()) if grid_values else None
    if combos is not None and combos > MAX_COMBINATIONS and n_trials is None:
        raise ValueError(
            f"the grid has {combos} combinations (limit {MAX_COMBINATIONS}); narrow it or use the tpe or random sampler"
        )
    n_trials, _ = check_budget(n_trials if n_trials is not None else (combos or DEFAULT_TRIALS), None, "n_trials")
    if timeout is not None:
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, (int, float))
            or not math.isfinite(timeout)
            or timeout <= 0
        ):
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if isinstance(folds, bool) or not float(folds).is_integer() or int(folds) < 2:
        raise ValueError(f"folds must be an integer >= 2, got {folds!r}")
    if history is not None and not hasattr(history, "record_tuning"):
        from recsys.evaluation.history import RunHistory

        history = RunHistory(history)

    if progress:
        progress(0.0, "splitting into folds")
    splits = kfold_splits(dataset, folds=folds, seed=seed)
    data = [EvalData.from_split(s) for s in splits]
    score = _scorer(metric, eval_k, seed)
    protocol = {"name": "kfold", "folds": int(folds), "min_ratings": 2}
    name = studies.study_name(dataset.fingerprint, model_key, protocol, seed, metric, sampler, fixed, restrict)
    study = open_study(name, storage, lower)

    def objective(trial: optuna.Trial, params: dict) -> float | None:
        values, fit_seconds = [], []
        for f, (split, fold_data) in enumerate(zip(splits, data)):
            model = _make(cls, params, seed)
            checkpoint = _checkpoint(trial, model, fold_data, score) if f == 0 and not lower else None
            began = time.perf_counter()
            model.fit(split.train, checkpoint=checkpoint)
            fit_seconds.append(time.perf_counter() - began)
            value = score(model, fold_data)
            values.append(np.nan if value is None else float(value))
            trial.set_user_attr("folds", [None if not math.isfinite(v) else v for v in values])
            trial.set_user_attr("fit_seconds", float(np.mean(fit_seconds)))
            running = float(np.nanmean(values)) if np.isfinite(values).any() else None
            if running is not None and f < len(splits) - 1:
                trial.report(running, FOLD_STEP + f)
                if trial.should_prune():
                    raise optuna.TrialPruned()
        return float(np.nanmean(values)) if np.isfinite(values).any() else None

    run = run_study(
        study,
        cls,
        space,
        objective,
        n_trials,
        sampler,
        seed,
        minutes=None if timeout is None else timeout / 60.0,
        grid=grid_values,
        progress=progress,
    )
    names = list(space)
    table = _trial_table(cls, run.trials, names, len(splits), lower)
    best = best_trial(run, lower)
    best_params = {} if best is None else {n: v for n, v in _effective(cls, best.params).items() if n in names}
    best_score = None if best is None else float(best.value)
    result = TuneResult(
        model_key,
        metric,
        table,
        best_params,
        best_score,
        names,
        dataset_info(dataset),
        {"name": "kfold", "params": {"folds": int(folds), "min_ratings": 2, "seed": int(seed)}},
        eval_k,
        int(seed),
        sampler,
        study_name=name,
        study_storage="memory" if storage == "memory" else str(storage or studies.default_study_path()),
        notes=verdict_notes(table, names, best, lower, space, metric),
        search_space={n: str(d) for n, d in space.items()},
    )
    if history is not None:
        result.run_id = history.record_tuning(result)
    if progress:
        progress(1.0, "done")
    return result


def checkpoint_steps(step: int) -> bool:
    """Whether a mid-fit score is taken after epoch/iteration `step`: 4, 8, 16, 32, ... -- the same steps for every
    trial (the median pruner compares trials at equal steps), few of them (scoring costs as much as an epoch of
    BPR's fold-in), and none in the first three epochs, whose scores say little about the last."""
    return step >= CHECKPOINT_FIRST and step & (step - 1) == 0


def _checkpoint(trial: optuna.Trial, model, data: EvalData, score) -> Callable[[int], None]:
    """Report the model's score at `checkpoint_steps` and stop the fit when the pruner says so."""

    def report(step: int) -> None:
        if not checkpoint_steps(int(step)):
            return
        value = score(model, data)
        if value is None:
            return
        trial.report(float(value), int(step))
        if trial.should_prune():
            raise optuna.TrialPruned()

    return report


def _effective(cls, params: Mapping[str, Any]) -> dict[str, Any]:
    """A trial's parameters with every declared parameter it did not set at its default."""
    return {**{p.name: p.default for p in cls.hyperparams}, **dict(params)}


def _trial_table(cls, trials, names: list[str], n_folds: int, lower: bool) -> pd.DataFrame:
    rows = []
    for t in trials:
        folds = list(t.user_attrs.get("folds", []))
        folds += [None] * (n_folds - len(folds))
        complete = t.state == optuna.trial.TrialState.COMPLETE
        values = np.array([np.nan if v is None else v for v in folds], dtype=float)
        row = {n: v for n, v in _effective(cls, t.params).items() if n in names}
        row.update(
            mean=float(t.value) if complete and t.value is not None else np.nan,
            std=float(np.nanstd(values, ddof=1)) if complete and np.isfinite(values).sum() > 1 else np.nan,
            **{f"fold_{i + 1}": values[i] for i in range(n_folds)},
            fit_seconds=float(t.user_attrs.get("fit_seconds", np.nan)),
            state="complete" if complete else "pruned",
            trial=int(t.number),
        )
        rows.append(row)
    columns = [*names, "mean", "std", *[f"fold_{i + 1}" for i in range(n_folds)], "fit_seconds", "state", "trial"]
    table = pd.DataFrame(rows, columns=columns)
    table["rank"] = table["mean"].rank(ascending=lower, method="min", na_option="bottom").astype(int)
    return table


def verdict_notes(table: pd.DataFrame, names, best, lower: bool, space, metric: str) -> list[str]:
    """What the result can and cannot claim: a best not distinguishable from the runner-up across folds, and a
    best numeric value at the edge of the searched range (the optimum may lie beyond it)."""
    notes: list[str] = []
    if best is None:
        return ["no trial completed: nothing can be said about the best parameters"]
    ranked = table[table["state"] == "complete"].copy()
    lower_first = ranked["mean"] if lower else -ranked["mean"]
    ranked = ranked.assign(_order=lower_first).sort_values(["_order", "trial"], kind="stable")
    folds = [c for c in table.columns if c.startswith("fold_")]
    if len(ranked) >= 2:
        first, second = ranked.iloc[0], ranked.iloc[1]
        diff = (first[folds].to_numpy(float) - second[folds].to_numpy(float)) * (-1 if lower else 1)
        diff = diff[np.isfinite(diff)]
        se = float(np.std(diff, ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else float("nan")
        if not np.isfinite(se) or abs(float(np.mean(diff))) <= 2 * se:
            notes.append(
                f"not distinguishable from the runner-up: {metric} {first['mean']:.4f} vs {second['mean']:.4f} "
                f"(paired difference across {len(diff)} folds {np.mean(diff):+.4f}, standard error "
                f"{se:.4f}); either setting is as good on this data"
            )
    for name in names:
        dist = space.get(name)
        if not isinstance(dist, (optuna.distributions.IntDistribution, optuna.distributions.FloatDistribution)):
            continue
        value = best.params.get(name)
        if value is None or dist.high <= dist.low:
            continue
        if dist.log:
            position = (math.log(value) - math.log(dist.low)) / (math.log(dist.high) - math.log(dist.low))
        else:
            position = (value - dist.low) / (dist.high - dist.low)
        if position <= 0.02 or position >= 0.98:
            side = "lower" if position <= 0.02 else "upper"
            notes.append(
                f"{name} = {value:g} sits at the {side} edge of the searched range [{dist.low:g}, {dist.high:g}]: "
                "the best value may lie beyond it"
            )
    return notes


# ----- the inner search of a tuned comparison ----------------------------------------------------------------------
@dataclass
class TuningSummary:
    """How one model of a tuned comparison was tuned: what was chosen, from how many trials, in how long."""

    key: str
    tuned: bool
    params: dict[str, Any]
    trials: int
    pruned: int
    new_trials: int
    seconds: float
    best_value: float | None
    default_value: float | None
    study: str
    metric: str
    note: str = ""
    chosen_value: float | None = None
    chosen_trial: int | None = None
    choice: str = ""

    def to_json(self) -> dict[str, Any]:
        return to_jsonable(
            {
                "tuned": self.tuned,
                "params": self.params,
                "trials": self.trials,
                "pruned": self.pruned,
                "new_trials": self.new_trials,
                "seconds": round(self.seconds, 3),
                "validation": {
                    "metric": self.metric,
                    "best": self.best_value,
                    "defaults": self.default_value,
                    "chosen": self.chosen_value,
                    "chosen_trial": self.chosen_trial,
                },
                "choice": self.choice,
                "study": self.study,
                "note": self.note,
            }
        )


def inner_split(train, protocol: str, split_params: Mapping[str, Any], seed: int, exclude_users=()) -> Split:
    """The comparison's protocol applied to its training part only (seeded); learners of the outer test part are
    never among the inner test learners (they stay in the inner training data where the outer split put them)."""
    split = make_split(train, protocol, seed=seed, **dict(split_params))
    excluded = pd.Index(pd.unique(pd.Series(list(exclude_users), dtype=object)))
    if len(excluded):
        split.test = split.test.loc[~split.test["user"].isin(excluded)].reset_index(drop=True)
        if split.fold_in is not None:
            split.fold_in = split.fold_in.loc[~split.fold_in["user"].isin(excluded)].reset_index(drop=True)
    if split.test.empty:
        raise ValueError(
            f"the inner validation split ({protocol}) of the training part has no test learners; tune on a "
            "larger dataset or without --tune"
        )
    return split


def tune_on_split(
    split: Split,
    model_key: str,
    n_trials: int | None,
    minutes: float | None,
    seed: int,
    k: int = 10,
    sampler: str = "tpe",
    fixed: Mapping[str, Any] | None = None,
    storage=None,
    progress: Progress | None = None,
    protocol: Mapping[str, Any] | None = None,
) -> TuningSummary:
    """Search `model_key` on one (inner) validation split by NDCG@k; the study is stored and reused."""
    from recsys.models import model_class

    cls = model_class(model_key)
    fixed = dict(fixed or {})
    metric = f"ndcg@{int(k)}"
    space = SS.search_space(cls, fixed=fixed)
    if not space:
        return TuningSummary(
            model_key, False, {}, 0, 0, 0, 0.0, None, None, "", metric, "no parameter changes the ranking"
        )
    n_trials = n_trials if n_trials is not None else MAX_TRIALS
    data = EvalData.from_split(split)
    score = _scorer(metric, int(k), seed)
    name = studies.study_name(
        split.train.fingerprint, model_key, dict(protocol or {"name": split.name}), seed, metric, sampler, fixed
    )
    study = open_study(name, storage)
    grid = SS.grid_values(cls, space) if sampler == "grid" else None

    def objective(trial: optuna.Trial, params: dict) -> float | None:
        model = _make(cls, params, seed)
        began = time.perf_counter()
        model.fit(split.train, checkpoint=_checkpoint(trial, model, data, score))
        trial.set_user_attr("fit_seconds", time.perf_counter() - began)
        values = per_learner(model, data, k=int(k))
        if values is None:
            return None
        trial.set_user_attr(PER_LEARNER_ATTR, encode_scores(values))
        return float(np.nanmean(values))

    run = run_study(study, cls, space, objective, n_trials, sampler, seed, minutes, fixed, grid, progress, "")
    best = best_trial(run, lower_is_better=False)
    defaults = next((t for t in run.complete if t.number == 0), None)
    pick, choice, why = choose_trial(best, defaults)
    # the defaults trial leaves an "auto" parameter to the model's data rule: it is reported as "auto"
    chosen = {} if pick is None else {n: v for n, v in _effective(cls, pick.params).items() if n in space}
    return TuningSummary(
        model_key,
        pick is not None,
        chosen,
        len(run.trials),
        run.pruned,
        run.new_trials,
        run.seconds,
        None if best is None else float(best.value),
        None if defaults is None else float(defaults.value),
        name,
        metric,
        why if pick is not None else "no trial completed; defaults kept",
        None if pick is None else float(pick.value),
        None if pick is None else int(pick.number),
        choice,
    )


PER_LEARNER_ATTR = "per_learner"
BEST, DEFAULTS = "best", "defaults"
CHOICES = (BEST, DEFAULTS)  # how a tuned comparison picked a model's parameters (`choose_trial`)
_SCALE = 65534  # per-learner scores in [0, 1] stored as 16-bit integers (resolution 1.5e-5); 65535 = no score


def encode_scores(values: np.ndarray) -> str:
    """Per-learner scores in [0, 1] as a compact string for a trial's user attributes (2 bytes a learner)."""
    values = np.asarray(values, dtype=np.float64)
    coded = np.where(np.isfinite(values), np.round(np.clip(values, 0.0, 1.0) * _SCALE), _SCALE + 1)
    return base64.b64encode(coded.astype("<u2").tobytes()).decode("ascii")


def decode_scores(text: str) -> np.ndarray:
    coded = np.frombuffer(base64.b64decode(text), dtype="<u2").astype(np.float64)
    return np.where(coded > _SCALE, np.nan, coded / _SCALE)


def choose_trial(best, defaults) -> tuple[optuna.trial.FrozenTrial | None, str, str]:
    """The one-standard-error rule on the validation learners (Hastie, Tibshirani & Friedman, ESL 7.10), with the
    defaults as the simple model: the best trial is used only when it beats the defaults by more than one standard
    error of their paired per-learner difference. The highest of 20-30 noisy means is optimistic; the defaults'
    score was not selected from many, and their rule follows the data. Deterministic: it reads validation scores
    only (never fit times). Returns (trial, choice, why) with choice one of CHOICES."""
    if best is None:
        return None, "", ""
    if defaults is None or defaults.number == best.number:
        return best, BEST, "best validation score"
    best_scores, default_scores = _scores(best), _scores(defaults)
    if best_scores is None or default_scores is None or len(best_scores) != len(default_scores):
        return best, BEST, "best validation score"
    diff = best_scores - default_scores
    diff = diff[np.isfinite(diff)]
    if len(diff) < 2:
        return best, BEST, "best validation score"
    se = float(np.std(diff, ddof=1) / math.sqrt(len(diff)))
    gain = float(np.mean(diff))
    learners = f"{len(diff):,} validation learners"
    if gain > se:
        return best, BEST, f"best validation score: {gain:+.4f} over the defaults (standard error {se:.4f}, {learners})"
    return (
        defaults,
        DEFAULTS,
        f"defaults kept: the best trial's {gain:+.4f} over them is within one standard error ({se:.4f}) on {learners}",
    )


def _scores(trial) -> np.ndarray | None:
    text = trial.user_attrs.get(PER_LEARNER_ATTR)
    return None if text is None else decode_scores(text)


def per_learner(model, data: EvalData, metric: str = "ndcg", k: int = 10) -> np.ndarray | None:
    """`metric`@k of every test learner of `data` (None when nothing could be scored)."""
    if not len(data.users):
        return None
    details = evaluate_model(model, data, k, 0, n_resamples=0, extras=False)
    column = f"{metric}@{int(k)}"
    if column not in details.per_learner or not np.isfinite(details.per_learner[column]).any():
        return None
    return details.per_learner[column].to_numpy(dtype=np.float64)


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
