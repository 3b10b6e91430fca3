"""`generate`: write a synthetic dataset in the IBM course-recommender format."""

from __future__ import annotations

import time

from recsys.cli.common import UsageError, int_in


def _cmd_generate(args) -> int:
    from recsys.data import generate_dataset

    if args.learners < 1 or args.courses < 14:
        raise UsageError("--learners must be >= 1 and --courses >= 14 (one per genre at least)")
    started = time.perf_counter()
    summary = generate_dataset(args.out, seed=args.seed, n_learners=args.learners, n_courses=args.courses)
    took = time.perf_counter() - started
    print(
        f"wrote {args.out}: {summary['learners']:,} learners, {summary['courses']} courses, "
        f"{summary['ratings']:,} ratings in {took:.1f}s (seed {args.seed})"
    )
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "generate",
        help="write a synthetic dataset in the IBM course-recommender format",
        description="Write ratings.csv, course_genre.csv, course_processed.csv, course_meta.csv "
        "and courses_bows.csv into OUT. Deterministic for a seed.",
    )
    p.add_argument("--out", required=True, help="output folder (created; files are replaced atomically)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--learners", type=int_in(1, 5_000_000), default=34000, help="number of learners (default 34000)")
    p.add_argument("--courses", type=int_in(2, 100_000), default=300, help="number of courses (default 300)")
    p.set_defaults(func=_cmd_generate)
