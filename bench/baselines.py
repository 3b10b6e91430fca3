"""Issue-12 quality targets on the built-in dataset, from the real CLI (`python -m recsys compare`).

Runs the compare command once (holdout protocol by default, every registry model unless --models is given) and
checks, from its --json report:
* each new baseline (ease, rp3beta, als, bpr, hybrid) above popularity with non-overlapping 95% intervals;
* the hybrid above every other model: it is the best by NDCG@10 and each other model's Wilcoxon p-value
  against it (Holm-adjusted, as the CLI reports) is < 0.05.

    .venv/bin/python bench/baselines.py [--data DIR] [--split holdout] [--models all] [--seed 0] [--json OUT]

Latency and scale for the new models come from bench/latency.py and bench/scale.py (--models ease,...).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common as C

NEW_MODELS = ("ease", "rp3beta", "als", "bpr", "hybrid")
METRIC = "ndcg@10"


def run_compare(args) -> tuple[dict, float]:
    """The CLI's JSON report and its wall seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "compare.json"
        cmd = [
            sys.executable,
            "-m",
            "recsys",
            "compare",
            "--data",
            str(args.data),
            "--models",
            args.models,
            "--split",
            args.split,
            "--seed",
            str(args.seed),
            "--json",
            str(out),
            "--no-history",
        ]
        print(" ".join(cmd[1:]), file=sys.stderr, flush=True)
        began = time.perf_counter()
        subprocess.run(cmd, cwd=C.ROOT, check=True, stdout=sys.stderr)
        return json.loads(out.read_text()), time.perf_counter() - began


def main(argv=None) -> int:
    p = C.parser("NDCG@10 with 95% intervals for the issue-12 baselines, and the hybrid against every model.")
    p.add_argument("--models", default="all", help="'all' or comma-separated keys (must include popularity, hybrid)")
    p.add_argument("--split", default="holdout", help="protocol passed to compare (default holdout)")
    args = p.parse_args(argv)
    info = C.machine()
    C.print_machine(info)
    report, wall = run_compare(args)
    by_name = {r["name"]: r for r in report["results"]}
    if "popularity" not in by_name or "hybrid" not in by_name:
        raise SystemExit("error: --models must include popularity and hybrid")
    pop_hi = by_name["popularity"]["ci"][METRIC][1]
    best = max(by_name.values(), key=lambda r: r["metrics"][METRIC])["name"]
    rows = []
    for name, r in sorted(by_name.items(), key=lambda kv: -kv[1]["metrics"][METRIC]):
        lo, hi = r["ci"][METRIC]
        vs = r["vs_best"].get(METRIC, {})
        rows.append(
            {
                "model": name,
                METRIC: round(r["metrics"][METRIC], 4),
                "ci_lo": round(lo, 4),
                "ci_hi": round(hi, 4),
                "above_popularity": (lo > pop_hi) if name != "popularity" else None,
                "diff_vs_best": vs.get("mean_diff"),
                "p_vs_best": vs.get("p_value"),
                "p_holm_vs_best": vs.get("p_holm"),
                "fit_s": round(r["fit_seconds"], 2),
            }
        )
    print()
    C.print_table(rows)
    new_above = {r["model"]: r["above_popularity"] for r in rows if r["model"] in NEW_MODELS}
    others = [r for r in rows if r["model"] != "hybrid"]
    hybrid_wins = best == "hybrid" and all(
        r["p_holm_vs_best"] is not None and r["p_holm_vs_best"] < 0.05 for r in others
    )
    summary = {
        "split": report["split"],
        "compare_wall_s": wall,
        "best": best,
        "new_models_above_popularity": new_above,
        "hybrid_above_every_model": hybrid_wins,
    }
    print(
        f"best by {METRIC}: {best}; new models above popularity (non-overlapping 95% CI): {new_above}; "
        f"hybrid above every other model (Holm-adjusted Wilcoxon p < 0.05): {hybrid_wins}"
    )
    C.finish("baselines", args, info, rows, summary)
    return 0 if hybrid_wins and all(new_above.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
