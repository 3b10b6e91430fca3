"""What a new user meets first: 'all' means the available models, one model store for the CLI and the app,
quiet logs, and one clear line when Spark is missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from recsys import _logs
from recsys.cli import main

ROOT = Path(__file__).resolve().parents[1]
NO_PYSPARK = "import sys; sys.modules['pyspark'] = None; from recsys.cli import main; sys.exit(main(sys.argv[1:]))"


def run_without_pyspark(args, cwd, env):
    """`python -m recsys ARGS` in a fresh process that cannot import pyspark (as after `make run` alone)."""
    return subprocess.run(
        [sys.executable, "-c", NO_PYSPARK, *map(str, args)],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture
def no_pyspark(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspark", None)


def test_spark_als_is_unavailable_without_pyspark_with_reason_and_install_command(no_pyspark):
    from recsys.models import MODEL_KEYS, ModelUnavailableError, available_keys, available_models, require_available

    infos = {i.key: i for i in available_models()}
    assert list(infos) == list(MODEL_KEYS)
    spark = infos["spark_als"]
    assert not spark.available
    assert spark.reason == "pyspark is not installed" and spark.install == "make spark"
    assert spark.note == "pyspark is not installed; install with: make spark"
    assert "spark_als" not in available_keys() and len(available_keys()) == len(MODEL_KEYS) - 1
    with pytest.raises(ModelUnavailableError, match="make spark"):
        require_available("spark_als")
    require_available("popularity")  # available models pass


@pytest.mark.slow  # 15 models, one of them a Keras network: ~10-20 s on 2 shared cores
def test_compare_all_without_pyspark_runs_the_others_lists_spark_als_skipped_and_is_quiet(small_data_dir, tmp_path):
    out = run_without_pyspark(
        [
            "compare",
            "--data",
            small_data_dir,
            "--models",
            "all",
            "--k",
            "5",
            "--resamples",
            "0",
            "--no-history",
            "--json",
            "all.json",
        ],
        tmp_path,
        {"RECSYS_ARTIFACTS_DIR": str(tmp_path / "artifacts")},
    )
    assert out.returncode == 0, out.stderr
    assert "skipped spark_als: pyspark is not installed; install with: make spark" in out.stdout
    report = json.loads((tmp_path / "all.json").read_text())
    assert report["skipped"] == [{"model": "spark_als", "reason": "pyspark is not installed; install with: make spark"}]
    ran = {r["model"] for r in report["results"]}
    assert "neural" in ran and "spark_als" not in ran and len(ran) == 15
    # the neural models imported TensorFlow in this run: none of its start-up chatter reaches the terminal
    for noise in ("absl", "oneDNN", "cpu_feature_guard", "Traceback"):
        assert noise not in out.stderr, out.stderr


def test_naming_an_unavailable_model_is_one_line_with_the_fix(no_pyspark, small_data_dir, capsys):
    assert main(["compare", "--data", str(small_data_dir), "--models", "popularity,spark_als"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: model 'spark_als' is unavailable: pyspark is not installed; install with: make spark"]


def test_spark_commands_without_pyspark_say_so_in_one_line(no_pyspark, tmp_path, capsys):
    for command in ("evaluate", "train", "recommend"):
        args = ["spark", command, "--ratings", str(tmp_path / "ratings.csv")]
        args += ["--spark-model", str(tmp_path / "m"), "--out", str(tmp_path / "r")] if command == "recommend" else []
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.strip() == "error: Spark unavailable: pyspark is not installed; install with: make spark", err


def _listing(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_cli_reuses_what_the_app_trained_and_leaves_its_folder_alone(
    small_data_dir, small_dataset, tmp_path, monkeypatch, capsys
):
    from recsys.serving.store import ModelStore, artifacts_dir

    monkeypatch.setenv("RECSYS_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    assert artifacts_dir() == tmp_path / "artifacts"  # the helper the app's session uses too
    app_store = ModelStore(tmp_path / "artifacts" / "models")  # what the app's model store does on Train
    for key in ("popularity", "knn"):
        _, source = app_store.fetch(small_dataset, key, {})
        assert source == "trained"
    before = _listing(tmp_path / "artifacts" / "models")
    course = str(small_dataset.item_ids[0])

    for key in ("popularity", "knn"):
        assert main(["recommend", "--data", str(small_data_dir), "--model", key, "--courses", course, "--k", "3"]) == 0
        err = capsys.readouterr().err
        assert "source: disk" in err and "rewrote" not in err and "could not be used" not in err, err
    assert _listing(tmp_path / "artifacts" / "models") == before  # nothing removed, nothing rewritten

    # the other way round: what the CLI trains, the app's store finds without training
    assert main(["train", "--data", str(small_data_dir), "--model", "user_profile"]) == 0
    assert "trained now" in capsys.readouterr().out
    assert ModelStore(tmp_path / "artifacts" / "models").fetch(small_dataset, "user_profile", {})[1] == "disk"
    assert set(before) <= set(_listing(tmp_path / "artifacts" / "models"))


def test_parameters_given_are_the_model_served(small_data_dir, small_dataset, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RECSYS_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    course = str(small_dataset.item_ids[0])
    base = ["recommend", "--data", str(small_data_dir), "--model", "knn", "--courses", course, "--k", "3"]
    assert main([*base, "--param", "n_neighbours=1"]) == 0
    assert "source: trained" in capsys.readouterr().err
    assert main([*base, "--param", "n_neighbours=30"]) == 0  # not the saved n_neighbours=1 model
    assert "source: trained" in capsys.readouterr().err
    assert main([*base, "--param", "n_neighbours=1"]) == 0
    assert "source: disk" in capsys.readouterr().err


def test_train_out_refuses_to_replace_a_folder_that_is_not_a_saved_model(small_data_dir, tmp_path, capsys):
    mine = tmp_path / "my-files"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    assert main(["train", "--data", str(small_data_dir), "--model", "popularity", "--out", str(mine)]) == 2
    assert "is not a saved model" in capsys.readouterr().err
    assert (mine / "notes.txt").read_text() == "keep me"


def test_native_noise_is_filtered_and_everything_else_kept(capfd, monkeypatch):
    monkeypatch.delenv(_logs.VERBOSE_ENV, raising=False)
    with _logs.native_stderr_filtered():
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
        os.write(2, b"I0000 port.cc:153] oneDNN custom operations are on. You may see ...\n")
        os.write(2, b"a real error from native code\n")
    assert capfd.readouterr().err == "a real error from native code\n"
    monkeypatch.setenv(_logs.VERBOSE_ENV, "1")  # --verbose keeps the libraries' own output
    with _logs.native_stderr_filtered():
        os.write(2, b"oneDNN custom operations are on\n")
    assert capfd.readouterr().err == "oneDNN custom operations are on\n"


def test_compare_page_offers_only_available_models_and_says_why_the_others_are_missing(no_pyspark, tmp_path_factory):
    from helpers import app_environment, assert_page_ok
    from streamlit.testing.v1 import AppTest

    from recsys.models import MODEL_KEYS, REGISTRY

    with app_environment(tmp_path_factory.mktemp("cmp"), n_courses=30):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        at.run()
        at.switch_page("views/compare.py")
        at.run()
        assert_page_ok(at)
        (models,) = [m for m in at.multiselect if m.key == "cmp_models"]
        offered = set(models.options)
        assert offered == {REGISTRY[k].label or k for k in MODEL_KEYS if k != "spark_als"}, offered
        notes = " ".join(c.value for c in at.caption)
        assert "Not available on this server" in notes
        assert "pyspark is not installed; install with: make spark" in notes


def test_a_model_that_fails_is_reported_and_the_others_still_shown(no_pyspark, small_dataset):
    from recsys.evaluation import Experiment

    # spark_als cannot fit without pyspark: a real failure inside the comparison
    result = Experiment(small_dataset, "holdout", ["popularity", "spark_als", "ease"], k=5, n_resamples=0).run()
    assert list(result.details) == ["popularity", "ease"]
    assert set(result.failures) == {"spark_als"}
    assert "pyspark is not installed" in result.failures["spark_als"]["error"]
    report = result.to_json()
    assert [r["model"] for r in report["results"]] == ["popularity", "ease"]
    assert report["failed"][0]["name"] == "spark_als" and "make spark" in report["failed"][0]["error"]
    with pytest.raises(ValueError, match="pyspark is not installed"):  # nothing left to show: the error itself
        Experiment(small_dataset, "holdout", ["spark_als"], k=5, n_resamples=0).run()


def test_cli_compare_shows_the_others_and_names_the_failed_model(no_pyspark, small_data_dir, tmp_path, capsys):
    # a hybrid whose member is Spark ALS fails to fit without pyspark; popularity is still compared
    args = [
        "compare",
        "--data",
        str(small_data_dir),
        "--models",
        "popularity,hybrid",
        "--param",
        "hybrid.member_1=spark_als",
        "--k",
        "5",
        "--resamples",
        "0",
        "--no-history",
        "--json",
        str(tmp_path / "r.json"),
    ]
    assert main(args) == 1
    out = capsys.readouterr()
    assert "popularity" in out.out and "failed hybrid:" in out.out and "pyspark is not installed" in out.out
    assert "error: model hybrid failed: " in out.err and "Traceback" not in out.err
    report = json.loads((tmp_path / "r.json").read_text())
    assert [r["model"] for r in report["results"]] == ["popularity"] and report["failed"][0]["model"] == "hybrid"
