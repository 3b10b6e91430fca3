"""New-learner recommendation latency per model, next to the seed app's refit-per-request approach.

Our path: a model fitted once serves a brand-new learner from their course list (`model.recommend`).
The seed app instead appended the learner's ratings to the ratings table and refitted the model for every
request; for knn, nmf and neural we time a few of those refits (each is a full fit) to give the speed-up.

    .venv/bin/python bench/latency.py [--data DIR] [--models all] [--learners 200] [--refits 3] [--json OUT]

The last line is the verdict: every model's p95 <= 3 ms and p50 <= 1.5 ms (issue 14; the first target was
p95 < 50 ms). Besides wall time each call's thread CPU time is recorded (cpu_p50/cpu_p95): on a shared machine
the wall p95 includes waiting for a core, the CPU figures show the work of the call itself.
"""

from __future__ import annotations

import sys
import time

import _common as C

TARGET_P95_MS = 3.0
TARGET_P50_MS = 1.5
REFIT_MODELS = ("knn", "nmf", "neural")


def sample_histories(dataset, n_learners: int, n_courses: int, seed: int) -> list[list[str]]:
    """`n_courses` random courses from each of `n_learners` random real learners with that many courses."""
    import numpy as np

    m = dataset.matrix
    counts = np.diff(m.indptr)
    eligible = np.flatnonzero(counts >= n_courses)
    if len(eligible) == 0:
        raise SystemExit(f"error: no learner has {n_courses} courses in {dataset.name}")
    rng = np.random.default_rng(seed)
    rows = rng.choice(eligible, size=min(n_learners, len(eligible)), replace=False)
    ids = np.asarray(dataset.item_ids)
    out = []
    for r in rows:
        cols = m.indices[m.indptr[r] : m.indptr[r + 1]]
        out.append([str(c) for c in ids[rng.choice(cols, size=n_courses, replace=False)]])
    return out


def new_learner_id(dataset):
    """An id no training learner has (same type as the existing ids where they are integers)."""
    import numpy as np

    users = dataset.ratings["user"]
    if np.issubdtype(users.dtype, np.integer):
        return int(users.max()) + 1
    return "bench-new-learner"


def refit_and_recommend(dataset, name: str, seed: int, courses: list[str], k: int) -> float:
    """The seed app's way: append the learner's ratings, refit the same model, recommend. Wall seconds."""
    import pandas as pd

    began = time.perf_counter()
    user = new_learner_id(dataset)
    extra = pd.DataFrame(
        {"user": [user] * len(courses), "item": courses, "rating": [dataset.rating_scale[1]] * len(courses)}
    )
    extra = extra.astype({c: dataset.ratings[c].dtype for c in ("user", "rating")})
    data = dataset.with_ratings(pd.concat([dataset.ratings, extra], ignore_index=True))
    model = C.build_model(name, seed).fit(data)
    recs = model.recommend_user(user, k=k)
    took = time.perf_counter() - began
    if len(recs) == 0:
        raise RuntimeError(f"{name}: refit path returned no recommendations")
    return took


def measure(name: str, dataset, histories: list[list[str]], args) -> dict:
    """Fit once, warm up, time `recommend` per sampled learner; then the refit-per-request timings."""
    print(f"[{time.strftime('%H:%M:%S')}] {name}: fitting ...", file=sys.stderr, flush=True)
    fit_s, model = C.time_call(lambda: C.build_model(name, args.seed).fit(dataset))
    for courses in histories[: args.warmup]:
        model.recommend(courses, k=args.k)
    times, cpu = [], []
    for courses in histories:
        cpu_began = time.thread_time()
        took, recs = C.time_call(lambda courses=courses, model=model: model.recommend(courses, k=args.k))
        cpu.append((time.thread_time() - cpu_began) * 1000.0)
        times.append(took * 1000.0)
        if len(recs) == 0:
            raise RuntimeError(f"no recommendations for {courses}")
    row = {
        "model": name,
        "fit_s": round(fit_s, 3),
        "p50_ms": C.percentile(times, 50),
        "p95_ms": C.percentile(times, 95),
        "cpu_p50_ms": C.percentile(cpu, 50),
        "cpu_p95_ms": C.percentile(cpu, 95),
        "mean_ms": sum(times) / len(times),
        "max_ms": max(times),
        "calls": len(times),
        "refit_s": None,
        "refits": 0,
        "speedup_x": None,
    }
    del model
    if args.refits and name in REFIT_MODELS:
        print(
            f"[{time.strftime('%H:%M:%S')}] {name}: {args.refits} refit-per-request timings ...",
            file=sys.stderr,
            flush=True,
        )
        refits = [
            refit_and_recommend(dataset, name, args.seed, courses, args.k) for courses in histories[: args.refits]
        ]
        row["refit_s"] = C.percentile(refits, 50)
        row["refits"] = len(refits)
        row["refit_all_s"] = [round(v, 3) for v in refits]
        row["speedup_x"] = row["refit_s"] * 1000.0 / row["p50_ms"]
    print(
        f"[{time.strftime('%H:%M:%S')}] {name}: p50 {row['p50_ms']:.2f} ms, p95 {row['p95_ms']:.2f} ms",
        file=sys.stderr,
        flush=True,
    )
    return row


