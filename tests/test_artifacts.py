"""Model store (memory + disk, retrain on change or corruption), personas, and the UI's pure helpers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recsys.serving.store import ModelStore, canonical_params
from recsys.stories.personas import PERSONAS, persona_history
from recsys.ui import catalogue, charts, results
from recsys.ui.learner import LearnerState


def _files(folder):
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_store_trains_once_then_serves_from_memory_and_disk(tiny_dataset, tmp_path):
    store = ModelStore(tmp_path)
    calls = []
    model, source = store.fetch(tiny_dataset, "popularity", {}, progress=lambda f, m: calls.append(f))
    assert source == "trained" and calls and calls[-1] == 1.0
    path = store.path_for(tiny_dataset, "popularity", {})
    assert (path / "manifest.json").is_file()
    assert (
        store.fetch(tiny_dataset, "popularity")[0] is model and store.fetch(tiny_dataset, "popularity")[1] == "memory"
    )

    fresh = ModelStore(tmp_path)  # a new process: nothing in memory, the artifact is on disk
    loaded, source = fresh.fetch(tiny_dataset, "popularity", {"weight_completions": False})
    assert source == "disk", "explicit defaults name the same model as no parameters"
    assert np.array_equal(
        loaded.score_histories(tiny_dataset.matrix[:5]), model.score_histories(tiny_dataset.matrix[:5])
    )


def test_store_retrains_when_parameters_or_data_change(tiny_dataset, small_dataset, tmp_path):
    store = ModelStore(tmp_path)
    a = store.get_or_train(tiny_dataset, "popularity", {"weight_completions": False})
    b, source = store.fetch(tiny_dataset, "popularity", {"weight_completions": True})
    assert source == "trained" and b is not a and b.weight_completions is True
    c, source = store.fetch(small_dataset, "popularity", {"weight_completions": False})
    assert source == "trained" and c.fingerprint_ == small_dataset.fingerprint
    assert store.path_for(tiny_dataset, "popularity") != store.path_for(small_dataset, "popularity")


def test_corrupt_artifact_is_retrained_not_a_crash(tiny_dataset, tmp_path):
    ModelStore(tmp_path).get_or_train(tiny_dataset, "popularity")
    path = ModelStore(tmp_path).path_for(tiny_dataset, "popularity")
    state = path / "state.npz"
    state.write_bytes(state.read_bytes()[: len(state.read_bytes()) // 2])  # truncated write
    model, source = ModelStore(tmp_path).fetch(tiny_dataset, "popularity")
    assert source == "trained" and model.fingerprint_ == tiny_dataset.fingerprint
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["fingerprint"] == tiny_dataset.fingerprint
    assert ModelStore(tmp_path).fetch(tiny_dataset, "popularity")[1] == "disk", "the retrained model was saved"


def test_unwritable_store_still_returns_the_model(tiny_dataset, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    model, source = ModelStore(blocker / "models").fetch(tiny_dataset, "popularity")
    assert source == "trained" and model.recommend([], k=3).shape[0] == 3


def test_bad_parameters_raise_clear_errors(tiny_dataset, tmp_path):
    with pytest.raises(ValueError, match="no parameter 'nope'"):
        ModelStore(tmp_path).get_or_train(tiny_dataset, "popularity", {"nope": 1})
    assert not _files(tmp_path)
    assert canonical_params("popularity") == {"weight_completions": False}


def test_memory_is_bounded(tiny_dataset, tmp_path):
    store = ModelStore(tmp_path, memory_items=1)
    store.get_or_train(tiny_dataset, "popularity", {"weight_completions": False})
    store.get_or_train(tiny_dataset, "popularity", {"weight_completions": True})
    assert store.fetch(tiny_dataset, "popularity", {"weight_completions": False})[1] == "disk"


@pytest.mark.parametrize("persona", [p.key for p in PERSONAS])
def test_personas_follow_their_rules_on_any_catalogue(small_dataset, persona):
    p = next(x for x in PERSONAS if x.key == persona)
    ids = persona_history(small_dataset, p)
    assert ids and len(ids) == len(set(ids)) <= sum(c.count for c in p.clauses)
    courses = small_dataset.courses.set_index("COURSE_ID").loc[ids]
    wanted = sorted({g for c in p.clauses for g in c.genres})
    assert (courses[wanted].sum(axis=1) > 0).all(), "every picked course has one of the persona's genres"


def test_persona_without_levels_and_unknown_persona(small_dataset):
    no_levels = small_dataset.with_ratings(small_dataset.ratings)
    no_levels.courses = no_levels.courses.drop(columns=["LEVEL"])
    assert persona_history(no_levels, "ml_beginner")
    with pytest.raises(ValueError, match="unknown persona"):
        persona_history(small_dataset, "astronaut")


def test_learner_state_reconciles_filtered_selections():
    s = LearnerState("fp")
    assert s.reconcile(["A", "B", "C"], ["A", "B"], 3.0)
    assert not s.reconcile(["C", "D"], [], 3.0), "hidden rows keep their state; nothing visible changed"
    s.reconcile(["B", "D"], ["D"], 3.0)
    assert s.history == {"A": 3.0, "D": 3.0}
    s.vote("E", "down")
    s.vote("F", "up")
    # A disliked course is never an enrolment; a liked one counts like a completion.
    assert s.combined((2.0, 3.0)) == {"A": 3.0, "D": 3.0, "F": 3.0}
    assert s.disliked() == ["E"] and s.liked() == ["F"]
    s.undo("E")
    assert s.disliked() == []
    with pytest.raises(ValueError):
        s.vote("A", "meh")


def test_catalogue_tables(small_dataset):
    table = catalogue.course_table(small_dataset)
    assert len(table) == small_dataset.n_items and table["ENROLMENTS"].sum() == len(small_dataset.ratings)
    word = table["TITLE"].iloc[0].split()[0]
    hits = catalogue.filter_courses(table, small_dataset, word.upper())
    assert len(hits) >= 1 and hits["TITLE"].str.lower().str.contains(word.lower()).all()
    genre = small_dataset.genres[0]
    only = catalogue.filter_courses(table, small_dataset, genres=[genre], levels=["Beginner"])
    assert (only["GENRES"].str.contains(genre)).all() and (only["LEVEL"] == "Beginner").all()


def test_jaccard_and_leaderboard_formatting():
    m = charts.jaccard_matrix({"a": ["x", "y"], "b": ["y", "z"], "c": []})
    assert m.loc["a", "b"] == pytest.approx(1 / 3) and m.loc["a", "a"] == 1 and m.loc["c", "a"] == 0
    import pandas as pd

    table = pd.DataFrame(
        {
            "label": ["P", "Q"],
            "params": ["", "k=3"],
            "ndcg@10": [0.2, 0.3],
            "ndcg@10_lo": [0.1, 0.25],
            "ndcg@10_hi": [0.3, 0.35],
            "rmse": [np.nan, 0.5],
            "fit_seconds": [1.0, 2.0],
            "recommend_ms": [0.1, 0.2],
            "n_learners": [10, 10],
        }
    )
    board = results.leaderboard_frame(table, ["ndcg@10", "rmse"], "ndcg@10")
    assert board["Model"].tolist() == ["Q", "P"]
    assert board["ndcg@10"].tolist() == ["0.300 [0.250, 0.350]", "0.200 [0.100, 0.300]"]
    assert board["rmse"].tolist() == ["0.500", "n/a"] and board["Parameters"].tolist() == ["k=3", "defaults"]
