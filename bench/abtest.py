"""Simulated A/B test speed: 4 arms x 5,000 simulated learners each x 5 sessions on the built-in dataset.

Models are fitted first (not timed in the A/B figure; fit times are printed); the timed part is drawing the
fresh learners, serving every session (batched fold-in scoring + simulated reactions) and the statistics.

    .venv/bin/python bench/abtest.py [--data DIR] [--models popularity,knn,nmf,course_similarity]
                                     [--learners-per-arm 5000] [--sessions 5] [--json OUT]

Target: < 60 s on 2 cores.
"""

from __future__ import annotations

import time

import _common as C

TARGET_S = 60.0


def main() -> int:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--models", default="popularity,knn,nmf,course_similarity", help="4 comma-separated model keys")
    p.add_argument("--learners-per-arm", type=int, default=5000, help="simulated learners per arm (default 5000)")
    p.add_argument("--sessions", type=int, default=5, help="sessions per learner (default 5)")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--bandit", action="store_true", help="also time Thompson sampling on the same learners")
    args = p.parse_args()
    info = C.machine()
    C.print_machine(info)

    from recsys.models import make_model
    from recsys.simulation import build_arms, run_abtest, run_thompson, simulator_for_folder

    dataset = C.load_data(args.data)
    simulator = simulator_for_folder(args.data, dataset)
    keys = [k.strip() for k in args.models.split(",") if k.strip()]
    fit_s = {}

    def fit(key, params):
        start = time.perf_counter()
        model = make_model(key, **{"seed": args.seed, **params}).fit(dataset)
        fit_s[key] = time.perf_counter() - start
        return model

    arms = build_arms([(k, {}) for k in keys], fit, seed=args.seed)
    n = args.learners_per_arm * len(arms)
    start = time.perf_counter()
    result = run_abtest(simulator, arms, n_learners=n, sessions=args.sessions, k=args.k, seed=args.seed)
    summary = result.summary
    ab_s = time.perf_counter() - start
    rows = [
        {
            "arm": r.arm,
            "fit_s": round(fit_s[key], 2),
            "learners": r.learners,
            "CTR": round(r.ctr, 4),
            "completion": round(r.completion_rate, 4),
            "coverage": round(r.coverage, 3),
        }
        for r, key in zip(summary.itertuples(), keys)
    ]
    C.print_table(rows)
    print(
        f"A/B test: {len(arms)} arms x {args.learners_per_arm:,} learners x {args.sessions} sessions "
        f"= {n * args.sessions:,} lists in {ab_s:.1f} s (target < {TARGET_S:.0f} s: "
        f"{'met' if ab_s < TARGET_S else 'MISSED'})"
    )
    out = {"ab_seconds": ab_s, "lists": n * args.sessions}
    if args.bandit:
        start = time.perf_counter()
        run_thompson(simulator, arms, n_learners=n, sessions=args.sessions, k=args.k, seed=args.seed)
        out["thompson_seconds"] = time.perf_counter() - start
        print(f"Thompson sampling on {n:,} learners: {out['thompson_seconds']:.1f} s")
    C.finish("abtest", args, info, rows, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
