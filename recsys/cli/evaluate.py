"""`compare`, `tune` and `history`: thin wrappers over `recsys.evaluation`, so a number printed here is the
number the app shows for the same dataset, split, models and seed."""

from __future__ import annotations

import argparse
import math
import sys

from recsys.cli.common import (
    Progress,
    UsageError,
    add_data_arg,
    add_db_arg,
    check_writable,
    db_path,
    finite_float,
    fmt,
    guard,
    int_in,
    k_within,
    load_data,
    parse_params,
    plain,
    positive,
    print_table,
)

MAX_RESAMPLES = 20_000  # intervals stop moving long before; memory and time grow with it


def _history(path):
    from recsys.evaluation.history import RunHistory

    return RunHistory(path)


def _check_history(args) -> None:
    from recsys.evaluation.history import check_recordable

    if not args.no_history:
        check_recordable(db_path(args))


def _record(history, method: str, result, json_path) -> int:
    """Record a finished run last: the results are already printed (and in --json), so a corrupted, locked or
    unwritable history costs only the record, reported as one line with exit code 1 -- never the run."""
    import sqlite3

    if history is None:
        return 0
    try:
        result.run_id = getattr(history, method)(result)
    except (sqlite3.Error, OSError) as exc:
        kept = f"; the results are above and in {json_path}" if json_path else "; the results are above"
        print(f"error: the run was not recorded in the run history {history.path}: {exc}{kept}", file=sys.stderr)
        return 1
    print(f"recorded as run {result.run_id} in {history.path}")
    return 0


# ----- compare ------------------------------------------------------------------------------------
def _model_list(text: str) -> tuple[list[str], list[dict[str, str]]]:
    """(models to run, models skipped). 'all' = every available model; the others are skipped with their reason
    and install command. A named model must be known and available (else one error naming the fix)."""
    from recsys.models import available_models, model_class, require_available

    if text.strip() == "all":
        infos = available_models()
        skipped = [{"model": i.key, "reason": i.note} for i in infos if not i.available]
        return [i.key for i in infos if i.available], skipped
    keys = [k.strip() for k in text.split(",") if k.strip()]
    if not keys:
        raise UsageError("--models needs 'all' or a comma-separated list of model keys")
    for key in keys:
        model_class(key)
        require_available(key)
    return keys, []


def _split_params(args) -> dict:
    """Split parameters from the protocol flags; a flag for another protocol is a usage error."""
    params = {}
    for flag, (splits, param) in _unique_split_params().items():
        value = getattr(args, param.dest)
        if value is None:
            continue
        if args.split not in splits:
            raise UsageError(f"{flag} applies to --split {' / '.join(splits)}, not --split {args.split}")
        if param.kind == "count_or_share" and float(value).is_integer():
            value = int(value)
        params[param.name] = value
    return params


def _number_list(text: str, flag: str, kind=float) -> list:
    try:
        values = [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"{flag} expects comma-separated numbers, got '{text}'") from None
    if not all(math.isfinite(v) for v in values):
        raise UsageError(f"{flag} expects finite numbers (no nan/inf), got '{text}'")
    return values


