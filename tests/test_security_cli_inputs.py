"""CLI: every size bounded and every float finite, outputs checked before the work, a broken run history never
costs a finished run, `recommend --param` serves a model with those parameters, control characters stripped."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from recsys import cli
from recsys.cli import common
from recsys.data import generate_dataset, load_dataset
from recsys.models import make_model


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli-sec") / "data"
    generate_dataset(out, seed=4, n_learners=300, n_courses=25)
    return out


@pytest.fixture(autouse=True)
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RECSYS_SECRET_KEY", raising=False)
    monkeypatch.setenv("RECSYS_SECRET_KEY_FILE", str(tmp_path / "key" / "artifact.key"))
    return tmp_path


def _usage_error(argv, capsys) -> str:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    return err


@pytest.mark.parametrize(
    "argv, option",
    [
        (["abtest", "--models", "popularity,knn", "--position-bias", "nan"], "--position-bias"),
        (["abtest", "--models", "popularity,knn", "--position-bias", "inf"], "--position-bias"),
        (["compare", "--test-learners", "nan"], "--test-learners"),
        (["compare", "--head-share=-inf"], "--head-share"),
        (["path", "--goal", "x", "--goal-weight", "nan"], "--goal-weight"),
        (["abtest", "--models", "popularity,knn", "--learners", "1000000000"], "--learners"),
        (["abtest", "--models", "popularity,knn", "--sessions", "100000"], "--sessions"),
        (["compare", "--resamples", "1000000000"], "--resamples"),
        (["generate", "--out", "x", "--learners", "10000000000"], "--learners"),
        (["compare", "--seed", "9" * 30], "--seed"),
    ],
)
def test_sizes_are_bounded_and_floats_finite(argv, option, capsys):
    err = _usage_error(argv, capsys)
    assert f"{option} must be" in err and "Traceback" not in err


def test_k_beyond_the_catalogue_and_nan_in_number_lists_are_refused(data_dir, capsys):
    assert cli.main(["compare", "--data", str(data_dir), "--models", "popularity", "--k", "5000"]) == 2
    assert "more than the 25 courses" in capsys.readouterr().err
    assert cli.main(["compare", "--data", str(data_dir), "--activity-bins", "1,nan"]) == 2
    assert "--activity-bins expects finite numbers" in capsys.readouterr().err


def test_an_unwritable_json_target_fails_before_the_work(data_dir, workdir, capsys):
    (workdir / "out.json").mkdir()
    argv = ["compare", "--data", str(data_dir), "--models", "popularity", "--json", "out.json", "--no-history"]
    assert cli.main(argv) == 2
    assert "--json 'out.json' is a folder" in capsys.readouterr().err


def test_a_corrupted_history_still_prints_and_writes_the_json(data_dir, workdir, capsys, monkeypatch):
    """The history is healthy when the run starts and corrupted while it runs (another process, a full disk):
    the results are printed and written, then the history error is reported (exit 1)."""
    from recsys.cli import evaluate

    db = workdir / "runs.sqlite"
    real_history = evaluate._history

    def open_then_corrupt(path):
        history = real_history(path)  # healthy when the run starts ...
        for suffix in ("", "-wal", "-shm"):  # ... and corrupted before the run is recorded
            target = db.with_name(db.name + suffix)
            if target.exists():
                target.write_bytes(b"this is not a database" * 100)
        return history

    monkeypatch.setattr(evaluate, "_history", open_then_corrupt)
    argv = ["compare", "--data", str(data_dir), "--models", "popularity", "--k", "5", "--resamples", "0"]
    code = cli.main([*argv, "--json", "out.json", "--db", str(db)])
    captured = capsys.readouterr()
    assert code == 1
    assert "popularity" in captured.out and "wrote" in captured.out
    assert json.loads((workdir / "out.json").read_text())["results"][0]["model"] == "popularity"
    assert "was not recorded in the run history" in captured.err and "out.json" in captured.err


def test_a_corrupted_history_is_reported_before_the_work(data_dir, workdir, capsys):
    (workdir / "bad.sqlite").write_bytes(b"garbage" * 1000)
    argv = ["compare", "--data", str(data_dir), "--models", "popularity", "--db", "bad.sqlite", "--json", "o.json"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "bad.sqlite" in err and "--no-history" in err and not (workdir / "o.json").exists()


def test_recommend_serves_the_parameters_asked_for(data_dir, workdir, capsys):
    dataset = load_dataset(data_dir)
    course = str(dataset.item_ids[0])
    train = ["train", "--data", str(data_dir), "--model", "knn", "--param", "n_neighbours=1", "--out", "knn1"]
    assert cli.main(train) == 0
    capsys.readouterr()
    argv = ["recommend", "--data", str(data_dir), "--model", "knn", "--courses", course, "--k", "5"]
    assert cli.main([*argv, "--param", "n_neighbours=20"]) == 0  # the stored n_neighbours=1 model is not it
    out = capsys.readouterr()
    assert "source: trained" in out.err
    expected = make_model("knn", n_neighbours=20, seed=0).fit(dataset).recommend([course], k=5)["COURSE_ID"]
    served = [line.split()[0] for line in out.out.splitlines()[2:]]
    assert served == list(expected)
    assert cli.main([*argv, "--param", "n_neighbours=1"]) == 0
    assert "source: disk" in capsys.readouterr().err, "the model trained with those parameters is served"
    argv_path = [*argv, "--model-path", "knn1", "--param", "n_neighbours=20"]  # an exported copy: never another model
    assert cli.main(argv_path) == 2
    assert "n_neighbours=1 (asked 20)" in capsys.readouterr().err


def test_terminal_control_characters_are_stripped_from_tables():
    stream = io.StringIO()
    hostile = "Intro\x1b[2J\x1b]0;pwned\x07 to\r SQL\u202e"
    common.print_table(pd.DataFrame({"TITLE": [hostile]}), stream)
    text = stream.getvalue()
    assert "\x1b" not in text and "\r" not in text and "\x07" not in text and "\u202e" not in text
    assert "Intro[2J]0;pwned to SQL" in text
