"""Fit time and peak memory per model as the number of learners grows (targets at 1M: <= 10 min, <= 8 GB).

Datasets come from our generator (seed 0, 300 courses) and are cached under /tmp/recsys-scale/<n>. Each
(model, size) fit runs in a fresh subprocess, so its peak memory is that process's own ru_maxrss (data
loading included, reported separately) and one model's memory cannot inflate another's.

    .venv/bin/python bench/scale.py --learners 100000,300000,1000000 [--models all] [--timeout 600] [--json OUT]

User-based kNN is skipped above 100k learners (it compares every learner with every other).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common as C

TARGET_FIT_S = 600.0
TARGET_PEAK_GB = 8.0
TARGET_SIZE = 1_000_000
USER_BASED_LIMIT = 100_000
DEFAULT_CACHE = Path("/tmp/recsys-scale")
GB = 1024**3


# ----- worker: one fit in this process --------------------------------------------------------------
def worker(args) -> int:
    """Load the data, fit one model, write timings and this process's peak memory as JSON."""
    began = time.perf_counter()
    dataset = C.load_data(args.data)
    _ = dataset.matrix, dataset.fingerprint  # what every model needs first; timed as loading
    load_s = time.perf_counter() - began
    after_load_mb = C.peak_rss_mb()
    Path(args.out + ".loaded").write_text(str(time.time()))
    model = C.build_model(args.model, args.seed)
    cpu_before = C.cpu_seconds()
    fit_s, model = C.time_call(lambda: model.fit(dataset))
    fit_cpu_s = C.cpu_seconds() - cpu_before
    peak_mb = C.peak_rss_mb()
    m = dataset.matrix
    row = int(max(range(min(m.shape[0], 1000)), key=lambda r: m.indptr[r + 1] - m.indptr[r]))
    courses = [str(c) for c in dataset.item_ids[m.indices[m.indptr[row] : m.indptr[row + 1]]][:5]]
    rec_s, recs = C.time_call(lambda: model.recommend(courses, k=10))
    C.write_json(
        args.out,
        {
            "model": args.model,
            "learners": int(dataset.n_users),
            "ratings": int(len(dataset.ratings)),
            "load_s": load_s,
            "fit_s": fit_s,
            "fit_cpu_s": fit_cpu_s,
            "peak_after_load_mb": after_load_mb,
            "peak_mb": peak_mb,
            "recommend_ms": rec_s * 1000.0,
            "recommendations": int(len(recs)),
        },
    )
    return 0


# ----- parent: datasets, subprocesses, table ----------------------------------------------------------
def ensure_dataset(cache: Path, n: int, seed: int, courses: int) -> Path:
    """Generate (once) an n-learner dataset under cache/<n>; a stamp file marks a finished generation
    with these settings by this version of the generator."""
    import hashlib

    folder = cache / str(n)
    stamp = folder / "bench_stamp.json"
    generator = hashlib.sha256((C.ROOT / "recsys" / "data" / "generator.py").read_bytes()).hexdigest()[:12]
    want = {"learners": n, "seed": seed, "courses": courses, "generator": generator}  # regenerate on code change
    if stamp.is_file() and json.loads(stamp.read_text()) == want and (folder / "ratings.csv").is_file():
        return folder
    print(f"[{time.strftime('%H:%M:%S')}] generating {n:,} learners into {folder} ...", file=sys.stderr, flush=True)
    cmd = [
        sys.executable,
        "-m",
        "recsys",
        "generate",
        "--out",
        str(folder),
        "--seed",
        str(seed),
        "--learners",
        str(n),
        "--courses",
        str(courses),
    ]
    subprocess.run(cmd, cwd=C.ROOT, check=True, stdout=subprocess.DEVNULL)
    stamp.write_text(json.dumps(want))
    return folder