def main(argv=None) -> int:
    p = C.parser("New-learner recommend latency per model (fitted once) vs refit-per-request.")
    p.add_argument(
        "--models",
        default="all",
        help="'all' (every installed model + knn_user, user-based kNN) or comma-separated names",
    )
    p.add_argument("--learners", type=int, default=200, help="sampled real learners timed per model (default 200)")
    p.add_argument("--courses", type=int, default=5, help="courses picked per learner (default 5)")
    p.add_argument("--k", type=int, default=10, help="recommendations per request (default 10)")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls before timing (default 3)")
    p.add_argument(
        "--refits",
        type=int,
        default=3,
        help="refit-per-request timings for knn, nmf, neural (each a full fit; 0 = skip; default 3)",
    )
    args = p.parse_args(argv)
    if args.learners < 1 or args.courses < 1 or args.k < 1 or args.warmup < 0 or args.refits < 0:
        p.error("--learners, --courses and --k must be >= 1; --warmup and --refits >= 0")

    info = C.machine()
    C.print_machine(info)
    names, missing = C.bench_models(args.models)
    dataset = C.load_data(args.data)
    histories = sample_histories(dataset, args.learners, args.courses, args.seed)
    print(
        f"dataset {args.data}: {dataset.n_users:,} learners, {dataset.n_items} courses, {len(dataset.ratings):,} "
        f"ratings; {len(histories)} sampled learners x {args.courses} courses, k={args.k}, seed {args.seed}"
    )
    if missing:
        print(f"not installed yet (skipped): {', '.join(missing)}")
    sys.stdout.flush()

    results, errors = [], []
    for name in names:
        try:
            results.append(measure(name, dataset, histories, args))
        except Exception as exc:  # one broken model must not hide the others' figures
            print(f"{name}: FAILED: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            errors.append({"model": name, "error": f"{type(exc).__name__}: {exc}"})

    print()
    C.print_table(
        results,
        ["model", "fit_s", "p50_ms", "p95_ms", "cpu_p50_ms", "cpu_p95_ms", "mean_ms", "max_ms", "refit_s", "speedup_x"],
    )
    print(
        "p50/p95/mean/max: wall ms of model.recommend(5 course ids, k) on the fitted model; cpu_*: the calling "
        "thread's CPU ms (without waiting for a core); refit_s: median seconds to append the learner's ratings, "
        "refit the same model and recommend (seed-app approach); speedup_x = refit_s / p50"
    )
    worst = max(results, key=lambda r: r["p95_ms"]) if results else None
    for e in errors:
        print(f"{e['model']}: FAILED ({e['error']})")
    summary = {
        "target_p95_ms": TARGET_P95_MS,
        "target_p50_ms": TARGET_P50_MS,
        "skipped_not_installed": missing,
        "errors": errors,
    }
    if worst:
        met = all(r["p95_ms"] <= TARGET_P95_MS and r["p50_ms"] <= TARGET_P50_MS for r in results)
        cpu_met = all(r["cpu_p95_ms"] <= TARGET_P95_MS and r["cpu_p50_ms"] <= TARGET_P50_MS for r in results)
        summary.update(
            worst_model=worst["model"],
            worst_p95_ms=worst["p95_ms"],
            target_met=met,
            cpu_target_met=cpu_met,
            over_target=[r["model"] for r in results if r["p95_ms"] > TARGET_P95_MS or r["p50_ms"] > TARGET_P50_MS],
        )
    C.finish("latency", args, info, results, summary)
    if worst:
        verdict = (
            "met"
            if summary["target_met"] and not errors
            else "MISSED"
            if not summary["target_met"]
            else f"met by the models that ran ({len(errors)} failed)"
        )
        print(
            f"worst p95: {worst['p95_ms']:.1f} ms ({worst['model']}) -- target p95 <= {TARGET_P95_MS:.0f} ms and "
            f"p50 <= {TARGET_P50_MS} ms for every model: {verdict}"
            + (f" (over: {', '.join(summary['over_target'])})" if summary["over_target"] else "")
            + f"; on CPU time: {'met' if summary['cpu_target_met'] else 'MISSED'}"
        )
    else:
        print("worst p95: n/a (no models run)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
