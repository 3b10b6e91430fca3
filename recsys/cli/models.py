"""`train` and `recommend`: fit one model and save it; top-K courses for a learner's completed courses."""

from __future__ import annotations

import sys
from pathlib import Path

from recsys.cli.common import (
    Progress,
    UsageError,
    add_data_arg,
    check_export_target,
    guard,
    int_in,
    k_within,
    load_data,
    model_store,
    parse_params,
    positive,
    print_table,
)

SOURCE_TEXT = {"memory": "already in memory", "disk": "loaded from the model store", "trained": "trained now"}


def _store_params(key: str, args) -> dict:
    """--param values plus --seed (for seeded models; an explicit --param seed=... wins), validated here so a
    bad name or value fails before the data is read."""
    from recsys.models import make_model, model_class, require_available

    model_class(key)
    require_available(key)
    params = parse_params(args.param)
    seed_name = model_class(key).seed_param()
    if seed_name is not None and seed_name not in params:
        params[seed_name] = 0 if args.seed is None else args.seed
    make_model(key, **params)
    return params


def _fetch(dataset, key: str, params: dict, args):
    """(model, source, folder) from the model store the app uses: memory, else a saved model, else trained and
    saved there. A saved model that is refused is reported on stderr (and trained again)."""
    store = model_store(getattr(args, "models_dir", None))
    notes: list[str] = []
    model, source = store.fetch(dataset, key, params, progress=Progress(f"fit {key}"), notify=notes.append)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return model, source, store.path_for(dataset, key, params)


def _cmd_train(args) -> int:
    params = _store_params(args.model, args)
    if args.out:
        check_export_target(args.out)
    dataset = load_data(args.data)
    model, source, folder = _fetch(dataset, args.model, params, args)
    where = folder if folder.exists() else "memory only (the save failed; see the log)"
    print(
        f"'{args.model}' on {dataset.n_users:,} learners / {len(dataset.ratings):,} ratings: {SOURCE_TEXT[source]}"
        + (f" in {model.fit_seconds_:.2f}s" if source == "trained" else "")
        + f"; model store: {where}"
    )
    if args.out:
        from recsys.models import save_model

        print(f"exported a copy to {save_model(model, Path(args.out))}")
    return 0


def _cmd_recommend(args) -> int:
    import pandas as pd

    from recsys.models import load_model, make_model, model_class

    model_class(args.model)
    positive("--k", args.k)
    courses = [c.strip() for c in args.courses.split(",") if c.strip()]
    if not courses:
        raise UsageError("--courses needs at least one course id, e.g. --courses ML0101EN,PY0101EN")
    params = _store_params(args.model, args)  # validated before any loading or fitting
    dataset = load_data(args.data)
    k_within(args.k, dataset)
    dataset.history_vector(courses)  # unknown course ids fail before any fitting
    if args.model_path:
        model = load_model(args.model_path, dataset)
        if model.key != args.model:
            raise UsageError(f"{args.model_path} holds a '{model.key}' model, not '{args.model}'")
        given = parse_params(args.param) | ({"seed": args.seed} if args.seed is not None else {})
        full = make_model(args.model, **given).get_params()
        asked = {n: full[n] for n in given if n in full}
        differences = _differences(model, asked)
        if differences:  # serve what was asked, never another model
            raise UsageError(
                f"{args.model_path} holds a '{model.key}' model with {differences}; drop --param/--seed to serve "
                "it, or leave out --model-path to use the model store"
            )
        print(f"model: {args.model} (source: {args.model_path})", file=sys.stderr)
    else:
        model, source, folder = _fetch(dataset, args.model, params, args)
        print(f"model: {args.model} (source: {source}; {folder})", file=sys.stderr)
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


def _differences(model, asked: dict) -> str:
    """'n_neighbours=1 (asked 200), ...' for the asked parameters the model does not have; '' if it matches."""
    have = model.get_params()
    return ", ".join(f"{n}={have.get(n)!r} (asked {v!r})" for n, v in asked.items() if have.get(n) != v)


def register(sub) -> None:
    from recsys.models import MODEL_KEYS

    keys = ", ".join(MODEL_KEYS)
    store = "$RECSYS_ARTIFACTS_DIR/models, else artifacts/models"
    p = sub.add_parser(
        "train",
        help="fit one model and save it in the model store shared with the app",
        description="Fit a model on the data and save it in the model store the app uses "
        f"({store}/<model>/<dataset fingerprint>/<params>-<code>/): a model already trained there with the same "
        f"data, parameters and code is reused, by the CLI and the app alike. Models: {keys}.",
    )
    add_data_arg(p)
    p.add_argument("--model", required=True, help="model key")
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="hyperparameter (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="seed for seeded models (default 0)")
    p.add_argument("--out", help="also export a copy to this folder (for load_model or --model-path)")
    p.add_argument("--models-dir", default=None, help=f"model store folder (default {store})")
    p.set_defaults(func=guard(_cmd_train))

    p = sub.add_parser(
        "recommend",
        help="recommend courses for a learner's completed courses",
        description="Top-K courses for a learner who completed --courses (new-learner path). Uses "
        f"--model-path, else the model store shared with the app ({store}): the model with these data and "
        "parameters if it was trained before (by the CLI or the app), else it is trained and saved there.",
    )
    add_data_arg(p)
    p.add_argument("--model", required=True, help="model key")
    p.add_argument("--courses", required=True, help="comma-separated completed course ids")
    p.add_argument(
        "--k", type=int_in(1, 10_000), default=10, help="number of recommendations (default 10, at most the catalogue)"
    )
    p.add_argument("--model-path", help="a model folder exported with `train --out`")
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="hyperparameter (repeatable)")
    p.add_argument("--seed", type=int, default=None, help="seed for seeded models (default 0)")
    p.add_argument("--models-dir", default=None, help=f"model store folder (default {store})")
    p.set_defaults(func=guard(_cmd_recommend))