def _cmd_compare(args) -> int:
    from recsys.evaluation import Experiment, resolve_models

    keys, skipped = _model_list(args.models)
    for entry in skipped:
        print(f"skipped {entry['model']}: {entry['reason']}", file=sys.stderr)
    positive("--k", args.k)
    if args.resamples != 0 and args.resamples < 10:
        raise UsageError(f"--resamples must be 0 (no intervals) or at least 10, got {args.resamples}")
    per_model: dict[str, dict[str, str]] = {}
    for item in args.param or []:
        target, dot, rest = item.partition(".")
        if not dot:
            raise UsageError(f"--param for compare expects MODEL.NAME=VALUE, got '{item}'")
        if target not in keys:
            raise UsageError(f"--param '{item}' names model '{target}', which is not in --models")
        per_model.setdefault(target, {}).update(parse_params([rest]))
    split_params = _split_params(args)
    check_writable(args.json, "--json")
    models = [(k, per_model.get(k, {})) for k in keys]
    specs = resolve_models(models, args.seed)  # unknown parameters or bad values fail before the data is read
    options = {
        "activity_bins": _number_list(args.activity_bins, "--activity-bins", float),
        "head_share": args.head_share,
        "level_target": _number_list(args.level_target, "--level-target", float),
        "pairs": args.pairs,
    }
    Experiment.check_options(**options)  # bad segment/KPI options fail before the data is read
    budget = None
    if args.tune is not None or args.tune_minutes is not None:
        from recsys.evaluation.tuned import TuneBudget

        try:
            budget = TuneBudget(args.tune, args.tune_minutes, args.tune_sampler)
        except ValueError as exc:
            raise UsageError(f"--tune/--tune-minutes: {exc}") from None
    if args.jobs != -1:
        positive("--jobs", args.jobs)
    for spec in specs:
        type(spec.model).warm_up()  # e.g. Spark's JVM starts while the data loads
    _check_history(args)  # an unusable history fails before the work (nothing created yet)
    dataset = load_data(args.data)
    k_within(args.k, dataset)
    history = None if args.no_history else _history(db_path(args))
    experiment = Experiment(
        dataset,
        args.split,
        models,
        k=args.k,
        seed=args.seed,
        split_params=split_params,
        n_resamples=args.resamples,
        n_jobs=args.jobs,
        tune=budget,
        **options,
    )
    result = experiment.run(progress=Progress("compare"))
    k = args.k
    primary = f"ndcg@{k}"
    board = result.leaderboard(primary)
    vs_best = result.vs_best()
    vs_best = vs_best[vs_best["metric"] == primary].set_index("name")
    shown = ["ndcg", "recall", "precision", "map", "hit_rate"]
    rows = []
    for _, r in board.iterrows():
        row = {"model": r["name"]}
        for m in shown:
            row[f"{m}@{k}"] = fmt(r[f"{m}@{k}"], r[f"{m}@{k}_lo"], r[f"{m}@{k}_hi"])
            if m == "ndcg":
                row["tied_with_best"] = _tied_text(vs_best, r["name"])
                row["p_holm"] = _p(vs_best["p_holm"].get(r["name"]))
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
    print(
        f"dataset {plain(result.dataset['name'])} ({result.dataset['fingerprint']}); split {s['name']} {s['params']}; "
        f"{s['evaluated_learners']:,} test learners; 95% bootstrap intervals over learners"
    )
    print_table(pd.DataFrame(rows))
    print(
        f"tied_with_best: {primary} not significantly below the best model (Wilcoxon signed-rank over the same "
        f"learners, Holm-adjusted p >= 0.05 over the {max(len(board) - 1, 0)} comparisons with the best)"
    )
    if s.get("rating_metrics"):
        print(f"rmse/mae {s['rating_metrics']}")
    from recsys.models import REGISTRY

    for _, r in board.iterrows():  # a legend for models run with non-default parameters
        if r["label"] != (REGISTRY[r["model"]].label or r["model"]):
            print(f"  {r['name']}: {r['label']}")
    if budget is not None:
        _print_tuning(result, list(board["name"]))
    _print_reports(result, list(board["name"]), primary)
    for entry in skipped:
        print(f"skipped {entry['model']}: {entry['reason']}")
    for name, failure in result.failures.items():
        print(f"failed {name}: {failure['error']}")
    if args.json:
        from recsys._json import write_json_atomic

        report = result.to_json()
        if skipped:
            report["skipped"] = skipped
        path = write_json_atomic(args.json, report)
        print(f"wrote {path}")
    code = _record(history, "record_experiment", result, args.json)
    for name, failure in result.failures.items():  # the others are shown above; exit code 1 says one failed
        print(f"error: model {name} failed: {failure['error']}", file=sys.stderr)
    return 1 if result.failures else code


