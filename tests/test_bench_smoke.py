"""Each bench script runs end to end on a tiny generated dataset and writes a well-formed JSON report.

Structure only -- never timings (those depend on the machine). The one numeric check is a behaviour:
our batched predictions must reproduce Surprise's RMSE on the same split.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
MACHINE_KEYS = {"cores", "cpu", "ram_gb", "python", "numpy", "load_average"}


@pytest.fixture(scope="module")
def bench_data(generated_data) -> Path:
    return generated_data(3, 400, 30)


def run_bench(script: str, *args: str, timeout: float = 300) -> tuple[str, dict]:
    out = Path(args[args.index("--json") + 1])
    proc = subprocess.run(
        [sys.executable, str(BENCH / script), *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    report = json.loads(out.read_text())
    assert report["benchmark"] == script.removesuffix(".py")
    assert MACHINE_KEYS <= set(report["machine"])
    assert report["machine"]["cores"] >= 1
    assert {"params", "results", "summary", "created_at"} <= set(report)
    assert isinstance(report["summary"]["target_met"], bool)
    assert proc.stdout.startswith("machine: ")
    return proc.stdout, report


def test_latency(bench_data, tmp_path):
    models = ["popularity", "knn"]
    out = tmp_path / "latency.json"
    stdout, report = run_bench(
        "latency.py",
        "--data",
        str(bench_data),
        "--models",
        ",".join(models),
        "--learners",
        "15",
        "--refits",
        "1",
        "--warmup",
        "1",
        "--json",
        str(out),
    )
    rows = {r["model"]: r for r in report["results"]}
    assert list(rows) == models
    for name, r in rows.items():
        assert r["calls"] == 15
        assert 0 < r["p50_ms"] <= r["p95_ms"] <= r["max_ms"]
        assert (r["refits"] == 1) == (name == "knn")
    assert report["summary"]["worst_model"] in models
    assert stdout.strip().splitlines()[-1].startswith("worst p95: ")


def test_vs_surprise(bench_data, tmp_path):
    models = ["knn", "knn_user", "nmf"]
    out = tmp_path / "vs.json"
    _, report = run_bench(
        "vs_surprise.py",
        "--data",
        str(bench_data),
        "--models",
        ",".join(models),
        "--user-learners",
        "150",
        "--json",
        str(out),
    )
    rows = {r["model"]: r for r in report["results"]}
    assert list(rows) == models
    for r in rows.values():
        assert r["test_pairs"] > 0
        assert r["ours_predict_s"] > 0 and r["surprise_test_s"] > 0
        assert abs(r["rmse_ours"] - r["rmse_surprise"]) <= 1e-6
        assert r["max_abs_pred_diff"] <= 1e-6
    if "knn_user" in rows:
        assert rows["knn_user"]["learners"] == 150


def test_scale(tmp_path):
    out = tmp_path / "scale.json"
    stdout, report = run_bench(
        "scale.py",
        "--learners",
        "120,240",
        "--models",
        "popularity",
        "--courses",
        "20",
        "--cache",
        str(tmp_path / "cache"),
        "--json",
        str(out),
    )
    rows = report["results"]
    assert [(r["learners"], r["model"]) for r in rows] == [(120, "popularity"), (240, "popularity")]
    for r in rows:
        assert r["status"] == "ok", r
        assert r["peak_mb"] >= r["peak_after_load_mb"] > 0
        assert r["recommendations"] > 0
    assert "fit_growth" in rows[1] and "fit_growth" not in rows[0]
    assert (tmp_path / "cache" / "240" / "ratings.csv").is_file()
    assert report["summary"]["target_learners"] == 240
    assert "per fit: " in stdout.strip().splitlines()[-1]


def test_compare_all(bench_data, tmp_path):
    models = ["popularity", "knn"]
    out = tmp_path / "compare.json"
    # two protocols (one CLI process each) exercise the per-protocol table; four only cost start-up time
    stdout, report = run_bench(
        "compare_all.py",
        "--data",
        str(bench_data),
        "--models",
        ",".join(models),
        "--split",
        "new_learners,holdout",
        "--json",
        str(out),
    )
    assert [r["model"] for r in report["results"]] == models
    assert [p["protocol"] for p in report["summary"]["per_protocol"]] == ["new_learners", "holdout"]
    assert isinstance(report["summary"]["holdout_target_met"], bool)  # the issue-14 line for holdout
    assert all(r["fit_s"] is not None and r["score_s"] >= 0 for r in report["results"])
    assert report["summary"]["wall_s"] > 0
    assert stdout.strip().splitlines()[-1].startswith(f"compare --models {','.join(models)}: ")


def test_defaults_small_data(bench_data, tmp_path):
    models = ["popularity", "ease", "als"]
    out = tmp_path / "defaults.json"
    stdout, report = run_bench(
        "defaults_small_data.py",
        "--data",
        str(bench_data),
        "--learners",
        "300",
        "--scale",
        "small",
        "--models",
        ",".join(models),
        "--n-resamples",
        "0",
        "--json",
        str(out),
    )
    rows = {r["model"]: r for r in report["results"]}
    assert set(rows) == set(models) and all(r["scale"] == "small" for r in rows.values())
    assert report["summary"]["scales"]["small"]["skew"]["learners"] == 300
    assert report["summary"]["target_met"] == all(r["above_popularity"] for r in rows.values())
    if "ease" in rows:
        assert set(rows["ease"]["chosen"]) == {"l2"} and rows["ease"]["chosen"]["l2"] > 0


def test_tuned_compare(bench_data, tmp_path):
    models = ["popularity", "ease", "hybrid"]
    out = tmp_path / "tuned.json"
    stdout, report = run_bench(
        "tuned_compare.py",
        "--data",
        str(bench_data),
        "--subsample",
        "300",
        "--small-trials",
        "2",
        "--models",
        ",".join(models),
        "--json",
        str(out),
        timeout=600,
    )
    (run,) = report["results"]
    assert run["learners"] == 300 and run["trials_per_model"] == 2
    assert {r["model"] for r in run["rows"]} == set(models)
    rows = {r["model"]: r for r in run["rows"]}
    assert rows["ease"]["trials"] == 2 and "l2=" in rows["ease"]["params"]
    assert "ease: l2=" in rows["hybrid"]["params"]  # the hybrid blends its tuned members
    assert run["repeat_same_numbers"] is True  # the stored studies give the same choices in a fresh process
    assert report["summary"]["target_met"] == (run["tuned_s"] <= run["target_s"])
    assert run["hybrid_vs_best_member"]["verdict"] in ("below", "not below")
    assert "subsample target: tuned <= 180 s" in stdout
