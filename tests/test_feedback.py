"""The feedback log: appended by the Recommend page's thumbs, survives restarts and concurrent writers, and the
admin panel's counts are the log's counts."""

from __future__ import annotations

import csv
import io
import multiprocessing
import os
import sqlite3
import threading
from pathlib import Path

import pytest

from recsys.serving.feedback import FeedbackLog, neutralize, new_session_id

ROOT = Path(__file__).resolve().parents[1]


def _fill(log: FeedbackLog, session: str, model: str, n: int, offset: int = 0) -> None:
    for i in range(n):
        log.record_list(session, model, "h1", [f"C{j}" for j in range(5)])
        log.record_vote(session, model, "h1", f"C{(i + offset) % 5}", "up" if i % 3 else "down", rank=1 + i % 5)


def test_log_survives_a_restart_and_counts_per_model(tmp_path):
    path = tmp_path / "artifacts" / "feedback.sqlite"
    first = FeedbackLog(path)
    s1, s2 = new_session_id(), new_session_id()
    assert s1 != s2 and len(s1) == 32
    _fill(first, s1, "knn", 6)
    _fill(first, s2, "popularity", 3)
    del first
    again = FeedbackLog(path)  # a new process / server start opens the same file
    votes = again.votes()
    assert len(votes) == 9 and set(votes["session_id"]) == {s1, s2}
    assert list(votes.columns) == [
        "id",
        "session_id",
        "ts",
        "model_key",
        "params_hash",
        "dataset",
        "course_id",
        "vote",
        "rank",
    ]
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    per_model = again.per_model().set_index("model_key")
    knn = votes[votes["model_key"] == "knn"]
    assert per_model.loc["knn", "lists_shown"] == 6 and per_model.loc["knn", "courses_shown"] == 30
    assert per_model.loc["knn", "up"] == (knn["vote"] == "up").sum() == 4
    assert per_model.loc["knn", "down"] == (knn["vote"] == "down").sum() == 2
    assert per_model.loc["knn", "down_rate"] == pytest.approx(2 / 30)
    assert per_model.loc["knn", "share_up"] == pytest.approx(4 / 6)
    disliked = again.most_disliked(3)
    downs = votes[votes["vote"] == "down"].groupby("course_id").size()
    assert disliked.set_index("course_id")["down"].to_dict() == downs.sort_values(ascending=False).head(3).to_dict()
    over_time = again.over_time()
    assert over_time["up"].sum() == (votes["vote"] == "up").sum() and over_time["lists"].sum() == 9
    with pytest.raises(ValueError, match="vote must be"):
        again.record_vote(s1, "knn", "h1", "C1", "meh")


def test_delete_this_sessions_feedback(tmp_path):
    log = FeedbackLog(tmp_path / "f.sqlite")
    mine, other = new_session_id(), new_session_id()
    _fill(log, mine, "knn", 4)
    _fill(log, other, "knn", 2)
    assert log.delete_session(mine) == 8
    assert set(log.votes()["session_id"]) == {other} and set(log.lists()["session_id"]) == {other}
    assert log.per_model().loc[0, "lists_shown"] == 2


def test_csv_export_neutralizes_formulas(tmp_path):
    log = FeedbackLog(tmp_path / "f.sqlite")
    s = new_session_id()
    for course in ('=HYPERLINK("x")', "+1", "-2", "@SUM(A1)", "\tX", "\rY", "PY0101EN"):
        log.record_vote(s, "knn", "h", course, "down", rank=3)
    rows = list(csv.DictReader(io.StringIO(log.export_csv())))
    assert [r["course_id"] for r in rows] == [
        '\'=HYPERLINK("x")',
        "'+1",
        "'-2",
        "'@SUM(A1)",
        "'\tX",
        "'\rY",
        "PY0101EN",
    ]
    assert rows[0]["rank"] == "3" and rows[0]["vote"] == "down"
    assert neutralize(-1) == -1 and neutralize("ok") == "ok"


def _writer(path: str, session: str, n: int) -> None:
    log = FeedbackLog(path)
    for i in range(n):
        log.record_vote(session, "knn", "h", f"C{i}", "up", rank=1)


def test_concurrent_sessions_lose_nothing(tmp_path):
    path = tmp_path / "f.sqlite"
    FeedbackLog(path).per_model()  # create the file once (WAL)
    sessions = [new_session_id() for _ in range(6)]
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(path), s, 40)) for s in sessions[:3]]
    threads = [threading.Thread(target=_writer, args=(str(path), s, 40)) for s in sessions[3:]]
    for w in procs + threads:
        w.start()
    for w in procs + threads:
        w.join(120)
    assert all(p.exitcode == 0 for p in procs)
    votes = FeedbackLog(path).votes()
    assert len(votes) == 240
    assert votes.groupby("session_id").size().to_dict() == {s: 40 for s in sessions}


# ----- through the app ------------------------------------------------------------------------------
@pytest.fixture
def app_env(tmp_path):
    from recsys.data import generate_dataset

    generate_dataset(tmp_path / "data", seed=5, n_learners=400, n_courses=30)
    saved = {k: os.environ.get(k) for k in ("RECSYS_DATA_DIR", "RECSYS_ARTIFACTS_DIR")}
    os.environ["RECSYS_DATA_DIR"] = str(tmp_path / "data")
    os.environ["RECSYS_ARTIFACTS_DIR"] = str(tmp_path / "artifacts")
    yield tmp_path
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def test_thumbs_on_recommend_are_logged_and_the_panel_matches(app_env, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("RECSYS_ADMIN_PASSWORD", "an admin password for this test")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("views/recommend.py")
    at.run()
    at.button(key="rec_train").click()
    at.run()
    shown = at.session_state["rec_last"]["COURSE_ID"].tolist()
    at.button(key=f"rec_down_{shown[1]}").click()
    at.run()
    # A "not for me" re-ranks the list (courses close to it move down): the rank logged for the next vote is
    # the rank the learner saw at that moment.
    reranked = at.session_state["rec_last"]["COURSE_ID"].tolist()
    at.button(key=f"rec_up_{shown[0]}").click()
    at.run()
    assert not at.exception and not at.error
    log = FeedbackLog(app_env / "artifacts" / "feedback.sqlite")
    votes = log.votes()
    expected = [[shown[1], "down", 2], [shown[0], "up", reranked.index(shown[0]) + 1]]
    assert votes[["course_id", "vote", "rank"]].values.tolist() == expected
    assert votes["model_key"].eq(at.session_state["rec_active"]["key"]).all()
    assert votes["session_id"].nunique() == 1 and votes["params_hash"].str.len().eq(12).all()
    lists = log.lists()
    assert lists["n_shown"].iloc[0] == len(shown) and lists["courses"].iloc[0] == " ".join(shown)

    at.switch_page("views/feedback_admin.py")
    at.run()
    at.text_input(key="admin_password").input("an admin password for this test")
    at.button(key="FormSubmitter:admin_sign_in-Sign in").click()
    at.run()
    assert not at.exception and not at.error
    panel = at.dataframe[0].value.set_index("model_key")
    expected = log.per_model().set_index("model_key")
    assert panel[["lists_shown", "up", "down"]].equals(expected[["lists_shown", "up", "down"]])
    assert panel["up"].sum() == 1 and panel["down"].sum() == 1 and panel["lists_shown"].sum() == len(lists)

    at.switch_page("views/my_feedback.py")
    at.run()
    assert at.dataframe[0].value["course_id"].tolist() == [shown[1], shown[0]]
    at.button(key="fb_delete").click()
    at.run()
    assert not at.exception and len(log.votes()) == 0 and len(log.lists()) == 0
