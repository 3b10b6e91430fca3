"""Wall time of `python -m recsys compare --models all` on the built-in dataset (target <= 120 s).

Runs the real CLI as a subprocess (so interpreter start-up, imports, data loading, the split, every fit,
scoring, metrics and bootstrap intervals are all inside the figure) and reads its --json for the per-model
fit seconds and scoring time (recommend_ms x evaluated learners).

    .venv/bin/python bench/compare_all.py [--data DIR] [--models all] [--seed 0] [--json OUT]
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common as C

TARGET_S = 120.0


def main(argv=None) -> int:
    p = C.parser("Wall time of `python -m recsys compare --models all` (CLI subprocess).")
    p.add_argument("--models", default="all", help="passed to compare --models (default all)")
    p.add_argument("--split", default="holdout", help="passed to compare --split (default holdout)")
    p.add_argument("--timeout", type=float, default=1800.0, help="give up after this many seconds (default 1800)")
    args = p.parse_args(argv)

    info = C.machine()
    C.print_machine(info)
    with tempfile.TemporaryDirectory(prefix="recsys-bench-") as tmp:
        out_json = Path(tmp) / "compare.json"
        cmd = [sys.executable, "-m", "recsys", "compare", "--models", args.models, "--data", str(args.data),
               "--split", args.split, "--seed", str(args.seed), "--json", str(out_json), "--no-history"]
        print("running: " + " ".join(cmd[1:]), flush=True)
        began, cpu_before = time.perf_counter(), C.cpu_seconds(C.resource.RUSAGE_CHILDREN)
        try:
            proc = subprocess.run(cmd, cwd=C.ROOT, capture_output=True, text=True, timeout=args.timeout)
        except subprocess.TimeoutExpired:
            print(f"compare did not finish within {args.timeout:.0f} s -- target <= {TARGET_S:.0f} s: MISSED")
            return 1
        wall = time.perf_counter() - began
        cpu = C.cpu_seconds(C.resource.RUSAGE_CHILDREN) - cpu_before
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
            print(f"compare failed with exit code {proc.returncode} after {wall:.1f} s")
            return 1
        payload = json.loads(out_json.read_text())

    evaluated = int(payload["split"].get("evaluated_learners") or 0)
    rows = []
    for r in payload["results"]:
        fit = r.get("fit_seconds")
        score = (r.get("recommend_ms") or 0.0) * evaluated / 1000.0
        rows.append({"model": r["name"], "fit_s": fit, "score_s": score, "recommend_ms": r.get("recommend_ms"),
                     "ndcg@10": (r.get("metrics") or {}).get("ndcg@10")})
    fits = sum(r["fit_s"] or 0.0 for r in rows)
    scores = sum(r["score_s"] for r in rows)
    other = wall - fits - scores
    print(f"dataset {payload['dataset']['name']} ({payload['dataset']['counts']['learners']:,} learners, "
          f"{payload['dataset']['counts']['ratings']:,} ratings); split {payload['split']['name']}, "
          f"{evaluated:,} evaluated learners")
    print()
    C.print_table(rows, ["model", "fit_s", "score_s", "recommend_ms", "ndcg@10"])
    print(f"sum of fits {fits:.1f} s + scoring {scores:.1f} s + everything else {other:.1f} s "
          "(start-up, imports, loading, split, metrics, bootstrap)")
    met = wall <= TARGET_S
    print(f"CPU time of the compare process: {cpu:.1f} s (user + system, all threads; wall {wall:.1f} s)")
    summary = {"wall_s": wall, "cpu_s": cpu, "fit_s_total": fits, "score_s_total": scores, "other_s": other,
               "target_s": TARGET_S, "target_met": met, "models": [r["model"] for r in rows]}
    C.finish('compare_all', args, info, rows, summary)
    print(f"compare --models {args.models}: {wall:.1f} s wall -- target <= {TARGET_S:.0f} s: "
          f"{'met' if met else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
