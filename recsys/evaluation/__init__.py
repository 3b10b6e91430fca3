"""Evaluation engine: seeded splits, vectorized top-K metrics, bootstrap intervals, experiments, tuning
and the SQLite run history. The CLI and the app call the same functions, so the same seed gives the same
numbers in both.

    from recsys.data import load_dataset
    from recsys.evaluation import Experiment, RunHistory
    dataset = load_dataset(folder)  # an IBM-format folder, e.g. "data/builtin"
    models = ["popularity", ("knn", {"n_neighbours": 20})]
    result = Experiment(dataset, "new_learners", models, k=10, seed=0, n_resamples=200).run()
    result.table            # one row per model: metrics, <metric>_lo/_hi, fit_seconds, recommend_ms
    result.vs_best()        # each model vs the best per metric: paired diff, interval, Wilcoxon + Holm p
    result.kpi_table        # product KPIs (niche share, level mix, genres, exposure Gini, ...)
    result.segment_table    # every metric per learner-activity and course-popularity segment
    result.details["knn"]   # per-learner metrics, predictions, learning curve, fitted model
    RunHistory("runs.sqlite").record_experiment(result)  # the run history the app's Experiments page reads

Names are imported on first use, so `import recsys.evaluation.history` stays cheap.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "experiment": ("Experiment",),
    "specs": ("ModelSpec", "format_params", "resolve_models"),
    "eval_data": ("EvalData",),
    "scoring": ("ModelDetails", "evaluate_model", "fit_model"),
    "reporting": ("ExperimentResult",),
    "history": ("DEFAULT_PATH", "RunHistory"),
    "metrics": ("kpi_names", "metric_names", "parse_metric", "product_kpis"),
    "splits": (
        "SPLIT_NAMES",
        "Split",
        "holdout_split",
        "kfold_splits",
        "make_split",
        "new_courses_split",
        "new_learners_split",
        "ratio_split",
    ),
    "comparison": ("all_pairs", "compare_to_best"),
    "segments": ("activity_labels", "assign_activity"),
    "tuning": ("TuneResult", "tune"),
    "uncertainty": ("PairedTestResult", "bootstrap_ci", "bootstrap_intervals", "holm", "paired_columns", "paired_test"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'recsys.evaluation' has no attribute '{name}'")
    value = getattr(importlib.import_module(f"recsys.evaluation.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
