"""One contract, every registered model: what the UI, CLI and evaluation rely on, checked for the whole zoo.

Family-specific behaviour (Surprise parity, learning curves, thresholds...) lives in the per-family test files;
this file guarantees that a model added to the registry cannot skip the shared rules.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import FAST_PARAMS, learner_history

from recsys.models import MODEL_KEYS, ArtifactError, load_model, make_model, save_model

# Few epochs / small ensembles keep the TensorFlow-backed models fast; everything else uses its defaults.


def test_new_learner_recommendations_follow_the_contract(fitted, tiny_dataset):
    key, model = fitted
    history = learner_history(tiny_dataset)
    recs = model.recommend(history, k=7)
    assert list(recs.columns) == ["COURSE_ID", "SCORE", "REASON"], key
    assert 0 < len(recs) <= 7
    assert not set(history) & set(recs.COURSE_ID)
    assert set(recs.COURSE_ID) <= set(tiny_dataset.item_ids)
    assert recs.SCORE.is_monotonic_decreasing and np.isfinite(recs.SCORE).all()
    assert all(isinstance(r, str) and r.strip() for r in recs.REASON)
    # A mapping with ratings is accepted too, and the batched path agrees with the single-learner path.
    rated = model.recommend({c: tiny_dataset.rating_scale[1] for c in history}, k=7)
    assert rated.COURSE_ID.tolist() == recs.COURSE_ID.tolist()
    batch = model.score_histories(model.history_row(history))
    assert batch.shape == (1, tiny_dataset.n_items)


def test_filters_and_unknown_ids(fitted, tiny_dataset):
    key, model = fitted
    courses = tiny_dataset.courses.set_index("COURSE_ID")
    genre = tiny_dataset.genres[int(np.argmax(tiny_dataset.genre_matrix.sum(axis=0)))]
    recs = model.recommend(learner_history(tiny_dataset, 1), k=30, filters={"genres": [genre], "levels": ["Beginner"]})
    assert len(recs) > 0, key
    assert (courses.loc[recs.COURSE_ID, genre] == 1).all()
    assert (courses.loc[recs.COURSE_ID, "LEVEL"] == "Beginner").all()
    with pytest.raises(ValueError, match="NOT-A-COURSE"):
        model.recommend(["NOT-A-COURSE"])


def test_save_load_round_trip_and_dataset_guard(fitted, tiny_dataset, small_dataset, tmp_path):
    key, model = fitted
    history = learner_history(tiny_dataset)
    path = save_model(model, tmp_path / key)
    loaded = load_model(path, dataset=tiny_dataset)
    assert loaded.recommend(history, k=10).equals(model.recommend(history, k=10)), key
    if model.predicts_ratings:
        users, items = tiny_dataset.ratings.user[:20], tiny_dataset.ratings.item[:20]
        np.testing.assert_allclose(loaded.predict(users, items), model.predict(users, items), rtol=0, atol=1e-9)
    with pytest.raises(ArtifactError, match="retrain"):
        load_model(path, dataset=small_dataset)


def test_rating_prediction_flag_is_honest(fitted, tiny_dataset):
    key, model = fitted
    users, items = tiny_dataset.ratings.user[:50], tiny_dataset.ratings.item[:50]
    if model.predicts_ratings:
        predicted = model.predict(users, items)
        lo, hi = tiny_dataset.rating_scale
        assert predicted.shape == (50,) and np.all((predicted >= lo - 1e-9) & (predicted <= hi + 1e-9)), key
    else:
        with pytest.raises(TypeError, match="does not predict ratings"):
            model.predict(users, items)


@pytest.mark.parametrize("key", MODEL_KEYS)
def test_same_seed_same_recommendations(key, tiny_dataset):
    history = learner_history(tiny_dataset)
    first = make_model(key, **FAST_PARAMS.get(key, {})).fit(tiny_dataset).recommend(history, k=10)
    second = make_model(key, **FAST_PARAMS.get(key, {})).fit(tiny_dataset).recommend(history, k=10)
    assert first.COURSE_ID.tolist() == second.COURSE_ID.tolist(), key
    np.testing.assert_allclose(first.SCORE, second.SCORE, rtol=1e-6, atol=1e-9)
