"""CLI commands beyond `generate`: train, recommend, compare, tune, history (registered by recsys.cli).

They are thin wrappers over `recsys.evaluation` and the model registry, so a number printed here is the
number the app shows for the same dataset, split, models and seed. Bad input raises UsageError or
ValueError, which cli.main prints as one line with exit code 2.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path

DEFAULT_DATA = Path("data") / "builtin"
MODELS_DIR = Path("artifacts") / "models"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep TensorFlow's start-up chatter off the terminal


# ----- shared helpers -----------------------------------------------------------------------------
def _usage_error(message: str):
    from recsys.cli import UsageError

    return UsageError(message)


def _progress(label: str):
    from recsys.cli import Progress

    return Progress(label)


def _load_data(path):
    from recsys.data import load_dataset

    path = Path(path)
    if not path.exists():
        hint = " (create it with: python -m recsys generate --out data/builtin --seed 0)" if path == DEFAULT_DATA else ""
        raise _usage_error(f"data folder '{path}' does not exist{hint}")
    return load_dataset(path)


def _parse_params(items, what: str = "--param") -> dict[str, str]:
    """['k=20', 'metric=cosine'] -> {'k': '20', 'metric': 'cosine'} (values validated later by the model spec)."""
    out = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise _usage_error(f"{what} expects NAME=VALUE, got '{item}'")
        out[name.strip()] = value.strip()
    return out


def _model_class(key: str):
    from recsys.models import MODEL_KEYS, REGISTRY

    if key not in REGISTRY:
        raise _usage_error(f"unknown model '{key}' (known: {', '.join(MODEL_KEYS)})")
    return REGISTRY[key]


def _build_model(key: str, params: dict, seed: int | None = None):
    from recsys.evaluation.experiment import SEED_PARAMS
    from recsys.models import make_model

    cls = _model_class(key)
    if seed is not None:
        for name in SEED_PARAMS:
            if name in cls.param_spec() and name not in params:
                params = {**params, name: seed}
    return make_model(key, **params)


def available_models() -> list[str]:
    """Registered model keys whose module is installed (models land one module at a time)."""
    from recsys.models import _LOCATIONS  # module paths, without importing the modules

    return [key for key, where in _LOCATIONS.items() if importlib.util.find_spec(where.split(":")[0]) is not None]


def _positive(name: str, value: int) -> int:
    if value < 1:
        raise _usage_error(f"{name} must be a positive integer, got {value}")
    return value


def _table(frame, stream=None) -> None:
    """Print a DataFrame as a plain left-aligned text table."""
    stream = stream or sys.stdout
    columns = [str(c) for c in frame.columns]
    rows = [[str(v) for v in row] for row in frame.itertuples(index=False)]
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(columns)]
    stream.write("  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip() + "\n")
    stream.write("  ".join("-" * w for w in widths) + "\n")
    for r in rows:
        stream.write("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() + "\n")


def _fmt(value, lo=None, hi=None, digits: int = 4) -> str:
    import math

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    text = f"{value:.{digits}f}"
    if lo is not None and hi is not None and not (math.isnan(lo) or math.isnan(hi)):
        text += f" [{lo:.{digits}f}, {hi:.{digits}f}]"
    return text


def _check_writable(path, what: str) -> None:
    """Fail before a long run, not after it, when an output file cannot be written."""
    if not path:
        return
    folder = Path(path).resolve().parent
    while not folder.exists():
        folder = folder.parent
    if not os.access(folder, os.W_OK):
        raise _usage_error(f"{what} '{path}' cannot be written (folder {folder} is not writable)")


def _history(path):
    from recsys.evaluation.history import RunHistory

    return RunHistory(path)


# ----- train --------------------------------------------------------------------------------------
def _cmd_train(args) -> int:
    params = _parse_params(args.param)
    model = _build_model(args.model, params, args.seed)
    dataset = _load_data(args.data)
    out = Path(args.out) if args.out else MODELS_DIR / args.model
    model.fit(dataset, progress=_progress(f"fit {args.model}"))
    path = model.save(out)
    print(f"trained '{args.model}' on {dataset.n_users:,} learners / {len(dataset.ratings):,} ratings "
          f"in {model.fit_seconds_:.2f}s; saved to {path}")
    return 0


# ----- recommend ----------------------------------------------------------------------------------
def _cmd_recommend(args) -> int:
    import pandas as pd

    from recsys.models import load_model

    _model_class(args.model)
    _positive("--k", args.k)
    courses = [c.strip() for c in args.courses.split(",") if c.strip()]
    if not courses:
        raise _usage_error("--courses needs at least one course id, e.g. --courses ML0101EN,PY0101EN")
    dataset = _load_data(args.data)
    dataset.history_vector(courses)  # unknown course ids fail before any fitting
    default_path = MODELS_DIR / args.model
    if args.model_path:
        model = load_model(args.model_path, dataset)
    else:
        model = None
        if default_path.exists():
            try:
                model = load_model(default_path, dataset)
            except ValueError as exc:  # trained on another dataset or corrupted: refit below
                print(f"note: not using {default_path}: {exc}", file=sys.stderr)
        if model is None:
            model = _build_model(args.model, _parse_params(args.param), args.seed)
            print(f"note: fitting '{args.model}' now (save one with `python -m recsys train`)", file=sys.stderr)
            model.fit(dataset, progress=_progress(f"fit {args.model}"))
    if model.key != args.model:
        raise _usage_error(f"{args.model_path} holds a '{model.key}' model, not '{args.model}'")
    recs = model.recommend(courses, k=args.k)
    titles = model.catalogue_.set_index("COURSE_ID")["TITLE"]
    table = pd.DataFrame({
        "COURSE_ID": recs["COURSE_ID"],
        "TITLE": [str(titles.get(c, ""))[:48] for c in recs["COURSE_ID"]],
        "SCORE": [f"{s:.4f}" for s in recs["SCORE"]],
        "REASON": recs["REASON"],
    })
    if table.empty:
        print("no recommendations (every course is excluded or already taken)")
    else:
        _table(table)
    return 0


# ----- compare ------------------------------------------------------------------------------------
def _model_list(text: str) -> list[str]:
    if text.strip() == "all":
        return available_models()
    keys = [k.strip() for k in text.split(",") if k.strip()]
    if not keys:
        raise _usage_error("--models needs 'all' or a comma-separated list of model keys")
    for key in keys:
        _model_class(key)
    return keys


def _cmd_compare(args) -> int:
    from recsys.evaluation import Experiment, resolve_models

    keys = _model_list(args.models)
    _positive("--k", args.k)
    per_model: dict[str, dict[str, str]] = {}
    for item in args.param or []:
        target, dot, rest = item.partition(".")
        if not dot:
            raise _usage_error(f"--param for compare expects MODEL.NAME=VALUE, got '{item}'")
        if target not in keys:
            raise _usage_error(f"--param '{item}' names model '{target}', which is not in --models")
        per_model.setdefault(target, {}).update(_parse_params([rest]))
    split_params = {}
    if args.split == "holdout" and args.holdout is not None:
        split_params["n"] = int(args.holdout) if float(args.holdout).is_integer() else float(args.holdout)
    if args.split == "ratio":
        split_params["test_size"] = args.test_size
    if args.split == "ratio" and args.holdout is not None:
        raise _usage_error("--holdout applies to --split holdout; use --test-size for the ratio split")
    if args.split == "holdout" and args.test_size != 0.2:
        raise _usage_error("--test-size applies to --split ratio; use --holdout N for the holdout split")
    _check_writable(args.json, "--json")
    models = [(k, per_model.get(k, {})) for k in keys]
    resolve_models(models, args.seed)  # unknown parameters or bad values fail before the data is read
    dataset = _load_data(args.data)
    history = None if args.no_history else _history(args.db)
    experiment = Experiment(dataset, args.split, models, k=args.k, seed=args.seed, split_params=split_params,
                            history=history)
    result = experiment.run(progress=_progress("compare"))
    k = args.k
    board = result.leaderboard(f"ndcg@{k}")
    shown = ["ndcg", "recall", "precision", "map", "hit_rate"]
    rows = []
    for _, r in board.iterrows():
        row = {"model": r["name"]}
        for m in shown:
            row[f"{m}@{k}"] = _fmt(r[f"{m}@{k}"], r[f"{m}@{k}_lo"], r[f"{m}@{k}_hi"])
        row[f"coverage@{k}"] = _fmt(r[f"coverage@{k}"], digits=3)
        row[f"diversity@{k}"] = _fmt(r[f"diversity@{k}"], digits=3)
        row[f"novelty@{k}"] = _fmt(r[f"novelty@{k}"], digits=2)
        row["rmse"] = _fmt(r["rmse"])
        row["mae"] = _fmt(r["mae"])
        row["fit_s"] = f"{r['fit_seconds']:.2f}"
        row["rec_ms"] = f"{r['recommend_ms']:.3f}"
        rows.append(row)
    import pandas as pd

    s = result.split
    print(f"dataset {result.dataset['name']} ({result.dataset['fingerprint']}); split {s['name']} {s['params']}; "
          f"{s['evaluated_learners']:,} test learners; 95% bootstrap intervals over learners")
    _table(pd.DataFrame(rows))
    from recsys.models import REGISTRY

    for _, r in board.iterrows():  # a legend for models run with non-default parameters
        if r["label"] != (REGISTRY[r["model"]].label or r["model"]):
            print(f"  {r['name']}: {r['label']}")
    if args.json:
        path = result.write_json(args.json)
        print(f"wrote {path}")
    if result.run_id is not None:
        print(f"recorded as run {result.run_id} in {history.path}")
    return 0


# ----- tune ---------------------------------------------------------------------------------------
def _cmd_tune(args) -> int:
    from recsys.evaluation import tune
    from recsys.evaluation.metrics import parse_metric

    _model_class(args.model)
    parse_metric(args.metric, default_k=args.k)
    grid: dict[str, list[str]] = {}
    for item in args.grid or []:
        name, sep, values = item.partition("=")
        if not sep or not name.strip() or not values.strip():
            raise _usage_error(f"--grid expects NAME=V1,V2,..., got '{item}'")
        grid[name.strip()] = [v.strip() for v in values.split(",") if v.strip()]
    from recsys.evaluation.tuning import parse_grid_values

    parse_grid_values(_model_class(args.model), grid)  # fail on bad names/values before loading data
    _check_writable(args.json, "--json")
    dataset = _load_data(args.data)
    history = None if args.no_history else _history(args.db)
    result = tune(dataset, args.model, grid, metric=args.metric, folds=args.folds, k=args.k, seed=args.seed,
                  search=args.search, n_iter=args.n_iter, progress=_progress(f"tune {args.model}"), history=history)
    table = result.table.copy()
    show = table[result.param_names].astype(str)
    show["mean"] = [_fmt(v) for v in table["mean"]]
    show["std"] = [_fmt(v) for v in table["std"]]
    show["fit_s"] = [f"{v:.2f}" for v in table["fit_seconds"]]
    show["rank"] = table["rank"]
    show = show.iloc[table["rank"].argsort(kind="stable")]
    print(f"{args.model}: {result.metric} by {args.folds}-fold per-learner cross-validation (seed {args.seed})")
    _table(show)
    best = ", ".join(f"{k}={v}" for k, v in result.best_params.items())
    print(f"best: {best} -> {result.metric} {_fmt(result.best_score)}")
    if args.json:
        print(f"wrote {result.write_json(args.json)}")
    if result.run_id is not None:
        print(f"recorded as run {result.run_id} in {history.path}")
    return 0


# ----- history ------------------------------------------------------------------------------------
def _cmd_history(args) -> int:
    import json

    history = _history(args.db)
    if args.run is not None:
        print(json.dumps(history.load_run(args.run), indent=2))
        return 0
    runs = history.list_runs(limit=_positive("--limit", args.limit), kind=args.kind)
    if runs.empty:
        print(f"no runs recorded yet in {history.path}")
        return 0
    show = runs[["id", "created_at", "kind", "dataset", "split", "models", "summary"]].copy()
    show["models"] = [m if len(m) <= 40 else m[:37] + "..." for m in show["models"].fillna("")]
    _table(show)
    return 0


# ----- registration -------------------------------------------------------------------------------
def _guard(command):
    """File-system and database failures (unwritable --out/--json/--db, locked database) become one line."""
    import sqlite3

    def run(args) -> int:
        try:
            return command(args)
        except FileNotFoundError:
            raise
        except OSError as exc:
            where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
            raise _usage_error(f"cannot access{where}: {exc.strerror or exc}") from None
        except sqlite3.Error as exc:
            raise _usage_error(f"run history database {getattr(args, 'db', '')}: {exc}") from None

    return run


def register(sub) -> None:
    """Add the commands to cli's subparsers."""
    from recsys.evaluation.history import DEFAULT_PATH
    from recsys.evaluation.splits import SPLIT_NAMES
    from recsys.models import MODEL_KEYS

    keys = ", ".join(MODEL_KEYS)

    def data_arg(p):
        p.add_argument("--data", default=str(DEFAULT_DATA),
                       help=f"IBM-format data folder (default {DEFAULT_DATA}, the built-in dataset)")

    def db_arg(p):
        p.add_argument("--db", default=str(DEFAULT_PATH), help=f"run-history SQLite file (default {DEFAULT_PATH})")

    p = sub.add_parser("train", help="fit one model and save it",
                       description=f"Fit a model on the data and save it with model.save. Models: {keys}.")
    data_arg(p)
    p.add_argument("--model", required=True, help="model key")
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="hyperparameter (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="seed for models with a random_state/seed parameter (default 0)")
    p.add_argument("--out", help=f"output folder (default {MODELS_DIR}/<model>)")
    p.set_defaults(func=_guard(_cmd_train))

    p = sub.add_parser("recommend", help="recommend courses for a learner's completed courses",
                       description="Top-K courses for a learner who completed --courses (new-learner path). Uses "
                                   f"--model-path, else {MODELS_DIR}/<model> if it was trained on this data, else "
                                   "fits the model first.")
    data_arg(p)
    p.add_argument("--model", required=True, help="model key")
    p.add_argument("--courses", required=True, help="comma-separated completed course ids")
    p.add_argument("--k", type=int, default=10, help="number of recommendations (default 10)")
    p.add_argument("--model-path", help="saved model folder (from `train`)")
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="hyperparameter when fitting here")
    p.add_argument("--seed", type=int, default=0, help="seed when fitting here (default 0)")
    p.set_defaults(func=_guard(_cmd_recommend))

    p = sub.add_parser("compare", help="evaluate models on one split: leaderboard with 95%% intervals",
                       description="Fit each model on the train part and score held-out courses through the "
                                   "new-learner path. Prints a leaderboard (best ndcg first) and records the run.")
    data_arg(p)
    p.add_argument("--models", default="all", help=f"'all' (every installed model) or comma-separated keys: {keys}")
    p.add_argument("--param", action="append", metavar="MODEL.NAME=VALUE", help="hyperparameter for one model")
    p.add_argument("--k", type=int, default=10, help="list length K for the top-K metrics (default 10)")
    p.add_argument("--split", choices=SPLIT_NAMES, default="holdout",
                   help="holdout: hide courses per learner (default); ratio: hide a share of all ratings")
    p.add_argument("--holdout", type=float, default=None, help="courses hidden per learner (int) or a fraction (default 1)")
    p.add_argument("--test-size", type=float, default=0.2, help="test share for --split ratio (default 0.2)")
    p.add_argument("--seed", type=int, default=0, help="seed for the split, bootstrap and seeded models (default 0)")
    p.add_argument("--json", metavar="OUT", help="also write the results as JSON (atomically)")
    db_arg(p)
    p.add_argument("--no-history", action="store_true", help="do not record the run")
    p.set_defaults(func=_guard(_cmd_compare))

    p = sub.add_parser("tune", help="cross-validate a model over a parameter grid",
                       description="Per-learner K-fold cross-validation over --grid (default: the model's declared "
                                   "grids). Prints mean and std per combination and the best one.")
    data_arg(p)
    p.add_argument("--model", required=True, help="model key")
    p.add_argument("--grid", action="append", metavar="NAME=V1,V2", help="values to try for a parameter (repeatable)")
    p.add_argument("--metric", default="ndcg@10", help="metric to optimise, e.g. ndcg@10, recall@5, rmse (default ndcg@10)")
    p.add_argument("--folds", type=int, default=3, help="number of folds (default 3)")
    p.add_argument("--k", type=int, default=10, help="K when --metric has no @K (default 10)")
    p.add_argument("--seed", type=int, default=0, help="seed for folds, random search and seeded models (default 0)")
    p.add_argument("--search", choices=("grid", "random"), default="grid", help="grid (default) or random search")
    p.add_argument("--n-iter", type=int, default=None, help="combinations for random search (default 10)")
    p.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    db_arg(p)
    p.add_argument("--no-history", action="store_true", help="do not record the run")
    p.set_defaults(func=_guard(_cmd_tune))

    p = sub.add_parser("history", help="list recorded compare/tune runs",
                       description="Runs recorded by compare and tune (CLI and app share the same file).")
    p.add_argument("--limit", type=int, default=20, help="number of runs to list, newest first (default 20)")
    p.add_argument("--kind", choices=("compare", "tune"), help="only this kind of run")
    p.add_argument("--run", type=int, metavar="ID", help="print one whole run as JSON")
    db_arg(p)
    p.set_defaults(func=_guard(_cmd_history))
