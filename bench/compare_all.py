"""Wall time of `python -m recsys compare --models all` on the built-in dataset, for every protocol.

Runs the real CLI as a subprocess once per protocol (new_learners, holdout, ratio, new_courses by default), so
interpreter start-up, imports, data loading, the split, every fit, scoring, metrics, bootstrap intervals, product
KPIs, segments and the Holm-corrected comparison with the best model are all inside the figures. Reads each
run's --json for per-model fit seconds, scoring time (recommend_ms x evaluated learners) and NDCG@10, and prints
one line per protocol plus the line for the full comparison with all protocols (target: each protocol <= 120 s).

    .venv/bin/python bench/compare_all.py [--data DIR] [--models all] [--split all|new_learners,...] [--seed 0]
                                          [--keep DIR] [--json OUT]
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common as C

TARGET_S = 120.0
PROTOCOLS = ("new_learners", "holdout", "ratio", "new_courses")


def _protocols(text: str) -> list[str]:
    if text.strip() == "all":
        return list(PROTOCOLS)
    names = [p.strip() for p in text.split(",") if p.strip()]
    bad = [p for p in names if p not in PROTOCOLS]
    if bad or not names:
        raise SystemExit(f"error: unknown protocol(s) {', '.join(bad) or '(none)'} (known: {', '.join(PROTOCOLS)}, all)")
    return names


def _run(args, split: str, out_json: Path) -> tuple[float, float, dict | None]:
    cmd = [sys.executable, "-m", "recsys", "compare", "--models", args.models, "--data", str(args.data),
           "--split", split, "--seed", str(args.seed), "--json", str(out_json), "--no-history"]
    print("running: " + " ".join(cmd[1:]), flush=True)
    began, cpu_before = time.perf_counter(), C.cpu_seconds(C.resource.RUSAGE_CHILDREN)
    try:
        proc = subprocess.run(cmd, cwd=C.ROOT, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        print(f"compare --split {split} did not finish within {args.timeout:.0f} s")
        return float("nan"), float("nan"), None
    wall = time.perf_counter() - began
    cpu = C.cpu_seconds(C.resource.RUSAGE_CHILDREN) - cpu_before
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        print(f"compare --split {split} failed with exit code {proc.returncode} after {wall:.1f} s")
        return wall, cpu, None
    return wall, cpu, json.loads(out_json.read_text())


def main(argv=None) -> int:
    p = C.parser("Wall time of `python -m recsys compare --models all` per protocol (CLI subprocesses).")
    p.add_argument("--models", default="all", help="passed to compare --models (default all)")
    p.add_argument("--split", default="all",
                   help=f"protocols, comma-separated, or all (default: {', '.join(PROTOCOLS)})")
    p.add_argument("--keep", metavar="DIR", help="keep each protocol's compare JSON in DIR (compare_<protocol>.json)")
    p.add_argument("--timeout", type=float, default=1800.0, help="give up on a protocol after this many seconds")
    args = p.parse_args(argv)
    protocols = _protocols(args.split)

    info = C.machine()
    C.print_machine(info)
    per_protocol, payloads = [], {}
    with tempfile.TemporaryDirectory(prefix="recsys-bench-") as tmp:
        for split in protocols:
            out_json = Path(tmp) / f"compare_{split}.json"
            wall, cpu, payload = _run(args, split, out_json)
            if payload is None:
                return 1
            payloads[split] = payload
            per_protocol.append({"protocol": split, "wall_s": wall, "cpu_s": cpu,
                                 "evaluated_learners": int(payload["split"].get("evaluated_learners") or 0)})
            if args.keep:
                Path(args.keep).mkdir(parents=True, exist_ok=True)
                shutil.copy(out_json, Path(args.keep) / out_json.name)

    main_split = protocols[0]
    payload = payloads[main_split]
    evaluated = int(payload["split"].get("evaluated_learners") or 0)
    rows = []
    for i, r in enumerate(payload["results"]):
        row = {"model": r["name"], "fit_s": r.get("fit_seconds"),
               "score_s": (r.get("recommend_ms") or 0.0) * evaluated / 1000.0, "recommend_ms": r.get("recommend_ms")}
        for split in protocols:
            other = payloads[split]["results"][i]
            row[f"ndcg@10 {split}"] = (other.get("metrics") or {}).get("ndcg@10")
        rows.append(row)
    print(f"dataset {payload['dataset']['name']} ({payload['dataset']['counts']['learners']:,} learners, "
          f"{payload['dataset']['counts']['ratings']:,} ratings); timings of split {main_split}, "
          f"{evaluated:,} evaluated learners")
    print()
    C.print_table(rows, ["model", "fit_s", "score_s", "recommend_ms", *[f"ndcg@10 {s}" for s in protocols]])
    print()
    C.print_table(per_protocol, ["protocol", "wall_s", "cpu_s", "evaluated_learners"])
    wall = sum(r["wall_s"] for r in per_protocol)
    cpu = sum(r["cpu_s"] for r in per_protocol)
    met = all(r["wall_s"] <= TARGET_S for r in per_protocol)
    for r in per_protocol:
        print(f"compare --split {r['protocol']}: {r['wall_s']:.1f} s wall, {r['cpu_s']:.1f} s CPU")
    print(f"full comparison, all protocols ({', '.join(protocols)}): {wall:.1f} s wall, {cpu:.1f} s CPU")
    summary = {"wall_s": wall, "cpu_s": cpu, "per_protocol": per_protocol, "target_s": TARGET_S, "target_met": met,
               "models": [r["model"] for r in rows], "protocols": protocols}
    C.finish('compare_all', args, info, rows, summary, internal=("keep",))
    print(f"compare --models {args.models}: {wall:.1f} s wall over {len(protocols)} protocol(s) -- target <= "
          f"{TARGET_S:.0f} s per protocol: {'met' if met else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
