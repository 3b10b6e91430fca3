"""`compare`, `tune` and `history`: thin wrappers over `recsys.evaluation`, so a number printed here is the
number the app shows for the same dataset, split, models and seed."""
from __future__ import annotations

from recsys.cli.common import (Progress, UsageError, add_data_arg, add_db_arg, check_writable, fmt, guard,
                               load_data, parse_params, positive, print_table)


def _history(path):
    from recsys.evaluation.history import RunHistory

    return RunHistory(path)


# ----- compare ------------------------------------------------------------------------------------
def _model_list(text: str) -> list[str]:
    from recsys.models import MODEL_KEYS, model_class

    if text.strip() == "all":
        return list(MODEL_KEYS)
    keys = [k.strip() for k in text.split(",") if k.strip()]
    if not keys:
        raise UsageError("--models needs 'all' or a comma-separated list of model keys")
    for key in keys:
        model_class(key)
    return keys


def _cmd_compare(args) -> int:
    from recsys.evaluation import Experiment, resolve_models

    keys = _model_list(args.models)
    positive("--k", args.k)
    per_model: dict[str, dict[str, str]] = {}
    for item in args.param or []:
        target, dot, rest = item.partition(".")
        if not dot:
            raise UsageError(f"--param for compare expects MODEL.NAME=VALUE, got '{item}'")
        if target not in keys:
            raise UsageError(f"--param '{item}' names model '{target}', which is not in --models")
        per_model.setdefault(target, {}).update(parse_params([rest]))
    split_params = {}
    if args.split == "holdout" and args.holdout is not None:
        split_params["n"] = int(args.holdout) if float(args.holdout).is_integer() else float(args.holdout)
    if args.split == "ratio":
        split_params["test_size"] = args.test_size
    if args.split == "ratio" and args.holdout is not None:
        raise UsageError("--holdout applies to --split holdout; use --test-size for the ratio split")
    if args.split == "holdout" and args.test_size != 0.2:
        raise UsageError("--test-size applies to --split ratio; use --holdout N for the holdout split")
    check_writable(args.json, "--json")
    models = [(k, per_model.get(k, {})) for k in keys]
    resolve_models(models, args.seed)  # unknown parameters or bad values fail before the data is read
    dataset = load_data(args.data)
    history = None if args.no_history else _history(args.db)
    experiment = Experiment(dataset, args.split, models, k=args.k, seed=args.seed, split_params=split_params,
                            history=history)
    result = experiment.run(progress=Progress("compare"))
    k = args.k
    board = result.leaderboard(f"ndcg@{k}")
    shown = ["ndcg", "recall", "precision", "map", "hit_rate"]
    rows = []
    for _, r in board.iterrows():
        row = {"model": r["name"]}
        for m in shown:
            row[f"{m}@{k}"] = fmt(r[f"{m}@{k}"], r[f"{m}@{k}_lo"], r[f"{m}@{k}_hi"])
        row[f"coverage@{k}"] = fmt(r[f"coverage@{k}"], digits=3)
        row[f"diversity@{k}"] = fmt(r[f"diversity@{k}"], digits=3)
        row[f"novelty@{k}"] = fmt(r[f"novelty@{k}"], digits=2)
        row["rmse"] = fmt(r["rmse"])
        row["mae"] = fmt(r["mae"])
        row["fit_s"] = f"{r['fit_seconds']:.2f}"
        row["rec_ms"] = f"{r['recommend_ms']:.3f}"
        rows.append(row)
    import pandas as pd

    s = result.split
    print(f"dataset {result.dataset['name']} ({result.dataset['fingerprint']}); split {s['name']} {s['params']}; "
          f"{s['evaluated_learners']:,} test learners; 95% bootstrap intervals over learners")
    print_table(pd.DataFrame(rows))
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
    from recsys.models import model_class
    from recsys.evaluation.metrics import parse_metric

    model_class(args.model)
    parse_metric(args.metric, default_k=args.k)
    grid: dict[str, list[str]] = {}
    for item in args.grid or []:
        name, sep, values = item.partition("=")
        if not sep or not name.strip() or not values.strip():
            raise UsageError(f"--grid expects NAME=V1,V2,..., got '{item}'")
        grid[name.strip()] = [v.strip() for v in values.split(",") if v.strip()]
    from recsys.evaluation.tuning import parse_grid_values

    parse_grid_values(model_class(args.model), grid)  # fail on bad names/values before loading data
    check_writable(args.json, "--json")
    dataset = load_data(args.data)
    history = None if args.no_history else _history(args.db)
    result = tune(dataset, args.model, grid, metric=args.metric, folds=args.folds, k=args.k, seed=args.seed,
                  search=args.search, n_iter=args.n_iter, progress=Progress(f"tune {args.model}"), history=history)
    table = result.table.copy()
    show = table[result.param_names].astype(str)
    show["mean"] = [fmt(v) for v in table["mean"]]
    show["std"] = [fmt(v) for v in table["std"]]
    show["fit_s"] = [f"{v:.2f}" for v in table["fit_seconds"]]
    show["rank"] = table["rank"]
    show = show.iloc[table["rank"].argsort(kind="stable")]
    print(f"{args.model}: {result.metric} by {args.folds}-fold per-learner cross-validation (seed {args.seed})")
    print_table(show)
    best = ", ".join(f"{k}={v}" for k, v in result.best_params.items())
    print(f"best: {best} -> {result.metric} {fmt(result.best_score)}")
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
    runs = history.list_runs(limit=positive("--limit", args.limit), kind=args.kind)
    if runs.empty:
        print(f"no runs recorded yet in {history.path}")
        return 0
    show = runs[["id", "created_at", "kind", "dataset", "split", "models", "summary"]].copy()
    show["models"] = [m if len(m) <= 40 else m[:37] + "..." for m in show["models"].fillna("")]
    print_table(show)
    return 0


