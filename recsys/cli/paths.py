"""`path`: a learning path towards a career goal (or a free-text goal), printed as JSON.

Models come from the same model store as the app (trained once, reused), so for the same data, goal, model
and parameters the CLI prints the path the Learning path page shows.
"""

from __future__ import annotations

import json
import sys

from recsys.cli.common import (
    Progress,
    UsageError,
    add_data_arg,
    check_writable,
    guard,
    load_data,
    model_store,
    parse_params,
)

NO_MODEL = "none"


def add_models_dir_arg(parser) -> None:
    parser.add_argument(
        "--models-dir",
        default=None,
        help="model store shared with the app (default $RECSYS_ARTIFACTS_DIR/models, else "
        "artifacts/models); models are trained there once and reused",
    )


def store_model(dataset, key: str, params: dict, models_dir):
    """A fitted model from the store (trained and saved on first use), progress on stderr."""
    from recsys.models import model_class

    model_class(key)  # unknown key -> one clear line
    store = model_store(models_dir)
    return store.get_or_train(dataset, key, params, progress=Progress(f"fit {key}"))


def print_json(payload, out: str | None) -> None:
    from recsys._json import to_jsonable, write_json_atomic

    if out:
        write_json_atomic(out, payload)
        print(f"wrote {out}", file=sys.stderr)
    else:
        json.dump(to_jsonable(payload), sys.stdout, indent=2, allow_nan=False)
        sys.stdout.write("\n")


def _ids(text: str | None) -> list[str]:
    return [c.strip() for c in (text or "").split(",") if c.strip()]


def _cmd_path(args) -> int:
    from recsys.stories.paths import career_goals, get_goal, learning_path

    check_writable(args.out, "--out")
    if args.list_goals:
        print_json(
            {
                key: {"name": g.name, "description": g.description, "genres": dict(g.genres)}
                for key, g in career_goals().items()
            },
            args.out,
        )
        return 0
    if bool(args.goal) == bool(args.goal_text):
        raise UsageError("give exactly one of --goal KEY (see --list-goals) or --goal-text 'what you want to do'")
    goal = get_goal(args.goal) if args.goal else args.goal_text
    dataset = load_data(args.data)
    completed = _ids(args.completed)
    dataset.history_vector(completed)  # unknown ids fail before any training
    model = None
    if args.model != NO_MODEL:
        model = store_model(dataset, args.model, parse_params(args.param), args.models_dir)
    path = learning_path(
        dataset,
        goal,
        completed,
        model,
        goal_weight=args.goal_weight,
        hours_per_week=args.hours_per_week,
        weeks=args.weeks,
        max_courses=args.max_courses,
        levels=_ids(args.levels) or None,
        max_course_hours=args.max_course_hours,
        min_goal_match=args.min_goal_match,
    )
    print_json(path.to_dict(), args.out)
    return 0


def register(sub) -> None:
    from recsys.stories.paths import DEFAULT_MIN_GOAL_MATCH

    p = sub.add_parser(
        "path",
        help="a learning path towards a career goal, as JSON",
        description="An ordered learning path: courses ranked by the model's score combined with the "
        "goal match, Beginner before Intermediate before Advanced within a genre, fitted "
        "to hours per week x weeks, with the finish week of each course.",
    )
    add_data_arg(p)
    p.add_argument("--goal", help="built-in career goal key or name (see --list-goals)")
    p.add_argument("--goal-text", help="free-text goal, matched to course titles/descriptions (TF-IDF)")
    p.add_argument("--list-goals", action="store_true", help="print the built-in career goals and exit")
    p.add_argument("--completed", default="", help="comma-separated ids of courses already completed")
    p.add_argument(
        "--model",
        default="user_profile",
        help=f"registry model whose scores are combined with the goal match (default user_profile; "
        f"'{NO_MODEL}' = goal match only)",
    )
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="model hyperparameter (repeatable)")
    p.add_argument(
        "--goal-weight",
        type=float,
        default=0.5,
        help="share of the goal match in the ranking, 0..1 (default 0.5; the rest is the model)",
    )
    p.add_argument("--hours-per-week", type=float, help="time budget: hours per week (needs DURATION_HOURS)")
    p.add_argument("--weeks", type=int, help="time budget: number of weeks (with --hours-per-week)")
    p.add_argument("--max-courses", type=int, help="at most this many courses (default 10 without a budget)")
    p.add_argument("--levels", help="only these levels, comma-separated (Beginner,Intermediate,Advanced)")
    p.add_argument("--max-course-hours", type=float, help="only courses of at most this many hours")
    p.add_argument(
        "--min-goal-match",
        type=float,
        default=DEFAULT_MIN_GOAL_MATCH,
        help=f"courses matching the goal less than this are only taken as prerequisites "
        f"(default {DEFAULT_MIN_GOAL_MATCH})",
    )
    add_models_dir_arg(p)
    p.add_argument("--out", help="write the JSON to this file instead of stdout")
    p.set_defaults(func=guard(_cmd_path))
