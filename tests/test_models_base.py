"""The shared model interface: hyperparameter spec, registry, serving rules and artifacts (on popularity)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from recsys.models import MODEL_KEYS, REGISTRY, ArtifactError, NotFittedError, load_model, make_model, save_model
from recsys.models.params import HyperParam


def test_every_registry_key_is_documented_in_the_readme_model_table():
    """A model added to the registry without a row in the README's model table fails here."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    documented = set(re.findall(r"^\| `([a-z0-9_]+)` \|", readme, flags=re.M))
    assert tuple(REGISTRY) == MODEL_KEYS
    missing = [key for key in MODEL_KEYS if key not in documented]
    assert not missing, f"models without a row in README's model table: {missing}"


def test_hyperparam_validation_coerces_and_rejects():
    p = HyperParam("k", "int", 10, low=1, high=50)
    assert p.validate("12") == 12
    with pytest.raises(ValueError, match="between 1 and 50"):
        p.validate(0)
    with pytest.raises(ValueError, match="integer"):
        p.validate(2.5)
    with pytest.raises(ValueError, match="integer"):
        p.validate("abc")
    c = HyperParam("sim", "choice", "cosine", choices=("cosine", "msd"))
    assert c.validate("msd") == "msd"
    with pytest.raises(ValueError, match="cosine, msd"):
        c.validate("pearson")
    b = HyperParam("flag", "bool", False)
    assert b.validate("true") is True and b.validate(False) is False
    with pytest.raises(ValueError):
        b.validate("maybe")
    with pytest.raises(ValueError, match="kind"):
        HyperParam("x", "text", "")


def test_hyperparam_grid_spans_range():
    assert HyperParam("k", "int", 10, low=1, high=9).grid(5) == [1, 3, 5, 7, 9]
    g = HyperParam("lr", "float", 0.01, low=0.001, high=0.1, log=True).grid(3)
    assert g[0] == pytest.approx(0.001) and g[-1] == pytest.approx(0.1) and g[1] == pytest.approx(0.01)


def test_make_model_validates_names_and_values():
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        make_model("nope")
    with pytest.raises(ValueError, match="has no parameter 'k'"):
        make_model("popularity", k=3)
    assert make_model("popularity", weight_completions="true").weight_completions is True


def test_every_registered_model_imports_and_declares_a_usable_spec():
    """Every registry key imports (a broken module fails here, never hides) and its spec validates."""
    for key in MODEL_KEYS:
        cls = REGISTRY[key]
        assert cls.key == key and cls.label
        assert sum(p.role == "seed" for p in cls.hyperparams) <= 1, key
        for p in cls.hyperparams:
            assert p.help, f"{key}.{p.name} has no help text"
            assert p.validate(p.default) == p.default, f"{key}.{p.name}"
            for value in p.grid():
                p.validate(value)


def test_init_defaults_must_equal_the_declared_spec():
    """Defaults are declared once: a model whose __init__ disagrees with its spec cannot even be defined."""
    from recsys.models import HyperParam, Recommender

    with pytest.raises(TypeError, match="declared defaults"):

        class Drifted(Recommender):  # noqa: F841
            key = "drifted"
            hyperparams = (HyperParam("alpha", "float", 1.0, help="a"),)

            def __init__(self, alpha=2.0):
                self.alpha = alpha


def test_make_model_routes_the_seed_to_the_models_seed_parameter():
    assert make_model("clustering", seed=7).seed == 7
    assert make_model("popularity", seed=7).get_params() == make_model("popularity").get_params()
    assert make_model("clustering", seed=None).seed == 0  # no seed given: the declared default
    assert make_model("popularity", seed=7).get_params() == make_model("popularity").get_params()


def test_popularity_ranks_by_enrolments_and_excludes_history(small_dataset):
    model = make_model("popularity").fit(small_dataset)
    counts = np.bincount(small_dataset.matrix.indices, minlength=small_dataset.n_items)
    top = small_dataset.item_ids[np.argsort(-counts, kind="stable")[:3]]
    recs = model.recommend([top[0]], k=5)
    assert top[0] not in set(recs.COURSE_ID)
    assert list(recs.COURSE_ID[:2]) == list(top[1:3])
    assert recs.SCORE.is_monotonic_decreasing and (recs.REASON.str.len() > 0).all()
    assert len(model.recommend([top[0]], k=5, exclude_seen=False)) == 5
    assert model.recommend([], k=3).COURSE_ID.tolist() == list(top)


