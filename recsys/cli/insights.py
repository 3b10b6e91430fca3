"""`course-report` and `new-course`: how a course is recommended, and who a not-yet-launched course would reach.

Both score the same seeded learner sample as the Course insights page, with models from the same store, so
the same seed prints the numbers the page shows.
"""

from __future__ import annotations

from recsys.cli.common import UsageError, add_data_arg, check_writable, guard, int_in, k_within, load_data, positive
from recsys.cli.paths import add_models_dir_arg, print_json, store_model

DEFAULT_MODELS = "popularity,user_profile,course_similarity"


def _models(dataset, text: str, models_dir) -> list:
    from recsys.models import MODEL_KEYS, model_class

    keys = list(MODEL_KEYS) if text.strip() == "all" else [k.strip() for k in text.split(",") if k.strip()]
    if not keys:
        raise UsageError("--models needs 'all' or a comma-separated list of model keys")
    for key in keys:
        model_class(key)
    return [store_model(dataset, key, {}, models_dir) for key in keys]


def _cmd_course_report(args) -> int:
    from recsys.stories.insights import course_report

    positive("--learners", args.learners)
    positive("--k", args.k)
    check_writable(args.out, "--out")
    dataset = load_data(args.data)
    k_within(args.k, dataset)
    if dataset.item_index.get_indexer([args.course.strip()])[0] < 0:
        raise UsageError(
            f"--course: unknown course id '{args.course}' (not in the catalogue of {dataset.n_items} courses)"
        )
    models = _models(dataset, args.models, args.models_dir)
    print_json(
        course_report(dataset, models, args.course, args.learners, args.seed, args.k, args.catalogue_top), args.out
    )
    return 0


def _cmd_new_course(args) -> int:
    from recsys.stories.insights import assumed_enrolments, check_new_course, new_course_report

    positive("--learners", args.learners)
    positive("--k", args.k)
    check_writable(args.out, "--out")
    dataset = load_data(args.data)
    k_within(args.k, dataset)
    course = check_new_course(
        {
            "title": args.title,
            "description": args.description,
            "genres": [g.strip() for g in (args.genres or "").split(",") if g.strip()],
            "level": args.level,
            "hours": args.hours,
        },
        dataset,
    )
    enrolments = assumed_enrolments(dataset, args.enrolments)
    models = _models(dataset, args.models, args.models_dir)
    report = new_course_report(dataset, models, course, args.learners, args.seed, args.k, enrolments)
    report["enrolments_preset"] = args.enrolments
    print_json(report, args.out)
    return 0


def _common(p) -> None:
    from recsys.stories.insights import DEFAULT_K, DEFAULT_LEARNERS

    add_data_arg(p)
    p.add_argument(
        "--models",
        default=DEFAULT_MODELS,
        help=f"comma-separated model keys, or 'all' (default {DEFAULT_MODELS}); default parameters",
    )
    p.add_argument(
        "--learners",
        type=int_in(1, 1_000_000),
        default=DEFAULT_LEARNERS,
        help=f"size of the seeded learner sample (default {DEFAULT_LEARNERS:,})",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the learner sample (default 0)")
    p.add_argument(
        "--k", type=int_in(1, 10_000), default=DEFAULT_K, help=f"length of the top-K lists (default {DEFAULT_K})"
    )
    add_models_dir_arg(p)
    p.add_argument("--out", help="write the JSON to this file instead of stdout")


def register(sub) -> None:
    from recsys.stories.insights import ENROLMENT_PRESETS

    p = sub.add_parser(
        "course-report",
        help="how often a course reaches learners' top-K lists, per model (JSON)",
        description="Exposure of one course over a seeded learner sample: share of top-K lists, "
        "rank distribution, learner segments (activity, main genre), per model; plus "
        "catalogue-wide exposure (coverage, Gini).",
    )
    p.add_argument("--course", required=True, help="course id")
    p.add_argument(
        "--catalogue-top",
        type=int_in(0, 100_000),
        default=0,
        help="also list the N most exposed courses per model (default 0 = summary only)",
    )
    _common(p)
    p.set_defaults(func=guard(_cmd_course_report))

    p = sub.add_parser(
        "new-course",
        help="who a course would reach before launch, per content-aware model (JSON)",
        description="Place a course that is not in the catalogue yet through its content (no "
        "retraining) and rank it against the existing courses for a seeded learner "
        "sample; models that need enrolments say they cannot place it.",
    )
    p.add_argument("--title", default="", help="course title")
    p.add_argument("--description", default="", help="course description")
    p.add_argument("--genres", default="", help="comma-separated genres (names as in course_genre.csv)")
    p.add_argument("--level", help="Beginner, Intermediate or Advanced")
    p.add_argument("--hours", help="duration in hours")
    p.add_argument(
        "--enrolments",
        default="predicted",
        help=f"enrolments to assume: a number (what-if), or {', '.join(ENROLMENT_PRESETS)} (default predicted: "
        "each model's content prior, as it ranks a catalogue course nobody took yet)",
    )
    _common(p)
    p.set_defaults(func=guard(_cmd_new_course))