def register(sub) -> None:
    """Add compare, tune and history to the CLI."""
    from recsys.evaluation.splits import SPLIT_NAMES
    from recsys.models import MODEL_KEYS

    keys = ", ".join(MODEL_KEYS)
    p = sub.add_parser("compare", help="evaluate models on one split: leaderboard with 95%% intervals",
                       description="Fit each model on the train part and score held-out courses through the "
                                   "new-learner path. Prints a leaderboard (best ndcg first) and records the run.")
    add_data_arg(p)
    p.add_argument("--models", default="all", help=f"'all' (every installed model) or comma-separated keys: {keys}")
    p.add_argument("--param", action="append", metavar="MODEL.NAME=VALUE", help="hyperparameter for one model")
    p.add_argument("--k", type=int, default=10, help="list length K for the top-K metrics (default 10)")
    p.add_argument("--split", choices=SPLIT_NAMES, default="holdout",
                   help="holdout: hide courses per learner (default); ratio: hide a share of all ratings")
    p.add_argument("--holdout", type=float, default=None, help="courses hidden per learner (int) or a fraction (default 1)")
    p.add_argument("--test-size", type=float, default=0.2, help="test share for --split ratio (default 0.2)")
    p.add_argument("--seed", type=int, default=0, help="seed for the split, bootstrap and seeded models (default 0)")
    p.add_argument("--json", metavar="OUT", help="also write the results as JSON (atomically)")
    add_db_arg(p)
    p.add_argument("--no-history", action="store_true", help="do not record the run")
    p.set_defaults(func=guard(_cmd_compare))

    p = sub.add_parser("tune", help="cross-validate a model over a parameter grid",
                       description="Per-learner K-fold cross-validation over --grid (default: the model's declared "
                                   "grids). Prints mean and std per combination and the best one.")
    add_data_arg(p)
    p.add_argument("--model", required=True, help="model key")
    p.add_argument("--grid", action="append", metavar="NAME=V1,V2", help="values to try for a parameter (repeatable)")
    p.add_argument("--metric", default="ndcg@10", help="metric to optimise, e.g. ndcg@10, recall@5, rmse (default ndcg@10)")
    p.add_argument("--folds", type=int, default=3, help="number of folds (default 3)")
    p.add_argument("--k", type=int, default=10, help="K when --metric has no @K (default 10)")
    p.add_argument("--seed", type=int, default=0, help="seed for folds, random search and seeded models (default 0)")
    p.add_argument("--search", choices=("grid", "random"), default="grid", help="grid (default) or random search")
    p.add_argument("--n-iter", type=int, default=None, help="combinations for random search (default 10)")
    p.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    add_db_arg(p)
    p.add_argument("--no-history", action="store_true", help="do not record the run")
    p.set_defaults(func=guard(_cmd_tune))

    p = sub.add_parser("history", help="list recorded compare/tune runs",
                       description="Runs recorded by compare and tune (CLI and app share the same file).")
    p.add_argument("--limit", type=int, default=20, help="number of runs to list, newest first (default 20)")
    p.add_argument("--kind", choices=("compare", "tune"), help="only this kind of run")
    p.add_argument("--run", type=int, metavar="ID", help="print one whole run as JSON")
    add_db_arg(p)
    p.set_defaults(func=guard(_cmd_history))
