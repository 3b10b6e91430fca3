"""The CLI `compare` and the Compare page give the same numbers for the same data, defaults and seed.

Both default to the new_learners protocol; the page's run (ExperimentResult.to_json) must equal the CLI's --json
in every metric, interval, product KPI, segment and comparison with the best model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import app_environment
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
MODELS = ["popularity", "user_profile"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    base = tmp_path_factory.mktemp("agree")
    with app_environment(base, n_courses=30):
        yield base


def _without_timings(payload: dict) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ("fit_seconds", "recommend_ms")} for r in payload["results"]]


def _cli(env, json_name: str, *args: str):
    """`python -m recsys compare --data <env> ... --json <json_name> --no-history`: (the process, its JSON)."""
    out = subprocess.run(
        [sys.executable, "-m", "recsys", "compare", "--data", str(env / "data"), *args]
        + ["--json", str(env / json_name), "--no-history"],
        cwd=env,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    return out, json.loads((env / json_name).read_text())


def _page(choose, default_split: str | None = None):
    """The Compare page run with the controls `choose` sets: (the app, the run's JSON)."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    at.switch_page("views/compare.py")
    at.run()
    if default_split is not None:
        assert at.segmented_control(key="cmp_split").value == default_split  # the page's default too
    choose(at)
    at.run()
    at.button(key="cmp_run").click()
    at.run(timeout=300)
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    return at, at.session_state["runs"][-1]["result"].to_json()


def test_cli_and_compare_page_agree(env):
    out, cli = _cli(env, "cli.json", "--models", ",".join(MODELS))
    assert cli["split"]["name"] == "new_learners"  # the default protocol

    at, page = _page(lambda at: at.multiselect(key="cmp_models").set_value(MODELS), default_split="new_learners")

    assert page["split"] == cli["split"]
    assert _without_timings(page) == _without_timings(cli)
    board = at.dataframe[0].value.set_index("Model")
    for r in cli["results"]:
        tied = r["vs_best"]["ndcg@10"]
        expected = "best" if tied["best"] == r["name"] else ("yes" if tied["tied_with_best"] else "no")
        assert board.loc[r["label"], "Tied with best"] == expected
        assert board.loc[r["label"], "ndcg@10"].startswith(f"{r['metrics']['ndcg@10']:.3f}")
    assert "tied_with_best" in out.stdout and "niche_share" in out.stdout and "by segment" in out.stdout


def test_cli_and_compare_page_agree_on_new_courses(env):
    """Under new_courses the per-course view and the capability verdict are the same numbers in both."""
    models = ["popularity", "user_profile"]
    out, cli = _cli(env, "cli_new.json", "--models", ",".join(models), "--split", "new_courses", "--seed", "3")

    def choose(at):
        at.segmented_control(key="cmp_split").set_value("new_courses")
        at.multiselect(key="cmp_models").set_value(models)
        at.number_input(key="cmp_seed").set_value(3)

    at, page = _page(choose)
    assert page["split"] == cli["split"] and page["split"]["name"] == "new_courses"
    assert _without_timings(page) == _without_timings(cli)
    verdicts = {r["name"]: r["new_courses"]["can_recommend"] for r in cli["results"]}
    assert verdicts == {"popularity": False, "user_profile": True}
    shown = next(df.value for df in at.dataframe if "Takers" in df.value.columns).set_index("Course")
    for r in cli["results"]:
        for row in r["new_courses"]["per_course"]:
            assert shown.loc[row["course"], "Takers"] == row["takers"]
            assert shown.loc[row["course"], r["label"]].split(" ")[0] == str(row["reached"])
    assert "per new course" in out.stdout and "cannot recommend new courses" in out.stdout
