"""Learning paths: level progression, time budget, completed courses, determinism, on-topic built-in goals,
free-text goals, missing metadata, the real catalogue, and the `path` CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recsys.data import LEVELS, Dataset, load_dataset
from recsys.models import make_model
from recsys.stories.paths import career_goals, get_goal, learning_path

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


# ----- independent checks (re-derived from the catalogue, not from recsys.stories.paths) ---------------------
def _levels(ds) -> dict[str, int]:
    return {str(c): LEVELS.index(lv) for c, lv in zip(ds.item_ids, ds.courses["LEVEL"]) if lv in LEVELS}


def _genres(ds) -> dict[str, set[str]]:
    flags = ds.courses[ds.genres].to_numpy() > 0
    return {str(c): {g for g, f in zip(ds.genres, row) if f} for c, row in zip(ds.item_ids, flags)}


def assert_progression(ds, path, completed) -> None:
    """Before any course of level L, every genre of it has a course of the highest lower level that exists in
    that genre (taken before or earlier in the path); and within a genre no step precedes a lower-level step."""
    levels, genres = _levels(ds), _genres(ds)
    present = {(g, lv) for c, lv in levels.items() for g in genres[c]}
    reached: dict[str, int] = {}
    for c in completed:
        if c in levels:
            for g in genres[c]:
                reached[g] = max(reached.get(g, -1), levels[c])
    steps = [s["course_id"] for s in path.steps]
    for n, c in enumerate(steps):
        if c in levels:
            for g in genres[c]:
                need = max((lv for lv in range(levels[c]) if (g, lv) in present), default=-1)
                assert reached.get(g, -1) >= need, f"{c} ({LEVELS[levels[c]]} {g}) before its prerequisite level"
            for g in genres[c]:
                reached[g] = max(reached.get(g, -1), levels[c])
        for later in steps[n + 1 :]:
            if c in levels and later in levels and genres[c] & genres[later]:
                assert levels[later] >= levels[c], f"{later} (lower level) comes after {c} in a shared genre"


def assert_budget(path, hours_per_week, weeks, hours) -> None:
    total = 0.0
    for s in path.steps:
        assert s["hours"] == hours[s["course_id"]]
        total += s["hours"]
        assert s["cumulative_hours"] == pytest.approx(total)
        assert s["finish_week"] == int(np.ceil(total / hours_per_week - 1e-9))
        assert 1 <= s["finish_week"] <= weeks
    assert total <= hours_per_week * weeks + 1e-9


@pytest.fixture(scope="module")
def builtin():
    """The built-in dataset (`make data`); generated into a temporary folder the same way when absent."""
    if (ROOT / "data" / "builtin" / "ratings.csv").is_file():
        return load_dataset(ROOT / "data" / "builtin")
    pytest.skip("data/builtin is missing: run `make data` (the built-in dataset is generated, not stored)")


@pytest.fixture(scope="module")
def fitted(small_dataset):
    return {k: make_model(k, seed=0).fit(small_dataset) for k in ("popularity", "user_profile")}


def _learners(ds) -> list[list[str]]:
    """A new learner, two persona-like histories and three training learners."""
    ids = ds.item_ids.astype(str)
    lv = ds.courses["LEVEL"].to_numpy()
    beginners = [c for c, level in zip(ids, lv) if level == "Beginner"][:3]
    advanced = [c for c, level in zip(ids, lv) if level == "Advanced"][:2]
    users = [list(ds.user_history(u)) for u in ds.user_ids[[0, 7, 42]]]
    return [[], beginners, advanced, *users]


@pytest.mark.parametrize("goal", list(career_goals()) + ["deep learning with python"])
@pytest.mark.parametrize("model_key", [None, "user_profile"])
def test_progression_budget_and_completed(small_dataset, fitted, goal, model_key):
    ds = small_dataset
    hours = dict(zip(ds.item_ids.astype(str), ds.courses["DURATION_HOURS"].astype(float)))
    model = fitted[model_key] if model_key else None
    for n, completed in enumerate(_learners(ds)):
        for hpw, weeks in ((3.0, 4), (6.0, 10)):
            path = learning_path(ds, goal, completed, model, goal_weight=0.3 + 0.1 * n, hours_per_week=hpw, weeks=weeks)
            assert_progression(ds, path, completed)
            assert_budget(path, hpw, weeks, hours)
            assert not set(completed) & set(path.course_ids), "a completed course is never in the path"
            assert len(set(path.course_ids)) == len(path.course_ids)


def test_deterministic(small_dataset, fitted):
    args = dict(goal_weight=0.4, hours_per_week=5, weeks=8)
    completed = _learners(small_dataset)[3]
    a = learning_path(small_dataset, "data_scientist", completed, fitted["user_profile"], **args).to_dict()
    b = learning_path(small_dataset, "data_scientist", completed, fitted["user_profile"], **args).to_dict()
    assert a == b
    assert json.loads(json.dumps(a)) == a, "the path is plain JSON"


def test_goal_weight_one_is_goal_only(small_dataset, fitted):
    with_model = learning_path(small_dataset, "cloud_engineer", [], fitted["popularity"], goal_weight=1.0)
    goal_only = learning_path(small_dataset, "cloud_engineer", [], None)
    assert with_model.course_ids == goal_only.course_ids
    model_only = learning_path(small_dataset, "cloud_engineer", [], fitted["popularity"], goal_weight=0.0)
    assert model_only.course_ids != goal_only.course_ids, "the model's score changes the ranking"
    step = with_model.steps[0]
    assert "goal match" in step["why"] and "Popularity" in step["why"], "the explanation shows both parts"


def test_prerequisite_is_explained(small_dataset):
    """An Advanced-heavy goal for a new learner pulls in the lower level first and says what it unlocks."""
    ds = small_dataset
    path = learning_path(ds, "machine learning", [], None, levels=None, max_courses=30, min_goal_match=0.0)
    pre = [s for s in path.steps if s["role"] == "prerequisite"]
    assert pre, "some course needed a lower-level course first"
    for s in pre:
        assert s["unlocks"] in path.course_ids and "unlocks" in s["why"]
        assert path.course_ids.index(s["course_id"]) < path.course_ids.index(s["unlocks"])


@pytest.mark.parametrize("goal", list(career_goals()))
def test_builtin_goals_on_builtin_data_are_on_topic(builtin, goal):
    wanted = set(get_goal(goal).genres)
    genres = _genres(builtin)
    for completed in ([], list(builtin.user_history(builtin.user_ids[11]))):
        path = learning_path(builtin, goal, completed)
        assert path.steps, f"{goal}: empty path"
        on_topic = np.mean([bool(genres[c] & wanted) for c in path.course_ids])
        assert on_topic >= 0.7, f"{goal}: only {on_topic:.0%} of steps in the goal's genres"
        assert path.on_topic_share() == pytest.approx(on_topic)
        budgeted = learning_path(builtin, goal, completed, hours_per_week=5, weeks=12)
        assert budgeted.steps and np.mean([bool(genres[c] & wanted) for c in budgeted.course_ids]) >= 0.7


def test_free_text_goal_matches_words(small_dataset):
    ds = small_dataset
    title = str(ds.courses["TITLE"].iloc[3])
    path = learning_path(ds, title, [], None, max_courses=3)
    assert path.goal["kind"] == "text" and path.steps
    assert path.steps[0]["goal_match"] == pytest.approx(max(s["goal_match"] for s in path.steps))
    assert "words:" in path.steps[0]["why"]
    with pytest.raises(ValueError, match="no word of the goal"):
        learning_path(ds, "qqqzz xxyyv", [])


def test_missing_metadata_says_what_is_unavailable(small_dataset):
    ds = small_dataset
    bare = Dataset(ds.ratings, ds.courses.drop(columns=["LEVEL", "DURATION_HOURS"]), ds.genres, ds.rating_scale)
    path = learning_path(bare, "data_scientist", [], None, hours_per_week=5, weeks=4)
    text = " ".join(path.unavailable)
    assert "LEVEL" in text and "DURATION_HOURS" in text
    assert path.steps and len(path.steps) <= 10 and path.budget_hours is None
    assert all(s["level"] is None and s["hours"] is None and s["finish_week"] is None for s in path.steps)


def test_bad_input_is_one_clear_error(small_dataset):
    with pytest.raises(ValueError, match="unknown course id"):
        learning_path(small_dataset, "data_scientist", ["NOPE"])
    with pytest.raises(ValueError, match="weeks needs hours_per_week"):
        learning_path(small_dataset, "data_scientist", [], weeks=3)
    with pytest.raises(ValueError, match="goal_weight"):
        learning_path(small_dataset, "data_scientist", [], goal_weight=2)
    with pytest.raises(ValueError, match="unknown career goal"):
        get_goal("astronaut")
    tiny = learning_path(small_dataset, "data_scientist", [], None, hours_per_week=0.1, weeks=1)
    assert tiny.steps == [] and tiny.total_hours == 0.0


def test_real_catalogue(shared_catalogue):
    """The real IBM catalogue (no metadata, no real ratings): goals still give on-topic paths."""
    genre = pd.read_csv(shared_catalogue / "course_genre.csv", encoding="utf-8-sig")
    text = pd.read_csv(shared_catalogue / "course_processed.csv")
    courses = genre.merge(text[["COURSE_ID", "DESCRIPTION"]], on="COURSE_ID", how="left")
    genres = [c for c in genre.columns if c not in ("COURSE_ID", "TITLE")]
    ratings = pd.DataFrame({"user": [1, 1, 2], "item": courses["COURSE_ID"].iloc[:3].tolist(), "rating": 3.0})
    ds = Dataset(ratings, courses, genres, (2.0, 3.0))
    for goal in career_goals():
        path = learning_path(ds, goal, [])
        wanted = set(get_goal(goal).genres)
        flags = _genres(ds)
        assert path.steps and np.mean([bool(flags[c] & wanted) for c in path.course_ids]) >= 0.7
        assert any("LEVEL" in u for u in path.unavailable)
    path = learning_path(ds, "deep learning with gpu", [])
    assert path.steps and "learning" in path.steps[0]["title"].lower() + path.steps[0]["why"]


def test_path_cli_prints_the_library_path(small_data_dir, small_dataset, tmp_path, capsys):
    from recsys import cli
    from recsys.serving.store import ModelStore

    completed = _learners(small_dataset)[1]
    argv = [
        "path",
        "--data",
        str(small_data_dir),
        "--goal",
        "data_engineer",
        "--completed",
        ",".join(completed),
        "--hours-per-week",
        "4",
        "--weeks",
        "6",
        "--models-dir",
        str(tmp_path / "models"),
    ]
    assert cli.main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    model = ModelStore(tmp_path / "models").get_or_train(small_dataset, "user_profile", {})
    expected = learning_path(small_dataset, "data_engineer", completed, model, hours_per_week=4, weeks=6)
    assert printed == json.loads(json.dumps(expected.to_dict()))
    assert cli.main(["path", "--data", str(small_data_dir), "--goal", "astronaut"]) == 2
    assert "unknown career goal" in capsys.readouterr().err
    assert cli.main(["path", "--list-goals"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == set(career_goals())
