"""Spark figures on this machine (local[2]): spark_als fit on 1M learners next to `als` (implicit, one
machine), `spark recommend` for all 1M learners, and `spark train` on 10M learners / ~67M ratings in Parquet
(target: within 30 minutes and 16 GB).

Every step runs in its own subprocess; its peak memory is the largest sum of resident memory over the
process tree (Python + Spark's JVM), sampled every 0.5 s. The 1M dataset is our generator's (seed 0, 300
courses; cached in /tmp/recsys-scale like bench/scale.py). The 10M set is written by Spark to Parquet as ten
copies of the 1M learners under new ids (same courses, same shape; the generator itself needs pandas memory
that 10M learners do not fit on a shared 24 GB machine).

    .venv/bin/python bench/spark.py [--learners 1000000] [--copies 10] [--timeout 1800] [--skip-big] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import _common as C
import scale

DEFAULT_CACHE = Path("/tmp/recsys-scale")
PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")


# ----- measuring a subprocess tree ------------------------------------------------------------------
def tree_usage(root: int) -> tuple[float, float]:
    """(resident MB, CPU seconds used so far) of `root` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    total, cpu, todo = 0, 0.0, [root]
    while todo:
        pid = todo.pop()
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            cpu += (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime
        except (OSError, IndexError, ValueError):
            pass
        todo.extend(children.get(pid, []))
    return total / 1024**2, cpu


def run_measured(cmd: list[str], timeout: float, env: dict | None = None) -> dict:
    """Run `cmd`; wall seconds, peak tree memory, exit code, load average before/after, output tail."""
    load_before = C.load_average()
    began = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        cwd=C.ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    peak, cpu = [0.0], [0.0]
    done = threading.Event()

    def sample():
        while not done.wait(0.5):
            rss, used = tree_usage(proc.pid)
            peak[0], cpu[0] = max(peak[0], rss), max(cpu[0], used)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    timed_out = False
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, 9)
        output, _ = proc.communicate()
    done.set()
    sampler.join()
    return {
        "cmd": " ".join(cmd[1:]),
        "wall_s": round(time.perf_counter() - began, 1),
        "peak_mb": round(peak[0]),
        "cpu_s": round(cpu[0], 1),  # CPU of the process tree (last sample): less load-sensitive than wall
        "rc": proc.returncode,
        "timed_out": timed_out,
        "load_before": load_before,
        "load_after": C.load_average(),
        "output": output.strip().splitlines()[-3:],
    }


# ----- worker: one model fit on a generated folder ---------------------------------------------------
def worker(args) -> int:
    began = time.perf_counter()
    dataset = C.load_data(args.data)
    _ = dataset.matrix, dataset.fingerprint
    load_s = time.perf_counter() - began
    model = C.build_model(args.model, 0)
    fit_s, model = C.time_call(lambda: model.fit(dataset))
    C.write_json(
        args.out,
        {
            "model": args.model,
            "learners": int(dataset.n_users),
            "ratings": int(len(dataset.ratings)),
            "load_s": round(load_s, 1),
            "fit_s": round(fit_s, 1),
        },
    )
    return 0


def make_copies(src: Path, out: Path, copies: int) -> None:
    """Ten (`copies`) copies of the generated learners under new ids, written by Spark to Parquet."""
    from pyspark.sql import functions as F

    from recsys.spark.session import get_spark

    spark = get_spark()
    ratings = spark.read.option("header", True).option("inferSchema", True).csv(str(src / "ratings.csv"))
    copy = spark.range(copies).withColumnRenamed("id", "copy")
    big = ratings.crossJoin(F.broadcast(copy)).select(
        (F.col("user").cast("long") + F.col("copy") * 1_000_000_000).alias("user"), "item", "rating"
    )
    big.write.mode("overwrite").parquet(str(out))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=1_000_000)
    parser.add_argument("--copies", type=int, default=10, help="big run: this many copies of the learners")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per step (default 30 min)")
    parser.add_argument("--skip-big", action="store_true", help="only the 1M figures")
    parser.add_argument("--skip-small", action="store_true", help="only the 10M figure")
    parser.add_argument("--cache", default=str(DEFAULT_CACHE))
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--make-copies", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    if args.make_copies:
        make_copies(Path(args.data), Path(args.make_copies), args.copies)
        return 0

    info = C.machine()
    C.print_machine(info)
    cache = Path(args.cache)
    folder = scale.ensure_dataset(cache, args.learners, 0, 300)
    work = cache / f"spark-{args.learners}"
    work.mkdir(parents=True, exist_ok=True)
    py, me = sys.executable, str(Path(__file__).resolve())
    results: dict = {"machine": info, "learners": args.learners, "steps": {}}

    def step(name: str, cmd: list[str], env: dict | None = None, timeout: float | None = None) -> dict:
        print(f"[{time.strftime('%H:%M:%S')}] {name} ...", file=sys.stderr, flush=True)
        row = run_measured(cmd, timeout or args.timeout, env)
        results["steps"][name] = row
        print(
            f"  {row['wall_s']}s, peak {row['peak_mb']} MB, rc {row['rc']}, load {row['load_before']}"
            f" -> {row['load_after']}",
            file=sys.stderr,
            flush=True,
        )
        return row

    if not args.skip_small:
        for model in ("spark_als", "als"):
            out = work / f"fit-{model}.json"
            row = step(f"fit {model}", [py, me, "--worker", "--data", str(folder), "--model", model, "--out", str(out)])
            if row["rc"] == 0:
                row.update(json.loads(out.read_text()))
        spark_model = work / "spark_model"
        step(
            "spark train 1M (CSV)",
            [
                py,
                "-m",
                "recsys",
                "spark",
                "train",
                "--ratings",
                str(folder / "ratings.csv"),
                "--out",
                str(work / "model"),
                "--spark-model",
                str(spark_model),
            ],
        )
        step(
            "spark recommend 1M (all learners, k=10)",
            [
                py,
                "-m",
                "recsys",
                "spark",
                "recommend",
                "--ratings",
                str(folder / "ratings.csv"),
                "--spark-model",
                str(spark_model),
                "--out",
                str(work / "recs.parquet"),
                "--k",
                "10",
            ],
        )

    if not args.skip_big:
        big = cache / f"spark-{args.copies}x{args.learners}.parquet"
        if not (big / "_SUCCESS").exists():
            step(
                "write 10x Parquet",
                [py, me, "--make-copies", str(big), "--data", str(folder), "--copies", str(args.copies)],
            )
        step(
            f"spark train {args.copies}x (Parquet)",
            [py, "-m", "recsys", "spark", "train", "--ratings", str(big), "--out", str(work / "model-big")],
            env={"RECSYS_SPARK_DRIVER_MEMORY": os.environ.get("RECSYS_SPARK_DRIVER_MEMORY", "10g")},
        )

    rows = [
        {
            "step": name,
            "wall_s": r["wall_s"],
            "fit_s": r.get("fit_s"),
            "cpu_s": r.get("cpu_s"),
            "peak_mb": r["peak_mb"],
            "rc": r["rc"],
            "load": " / ".join(map(str, r["load_before"] or [])),
        }
        for name, r in results["steps"].items()
    ]
    C.print_table(rows)
    if args.json:
        C.write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
