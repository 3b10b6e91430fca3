"""Issue 21, item 5: do the models' DEFAULTS hold on small data? NDCG@10 of every model with its defaults
against popularity, on a seeded 1,000-learner subsample of the built-in data and on the full built-in data.

Both datasets are scored with the `new_learners` protocol (`recsys.evaluation.Experiment`, the engine of
`compare` and the Compare page) at the given seed, every registry model except `spark_als` (it needs a JVM).
The script also reports how skewed the subsample is next to the real IBM enrolment facts (~98% of ratings 3.0,
a quarter of learners with one course, the top 20 courses holding ~60% of enrolments) and, per model, the
values its "auto" parameters took on each dataset (`diagnostics()["chosen_params"]`).

    .venv/bin/python bench/defaults_small_data.py [--data DIR] [--learners 1000] [--scale small|full|both]
        [--seeds 0] [--models all] [--test-share 0.1] [--n-resamples 1000] [--before OLD.json] [--json OUT]
        [--sweep MODEL.PARAM=V1,V2,...] [--courses N]

`--seed` seeds the subsample and the split; `--seeds 0,1,2` repeats the split with other seeds (same subsample)
and adds the mean NDCG@10 over them: on ~75 test learners one split is noisy. `--before` reads an earlier --json
report and adds its figures next to these (a before/after table for a change of defaults). `--sweep
als.regularization=20,45,100` measures one model over those values (plus popularity and the model's default)
instead of every model -- the sweeps of docs/defaults.md; `--courses 60` keeps only the 60 most-taken courses.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import _common as C
import numpy as np

METRIC = "ndcg@10"
EXCLUDED = ("spark_als",)


def skew(dataset) -> dict:
    """The facts that make real enrolment data hard, measured on `dataset`."""
    m = dataset.matrix
    per_learner = np.diff(m.indptr)
    enrolments = np.sort(np.bincount(m.indices, minlength=m.shape[1]))[::-1]
    ratings = dataset.ratings["rating"]
    return {
        "learners": int(dataset.n_users),
        "courses_in_catalogue": int(dataset.n_items),
        "courses_taken": int((enrolments > 0).sum()),
        "ratings": int(len(ratings)),
        "share_rating_top": round(float((ratings == dataset.rating_scale[1]).mean()), 4),
        "share_one_course_learners": round(float((per_learner == 1).mean()), 4),
        "courses_per_learner_mean": round(float(per_learner.mean()), 2),
        "top20_course_share": round(float(enrolments[:20].sum() / max(1, enrolments.sum())), 4),
    }


def run(dataset, models, seed: int, test_share: float, n_resamples: int) -> tuple[dict, dict, float]:
    """{model: row} for one seed, {model: chosen params}, wall seconds."""
    from recsys.evaluation import Experiment

    began = time.perf_counter()
    result = Experiment(
        dataset,
        "new_learners",
        models,
        k=10,
        seed=seed,
        split_params={"test_share": test_share},
        n_resamples=n_resamples,
        n_jobs=1,
    ).run()
    wall = time.perf_counter() - began
    table = result.table.set_index("name")
    rows, chosen = {}, {}
    for name, d in result.details.items():
        rows[name] = {
            METRIC: float(table.loc[name, METRIC]),
            "lo": float(table.loc[name, f"{METRIC}_lo"]),
            "hi": float(table.loc[name, f"{METRIC}_hi"]),
            "fit_s": float(d.fit_seconds),
            "learners": int(table.loc[name, "n_learners"]),
        }
        info = d.model.diagnostics() if d.model is not None else {}
        chosen[name] = {k: v["used"] for k, v in (info.get("chosen_params") or {}).items()}
    return rows, chosen, wall


def measure(name: str, dataset, models, seeds, test_share, n_resamples, labels=None) -> dict:
    print(f"\n== {name}: {dataset!r}", flush=True)
    facts = skew(dataset)
    print("   " + ", ".join(f"{k} {v}" for k, v in facts.items()), flush=True)
    per_seed, chosen, walls = {}, {}, []
    for seed in seeds:
        rows, picked, wall = run(dataset, models, seed, test_share, n_resamples)
        per_seed[seed] = rows
        walls.append(wall)
        if seed == seeds[0]:
            chosen = picked
        print(f"   seed {seed}: {wall:.1f} s wall", flush=True)
    first = per_seed[seeds[0]]
    pop = first["popularity"][METRIC]
    out = []
    for model in first:  # Experiment names in the order given (a repeated key is key#2, key#3, ...)
        row = {"model": model, **first[model]}
        row["above_popularity"] = model == "popularity" or row[METRIC] > pop
        if len(seeds) > 1:
            row[f"mean_{len(seeds)}_seeds"] = float(np.mean([per_seed[s][model][METRIC] for s in seeds]))
            row["mean_above_popularity"] = model == "popularity" or row[f"mean_{len(seeds)}_seeds"] > float(
                np.mean([per_seed[s]["popularity"][METRIC] for s in seeds])
            )
        row["chosen"] = chosen.get(model, {})
        if labels:
            row["params"] = labels[len(out)]
        out.append(row)
    return {"skew": facts, "rows": out, "wall_seconds": walls, "per_seed": per_seed}


def print_rows(block: dict, before: dict | None) -> None:
    rows = []
    old = {r["model"]: r for r in (before or {}).get("rows", [])}
    ordered = (
        block["rows"]
        if any(r.get("params") for r in block["rows"])
        else sorted(block["rows"], key=lambda r: -r[METRIC])
    )
    for r in ordered:
        line = {
            "model": r["model"] + (f" {r['params']}" if r.get("params") else ""),
            METRIC: f"{r[METRIC]:.4f}",
            "95% CI": f"[{r['lo']:.3f}, {r['hi']:.3f}]",
            "> pop": "-" if r["model"] == "popularity" else ("yes" if r["above_popularity"] else "NO"),
        }
        for key in r:
            if key.startswith("mean_") and key.endswith("_seeds"):
                line[key] = f"{r[key]:.4f}"
        if old:
            was = old.get(r["model"], {}).get(METRIC)
            line["before"] = None if was is None else f"{was:.4f}"
            line["change"] = None if was is None else f"{r[METRIC] - was:+.4f}"
            for key, value in old.get(r["model"], {}).items():
                if key.startswith("mean_") and key.endswith("_seeds"):
                    line[f"before_{key}"] = f"{value:.4f}"
        line["fit s"] = round(r["fit_s"], 2)
        line["chosen"] = ", ".join(f"{k}={_short(v)}" for k, v in r["chosen"].items())
        rows.append(line)
    C.print_table(rows)


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def sweep_models(text: str) -> tuple[list, list[str]]:
    """'als.regularization=20,45,100' -> (popularity, als with each value, als with its default) and their labels."""
    from recsys.models import model_class

    target, _, values = text.partition("=")
    key, _, name = target.partition(".")
    spec = model_class(key).param_spec()  # UnknownModelError for a bad key
    if name not in spec or not values.strip():
        raise SystemExit(f"error: --sweep expects MODEL.PARAM=V1,V2,... with a parameter of {key}, got {text!r}")
    chosen = [spec[name].validate(v.strip()) for v in values.split(",") if v.strip()]
    models = ["popularity", *[(key, {name: v}) for v in chosen], key]
    labels = ["", *[f"{name}={v}" for v in chosen], f"{name}={spec[name].default} (default)"]
    return models, labels


def top_courses(dataset, n: int):
    """`dataset` with only its `n` most-taken courses (catalogue and ratings): a more concentrated catalogue."""
    from recsys.data.dataset import Dataset

    top = dataset.ratings["item"].value_counts().index[:n]
    ratings = dataset.ratings[dataset.ratings["item"].isin(top)]
    courses = dataset.courses[dataset.courses["COURSE_ID"].isin(top)]
    return Dataset(ratings, courses, dataset.genres, dataset.rating_scale, None, f"{dataset.name}, top {n} courses")


def main(argv=None) -> int:
    p = C.parser("Defaults vs popularity under new_learners on a 1,000-learner subsample and on the full data.")
    p.add_argument("--learners", type=int, default=1000, help="learners in the seeded subsample (default 1000)")
    p.add_argument("--scale", choices=("small", "full", "both"), default="both")
    p.add_argument("--seeds", help="comma-separated split seeds, the first reported (default: --seed)")
    p.add_argument("--models", default="all", help="'all' (every model except spark_als) or comma-separated keys")
    p.add_argument("--test-share", type=float, default=0.1, help="share of learners held out (protocol default)")
    p.add_argument("--n-resamples", type=int, default=1000, help="bootstrap resamples of the 95%% intervals")
    p.add_argument("--before", help="an earlier --json report of this script: adds its figures as 'before'")
    p.add_argument("--sweep", metavar="MODEL.PARAM=V1,V2", help="instead of every model: one model over values")
    p.add_argument("--courses", type=int, help="keep only the N most-taken courses (a more concentrated catalogue)")
    args = p.parse_args(argv)
    seeds = [int(s) for s in (args.seeds or str(args.seed)).split(",") if s.strip()]
    labels = None
    if args.sweep:
        models, labels = sweep_models(args.sweep)
    else:
        default = [k for k in C.available_models() if k not in EXCLUDED]
        models = C.resolve_model_names(args.models, default)
        if "popularity" not in models:
            models = ["popularity", *models]
    info = C.machine()
    C.print_machine(info)
    full = C.load_data(args.data)
    before = json.loads(Path(args.before).read_text()) if args.before else {}
    scales = {"small": ("small",), "full": ("full",), "both": ("small", "full")}[args.scale]
    blocks = {}
    for scale in scales:
        data = full.sample_learners(args.learners, seed=args.seed) if scale == "small" else full
        if args.courses:
            data = top_courses(data, args.courses)
        blocks[scale] = measure(scale, data, models, seeds, args.test_share, args.n_resamples, labels)
        print_rows(blocks[scale], (before.get("summary", {}).get("scales") or {}).get(scale))
    failing = {
        scale: [r["model"] for r in block["rows"] if not r["above_popularity"]] for scale, block in blocks.items()
    }
    for scale, names in failing.items():
        print(f"{scale}: " + ("every model above popularity" if not names else f"NOT above popularity: {names}"))
    print(f"load average at end: {C.load_average()}", file=sys.stderr)
    if args.json:
        params = {
            "data": str(args.data),
            "learners": args.learners,
            "seed": args.seed,
            "seeds": seeds,
            "models": [m if isinstance(m, str) else list(m) for m in models],
            "sweep": args.sweep,
            "courses": args.courses,
            "test_share": args.test_share,
            "n_resamples": args.n_resamples,
        }
        results = [{"scale": scale, **row} for scale, block in blocks.items() for row in block["rows"]]
        summary = {"target_met": not any(failing.values()), "below_popularity": failing, "scales": blocks}
        C.write_json(args.json, C.report("defaults_small_data", info, params, results, summary))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
