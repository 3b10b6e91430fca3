"""CLI end to end in subprocesses (generate, compare --json, train, recommend, tune, history) and bad input."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from recsys import cli

ROOT = Path(__file__).resolve().parents[1]
CHEAP = ("user_profile", "course_similarity")  # fast personalised models, used when they exist


def run(args, cwd, timeout=300):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "recsys", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def installed(key: str) -> bool:
    return importlib.util.find_spec(f"recsys.models.{key}") is not None


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A working folder with a dataset written by the `generate` command itself."""
    folder = tmp_path_factory.mktemp("cli")
    out = run(["generate", "--out", "data", "--seed", "3", "--learners", "600", "--courses", "30"], folder)
    assert out.returncode == 0, out.stderr
    assert (folder / "data" / "ratings.csv").is_file()
    return folder


@pytest.fixture(scope="module")
def compared(workdir):
    models = ",".join(["popularity", *[m for m in CHEAP if installed(m)]])
    out = run(
        [
            "compare",
            "--data",
            "data",
            "--models",
            models,
            "--k",
            "5",
            "--seed",
            "0",
            "--json",
            "out.json",
            "--db",
            "runs.sqlite",
        ],
        workdir,
    )
    assert out.returncode == 0, out.stderr
    return out, models.split(",")


def test_compare_json(workdir, compared):
    out, models = compared
    payload = json.loads((workdir / "out.json").read_text())
    assert set(payload) == {"dataset", "split", "results"}
    assert payload["dataset"]["counts"]["learners"] == 600 and isinstance(payload["dataset"]["fingerprint"], str)
    assert payload["split"]["name"] == "new_learners" and payload["split"]["seed"] == 0  # the default protocol
    assert [r["model"] for r in payload["results"]] == models
    keys = [
        "precision@5",
        "recall@5",
        "ndcg@5",
        "map@5",
        "hit_rate@5",
        "coverage@5",
        "diversity@5",
        "novelty@5",
        "rmse",
        "mae",
    ]
    for r in payload["results"]:
        assert list(r["metrics"]) == keys
        assert all(isinstance(r["metrics"][k], float) and 0 <= r["metrics"][k] for k in keys[:8])
        assert r["metrics"]["rmse"] is None or isinstance(r["metrics"]["rmse"], float)
        for name, (lo, hi) in r["ci"].items():
            assert lo <= r["metrics"][name] <= hi
        assert isinstance(r["params"], dict) and r["fit_seconds"] >= 0 and r["recommend_ms"] > 0
    # the leaderboard names every model and shows intervals
    for m in models:
        assert m in out.stdout
    assert "[" in out.stdout and "ndcg@5" in out.stdout


def test_compare_is_reproducible_and_recorded(workdir, compared):
    out = run(
        [
            "compare",
            "--data",
            "data",
            "--models",
            "popularity",
            "--k",
            "5",
            "--json",
            "again.json",
            "--db",
            "runs.sqlite",
        ],
        workdir,
    )
    assert out.returncode == 0, out.stderr
    first = json.loads((workdir / "out.json").read_text())["results"][0]
    again = json.loads((workdir / "again.json").read_text())["results"][0]
    assert first["metrics"] == again["metrics"] and first["ci"] == again["ci"]
    listed = run(["history", "--db", "runs.sqlite", "--limit", "5"], workdir)
    assert listed.returncode == 0, listed.stderr
    lines = [line for line in listed.stdout.splitlines() if " compare " in f" {line} "]
    assert len(lines) == 2  # both compare runs, written by earlier processes
    shown = run(["history", "--db", "runs.sqlite", "--run", "1"], workdir)
    assert json.loads(shown.stdout)["results"][0]["model"] == "popularity"


def test_train_then_recommend(workdir):
    out = run(
        [
            "train",
            "--data",
            "data",
            "--model",
            "popularity",
            "--param",
            "weight_completions=true",
            "--out",
            "models/pop",
        ],
        workdir,
    )
    assert out.returncode == 0, out.stderr
    assert "models/pop" in out.stdout and (workdir / "models" / "pop" / "manifest.json").is_file()
    courses = __import__("pandas").read_csv(workdir / "data" / "course_genre.csv")["COURSE_ID"].tolist()[:2]
    out = run(
        [
            "recommend",
            "--data",
            "data",
            "--model",
            "popularity",
            "--model-path",
            "models/pop",
            "--courses",
            ",".join(courses),
            "--k",
            "4",
        ],
        workdir,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].split() == ["COURSE_ID", "TITLE", "SCORE", "REASON"]
    rows = lines[2:]
    assert len(rows) == 4
    listed = [r.split()[0] for r in rows]
    assert not set(listed) & set(courses) and len(set(listed)) == 4


def test_tune_command(workdir):
    out = run(
        [
            "tune",
            "--data",
            "data",
            "--model",
            "popularity",
            "--grid",
            "weight_completions=false,true",
            "--metric",
            "recall@5",
            "--folds",
            "2",
            "--db",
            "runs.sqlite",
        ],
        workdir,
    )
    assert out.returncode == 0, out.stderr
    assert "best: weight_completions=" in out.stdout and "recall@5" in out.stdout


def test_bad_input_in_subprocess_is_one_line(workdir):
    out = run(["compare", "--data", "data", "--models", "popularity,nope"], workdir)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "unknown model 'nope'" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    "argv, message",
    [
        (["compare", "--models", "nope"], "unknown model 'nope'"),
        (["compare", "--models", "popularity", "--param", "popularity.alpha=1"], "no parameter 'alpha'"),
        (["compare", "--models", "popularity", "--param", "popularity.weight_completions=maybe"], "true or false"),
        (["compare", "--models", "popularity", "--param", "knn.n_neighbours=3"], "not in --models"),
        (["compare", "--models", "popularity", "--k", "0"], "--k must be"),
        (["train", "--model", "nope"], "unknown model"),
        (["train", "--model", "popularity", "--param", "weight_completions"], "NAME=VALUE"),
        (["tune", "--model", "popularity", "--metric", "auc@5"], "unknown metric"),
        (["tune", "--model", "popularity", "--grid", "weight_completions=maybe"], "true or false"),
        (["tune", "--model", "popularity", "--grid", "alpha=1,2"], "no parameter 'alpha'"),
        (["recommend", "--model", "popularity", "--courses", "NOPE123"], "unknown course id"),
        (["recommend", "--model", "popularity", "--courses", " , "], "at least one course"),
        (["history", "--limit", "0"], "--limit"),
    ],
)
def test_bad_input_exit_2(argv, message, workdir, capsys, monkeypatch):
    monkeypatch.chdir(workdir)
    extra = ["--data", "data"] if argv[0] != "history" else ["--db", "runs.sqlite"]
    assert cli.main([*argv, *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and message in err


def test_missing_data_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["compare", "--models", "popularity"]) == 2  # default data/builtin is absent here
    err = capsys.readouterr().err
    assert "data/builtin" in err and "generate" in err


@pytest.mark.parametrize("command", ["train", "recommend", "compare", "tune", "history"])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([command, "--help"])
    assert exc.value.code == 0
    assert "--data" in capsys.readouterr().out or command == "history"
