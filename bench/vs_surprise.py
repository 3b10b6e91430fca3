"""Our Surprise-based models against Surprise itself on the same train data: fit time, prediction time, RMSE.

One seeded ratio split of the dataset. For each configuration, Surprise is run directly through its public
API (Dataset.load_from_df -> build_full_trainset -> algo.fit -> algo.test(testset)) on the train ratings,
fed in learner-then-catalogue order (the order our models reproduce, so similarity ties break alike), and
our model is fitted on the same train Dataset and predicts every test pair in one batched
`model.predict(users, items)` call. Prediction timings are the fastest of --repeat rounds, each timing ours
then Surprise's, so a busy moment on a shared machine hits both sides alike. Targets: batched prediction
>= 10x faster than `test()`, and the same RMSE (|difference| <= 1e-6).

Each comparison runs in a fresh subprocess, so no heap, cache or allocator state left by one comparison
slows the next. User-based kNN in Surprise holds several n_learners^2 float64 matrices while fitting (~9 GB each at 34k
learners), so that comparison runs on a seeded sample of learners (--user-learners, default 5,000).

    .venv/bin/python bench/vs_surprise.py [--data DIR] [--test-size 0.2] [--user-learners 5000] [--json OUT]
"""

from __future__ import annotations

import argparse
import inspect
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common as C

TARGET_SPEEDUP = 10.0
RMSE_TOLERANCE = 1e-6
CONFIGS = ("knn", "knn_user", "nmf")
_KNN_CLASSES = {"basic": "KNNBasic", "with_means": "KNNWithMeans", "baseline": "KNNBaseline"}


def surprise_algo(model):
    """The Surprise algorithm our fitted-or-not `model` wraps, with the same hyperparameters."""
    import surprise

    params = model.get_params()
    if model.key == "knn":
        sim = {
            "name": params["similarity"],
            "user_based": bool(params["user_based"]),
            "min_support": int(params["min_support"]),
        }
        if params["similarity"] == "pearson_baseline":
            sim["shrinkage"] = float(params["shrinkage"])
        cls = getattr(surprise, _KNN_CLASSES[params["variant"]])
        return cls(k=int(params["n_neighbours"]), min_k=int(params["min_k"]), sim_options=sim, verbose=False)
    if model.key == "nmf":
        accepted = set(inspect.signature(surprise.NMF.__init__).parameters) - {"self", "verbose"}
        kwargs = {name: value for name, value in params.items() if name in accepted}
        if "random_state" not in kwargs and "seed" in params:
            kwargs["random_state"] = params["seed"]
        return surprise.NMF(**kwargs, verbose=False)
    raise ValueError(f"no Surprise counterpart for model '{model.key}'")


def surprise_frame(train):
    """Train ratings sorted by learner (matrix row) then course (catalogue column)."""
    import numpy as np

    order = np.lexsort((train.item_codes, train.user_codes))
    return train.ratings.iloc[order].reset_index(drop=True)


def sample_learners(dataset, n: int, seed: int):
    """The dataset restricted to `n` seeded random learners (all their ratings)."""
    import numpy as np

    if n >= dataset.n_users:
        return dataset
    rng = np.random.default_rng(seed)
    keep = rng.choice(dataset.user_ids, size=n, replace=False)
    ratings = dataset.ratings[dataset.ratings["user"].isin(keep)].reset_index(drop=True)
    return dataset.with_ratings(ratings, name=f"{dataset.name} ({n:,} learners)")