def _print_tuning(result, order: list[str]) -> None:
    """What each model was compared with: tuned parameters, trials, pruned trials and time (nested validation)."""
    import pandas as pd

    from recsys.evaluation.tuned import budget_text

    info = result.split.get("tuning", {})
    budget = budget_text(info)
    print()
    print(
        f"tuned first: every model searched ({info.get('sampler', 'tpe')}, {budget} per model) on a {info.get('validation')}; "
        "the test part above was never seen while tuning"
    )
    rows = []
    for name in order:
        t = result.details[name].tuning or {}
        params = t.get("params") or {}
        if "member_params" in params:
            shown = "; ".join(f"{k}: {fmt_params(v)}" for k, v in (params["member_params"] or {}).items()) or "defaults"
        else:
            shown = fmt_params(params) or "defaults"
        rows.append(
            {
                "model": name,
                "tuned": "members" if "members" in t else ("yes" if t.get("tuned") else "no (defaults)"),
                "parameters": shown,
                "chosen": t.get("choice") or "",
                "trials": t.get("trials", 0),
                "pruned": t.get("pruned", 0),
                "tuning_s": f"{float(t.get('seconds') or 0):.1f}",
            }
        )
    print_table(pd.DataFrame(rows))


def fmt_params(params) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in (params or {}).items())


def _p(value) -> str:
    """A p-value for a table: '<0.001' rather than a row of zeros."""
    if value is None or value != value:
        return "n/a"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _tied_text(vs_best, name: str) -> str:
    if name not in vs_best.index:
        return "n/a"
    if vs_best.at[name, "best"] == name:
        return "best"
    return "yes" if vs_best.at[name, "tied_with_best"] else "no"


def _print_reports(result, order: list[str], primary: str) -> None:
    """KPI table, segment table, new-course reach and (with --pairs all) every pair, below the leaderboard."""
    import pandas as pd

    print()
    target = "/".join(f"{v:.0%}" for v in result.split["level_target"].values())
    print(
        f"product KPIs of the top-{result.k} lists (targets: niche share >= 0.25, ~6 genres per list, "
        f"level mix {target}; lower is better for level_distance, exposure_gini and popularity_percentile):"
    )
    kpis = result.kpi_table.set_index("name").loc[order].drop(columns="label")
    kpis.columns = [c.replace(f"@{result.k}", "") for c in kpis.columns]
    digits = {"aggregate_diversity": 0, "popularity_percentile": 1, "distinct_genres": 2}
    shown = pd.DataFrame({"model": kpis.index})
    for col in kpis.columns:
        shown[col] = [fmt(v, digits=digits.get(col, 3)) for v in kpis[col]]
    print_table(shown)
    print()
    print(
        f"{primary} by segment (activity = the learner's training courses; popularity = the held-out course is "
        f"in the head ({result.split['head_courses']} courses holding the top {result.split['head_share']:.0%} "
        f"of enrolments) or the tail; n = learners):"
    )
    matrix = result.segment_matrix(primary)
    shown = matrix[["kind", "segment", "n_learners"]].rename(columns={"n_learners": "n"}).copy()
    for name in order:
        shown[name] = [fmt(v, digits=3) for v in matrix[name]]
    print_table(shown)
    notes = {d.name: d.new_courses for d in result.details.values() if d.new_courses is not None}
    if notes:
        print()
        print(
            f"new courses ({len(result.split.get('new_courses', []))} courses without training ratings): "
            "reach = share of them listed to anyone"
        )
        print_table(
            pd.DataFrame(
                [
                    {
                        "model": n,
                        "can recommend": "yes" if notes[n]["can_recommend"] else "no: cannot recommend new courses",
                        "reach": fmt(notes[n]["reach"], digits=3),
                        "learners shown one": notes[n]["learners_shown_a_new_course"],
                    }
                    for n in order
                ]
            )
        )
        _print_new_course_table(result, order)
    if result.pairs == "all":
        pairs = result.all_pairs()
        pairs = pairs[pairs["metric"] == primary]
        print()
        print(f"every pair on {primary} (Holm-adjusted over the {len(pairs)} pairs; * = significant at 0.05):")
        print_table(
            pd.DataFrame(
                {
                    "a": pairs["a"],
                    "b": pairs["b"],
                    "a - b": [fmt(d, lo, hi) for d, lo, hi in zip(pairs["mean_diff"], pairs["ci_lo"], pairs["ci_hi"])],
                    "p": [_p(v) for v in pairs["p_value"]],
                    "p_holm": [_p(v) + (" *" if sig else "") for v, sig in zip(pairs["p_holm"], pairs["significant"])],
                }
            )
        )


