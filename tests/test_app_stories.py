"""The story pages through AppTest: Learning path and Course insights on a small generated dataset, checked
against the library functions the CLI prints (same numbers for the same seed)."""

from __future__ import annotations

from pathlib import Path

from helpers import assert_page_ok
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
APP_COURSES = 40  # the app_env fixture's catalogue (conftest): enough courses for a learning path


_ok = assert_page_ok


def _open(path: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page(path)
    at.run()
    return at


def _fitted(dataset, key, artifacts):
    from recsys.serving.store import ModelStore

    return ModelStore(artifacts / "models").get_or_train(dataset, key, {})


def test_learning_path_page_builds_the_library_path(app_env):
    from recsys.stories.paths import learning_path

    ds = app_env["dataset"]
    at = _open("views/learning_path.py")
    _ok(at)
    assert at.title[0].value == "Learning path"
    at.selectbox(key="lp_goal").set_value("data_engineer")
    done = [str(c) for c in ds.item_ids[:2]]
    at.multiselect(key="lp_completed").set_value(done)
    at.number_input(key="lp_hours").set_value(4.0)
    at.number_input(key="lp_weeks").set_value(6)
    at.button(key="lp_build").click()
    at.run()
    _ok(at)
    shown = at.session_state["lp_result"]["path"]
    assert shown["steps"], "the page shows a non-empty path"
    assert shown["total_hours"] <= 24 and not set(done) & {s["course_id"] for s in shown["steps"]}
    assert any(c.proto.spec and "Your path over time" in c.proto.spec for c in at.get("plotly_chart")), "timeline"
    # the same path as the library (and so the CLI) gives for the same inputs and model
    model = _fitted(ds, "user_profile", app_env["artifacts"])
    again = learning_path(ds, "data_engineer", done, model, goal_weight=0.5, hours_per_week=4.0, weeks=6)
    assert [s["course_id"] for s in again.steps] == [s["course_id"] for s in shown["steps"]]


def test_learning_path_sample_learner_fills_the_completed_courses(app_env):
    from recsys.stories.personas import persona_history

    at = _open("views/learning_path.py")
    at.selectbox(key="lp_persona").set_value("ml_beginner").run()
    _ok(at)
    expected = persona_history(app_env["dataset"], "ml_beginner")
    assert expected and at.multiselect(key="lp_completed").value == expected


def test_learning_path_page_free_text_and_bad_text(app_env):
    at = _open("views/learning_path.py")
    at.segmented_control(key="lp_goal_kind").set_value("text")
    at.run()
    at.selectbox(key="lp_model").set_value("none")
    at.text_input(key="lp_goal_text").input("zzzqqq xyzzy")
    at.run()
    at.button(key="lp_build").click()
    at.run()
    assert not at.exception
    assert at.error and "no word of the goal" in at.error[0].value, "unknown words give one clear message"
    words = app_env["dataset"].courses["TITLE"].iloc[0]
    at.text_input(key="lp_goal_text").input(words)
    at.run()
    at.button(key="lp_build").click()
    at.run()
    _ok(at)
    path = at.session_state["lp_result"]["path"]
    assert path["goal"]["kind"] == "text" and path["steps"]


def test_course_insights_page_matches_the_library(app_env):
    from recsys.stories.insights import ExposureStudy

    ds = app_env["dataset"]
    at = _open("views/course_insights.py")
    _ok(at)
    at.multiselect(key="ci_models").set_value(["popularity", "user_profile"])
    at.number_input(key="ci_learners").set_value(300)
    at.number_input(key="ci_seed").set_value(3)
    at.button(key="ci_run").click()
    at.run()
    _ok(at)
    course = str(ds.item_ids[4])
    at.selectbox(key="ci_course").set_value(course)
    at.run()
    _ok(at)
    report = at.session_state["ci_report"]
    assert report["course_id"] == course
    models = [_fitted(ds, k, app_env["artifacts"]) for k in ("popularity", "user_profile")]
    expected = ExposureStudy(ds, models, 300, 3, 10).course_report(course)
    for key in ("popularity", "user_profile"):
        assert report["models"][key]["shown"] == expected["models"][key]["shown"]
        assert report["models"][key]["rank"] == expected["models"][key]["rank"]
    charts = " ".join(c.proto.spec for c in at.get("plotly_chart"))
    assert "Catalogue exposure" in charts and "Rank of the course" in charts


def test_course_insights_new_course_reacts_to_metadata(app_env):
    ds = app_env["dataset"]
    at = _open("views/course_insights.py")
    at.multiselect(key="ci_models").set_value(["popularity", "user_profile"])
    at.number_input(key="ci_learners").set_value(300)
    at.button(key="ci_run").click()
    at.run()
    # a bad genre set is impossible in the form; an empty course is one clear message
    at.button(key="FormSubmitter:ci_new_form-Place the course").click()
    at.run()
    assert at.error and "title or a description" in at.error[0].value
    genre_counts = ds.courses[ds.genres].sum().sort_values(ascending=False)
    common, rare = genre_counts.index[0], genre_counts.index[-1]
    at.text_input(key="ci_new_title").input("A new course")
    at.multiselect(key="ci_new_genres").set_value([common])
    at.radio(key="ci_new_enrolments").set_value("p90")
    at.button(key="FormSubmitter:ci_new_form-Place the course").click()
    at.run()
    _ok(at)
    first = at.session_state["ci_new_report"]
    assert first["models"]["popularity"]["placeable"] is False
    assert "cannot place a course without enrolments" in first["models"]["popularity"]["note"]
    assert first["models"]["user_profile"]["placeable"] is True
    at.multiselect(key="ci_new_genres").set_value([rare])
    at.button(key="FormSubmitter:ci_new_form-Place the course").click()
    at.run()
    _ok(at)
    second = at.session_state["ci_new_report"]
    assert at.session_state["ci_new_previous"] == first
    a, b = first["models"]["user_profile"], second["models"]["user_profile"]
    assert (a["shown"], a["rank"]["median"]) != (b["shown"], b["rank"]["median"]), "new genres, new audience"
