"""Evaluation engine: seeded splits, vectorized top-K metrics, bootstrap intervals, experiments, tuning
and the SQLite run history. The CLI and the app call the same functions, so the same seed gives the same
numbers in both.

    from recsys.evaluation import Experiment, RunHistory
    result = Experiment(dataset, "holdout", ["popularity", ("knn", {"k": 20})], k=10, seed=0).run()
    result.table            # one row per model: metrics, <metric>_lo/_hi, fit_seconds, recommend_ms
    result.details["knn"]   # per-learner metrics, predictions, learning curve, fitted model
"""
from recsys.evaluation.experiment import (EvalData, Experiment, ExperimentResult, ModelDetails, ModelSpec,
                                          evaluate_model, format_params, resolve_models)
from recsys.evaluation.history import DEFAULT_PATH, RunHistory
from recsys.evaluation.metrics import metric_names, parse_metric
from recsys.evaluation.splits import Split, holdout_split, kfold_splits, make_split, ratio_split
from recsys.evaluation.tuning import TuneResult, tune
from recsys.evaluation.uncertainty import PairedTestResult, bootstrap_ci, bootstrap_intervals, paired_test

__all__ = [
    "Experiment", "ExperimentResult", "ModelDetails", "ModelSpec", "EvalData", "evaluate_model", "resolve_models",
    "format_params", "RunHistory", "DEFAULT_PATH", "metric_names", "parse_metric", "Split", "holdout_split",
    "kfold_splits", "make_split", "ratio_split", "TuneResult", "tune", "PairedTestResult", "bootstrap_ci",
    "bootstrap_intervals", "paired_test",
]