def _print_new_course_table(result, order: list[str]) -> None:
    """Per new course: the learners who took it (held out) and, per model, how many of them got it in their
    top-K (the numbers of the Compare page's per-course table)."""
    import pandas as pd

    table = result.new_course_table
    if table.empty:
        return
    print()
    print(f"per new course: takers = test learners who took it; per model, takers who got it in their top-{result.k}")
    first = table[table["name"] == order[0]]
    shown = pd.DataFrame(
        {"course": first["course"].to_numpy(), "title": [t[:32] for t in first["title"]], "takers": first["takers"]}
    )
    for name in order:
        rows = table[table["name"] == name].set_index("course").reindex(shown["course"])
        shown[name] = [f"{int(r)}" for r in rows["reached"].to_numpy()]
    print_table(shown)


# ----- tune ---------------------------------------------------------------------------------------
def _cmd_tune(args) -> int:
    from recsys.evaluation import tune
    from recsys.evaluation.metrics import parse_metric
    from recsys.evaluation.tuning import check_budget, parse_grid_values
    from recsys.models import model_class

    model_class(args.model)
    parse_metric(args.metric, default_k=args.k)
    grid: dict[str, list[str]] = {}
    for item in args.grid or []:
        name, sep, values = item.partition("=")
        if not sep or not name.strip() or not values.strip():
            raise UsageError(f"--grid expects NAME=V1,V2,..., got '{item}'")
        grid[name.strip()] = [v.strip() for v in values.split(",") if v.strip()]
    parse_grid_values(model_class(args.model), grid)  # fail on bad names/values before loading data
    sampler = args.search or args.sampler
    trials = args.trials if args.trials is not None else args.n_iter
    try:
        check_budget(trials, None if args.timeout is None else args.timeout / 60.0, "--trials")
    except ValueError as exc:
        raise UsageError(str(exc).replace("the time budget", "--timeout")) from None
    check_writable(args.json, "--json")
    _check_history(args)  # an unusable history fails before the work (nothing created yet)
    dataset = load_data(args.data)
    k_within(args.k, dataset)
    history = None if args.no_history else _history(db_path(args))
    result = tune(
        dataset,
        args.model,
        grid,
        metric=args.metric,
        folds=args.folds,
        k=args.k,
        seed=args.seed,
        sampler=sampler,
        n_trials=None if trials is None else int(trials),
        timeout=args.timeout,
        progress=Progress(f"tune {args.model}"),
    )
    table = result.table.copy()
    table = table.assign(_o=table["mean"] * (1 if result.metric in ("rmse", "mae") else -1))
    table = table.sort_values(["_o", "trial"], kind="stable", na_position="last")
    show = table[result.param_names].map(lambda v: f"{v:.4g}" if isinstance(v, float) else str(v))
    show["mean"] = [fmt(v) for v in table["mean"]]
    show["std"] = [fmt(v) for v in table["std"]]
    show["fit_s"] = [f"{v:.2f}" for v in table["fit_seconds"]]
    show["state"] = table["state"]
    show["trial"] = table["trial"]
    print(
        f"{args.model}: {result.metric} by {args.folds}-fold per-learner cross-validation, {result.sampler} sampler "
        f"(seed {args.seed}); {len(table)} trials, {result.n_pruned} pruned; study '{result.study_name}'"
    )
    print_table(show)
    best = fmt_params(result.best_params)
    print(f"best: {best} -> {result.metric} {fmt(result.best_score)}")
    for note in result.notes:
        print(f"note: {note}")
    if args.json:
        print(f"wrote {result.write_json(args.json)}")
    return _record(history, "record_tuning", result, args.json)


