"""Neural recommender and the scikit-learn models on its embeddings (embedding_regression/_classifier).

Few epochs and small batches keep each fit to about a second on the tiny dataset; one module-scoped fit
per model is shared by the serving tests.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import ndcg_at_10_on_frame

from recsys.models import load_model, make_model, save_model
from recsys.models.baseline.popularity import PopularityRecommender
from recsys.models.neural.backend import PRIOR_EXAMPLES

ROOT = Path(__file__).resolve().parents[1]
KEYS = ("neural", "embedding_regression", "embedding_classifier")
FAST = {"epochs": 3, "embedding_size": 8}
NEURAL_FAST = {**FAST, "learning_rate": 0.05}


def params(key: str, **extra) -> dict:
    return {**(NEURAL_FAST if key == "neural" else FAST), **extra}


@pytest.fixture(scope="module")
def fitted(tiny_dataset):
    models, calls = {}, {}
    for key in KEYS:
        seen = []
        models[key] = make_model(key, **params(key)).fit(tiny_dataset, progress=lambda f, m, s=seen: s.append((f, m)))
        calls[key] = seen
    return models, calls


@pytest.fixture(scope="module")
def history(tiny_dataset) -> list[str]:
    return [str(c) for c in tiny_dataset.item_ids[[0, 3, 7]]]


@pytest.mark.parametrize("key", KEYS)
def test_declares_tensorflow_and_ratings(key):
    cls = type(make_model(key))
    assert cls.uses_tensorflow and cls.predicts_ratings
    assert cls.key == key


@pytest.mark.parametrize("key", KEYS)
def test_history_has_one_row_per_epoch_and_progress_reports_each(key, fitted):
    model, calls = fitted[0][key], fitted[1][key]
    h = model.history_
    assert list(h.columns) == ["epoch", "loss", "val_loss"]
    assert h["epoch"].tolist() == [1, 2, 3]
    assert np.isfinite(h[["loss", "val_loss"]].to_numpy()).all()
    epoch_msgs = [m for _, m in calls if m.startswith("epoch ")]
    assert [m.split(":")[0] for m in epoch_msgs] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_training_loss_goes_down(tiny_dataset):
    model = make_model("neural", **params("neural", epochs=6)).fit(tiny_dataset)
    loss = model.history_["loss"].to_numpy()
    assert loss[-1] < loss[0], loss


@pytest.mark.parametrize("key", KEYS)
def test_recommends_for_a_new_learner(key, fitted, history, tiny_dataset):
    recs = fitted[0][key].recommend(history, k=6)
    assert 0 < len(recs) <= 6
    assert not set(recs.COURSE_ID) & set(history)
    assert set(recs.COURSE_ID) <= set(tiny_dataset.item_ids)
    assert recs.SCORE.is_monotonic_decreasing and np.isfinite(recs.SCORE).all()
    assert recs.REASON.map(lambda r: isinstance(r, str) and len(r) > 0).all()


@pytest.mark.parametrize("key", KEYS)
def test_recommends_for_a_training_learner_and_an_empty_history(key, fitted, tiny_dataset):
    model = fitted[0][key]
    user = tiny_dataset.user_ids[0]
    recs = model.recommend_user(user, k=5)
    assert len(recs) == 5 and not set(recs.COURSE_ID) & set(tiny_dataset.user_history(user))
    empty = model.recommend([], k=5)
    assert len(empty) == 5 and empty.SCORE.is_monotonic_decreasing


@pytest.mark.parametrize("key", KEYS)
def test_a_training_learner_gets_the_same_list_by_id_or_by_history(key, fitted, tiny_dataset):
    model = fitted[0][key]
    user = tiny_dataset.user_ids[5]
    by_id = model.recommend_user(user, k=8)
    by_history = model.recommend(tiny_dataset.user_history(user), k=8)
    assert by_id.COURSE_ID.tolist() == by_history.COURSE_ID.tolist()
    np.testing.assert_allclose(by_id.SCORE, by_history.SCORE)


@pytest.mark.parametrize("key", KEYS)
def test_filters_restrict_the_catalogue(key, fitted, history, tiny_dataset):
    genre = tiny_dataset.genres[int(np.argmax(tiny_dataset.genre_matrix.sum(axis=0)))]
    recs = fitted[0][key].recommend(history, k=10, filters={"genres": [genre]})
    assert len(recs) > 0
    flags = tiny_dataset.courses.set_index("COURSE_ID").loc[recs.COURSE_ID, genre]
    assert (flags == 1).all()


@pytest.mark.parametrize("key", KEYS)
def test_unknown_course_id_is_a_value_error(key, fitted):
    with pytest.raises(ValueError, match="NOPE999"):
        fitted[0][key].recommend(["NOPE999"], k=5)
    with pytest.raises(ValueError, match="unknown course"):
        fitted[0][key].predict(["x"], ["NOPE999"])


@pytest.mark.parametrize("key", KEYS)
def test_predict_shape_and_range(key, fitted, tiny_dataset):
    model = fitted[0][key]
    users = np.append(tiny_dataset.user_ids[:20], "someone-new")
    items = np.resize(tiny_dataset.item_ids, len(users))
    pred = model.predict(users, items)
    lo, hi = tiny_dataset.rating_scale
    assert pred.shape == (len(users),)
    assert np.isfinite(pred).all() and (pred >= lo).all() and (pred <= hi).all()


@pytest.mark.parametrize("key", KEYS)
def test_save_load_round_trip(key, fitted, history, tiny_dataset, tmp_path):
    model = fitted[0][key]
    folder = save_model(model, tmp_path / key)
    assert list(folder.glob("*.keras")), "the Keras model is saved in its own format"
    loaded = load_model(folder, tiny_dataset)
    for kwargs in ({"k": 8}, {"k": 8, "filters": {"genres": [tiny_dataset.genres[0]]}}):
        a, b = model.recommend(history, **kwargs), loaded.recommend(history, **kwargs)
        assert a.COURSE_ID.tolist() == b.COURSE_ID.tolist()
        np.testing.assert_allclose(a.SCORE, b.SCORE, rtol=1e-12)
    users, items = tiny_dataset.user_ids[:10], tiny_dataset.item_ids[:10]
    np.testing.assert_allclose(model.predict(users, items), loaded.predict(users, items), rtol=1e-12)
    resaved = save_model(loaded, tmp_path / f"{key}-again")  # a lazily loaded Keras model can be saved again
    assert list(resaved.glob("*.keras"))


def test_numpy_scores_match_the_reloaded_keras_model(fitted, tiny_dataset, tmp_path):
    model = fitted[0]["neural"]
    loaded = load_model(save_model(model, tmp_path / "neural"), tiny_dataset)
    pos = np.arange(12)
    out = loaded.keras_model_.predict(pos.astype(np.int32), verbose=0)
    np.testing.assert_allclose(
        out["enrol"] + loaded.score_offset_, loaded.scores_from_vectors(loaded.user_embeddings_[pos]), atol=1e-4
    )
    np.testing.assert_allclose(
        np.clip(out["rating"][pos, pos], *tiny_dataset.rating_scale),
        loaded.predict(tiny_dataset.user_ids[pos], tiny_dataset.item_ids[pos]),
        atol=1e-4,
    )


def test_fold_in_solves_the_learner_objective(fitted, tiny_dataset):
    """At the fold-in vector the gradient of the learner's regularised logistic objective is ~0."""
    model = fitted[0]["neural"]
    rows = tiny_dataset.matrix[:25]
    u = model.fold_in(rows).astype(np.float64)
    V, b, q = model.item_embeddings_.astype(np.float64), model.item_bias_, model.negative_probs_
    taken = (rows != 0).toarray().astype(np.float64)
    n = taken.sum(1)
    w = taken + (1 - taken) * (n * model.negatives / (1 - taken @ q))[:, None] * q
    p = 1 / (1 + np.exp(-(u @ V.T + b)))
    lam = 2 * model.regularization * (n * (1 + model.negatives) + PRIOR_EXAMPLES)
    grad = ((p - taken) * w) @ V + lam[:, None] * u
    scale = np.abs((taken * w) @ np.abs(V)).max()
    assert np.abs(grad).max() < 1e-3 * scale


