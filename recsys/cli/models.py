"""`train` and `recommend`: fit one model and save it; top-K courses for a learner's completed courses."""

from __future__ import annotations

import sys
from pathlib import Path

from recsys.cli.common import (
    MODELS_DIR,
    Progress,
    UsageError,
    add_data_arg,
    check_writable,
    guard,
    int_in,
    k_within,
    load_data,
    parse_params,
    positive,
    print_table,
)


def _cmd_train(args) -> int:
    from recsys.models import make_model, save_model

    model = make_model(args.model, seed=args.seed, **parse_params(args.param))
    out = Path(args.out) if args.out else MODELS_DIR / args.model
    check_writable(out / "manifest.json", "--out")  # fail before the fit, not after it
    dataset = load_data(args.data)
    model.fit(dataset, progress=Progress(f"fit {args.model}"))
    path = save_model(model, out)
    print(
        f"trained '{args.model}' on {dataset.n_users:,} learners / {len(dataset.ratings):,} ratings "
        f"in {model.fit_seconds_:.2f}s; saved to {path}"
    )
    return 0


def _cmd_recommend(args) -> int:
    import pandas as pd

    from recsys.models import load_model, make_model, model_class, save_model

    model_class(args.model)
    positive("--k", args.k)
    courses = [c.strip() for c in args.courses.split(",") if c.strip()]
    if not courses:
        raise UsageError("--courses needs at least one course id, e.g. --courses ML0101EN,PY0101EN")
    dataset = load_data(args.data)
    k_within(args.k, dataset)
    dataset.history_vector(courses)  # unknown course ids fail before any fitting
    default_path = MODELS_DIR / args.model
    asked = _asked_params(args)  # validated before any loading or fitting
    if args.model_path:
        model = load_model(args.model_path, dataset)
        if model.key == args.model and _differences(model, asked):
            raise UsageError(
                f"{args.model_path} holds a '{model.key}' model with {_differences(model, asked)}; "
                "drop --param/--seed to serve it, or leave out --model-path to fit the model asked for"
            )
    else:
        model, refused = None, False
        if default_path.exists():
            try:
                model = load_model(default_path, dataset, expect={"key": args.model})
            except ValueError as exc:  # trained on another dataset, corrupted or forged: never read, refit below
                print(f"note: not using {default_path}: {exc}", file=sys.stderr)
                refused = True
        if model is not None and _differences(model, asked):  # serve what was asked, never another model
            print(
                f"note: not using {default_path}: it has {_differences(model, asked)}; fitting the model asked for",
                file=sys.stderr,
            )
            model = None
        if model is None:
            model = make_model(args.model, **{"seed": 0, **asked})
            print(f"note: fitting '{args.model}' now (save one with `python -m recsys train`)", file=sys.stderr)
            model.fit(dataset, progress=Progress(f"fit {args.model}"))
            if refused:  # replace the unusable artifact (atomically) so the next call does not refit again
                try:
                    save_model(model, default_path)
                    print(f"note: rewrote {default_path} with the refitted model", file=sys.stderr)
                except (OSError, ValueError) as exc:
                    print(f"note: could not rewrite {default_path}: {exc}", file=sys.stderr)
    if model.key != args.model:
        raise UsageError(f"{args.model_path} holds a '{model.key}' model, not '{args.model}'")
    recs = model.recommend(courses, k=args.k)
    titles = model.catalogue_.set_index("COURSE_ID")["TITLE"]
    table = pd.DataFrame(
        {
            "COURSE_ID": recs["COURSE_ID"],
            "TITLE": [str(titles.get(c, ""))[:48] for c in recs["COURSE_ID"]],
            "SCORE": [f"{s:.4f}" for s in recs["SCORE"]],
            "REASON": recs["REASON"],
        }
    )
    if table.empty:
        print("no recommendations (every course is excluded or already taken)")
    else:
        print_table(table)
    return 0


def _asked_params(args) -> dict:
    """The hyperparameters given on the command line (--param, and --seed when given), validated and in the
    model's own types; a saved model is served only if it has exactly these."""
    from recsys.models import make_model

    given = parse_params(args.param)
    if args.seed is not None:
        given["seed"] = args.seed
    model = make_model(args.model, **given)
    full = model.get_params()
    return {name: full[name] for name in given if name in full}


def _differences(model, asked: dict) -> str:
    """'n_neighbours=1 (asked 200), ...' for the asked parameters the model does not have; '' if it matches."""
    have = model.get_params()
    return ", ".join(f"{n}={have.get(n)!r} (asked {v!r})" for n, v in asked.items() if have.get(n) != v)


def register(sub) -> None:
    from recsys.models import MODEL_KEYS

    keys = ", ".join(MODEL_KEYS)
    p = sub.add_parser(
        "train",
        help="fit one model and save it",
        description=f"Fit a model on the data and save it with model.save. Models: {keys}.",
    )
    add_data_arg(p)
    p.add_argument("--model", required=True, help="model key")
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="hyperparameter (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="seed for seeded models (default 0)")
    p.add_argument("--out", help=f"output folder (default {MODELS_DIR}/<model>)")
    p.set_defaults(func=guard(_cmd_train))

    p = sub.add_parser(
        "recommend",
        help="recommend courses for a learner's completed courses",
        description="Top-K courses for a learner who completed --courses (new-learner path). Uses "
        f"--model-path, else {MODELS_DIR}/<model> if it was trained on this data, else "
        "fits the model first.",
    )
    add_data_arg(p)
    p.add_argument("--model", required=True, help="model key")
    p.add_argument("--courses", required=True, help="comma-separated completed course ids")
    p.add_argument(
        "--k", type=int_in(1, 10_000), default=10, help="number of recommendations (default 10, at most the catalogue)"
    )
    p.add_argument("--model-path", help="saved model folder (from `train`)")
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="hyperparameter when fitting here")
    p.add_argument("--seed", type=int, default=None, help="seed when fitting here (default 0)")
    p.set_defaults(func=guard(_cmd_recommend))