def compare(name: str, dataset, test_size: float, seed: int, repeat: int = 5) -> dict:
    import numpy as np
    from surprise import Dataset as SurpriseDataset
    from surprise import Reader

    from recsys.evaluation.splits import ratio_split

    split = ratio_split(dataset, test_size=test_size, seed=seed)
    train, test = split.train, split.test
    users, items = test["user"].to_numpy(object), test["item"].to_numpy(object)
    actual = test["rating"].to_numpy(np.float64)
    model = C.build_model(name, seed)
    log = lambda msg: print(f"[{time.strftime('%H:%M:%S')}] {name}: {msg}", file=sys.stderr, flush=True)

    log(f"our fit on {train.n_users:,} learners / {len(train.ratings):,} ratings ...")
    ours_fit, _ = C.time_call(lambda: model.fit(train))
    log("Surprise trainset + fit ...")
    frame = surprise_frame(train)
    reader = Reader(rating_scale=tuple(train.rating_scale))
    build_s, trainset = C.time_call(lambda: SurpriseDataset.load_from_df(frame, reader).build_full_trainset())
    algo = surprise_algo(model)
    fit_s, _ = C.time_call(lambda: algo.fit(trainset))
    testset = list(zip(users.tolist(), items.tolist(), actual.tolist()))

    log(f"predicting {len(testset):,} pairs, ours and Surprise's test() in turn, {repeat} rounds ...")
    model.predict(users[:10], items[:10])  # warm-up (first-call allocations)
    ours_times, test_times = [], []
    for _ in range(max(1, repeat)):  # interleaved, so a busy moment on the machine hits both sides alike
        took, ours = C.time_call(lambda: np.asarray(model.predict(users, items), dtype=np.float64), collect=True)
        ours_times.append(took)
        took, predictions = C.time_call(lambda: algo.test(testset), collect=True)
        test_times.append(took)
    ours_pred_s, test_s = min(ours_times), min(test_times)
    theirs = np.array([p.est for p in predictions], dtype=np.float64)

    rmse_ours = float(np.sqrt(np.mean((ours - actual) ** 2)))
    rmse_theirs = float(np.sqrt(np.mean((theirs - actual) ** 2)))
    return {
        "model": name,
        "learners": int(dataset.n_users),
        "train_ratings": int(len(train.ratings)),
        "test_pairs": int(len(test)),
        "ours_fit_s": ours_fit,
        "surprise_trainset_s": build_s,
        "surprise_fit_s": fit_s,
        "ours_predict_s": ours_pred_s,
        "surprise_test_s": test_s,
        "predict_speedup_x": test_s / ours_pred_s if ours_pred_s > 0 else None,
        "fit_speedup_x": (build_s + fit_s) / ours_fit if ours_fit > 0 else None,
        "rmse_ours": rmse_ours,
        "rmse_surprise": rmse_theirs,
        "rmse_abs_diff": abs(rmse_ours - rmse_theirs),
        "max_abs_pred_diff": float(np.max(np.abs(ours - theirs))) if len(ours) else 0.0,
    }


def worker(args) -> int:
    """Run one comparison and write its row as JSON (a fresh process per comparison: no heap, cache or
    allocator state left by another comparison can slow this one)."""
    dataset = C.load_data(args.data)
    if args.worker == "knn_user" and args.user_learners < dataset.n_users:
        dataset = sample_learners(dataset, args.user_learners, args.seed)
    C.write_json(args.out, compare(args.worker, dataset, args.test_size, args.seed, args.repeat))
    return 0


