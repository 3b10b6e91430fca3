"""`abtest`: a simulated A/B test (and optionally Thompson sampling) between 2-4 models on a generated dataset."""

from __future__ import annotations

import math
import sys

from recsys.cli.common import (
    Progress,
    UsageError,
    add_data_arg,
    check_writable,
    finite_float,
    guard,
    int_in,
    k_within,
    load_data,
    parse_params,
    positive,
    print_table,
)

MAX_LEARNERS, MAX_SESSIONS = 100_000, 100  # a simulated test bigger than this is a typo (memory grows with it)


def _arm_params(models: list[str], items) -> list[dict]:
    """--param A.NAME=VALUE (one arm, by letter) or MODEL.NAME=VALUE (every arm of that model)."""
    params = [{} for _ in models]
    for item in items or []:
        target, dot, rest = item.partition(".")
        if not dot:
            raise UsageError(f"--param for abtest expects ARM.NAME=VALUE or MODEL.NAME=VALUE, got '{item}'")
        letters = "ABCD"[: len(models)]
        if target.upper() in letters and len(target) == 1:
            hits = [letters.index(target.upper())]
        else:
            hits = [i for i, m in enumerate(models) if m == target]
        if not hits:
            raise UsageError(
                f"--param '{item}' names '{target}', which is neither an arm letter ({', '.join(letters)}) "
                f"nor a model in --models"
            )
        for i in hits:
            params[i].update(parse_params([rest]))
    return params


def _split(text: str | None, n: int) -> list[float] | None:
    if not text:
        return None
    try:
        shares = [float(s) for s in text.split(",")]
    except ValueError:
        raise UsageError(f"--split expects comma-separated numbers, one per arm (e.g. 50,50), got '{text}'") from None
    if len(shares) != n or any(not math.isfinite(s) or s <= 0 for s in shares):
        raise UsageError(f"--split needs {n} positive shares (one per arm), got '{text}'")
    return shares


def _fmt(x, digits=4) -> str:
    try:
        return "n/a" if x != x else f"{x:.{digits}f}"
    except TypeError:
        return str(x)


def _cmd_abtest(args) -> int:
    from recsys.evaluation.specs import resolve_models
    from recsys.models import make_model
    from recsys.simulation import STOPPING_RULE, build_arms, run_abtest, run_thompson, simulator_for_folder

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if not 2 <= len(models) <= 4:
        raise UsageError(f"--models needs 2 to 4 comma-separated model keys, got {len(models)}")
    params = _arm_params(models, args.param)
    resolve_models(list(zip(models, params)), args.seed)  # unknown keys or parameters fail before any work
    split = _split(args.split, len(models))
    positive("--learners", args.learners)
    positive("--sessions", args.sessions)
    positive("--k", args.k)
    check_writable(args.json, "--json")
    dataset = load_data(args.data)
    k_within(args.k, dataset)
    simulator = simulator_for_folder(args.data, dataset, position_bias=args.position_bias)

    def fit(key, p):
        return make_model(key, **{"seed": args.seed, **p}).fit(dataset, progress=Progress(f"fit {key}"))

    arms = build_arms(list(zip(models, params)), fit, seed=args.seed)
    result = run_abtest(
        simulator,
        arms,
        n_learners=args.learners,
        sessions=args.sessions,
        k=args.k,
        split=split,
        seed=args.seed,
        progress=Progress("simulate"),
    )
    s = result.settings
    print(
        f"A/B test on {dataset.name}: {s['n_learners']:,} fresh simulated learners x {s['sessions']} sessions, "
        f"top-{s['k']}, split {', '.join(f'{p:.0%}' for p in s['split'])}, seed {s['seed']}; control = {result.control}"
    )
    summary = result.summary
    table = summary[["arm", "learners", "lists", "enrolments"]].copy()
    table["CTR [95% CI]"] = [f"{r.ctr:.4f} [{r.ctr_lo:.4f}, {r.ctr_hi:.4f}]" for r in summary.itertuples()]
    table["completion"] = summary["completion_rate"].map(_fmt)
    table["enrol/learner"] = summary["enrolments_per_learner"].map(_fmt)
    table["coverage"] = summary["coverage"].map(lambda x: f"{x:.1%}")
    print_table(table)
    print("\nDifference to control (95% interval, two-sided p):")
    comp = result.comparisons
    rows = comp.assign(
        diff=[f"{r.diff:+.4f} [{r.lo:+.4f}, {r.hi:+.4f}]" for r in comp.itertuples()],
        p=comp["p_value"].map(lambda p: "n/a" if p != p else f"{p:.3g}"),
        significant=comp["significant"].map({True: "yes", False: "no"}),
    )[["arm", "metric", "diff", "p", "significant"]]
    print_table(rows)
    print(f"\nStopping rule: {STOPPING_RULE}")
    stop = result.stopping()
    stop["stopped_at_learners"] = stop["stopped_at_learners"].map(
        lambda v: "-" if v is None or v != v else f"{int(v):,}"
    )
    stop["fixed_horizon_p"] = stop["fixed_horizon_p"].map(lambda p: "n/a" if p != p else f"{p:.3g}")
    print_table(stop)
    out = {
        "settings": s,
        "summary": summary.to_dict("records"),
        "comparisons": comp.to_dict("records"),
        "sequential": result.sequential.to_dict("records"),
        "stopping_rule": STOPPING_RULE,
    }
    if args.bandit:
        means = dict(zip(summary["arm"], summary["ctr"]))
        bandit = run_thompson(
            simulator,
            arms,
            n_learners=args.learners,
            sessions=args.sessions,
            k=args.k,
            seed=args.seed,
            arm_means=means,
            progress=Progress("thompson"),
        )
        share = bandit.final_share()
        print(
            f"\nThompson sampling ({args.learners:,} learners): share of the last 20% of learners per arm; "
            f"cumulative regret vs the best arm ({bandit.best_arm}, means from the A/B test):"
        )
        regret = bandit.regret.iloc[-1]
        print_table(
            bandit.posterior.assign(
                final_share=[f"{share[a]:.1%}" for a in bandit.arms], posterior_mean=bandit.posterior["mean"].map(_fmt)
            )[["arm", "final_share", "posterior_mean"]]
        )
        print(f"regret: Thompson {regret['thompson']:.1f} enrolments, equal split {regret['equal_split']:.1f}")
        out["bandit"] = {
            "final_share": share,
            "regret_thompson": float(regret["thompson"]),
            "regret_equal_split": float(regret["equal_split"]),
        }
    if args.offline:
        from recsys.simulation import agreement, offline_ndcg

        offline = offline_ndcg(
            dataset,
            [(a.name, m, p) for a, m, p in zip(arms, models, params)],
            k=args.k,
            seed=args.seed,
            progress=Progress("offline"),
        )
        table, tau, p = agreement(offline, dict(zip(summary["arm"], summary["ctr"])))
        if len(table) < 3:
            same = "same order" if (table["offline_rank"] == table["online_rank"]).all() else "different orders"
            verdict = f"Kendall's tau needs three or more arms; with two: {same}"
        else:
            verdict = f"Kendall's tau = {_fmt(tau, 3)} (p = {_fmt(p, 3)})"
        print(f"\nOffline NDCG@{args.k} (holdout) vs online CTR -- {verdict}:")
        print_table(
            table.assign(offline_ndcg=table["offline_ndcg"].map(_fmt), online_ctr=table["online_ctr"].map(_fmt))
        )
        out["agreement"] = {"table": table.to_dict("records"), "kendall_tau": tau, "p_value": p}
    if args.json:
        from recsys._json import write_json_atomic

        write_json_atomic(args.json, out)
        print(f"\nwrote {args.json}", file=sys.stderr)
    return 0


