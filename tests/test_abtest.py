"""Simulated A/B tests, Thompson sampling and offline-vs-online agreement, through the library, CLI and page."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from recsys.data import generate_dataset, load_dataset
from recsys.models import make_model
from recsys.simulation import (
    BEHAVIOUR_FILE,
    Arm,
    agreement,
    offline_ndcg,
    run_abtest,
    run_thompson,
    simulator_for_folder,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ab") / "data"
    generate_dataset(folder, seed=4, n_learners=3000, n_courses=60)
    dataset = load_dataset(folder)
    sim = simulator_for_folder(folder, dataset)
    models = {key: make_model(key, seed=0).fit(dataset) for key in ("popularity", "knn")}
    return folder, dataset, sim, models


def test_a_model_against_itself_is_rarely_significant(setup):
    """Calibration: 50 seeded A/A tests, the 5% test rejects in at most 5 (expected 2.5)."""
    _, _, sim, models = setup
    arms = [Arm("A", models["popularity"]), Arm("A'", models["popularity"])]
    p_values, always_valid = [], []
    for seed in range(50):
        result = run_abtest(sim, arms, n_learners=200, sessions=3, k=5, seed=seed, n_looks=5)
        p_values.append(result.compare("A'", "ctr").p_value)
        always_valid.append(result.sequential["av_p_value"].min())
    p_values = np.array(p_values)
    assert (p_values >= 0.05).sum() >= 45, p_values
    assert len(np.unique(p_values.round(6))) > 40, "every seed is a different experiment"
    assert (np.array(always_valid) < 0.05).sum() <= 5


def test_popularity_loses_to_a_personal_model(setup):
    _, _, sim, models = setup
    arms = [Arm("popularity", models["popularity"]), Arm("knn", models["knn"])]
    result = run_abtest(sim, arms, n_learners=1500, sessions=4, k=10, seed=1)
    s = result.summary.set_index("arm")
    assert s.loc["knn", "ctr"] > s.loc["popularity", "ctr"]
    assert s.loc["knn", "enrolments_per_learner"] > s.loc["popularity", "enrolments_per_learner"]
    assert s.loc["knn", "coverage"] > s.loc["popularity", "coverage"]
    diff = result.compare("knn", "ctr")
    assert diff.lo > 0 and diff.p_value < 0.001
    # bookkeeping: lists = learners x sessions, CTR = enrolments / lists, intervals around the estimate
    assert (s["lists"] == s["learners"] * 4).all() and s["learners"].sum() == 1500
    assert np.allclose(s["ctr"], s["enrolments"] / s["lists"])
    assert (s["ctr_lo"] < s["ctr"]).all() and (s["ctr"] < s["ctr_hi"]).all()
    assert ((s["completion_rate"] > 0.85) & (s["completion_rate"] <= 1)).all()
    comp = result.comparisons
    assert set(comp["metric"]) == {"ctr", "completion_rate", "enrolments_per_learner"}
    assert bool(comp.set_index("metric").loc["ctr", "significant"])


def test_sequential_view_and_stopping_rule(setup):
    _, _, sim, models = setup
    arms = [Arm("popularity", models["popularity"]), Arm("knn", models["knn"])]
    result = run_abtest(sim, arms, n_learners=1000, sessions=3, k=10, seed=2, n_looks=10)
    seq = result.sequential
    assert seq["learners"].iloc[-1] == 1000 and len(seq) == 10
    assert (seq["av_lo"] <= seq["lo"] + 1e-12).all() and (seq["av_hi"] >= seq["hi"] - 1e-12).all()
    assert (np.diff(seq["av_p_value"]) <= 1e-12).all(), "the always-valid p-value never goes back up"
    final = result.compare("knn", "ctr")
    assert seq["diff"].iloc[-1] == pytest.approx(final.diff) and seq["p_value"].iloc[-1] == pytest.approx(final.p_value)
    stop = result.stopping().iloc[0]
    assert stop["decision"] == "better than control" and 0 < stop["stopped_at_learners"] <= 1000


def test_same_seed_same_numbers_and_split_is_respected(setup):
    _, _, sim, models = setup
    arms = [Arm("popularity", models["popularity"]), Arm("knn", models["knn"])]
    a = run_abtest(sim, arms, n_learners=600, sessions=2, seed=9, split=[80, 20])
    b = run_abtest(sim, arms, n_learners=600, sessions=2, seed=9, split=[80, 20])
    assert a.learners.equals(b.learners)
    assert a.summary.set_index("arm").loc["popularity", "learners"] == pytest.approx(480, abs=40)
    with pytest.raises(ValueError, match="2 to 4 arms"):
        run_abtest(sim, arms[:1], n_learners=100)
    with pytest.raises(ValueError, match="traffic split"):
        run_abtest(sim, arms, n_learners=100, split=[1, 0])
    with pytest.raises(ValueError, match="unique"):
        run_abtest(sim, [arms[0], arms[0]], n_learners=100)


def test_thompson_sampling_moves_traffic_to_the_better_arm(setup):
    _, _, sim, models = setup
    arms = [Arm("popularity", models["popularity"]), Arm("knn", models["knn"])]
    bandit = run_thompson(sim, arms, n_learners=1500, sessions=3, k=10, seed=3, batch=30)
    assert bandit.best_arm == "knn"
    assert bandit.final_share()["knn"] >= 0.85
    alloc = bandit.allocation
    knn = alloc[alloc["arm"] == "knn"]
    assert knn["share"].iloc[-5:].mean() > knn["share"].iloc[:3].mean()
    regret = bandit.regret
    assert regret["thompson"].iloc[-1] < 0.5 * regret["equal_split"].iloc[-1]
    assert (np.diff(regret["thompson"]) >= 0).all()
    post = bandit.posterior.set_index("arm")
    assert post.loc["knn", "mean"] > post.loc["popularity", "mean"]


def test_offline_order_agrees_with_online_order(setup):
    _, dataset, sim, _ = setup
    keys = ["popularity", "knn", "course_similarity"]
    arms = [Arm(k, make_model(k, seed=0).fit(dataset)) for k in keys]
    online = run_abtest(sim, arms, n_learners=1500, sessions=3, seed=4).summary.set_index("arm")["ctr"].to_dict()
    offline = offline_ndcg(dataset, [(k, k, {}) for k in keys], k=10, seed=0)
    table, tau, _ = agreement(offline, online)
    assert set(table["arm"]) == set(keys) and -1 <= tau <= 1
    assert offline["knn"] > offline["popularity"] and online["knn"] > online["popularity"]
    assert table.set_index("arm").loc["knn", "offline_rank"] == 1 == table.set_index("arm").loc["knn", "online_rank"]
    with pytest.raises(ValueError, match="at least two"):
        agreement({"a": 1.0}, {"a": 2.0})


def test_two_arms_give_no_tau_but_say_whether_the_orders_agree():
    from recsys.simulation.agreement import orders_agree

    table, tau, p = agreement({"a": 0.5, "b": 0.4}, {"a": 0.3, "b": 0.2})  # tau would be 1.00 with p = 1
    assert tau != tau and p != p and orders_agree(table)
    table, tau, _ = agreement({"a": 0.5, "b": 0.4}, {"a": 0.2, "b": 0.3})
    assert tau != tau and not orders_agree(table)
    _, tau, _ = agreement({"a": 0.5, "b": 0.4, "c": 0.1}, {"a": 0.3, "b": 0.2, "c": 0.1})
    assert tau == 1.0


def test_cli_abtest(setup, tmp_path, capsys):
    from recsys.cli import main

    folder = setup[0]
    out = tmp_path / "ab.json"
    rc = main(
        [
            "abtest",
            "--data",
            str(folder),
            "--models",
            "popularity,popularity",
            "--learners",
            "300",
            "--sessions",
            "2",
            "--seed",
            "1",
            "--bandit",
            "--json",
            str(out),
        ]
    )
    text = capsys.readouterr().out
    assert rc == 0 and "Stopping rule" in text and "A: Popularity" in text and "B: Popularity" in text
    report = json.loads(out.read_text())
    assert [r["learners"] for r in report["summary"]] and sum(r["learners"] for r in report["summary"]) == 300
    assert "final_share" in report["bandit"]

    plain = tmp_path / "plain"
    shutil.copytree(folder, plain)
    (plain / BEHAVIOUR_FILE).unlink()
    rc = main(["abtest", "--data", str(plain), "--models", "popularity,knn", "--learners", "100"])
    assert rc == 2 and "no simulator for this dataset" in capsys.readouterr().err
    rc = main(["abtest", "--data", str(folder), "--models", "popularity", "--learners", "100"])
    assert rc == 2 and "2 to 4" in capsys.readouterr().err
    rc = main(["abtest", "--data", str(folder), "--models", "popularity,knn", "--split", "1,2,3"])
    assert rc == 2 and "--split" in capsys.readouterr().err


@pytest.fixture
def app_env(setup, tmp_path):
    saved = {k: os.environ.get(k) for k in ("RECSYS_DATA_DIR", "RECSYS_ARTIFACTS_DIR")}
    os.environ["RECSYS_DATA_DIR"] = str(setup[0])
    os.environ["RECSYS_ARTIFACTS_DIR"] = str(tmp_path / "artifacts")
    yield setup[0]
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def test_experiments_page_runs_an_ab_test(app_env, tmp_path):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("views/experiments.py")
    at.run()
    assert not at.exception and not at.error
    at.number_input(key="exp_learners").set_value(300)
    at.number_input(key="exp_sessions").set_value(2)
    at.button(key="exp_run").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    result = at.session_state["exp_result"]
    assert result["ab"].summary["learners"].sum() == 300 and result["bandit"] is not None
    assert any("Stopping rule" in i.value for i in at.info)

    plain = tmp_path / "plain"
    shutil.copytree(app_env, plain)
    (plain / BEHAVIOUR_FILE).unlink()
    at.session_state["dataset_source"] = {"kind": "folder", "path": str(plain)}
    at.run()
    assert not at.exception and not at.error
    assert any("No simulator for this dataset" in i.value for i in at.info)


def test_welch_difference_is_the_textbook_welch_test():
    """mean_difference (scipy's ttest_ind, equal_var=False) against Welch's formulas written out."""
    from scipy import stats

    from recsys.simulation.stats import mean_difference

    rng = np.random.default_rng(11)
    for _ in range(50):
        c = rng.poisson(rng.uniform(0.2, 3), rng.integers(2, 300)).astype(float)
        t = rng.poisson(rng.uniform(0.2, 3), rng.integers(2, 300)).astype(float)
        vc, vt = c.var(ddof=1) / len(c), t.var(ddof=1) / len(t)
        if vc + vt == 0:
            continue
        se = np.sqrt(vc + vt)
        df = (vc + vt) ** 2 / (vc**2 / (len(c) - 1) + vt**2 / (len(t) - 1))
        diff = t.mean() - c.mean()
        q = stats.t.ppf(0.975, df)
        got = mean_difference(c, t)
        assert got.diff == pytest.approx(diff) and got.se == pytest.approx(se)
        assert (got.lo, got.hi) == pytest.approx((diff - q * se, diff + q * se), rel=1e-12, abs=1e-12)
        assert got.p_value == pytest.approx(2 * stats.t.sf(abs(diff) / se, df), rel=1e-10, abs=1e-14)
    same = mean_difference([1.0, 1.0, 1.0], [1.0, 1.0])
    assert (same.diff, same.p_value, same.lo, same.hi) == (0.0, 1.0, 0.0, 0.0)
    assert mean_difference([2.0, 2.0], [3.0, 3.0]).p_value == 0.0
    assert np.isnan(mean_difference([1.0], [1.0, 2.0]).p_value)