def run_fit(folder: Path, name: str, seed: int, timeout: float) -> dict:
    """Fit `name` on `folder` in a fresh subprocess; kill it `timeout` s after its data is loaded."""
    with tempfile.TemporaryDirectory(prefix="recsys-scale-") as tmp:
        out = Path(tmp) / "result.json"
        log = Path(tmp) / "stderr.txt"
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--worker",
            "--data",
            str(folder),
            "--model",
            name,
            "--seed",
            str(seed),
            "--out",
            str(out),
        ]
        began = time.perf_counter()
        with open(log, "w") as err:
            proc = subprocess.Popen(cmd, cwd=C.ROOT, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        deadline, timed_out, status = began + timeout, False, 0
        loaded = Path(str(out) + ".loaded")
        fit_deadline_set = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            now = time.perf_counter()
            if not fit_deadline_set and loaded.exists():
                deadline, fit_deadline_set = now + timeout, True
            if now > deadline:
                timed_out = True
                os.killpg(proc.pid, signal.SIGKILL)  # the worker's own process group (start_new_session)
                _, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.2)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - began
        child_peak_mb = usage.ru_maxrss / 1024.0
        if timed_out:
            return {
                "status": "timeout",
                "reason": f"killed after {timeout:.0f} s of fitting",
                "wall_s": wall,
                "peak_mb": child_peak_mb,
            }
        if proc.returncode != 0 or not out.is_file():
            tail = log.read_text().strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
            reason = "killed by the OS (out of memory?)" if proc.returncode < 0 else tail[0][:200]
            return {"status": "error", "reason": reason, "wall_s": wall, "peak_mb": child_peak_mb}
        result = json.loads(out.read_text())
        result.update(status="ok", wall_s=wall, peak_mb=max(result["peak_mb"], child_peak_mb))
        return result