def register(sub) -> None:
    from recsys.models import MODEL_KEYS

    p = sub.add_parser(
        "abtest",
        help="simulated A/B test (and Thompson sampling) between 2-4 models",
        description="Serve 2-4 models (arms) to fresh simulated learners of a generated dataset and "
        "compare CTR, completion rate, enrolments per learner and coverage. Needs a folder "
        f"made by `generate` (it holds the behaviour model). Models: {', '.join(MODEL_KEYS)}.",
    )
    add_data_arg(p)
    p.add_argument(
        "--models",
        required=True,
        help="2-4 comma-separated model keys; the first is the control (repeat a key for an A/A test)",
    )
    p.add_argument(
        "--param",
        action="append",
        metavar="ARM.NAME=VALUE",
        help="hyperparameter for one arm (A, B, ...) or every arm of a model (knn.k=20); repeatable",
    )
    p.add_argument("--split", help="traffic shares per arm, e.g. 50,50 (default equal)")
    p.add_argument(
        "--learners",
        type=int_in(1, MAX_LEARNERS),
        default=2000,
        help=f"fresh simulated learners in total (default 2000, at most {MAX_LEARNERS:,})",
    )
    p.add_argument(
        "--sessions",
        type=int_in(1, MAX_SESSIONS),
        default=5,
        help=f"sessions (shown lists) per learner (default 5, at most {MAX_SESSIONS})",
    )
    p.add_argument("--k", type=int_in(1, 1000), default=10, help="courses per shown list (default 10)")
    p.add_argument(
        "--position-bias",
        type=finite_float(0.0, 10.0),
        default=0.7,
        help="rank r is looked at with probability r^-bias (default 0.7)",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed for learners, assignment, reactions and models (default 0)"
    )
    p.add_argument("--bandit", action="store_true", help="also run Thompson sampling over the same arms")
    p.add_argument("--offline", action="store_true", help="also compare with offline NDCG@K (Kendall's tau)")
    p.add_argument("--json", metavar="OUT", help="also write the results as JSON (atomically)")
    p.set_defaults(func=guard(_cmd_abtest))