def run_worker(name: str, args) -> dict:
    with tempfile.TemporaryDirectory(prefix="recsys-vs-") as tmp:
        out = Path(tmp) / "row.json"
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--worker",
            name,
            "--out",
            str(out),
            "--data",
            str(args.data),
            "--seed",
            str(args.seed),
            "--test-size",
            str(args.test_size),
            "--user-learners",
            str(args.user_learners),
            "--repeat",
            str(args.repeat),
        ]
        proc = subprocess.run(cmd, cwd=C.ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        sys.stderr.write(proc.stderr)
        if proc.returncode != 0 or not out.is_file():
            last = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
            raise RuntimeError(last[:300])
        return json.loads(out.read_text())


def main(argv=None) -> int:
    p = C.parser("Our knn/nmf vs Surprise run directly: fit time, batched predict vs test(), RMSE.")
    p.add_argument("--models", default="all", help=f"comma-separated subset of {', '.join(CONFIGS)} (default all)")
    p.add_argument("--test-size", type=float, default=0.2, help="ratio split test share (default 0.2)")
    p.add_argument(
        "--user-learners",
        type=int,
        default=5000,
        help="learners sampled for the user-based kNN comparison (default 5000)",
    )
    p.add_argument(
        "--repeat", type=int, default=5, help="prediction timings: fastest of this many interleaved rounds (default 5)"
    )
    p.add_argument("--worker", metavar="NAME", help=argparse.SUPPRESS)  # one comparison in this process
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args)
    names = C.resolve_model_names(args.models, CONFIGS)
    bad = [n for n in names if n not in CONFIGS]
    if bad:
        p.error(f"no Surprise comparison for {', '.join(bad)} (choose from {', '.join(CONFIGS)})")

    info = C.machine()
    C.print_machine(info)
    available = C.available_models()
    dataset = C.load_data(args.data)
    print(
        f"dataset {args.data}: {dataset.n_users:,} learners, {len(dataset.ratings):,} ratings; ratio split "
        f"test_size={args.test_size}, seed {args.seed}; default hyperparameters; each comparison in a fresh "
        f"process",
        flush=True,
    )
    results, notes, errors = [], [], []
    for name in names:
        if C.model_spec(name)[0] not in available:
            notes.append(f"{name}: model not installed yet -- skipped")
            continue
        if name == "knn_user" and args.user_learners < dataset.n_users:
            notes.append(
                f"knn_user: on {args.user_learners:,} sampled learners (Surprise's user-based fit holds "
                f"n_learners^2 float64 matrices: ~{dataset.n_users**2 * 8 / 1e9:.0f} GB each at "
                f"{dataset.n_users:,})"
            )
        try:
            results.append(run_worker(name, args))
        except RuntimeError as exc:  # keep the other comparisons
            print(f"{name}: FAILED: {exc}", file=sys.stderr, flush=True)
            errors.append({"model": name, "error": str(exc)})

    print()
    C.print_table(
        [
            {
                "model": r["model"],
                "learners": r["learners"],
                "test_pairs": r["test_pairs"],
                "fit_s ours": r["ours_fit_s"],
                "fit_s surprise": r["surprise_trainset_s"] + r["surprise_fit_s"],
                "predict_ms ours": r["ours_predict_s"] * 1000,
                "test()_ms surprise": r["surprise_test_s"] * 1000,
                "speedup_x": r["predict_speedup_x"],
                "rmse ours": f"{r['rmse_ours']:.6f}",
                "rmse surprise": f"{r['rmse_surprise']:.6f}",
                "max|pred diff|": f"{r['max_abs_pred_diff']:.1e}",
            }
            for r in results
        ]
    )
    print(
        "fit_s surprise = load_from_df + build_full_trainset + algo.fit; predict: one batched "
        "model.predict(users, items) vs algo.test(testset) over the same test pairs, fastest of "
        f"{args.repeat} interleaved rounds"
    )
    for note in notes:
        print(f"note: {note}")
    for e in errors:
        print(f"{e['model']}: FAILED ({e['error']})")
    verdicts = []
    for r in results:
        fast = r["predict_speedup_x"] is not None and r["predict_speedup_x"] >= TARGET_SPEEDUP
        equal = r["rmse_abs_diff"] <= RMSE_TOLERANCE
        r["target_met"] = bool(fast and equal)
        verdicts.append(
            f"{r['model']} {r['predict_speedup_x']:.1f}x, |d rmse| {r['rmse_abs_diff']:.1e}: "
            f"{'met' if r['target_met'] else 'MISSED'}"
        )
    met = bool(results) and all(r["target_met"] for r in results) and not errors
    summary = {
        "target_speedup_x": TARGET_SPEEDUP,
        "rmse_tolerance": RMSE_TOLERANCE,
        "target_met": met,
        "notes": notes,
        "errors": errors,
    }
    C.finish("vs_surprise", args, info, results, summary)
    print(
        f"target (predict >= {TARGET_SPEEDUP:.0f}x faster than test(), equal RMSE): "
        + ("; ".join(verdicts) if verdicts else "n/a")
    )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
