"""The fair leaderboard's figures: a tuned comparison (every model searched with the same budget on the training
part only) against the untuned one, on the built-in data and on a seeded 1,000-learner subsample.

For each dataset it runs, as the CLI does (`Experiment`, the same code path):
1. the untuned comparison (defaults) -- wall time and NDCG@10 per model;
2. the tuned comparison with N trials per model into a fresh study file -- wall time, trials, pruned, chosen
   parameters, NDCG@10 with its 95% interval;
3. the same tuned comparison again, reusing the stored studies -- wall time (target: <= untuned + 10%).
It then reports the tuned hybrid against its best tuned member as a paired 95% interval on the same learners
(target: not below), and every model tuned or not against popularity.

Issue targets (2 cores): built-in data, all models except spark_als, 20 trials: tuned <= 15 min; the repeat
<= untuned + 10%; 1,000 learners, 30 trials: <= 3 min.

    .venv/bin/python bench/tuned_compare.py [--data DIR] [--subsample 1000] [--full] [--trials 20]
        [--small-trials 30] [--models all] [--exclude spark_als] [--split new_learners] [--seed 0] [--json OUT]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import _common as C
import numpy as np

FULL_TARGET_S = 15 * 60
SMALL_TARGET_S = 3 * 60
REPEAT_TOLERANCE = 0.10


def subsample(dataset, n: int, seed: int):
    """A seeded `n`-learner subsample with the same catalogue (every course kept, whether taken or not)."""
    rng = np.random.default_rng(seed)
    users = dataset.user_ids[np.sort(rng.choice(dataset.n_users, min(n, dataset.n_users), replace=False))]
    ratings = dataset.ratings[dataset.ratings["user"].isin(users)].reset_index(drop=True)
    return dataset.with_ratings(ratings, name=f"{dataset.name} ({len(users):,} learners, seed {seed})")


def run(dataset, models, split, seed, trials, storage):
    from recsys.evaluation import Experiment

    began = time.perf_counter()
    tune = None if trials is None else {"trials": trials}
    result = Experiment(dataset, split, models, k=10, seed=seed, tune=tune, study_storage=storage).run()
    return time.perf_counter() - began, result


def measure(label: str, dataset, models, args, trials: int) -> dict:
    print(f"\n== {label}: {dataset.n_users:,} learners, {len(models)} models, {trials} trials per model ==")
    untuned_s, untuned = run(dataset, models, args.split, args.seed, None, None)
    print(f"untuned comparison: {untuned_s:.1f} s")
    with tempfile.TemporaryDirectory() as folder:
        storage = Path(folder) / "tuning.sqlite"
        tuned_s, tuned = run(dataset, models, args.split, args.seed, trials, storage)
        print(f"tuned comparison (fresh studies): {tuned_s:.1f} s")
        repeat_s, repeat = run(dataset, models, args.split, args.seed, trials, storage)
        print(f"tuned comparison again (stored studies reused): {repeat_s:.1f} s")
    same = all(repeat.details[n].metrics == tuned.details[n].metrics for n in tuned.details)
    rows = []
    primary = "ndcg@10"
    for name, d in tuned.details.items():
        t = d.tuning or {}
        lo, hi = d.ci.get(primary, (None, None))
        rows.append(
            {
                "model": name,
                "default": untuned.details[name].metrics[primary],
                "tuned": d.metrics[primary],
                "tuned_ci": f"[{lo:.4f}, {hi:.4f}]" if lo is not None else "n/a",
                "trials": t.get("trials", 0),
                "pruned": t.get("pruned", 0),
                "tuning_s": t.get("seconds", 0.0),
                "params": _params(t.get("params") or {}),
            }
        )
    rows.sort(key=lambda r: -r["tuned"])
    C.print_table(rows, ["model", "default", "tuned", "tuned_ci", "trials", "pruned", "tuning_s", "params"])
    summary = {
        "learners": int(dataset.n_users),
        "trials_per_model": trials,
        "untuned_s": untuned_s,
        "tuned_s": tuned_s,
        "repeat_s": repeat_s,
        "repeat_over_untuned": repeat_s / untuned_s - 1.0,
        "repeat_same_numbers": same,
        "rows": rows,
    }
    popularity = {"default": untuned.details.get("popularity"), "tuned": tuned.details.get("popularity")}
    for kind, run_result in (("default", untuned), ("tuned", tuned)):
        base = popularity[kind]
        if base is None:
            continue
        below = [
            n
            for n, d in run_result.details.items()
            if n != "popularity" and d.metrics[primary] <= base.metrics[primary]
        ]
        summary[f"{kind}_at_or_below_popularity"] = below
        print(f"{kind}: models at or below popularity: {', '.join(below) or 'none'}")
    if "hybrid" in tuned.details:
        summary["hybrid_vs_best_member"] = _hybrid_vs_members(tuned)
    return summary


def _params(params: dict) -> str:
    if "member_params" in params:
        return "; ".join(f"{k}: {_params(v)}" for k, v in (params["member_params"] or {}).items())
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def _hybrid_vs_members(result) -> dict:
    """The tuned hybrid minus its best tuned member in the comparison: paired 95% interval of NDCG@10."""
    members = [k for k in result.details["hybrid"].params.get("member_params") or {} if k in result.details]
    if not members:
        print("hybrid: none of its members is in the comparison")
        return {}
    best = max(members, key=lambda k: result.details[k].metrics["ndcg@10"])
    test = result.paired_test("hybrid", best, "ndcg@10")
    verdict = "not below" if test.ci[0] > 0 or test.ci[1] >= 0 else "below"
    print(
        f"hybrid - {best} (its best tuned member): {test.mean_diff:+.4f} [{test.ci[0]:+.4f}, {test.ci[1]:+.4f}] "
        f"-> {verdict}"
    )
    return {"best_member": best, "mean_diff": test.mean_diff, "ci": list(test.ci), "verdict": verdict}


def main(argv=None) -> int:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--subsample", type=int, default=1000, help="learners in the small run (0 = skip it)")
    p.add_argument("--full", action="store_true", help="also run the full dataset (slow: up to ~15 min)")
    p.add_argument("--trials", type=int, default=20, help="trials per model on the full dataset (default 20)")
    p.add_argument("--small-trials", type=int, default=30, help="trials per model on the subsample (default 30)")
    p.add_argument("--models", default="all", help="'all' or comma-separated keys")
    p.add_argument("--exclude", default="spark_als", help="keys left out (default spark_als)")
    p.add_argument("--split", default="new_learners", help="protocol (default new_learners)")
    args = p.parse_args(argv)
    info = C.machine()
    C.print_machine(info)
    from recsys.models import MODEL_KEYS

    drop = {k.strip() for k in args.exclude.split(",") if k.strip()}
    keys = list(MODEL_KEYS) if args.models == "all" else [k.strip() for k in args.models.split(",")]
    models = [k for k in keys if k not in drop]
    dataset = C.load_data(args.data)
    results = []
    if args.subsample:
        small = measure("subsample", subsample(dataset, args.subsample, args.seed), models, args, args.small_trials)
        small["target_s"] = SMALL_TARGET_S
        print(f"subsample target: tuned <= {SMALL_TARGET_S} s -> {small['tuned_s']:.0f} s")
        results.append(small)
    if args.full:
        full = measure("built-in data", dataset, models, args, args.trials)
        full["target_s"] = FULL_TARGET_S
        print(
            f"full target: tuned <= {FULL_TARGET_S} s -> {full['tuned_s']:.0f} s; repeat <= untuned + 10% -> "
            f"{full['repeat_over_untuned']:+.0%}"
        )
        results.append(full)
    C.finish("tuned_compare", args, info, results, {"runs": len(results)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