def main(argv=None) -> int:
    p = C.parser("Fit seconds and peak memory per model at growing learner counts (fresh process per fit).", data=False)
    p.add_argument("--learners", default="100000,300000,1000000", help="comma-separated sizes (default 100k,300k,1M)")
    p.add_argument("--models", default="all", help="'all' (every installed model + knn_user) or comma-separated names")
    p.add_argument("--timeout", type=float, default=TARGET_FIT_S, help="seconds allowed per fit (default 600)")
    p.add_argument("--courses", type=int, default=300, help="catalogue size of the generated datasets (default 300)")
    p.add_argument("--cache", default=str(DEFAULT_CACHE), help=f"dataset cache folder (default {DEFAULT_CACHE})")
    p.add_argument("--worker", action="store_true", help=argparse_hidden())
    p.add_argument("--data", help=argparse_hidden())
    p.add_argument("--model", help=argparse_hidden())
    p.add_argument("--out", help=argparse_hidden())
    args = p.parse_args(argv)
    if args.worker:
        return worker(args)
    try:
        sizes = sorted({int(float(s)) for s in args.learners.split(",") if s.strip()})
    except ValueError:
        p.error(f"--learners expects comma-separated integers, got {args.learners!r}")
    if not sizes or min(sizes) < 1 or args.timeout <= 0:
        p.error("--learners needs positive sizes and --timeout a positive number of seconds")

    info = C.machine()
    C.print_machine(info)
    names, missing = C.bench_models(args.models)
    print(
        f"sizes {', '.join(f'{n:,}' for n in sizes)} learners x {args.courses} courses (generator seed "
        f"{args.seed}); models: {', '.join(names)}; timeout {args.timeout:.0f} s per fit",
        flush=True,
    )
    if missing:
        print(f"not installed yet (skipped): {', '.join(missing)}", flush=True)

    results = []
    for n in sizes:
        folder = ensure_dataset(Path(args.cache), n, args.seed, args.courses)
        for name in names:
            row = {"learners": n, "model": name}
            if name == "knn_user" and n > USER_BASED_LIMIT:
                row.update(
                    status="skipped",
                    reason=f"user-based kNN compares every learner with every other "
                    f"(n^2 similarities); run only up to {USER_BASED_LIMIT:,}",
                )
            else:
                print(f"[{time.strftime('%H:%M:%S')}] {n:,} learners: fitting {name} ...", file=sys.stderr, flush=True)
                row.update(run_fit(folder, name, args.seed, args.timeout))
                row["load_average"] = C.load_average()
            results.append(row)
            shown = (
                f"fit {row['fit_s']:.1f} s, peak {row['peak_mb']:,.0f} MB"
                if row["status"] == "ok"
                else f"{row['status']}: {row.get('reason', '')}"
            )
            print(f"[{time.strftime('%H:%M:%S')}] {n:,} learners, {name}: {shown}", file=sys.stderr, flush=True)
    add_growth(results)

    print()
    C.print_table(
        [
            {
                "learners": r["learners"],
                "ratings": r.get("ratings"),
                "model": r["model"],
                "status": r["status"],
                "load_s": r.get("load_s"),
                "fit_s": r.get("fit_s"),
                "fit_cpu_s": r.get("fit_cpu_s"),
                "peak_MB": r.get("peak_mb"),
                "after_load_MB": r.get("peak_after_load_mb"),
                "fit_growth": r.get("fit_growth"),
                "mem_growth": r.get("mem_growth"),
            }
            for r in results
        ]
    )
    print(
        "fit_cpu_s: user + system CPU seconds of the fit (all threads); peak_MB: the fit process's ru_maxrss "
        "(data loading included; after_load_MB = peak before fitting); growth: ratio to the previous size "
        "for the same model"
    )
    for r in results:
        if r["status"] != "ok":
            print(f"  {r['learners']:,} {r['model']}: {r['status']} -- {r.get('reason', '')}")

    target_n = TARGET_SIZE if TARGET_SIZE in sizes else max(sizes)
    at_target = [r for r in results if r["learners"] == target_n and r["status"] != "skipped"]
    failures = [
        r
        for r in at_target
        if r["status"] != "ok" or r["fit_s"] > TARGET_FIT_S or r["peak_mb"] * 1024**2 > TARGET_PEAK_GB * GB
    ]
    met = bool(at_target) and not failures
    summary = {
        "target_learners": target_n,
        "target_fit_s": TARGET_FIT_S,
        "target_peak_gb": TARGET_PEAK_GB,
        "target_met": met,
        "failing": [r["model"] for r in failures],
        "skipped_not_installed": missing,
    }
    C.finish("scale", args, info, results, summary, internal=("worker", "data", "model", "out"))
    note = "" if target_n == TARGET_SIZE else f" (largest size run: {target_n:,}, not {TARGET_SIZE:,})"
    worst_fit = max((r for r in at_target if r["status"] == "ok"), key=lambda r: r["fit_s"], default=None)
    worst_mem = max((r for r in at_target if r["status"] == "ok"), key=lambda r: r["peak_mb"], default=None)
    detail = (
        f"slowest {worst_fit['model']} {worst_fit['fit_s']:.0f} s, largest {worst_mem['model']} "
        f"{worst_mem['peak_mb'] / 1024:.1f} GB"
        if worst_fit
        else "no successful fits"
    )
    print(
        f"at {target_n:,} learners{note}: {detail}; failing: {', '.join(summary['failing']) or 'none'} -- "
        f"target <= {TARGET_FIT_S / 60:.0f} min and <= {TARGET_PEAK_GB:.0f} GB per fit: "
        f"{'met' if met else 'MISSED'}"
    )
    return 0


def add_growth(results: list[dict]) -> None:
    """fit_growth / mem_growth: ratio to the same model's previous successful size."""
    last: dict[str, dict] = {}
    for r in sorted(results, key=lambda r: r["learners"]):
        if r["status"] != "ok":
            continue
        prev = last.get(r["model"])
        if prev:
            r["fit_growth"] = r["fit_s"] / prev["fit_s"] if prev["fit_s"] > 0 else None
            r["mem_growth"] = r["peak_mb"] / prev["peak_mb"] if prev["peak_mb"] > 0 else None
            r["size_growth"] = r["learners"] / prev["learners"]
        last[r["model"]] = r


def argparse_hidden():
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    sys.exit(main())