@pytest.mark.parametrize("key", ["neural", "embedding_classifier"])
def test_same_seed_same_model_other_seed_differs(key, tiny_dataset):
    rows = tiny_dataset.matrix[:40]
    a = make_model(key, **params(key, epochs=2)).fit(tiny_dataset)
    b = make_model(key, **params(key, epochs=2)).fit(tiny_dataset)
    c = make_model(key, **params(key, epochs=2, seed=1)).fit(tiny_dataset)
    np.testing.assert_allclose(a.score_histories(rows), b.score_histories(rows), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(a.history_["loss"], b.history_["loss"], rtol=1e-6)
    assert not np.allclose(a.score_histories(rows), c.score_histories(rows))


def test_all_three_beat_popularity_on_a_holdout(small_dataset):
    ratings = small_dataset.ratings
    shuffled = ratings.iloc[np.random.default_rng(0).permutation(len(ratings))]
    counts = shuffled.groupby("user")["item"].transform("size")
    test = shuffled[counts >= 2].groupby("user").head(1)
    train = small_dataset.with_ratings(ratings.drop(index=test.index))
    baseline = ndcg_at_10_on_frame(PopularityRecommender().fit(train), train, test)
    common = {"epochs": 5, "embedding_size": 16}
    results = {
        "neural": ndcg_at_10_on_frame(make_model("neural", **common, learning_rate=0.05).fit(train), train, test),
        "embedding_regression": ndcg_at_10_on_frame(
            make_model("embedding_regression", **common).fit(train), train, test
        ),
        "embedding_classifier": ndcg_at_10_on_frame(
            make_model("embedding_classifier", **common).fit(train), train, test
        ),
    }
    assert all(v > baseline for v in results.values()), (baseline, results)


def test_importing_and_serving_need_no_tensorflow(fitted, history, tmp_path):
    folder = save_model(fitted[0]["neural"], tmp_path / "neural")
    code = (
        "import sys\n"
        "import recsys.models.neural.recommender, recsys.models.neural.embedding_regression, recsys.models.neural.embedding_classifier\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'imported at module load'\n"
        "from recsys.models import load_model\n"
        f"model = load_model({str(folder)!r})\n"
        f"recs = model.recommend({history!r}, k=5)\n"
        "assert len(recs) == 5\n"
        "assert 'tensorflow' not in sys.modules, 'serving imported TensorFlow'\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