def test_filters_restrict_genre_level_and_duration(small_dataset):
    model = make_model("popularity").fit(small_dataset)
    courses = small_dataset.courses.set_index("COURSE_ID")
    genre = small_dataset.genres[0]
    recs = model.recommend([], k=50, filters={"genres": [genre], "levels": ["Beginner"], "max_duration": 10})
    assert len(recs) > 0
    chosen = courses.loc[recs.COURSE_ID]
    assert (chosen[genre] == 1).all() and (chosen.LEVEL == "Beginner").all() and (chosen.DURATION_HOURS <= 10).all()
    with pytest.raises(ValueError, match="unknown genre"):
        model.recommend([], filters={"genres": ["Cooking"]})
    with pytest.raises(ValueError, match="unknown filter"):
        model.recommend([], filters={"colour": "red"})


def test_unknown_course_and_unfitted_and_predict_errors(small_dataset):
    with pytest.raises(NotFittedError):
        make_model("popularity").recommend(["X"])
    model = make_model("popularity").fit(small_dataset)
    with pytest.raises(ValueError, match="NOPE123"):
        model.recommend(["NOPE123"])
    with pytest.raises(TypeError, match="does not predict ratings"):
        model.predict([1], [small_dataset.item_ids[0]])
    with pytest.raises(KeyError):
        model.recommend_user("no-such-learner")


def test_recommend_user_uses_training_history(small_dataset):
    model = make_model("popularity").fit(small_dataset)
    user = small_dataset.user_ids[0]
    seen = set(small_dataset.user_history(user))
    recs = model.recommend_user(user, k=10)
    assert not seen & set(recs.COURSE_ID)
    assert recs.equals(model.recommend(small_dataset.user_history(user), k=10))


def test_save_load_round_trip_and_checksum(small_dataset, tmp_path):
    model = make_model("popularity", weight_completions=True).fit(small_dataset)
    path = save_model(model, tmp_path / "pop")
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["key"] == "popularity" and manifest["fingerprint"] == small_dataset.fingerprint
    loaded = load_model(path, dataset=small_dataset)
    history = list(small_dataset.item_ids[:2])
    assert loaded.recommend(history, k=10).equals(model.recommend(history, k=10))
    assert loaded.get_params() == model.get_params()
    # Saving again over an existing artifact replaces it atomically.
    save_model(model, path)
    assert load_model(path).recommend(history).equals(model.recommend(history))
    # Tampering is detected.
    with open(path / "model.joblib", "ab") as fh:
        fh.write(b"x")
    with pytest.raises(ArtifactError, match="checksum"):
        load_model(path)


def test_artifact_for_another_dataset_is_refused(small_dataset, tiny_dataset, tmp_path):
    path = save_model(make_model("popularity").fit(small_dataset), tmp_path / "pop")
    with pytest.raises(ArtifactError, match="retrain"):
        load_model(path, dataset=tiny_dataset)
    with pytest.raises(ArtifactError, match="not a saved model"):
        load_model(tmp_path)


def test_metadata_filters_on_a_catalogue_without_metadata_say_so(small_dataset):
    """The real IBM catalogue has no course_meta.csv: a level filter must explain, not return nothing."""
    bare = small_dataset.with_ratings(small_dataset.ratings)
    bare.courses = bare.courses.assign(LEVEL=None, DURATION_HOURS=np.nan)
    model = make_model("popularity").fit(bare)
    with pytest.raises(ValueError, match="course_meta.csv"):
        model.recommend([], filters={"levels": ["Beginner"]})
    with pytest.raises(ValueError, match="DURATION_HOURS"):
        model.recommend([], filters={"max_duration": 5})
    assert len(model.recommend([], k=5, filters={"genres": [bare.genres[0]]})) > 0


def test_nan_or_infinite_scores_fail_clearly_instead_of_an_empty_list(small_dataset):
    """-inf means "never recommend"; NaN or +inf are arithmetic faults and must not pass as a (short) list."""
    from recsys.models.baseline.popularity import PopularityRecommender

    class Broken(PopularityRecommender):
        def score_histories(self, histories):
            scores = super().score_histories(histories)
            scores[:, 3] = np.nan
            return scores

    model = Broken().fit(small_dataset)
    with pytest.raises(ValueError, match="NaN or infinite scores"):
        model.recommend([small_dataset.item_ids[0]], k=5)