# ----- history ------------------------------------------------------------------------------------
def _cmd_history(args) -> int:
    import json

    history = _history(db_path(args))
    if args.run is not None:
        print(json.dumps(history.load_run(args.run), indent=2))
        return 0
    runs = history.list_runs(limit=positive("--limit", args.limit), kind=args.kind, protocol=args.protocol)
    if runs.empty:
        print(f"no runs recorded yet in {history.path}")
        return 0
    show = runs[["id", "created_at", "kind", "dataset", "split", "models", "summary"]].copy()
    show["summary"] = [m if len(m) <= 70 else m[:67] + "..." for m in show["summary"].fillna("")]
    show["models"] = [m if len(m) <= 40 else m[:37] + "..." for m in show["models"].fillna("")]
    print_table(show)
    return 0


def _unique_split_params() -> dict:
    """flag -> (protocols using it, its first declaration): one command-line option per distinct flag."""
    from recsys.evaluation.splits import PROTOCOLS

    out: dict = {}
    for protocol in PROTOCOLS.values():
        for param in protocol.params:
            out.setdefault(param.flag, ([], param))[0].append(protocol.name)
    return out


def register(sub) -> None:
    """Add compare, tune and history to the CLI."""
    from recsys.evaluation.splits import PROTOCOLS, SPLIT_NAMES
    from recsys.models import MODEL_KEYS

    keys = ", ".join(MODEL_KEYS)
    p = sub.add_parser(
        "compare",
        help="evaluate models on one split: leaderboard with 95%% intervals",
        description="Fit each model on the train part and score held-out courses through the "
        "new-learner path (the Recommend page's fold-in). Prints a leaderboard (best ndcg "
        "first) with each model against the best (Wilcoxon, Holm-adjusted: 'tied with "
        "best'), product KPIs and metrics per learner-activity and course-popularity "
        "segment, and records the run. JSON: results[].metrics, ci, kpis, vs_best, "
        "segments (and new_courses under --split new_courses); top-level pairs with "
        '--pairs all. A model that fails is named with its error (exit code 1; JSON "failed") and the others are '
        "still reported.",
    )
    add_data_arg(p)
    p.add_argument(
        "--models",
        default="all",
        help=f"'all' (every available model; unavailable ones are listed with the reason) or comma-separated "
        f"keys: {keys}",
    )
    p.add_argument("--param", action="append", metavar="MODEL.NAME=VALUE", help="hyperparameter for one model")
    p.add_argument("--k", type=int_in(1, 10_000), default=10, help="list length K for the top-K metrics (default 10)")
    p.add_argument(
        "--split",
        choices=SPLIT_NAMES,
        default="new_learners",
        help="; ".join(
            f"{name}{' (default)' if name == 'new_learners' else ''}: {protocol.summary}"
            for name, protocol in PROTOCOLS.items()
        ),
    )
    for flag, (protocols, param) in _unique_split_params().items():
        kind = int if param.kind == "count" else float
        p.add_argument(flag, type=kind, default=None, help=f"{'/'.join(protocols)}: {param.help}")
    p.add_argument(
        "--activity-bins",
        default="1,3,10",
        metavar="B1,B2,...",
        help="upper bounds of the learner-activity segments (default 1,3,10: 1, 2-3, 4-10, >10 courses)",
    )
    p.add_argument(
        "--head-share",
        type=float,
        default=0.2,
        help="head courses hold this share of all enrolments; the rest is the tail/niche (default 0.2)",
    )
    p.add_argument(
        "--level-target",
        default="30,40,30",
        metavar="B,I,A",
        help="target Beginner,Intermediate,Advanced mix for the level-distance KPI (default 30,40,30)",
    )
    p.add_argument(
        "--pairs",
        choices=("best", "all"),
        default="best",
        help="best: each model against the best (default); all: also every pair, Holm-adjusted",
    )
    p.add_argument(
        "--resamples",
        type=int_in(0, MAX_RESAMPLES),
        default=1000,
        help=f"bootstrap resamples for the intervals (default 1000, at most {MAX_RESAMPLES:,}; 0 = no intervals)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed for the split, bootstrap and seeded models (default 0)")
    p.add_argument(
        "--jobs",
        type=int_in(-1, 64),
        default=-1,
        help="models fitted side by side (default -1: the cores, at most 2); the numbers do not depend on it",
    )
    p.add_argument(
        "--tune",
        type=finite_float(what="trials per model"),
        default=None,
        metavar="N",
        help="first tune every model with N trials (the same N for each) on a validation split of the training "
        "part only, then compare what each chose; studies are stored in the artifacts folder and reused",
    )
    p.add_argument(
        "--tune-minutes",
        type=finite_float(what="tuning minutes per model"),
        default=None,
        metavar="M",
        help="tuning time budget per model, in minutes",
    )
    p.add_argument(
        "--tune-sampler", choices=("tpe", "random", "grid"), default="tpe", help="search sampler (default tpe)"
    )
    p.add_argument("--json", metavar="OUT", help="also write the results as JSON (atomically)")
    add_db_arg(p)
    p.add_argument("--no-history", action="store_true", help="do not record the run")
    p.set_defaults(func=guard(_cmd_compare))

    p = sub.add_parser(
        "tune",
        help="search a model's parameters (Optuna) by cross-validation",
        description="Searches a model's parameters with Optuna (TPE by default, seeded; stored in the artifacts "
        "folder, so a repeated run reuses its trials and an interrupted one resumes), each trial scored by per-learner "
        "K-fold cross-validation; hopeless trials are pruned. Prints every trial, the best one, and what the result "
        "cannot claim (a best not distinguishable from the runner-up, a best at the edge of the searched range).",
    )
    add_data_arg(p)
    p.add_argument("--model", required=True, help="model key")
    p.add_argument("--grid", action="append", metavar="NAME=V1,V2", help="values to try for a parameter (repeatable)")
    p.add_argument(
        "--metric", default="ndcg@10", help="metric to optimise, e.g. ndcg@10, recall@5, rmse (default ndcg@10)"
    )
    p.add_argument("--folds", type=int_in(2, 20), default=3, help="number of folds (default 3)")
    p.add_argument("--k", type=int_in(1, 10_000), default=10, help="K when --metric has no @K (default 10)")
    p.add_argument("--seed", type=int, default=0, help="seed for folds, random search and seeded models (default 0)")
    p.add_argument(
        "--trials",
        type=finite_float(0, 100_000),
        default=None,
        help="trials to run (default 20; grid: every combination)",
    )
    p.add_argument(
        "--timeout",
        type=finite_float(0, 7 * 86_400),
        default=None,
        metavar="S",
        help="start no new trial after S seconds",
    )
    p.add_argument(
        "--sampler",
        choices=("tpe", "random", "grid"),
        default=None,
        help="tpe (seeded Bayesian search over the declared ranges; the default without --grid), random, or grid "
        "(the --grid values, else the declared grids; the default with --grid)",
    )
    p.add_argument("--search", choices=("tpe", "random", "grid"), default=None, help=argparse.SUPPRESS)
    p.add_argument("--n-iter", type=float, default=None, help=argparse.SUPPRESS)
    p.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    add_db_arg(p)
    p.add_argument("--no-history", action="store_true", help="do not record the run")
    p.set_defaults(func=guard(_cmd_tune))

    p = sub.add_parser(
        "history",
        help="list recorded compare/tune runs",
        description="Runs recorded by compare and tune (CLI and app share the same file).",
    )
    p.add_argument(
        "--limit", type=int_in(1, 1_000_000), default=20, help="number of runs to list, newest first (default 20)"
    )
    p.add_argument("--kind", choices=("compare", "tune"), help="only this kind of run")
    p.add_argument(
        "--protocol",
        choices=(*SPLIT_NAMES, "kfold"),
        help="only runs on this split protocol",
    )
    p.add_argument("--run", type=int, metavar="ID", help="print one whole run as JSON")
    add_db_arg(p)
    p.set_defaults(func=guard(_cmd_history))
