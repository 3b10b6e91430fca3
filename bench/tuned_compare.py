"""The fair leaderboard's figures: a tuned comparison (every model searched with the same budget on the training
part only) against the untuned one, on the built-in data and on a seeded 1,000-learner subsample.

For each dataset it runs, each in a fresh Python process as a user's repeated `recsys compare` would (`Experiment`,
the CLI's code path; nothing fitted or parsed is carried from one run to the next):
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

import argparse
import json
import os
import subprocess
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


def run_fresh(args, trials: int | None, storage: Path | None, learners: int) -> dict:
    """One comparison in a fresh Python process (`--worker`), as a user's `recsys compare [--tune N]` runs: no
    model, embedding or parsed module carried over from an earlier comparison. Returns the worker's report."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "report.json"
        command = [sys.executable, __file__, "--worker", "--out", str(out), "--data", str(args.data)]
        command += ["--subsample", str(learners), "--models", ",".join(args.model_list), "--split", args.split]
        command += ["--seed", str(args.seed)]
        if trials is not None:
            command += ["--trials", str(trials), "--storage", str(storage)]
        subprocess.run(command, check=True, env={**os.environ, "RECSYS_ARTIFACTS_DIR": folder})
        return json.loads(out.read_text())


def worker(args) -> int:
    """The `--worker` side: load (and subsample) the data, time `Experiment(...).run()`, write a JSON report."""
    from recsys.evaluation import Experiment

    dataset = C.load_data(args.data)
    if args.subsample:
        dataset = subsample(dataset, args.subsample, args.seed)
    models = args.models.split(",")
    tune = None if args.trials is None else {"trials": args.trials}
    began = time.perf_counter()
    result = Experiment(dataset, args.split, models, k=10, seed=args.seed, tune=tune, study_storage=args.storage).run()
    seconds = time.perf_counter() - began
    details = {
        name: {
            "metrics": d.metrics,
            "ci": {k: list(v) for k, v in d.ci.items()},
            "tuning": d.tuning or {},
            "fit_seconds": d.fit_seconds,
        }
        for name, d in result.details.items()
    }
    report = {"seconds": seconds, "learners": int(dataset.n_users), "details": details}
    if tune is not None and "hybrid" in result.details:
        report["hybrid_vs_best_member"] = _hybrid_vs_members(result)
    C.write_json(args.out, report)
    return 0


def measure(label: str, learners: int, args, trials: int) -> dict:
    """Untuned, tuned (fresh studies) and tuned again (stored studies), each in a fresh process."""
    print(f"\n== {label}: {len(args.model_list)} models, {trials} trials per model ==", flush=True)
    untuned = run_fresh(args, None, None, learners)
    untuned_s = untuned["seconds"]
    print(f"{untuned['learners']:,} learners; untuned comparison: {untuned_s:.1f} s", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        storage = Path(folder) / "tuning.sqlite"
        tuned = run_fresh(args, trials, storage, learners)
        tuned_s = tuned["seconds"]
        print(f"tuned comparison (fresh studies): {tuned_s:.1f} s", flush=True)
        repeat = run_fresh(args, trials, storage, learners)
        repeat_s = repeat["seconds"]
        print(f"tuned comparison again (stored studies reused): {repeat_s:.1f} s", flush=True)
    same = all(repeat["details"][n]["metrics"] == tuned["details"][n]["metrics"] for n in tuned["details"])
    rows = []
    primary = "ndcg@10"
    for name, d in tuned["details"].items():
        t = d["tuning"]
        lo, hi = d["ci"].get(primary, (None, None))
        rows.append(
            {
                "model": name,
                "default": untuned["details"][name]["metrics"][primary],
                "tuned": d["metrics"][primary],
                "tuned_ci": f"[{lo:.4f}, {hi:.4f}]" if lo is not None else "n/a",
                "trials": t.get("trials", 0),
                "pruned": t.get("pruned", 0),
                "tuning_s": t.get("seconds", 0.0),
                "choice": t.get("choice", "members" if "members" in t else ""),
                "fit_s": f"{untuned['details'][name]['fit_seconds']:.2f} -> {repeat['details'][name]['fit_seconds']:.2f}",
                "params": _params(t.get("params") or {}),
            }
        )
    rows.sort(key=lambda r: -r["tuned"])
    C.print_table(
        rows, ["model", "default", "tuned", "tuned_ci", "trials", "pruned", "tuning_s", "choice", "fit_s", "params"]
    )
    summary = {
        "learners": untuned["learners"],
        "trials_per_model": trials,
        "untuned_s": untuned_s,
        "tuned_s": tuned_s,
        "repeat_s": repeat_s,
        "repeat_over_untuned": repeat_s / untuned_s - 1.0,
        "repeat_same_numbers": same,
        "rows": rows,
    }
    for kind, report in (("default", untuned), ("tuned", tuned)):
        base = report["details"].get("popularity")
        if base is None:
            continue
        below = [
            n
            for n, d in report["details"].items()
            if n != "popularity" and d["metrics"][primary] <= base["metrics"][primary]
        ]
        summary[f"{kind}_at_or_below_popularity"] = below
        print(f"{kind}: models at or below popularity: {', '.join(below) or 'none'}")
    if "hybrid_vs_best_member" in tuned:
        summary["hybrid_vs_best_member"] = verdict = tuned["hybrid_vs_best_member"]
        if verdict:
            lo, hi = verdict["ci"]
            print(
                f"hybrid - {verdict['best_member']} (its best tuned member): {verdict['mean_diff']:+.4f} "
                f"[{lo:+.4f}, {hi:+.4f}] -> {verdict['verdict']}"
            )
    return summary


def _params(params: dict) -> str:
    if "member_params" in params:
        return "; ".join(f"{k}: {_params(v)}" for k, v in (params["member_params"] or {}).items())
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def _hybrid_vs_members(result) -> dict:
    """The tuned hybrid minus its best tuned member in the comparison: paired 95% interval of NDCG@10."""
    members = [k for k in result.details["hybrid"].params.get("member_params") or {} if k in result.details]
    if not members:
        return {}
    best = max(members, key=lambda k: result.details[k].metrics["ndcg@10"])
    test = result.paired_test("hybrid", best, "ndcg@10")
    verdict = "not below" if test.ci[1] >= 0 else "below"
    return {"best_member": best, "mean_diff": test.mean_diff, "ci": list(test.ci), "verdict": verdict}


def main(argv=None) -> int:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--subsample", type=int, default=1000, help="learners in the small run (0 = skip it)")
    p.add_argument("--full", action="store_true", help="also run the full dataset (slow: up to ~15 min)")
    p.add_argument("--trials", type=int, default=None, help="trials per model on the full dataset (default 20)")
    p.add_argument("--small-trials", type=int, default=30, help="trials per model on the subsample (default 30)")
    p.add_argument("--models", default="all", help="'all' or comma-separated keys")
    p.add_argument("--exclude", default="spark_als", help="keys left out (default spark_als)")
    p.add_argument("--split", default="new_learners", help="protocol (default new_learners)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--storage", default=None, help=argparse.SUPPRESS)
    p.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args)
    info = C.machine()
    C.print_machine(info)
    from recsys.models import MODEL_KEYS

    drop = {k.strip() for k in args.exclude.split(",") if k.strip()}
    keys = list(MODEL_KEYS) if args.models == "all" else [k.strip() for k in args.models.split(",")]
    args.model_list = [k for k in keys if k not in drop]
    results = []
    if args.subsample:
        small = measure("subsample", args.subsample, args, args.small_trials)
        small["target_s"] = SMALL_TARGET_S
        small["target_met"] = small["tuned_s"] <= SMALL_TARGET_S
        print(
            f"subsample target: tuned <= {SMALL_TARGET_S} s -> {small['tuned_s']:.0f} s; repeat <= untuned + 10% -> "
            f"{small['repeat_over_untuned']:+.0%}"
        )
        results.append(small)
    if args.full:
        full = measure("built-in data", 0, args, args.trials or 20)
        full["target_s"] = FULL_TARGET_S
        full["target_met"] = full["tuned_s"] <= FULL_TARGET_S and full["repeat_over_untuned"] <= REPEAT_TOLERANCE
        print(
            f"full target: tuned <= {FULL_TARGET_S} s -> {full['tuned_s']:.0f} s; repeat <= untuned + 10% -> "
            f"{full['repeat_over_untuned']:+.0%}"
        )
        results.append(full)
    C.finish(
        "tuned_compare",
        args,
        info,
        results,
        {"runs": len(results), "target_met": all(r["target_met"] for r in results)},
        internal=("worker", "storage", "out"),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
