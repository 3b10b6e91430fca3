"""Course insights: exposure equals what `recommend_user` lists, catalogue exposure and segments add up, a new
course is placed through its content without retraining (a clone of an existing course scores as that course),
models without content say they cannot place it, and the CLI prints the library's numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import course_description

from recsys.models import make_model
from recsys.stories.insights import ExposureStudy, assumed_enrolments, check_new_course, course_report, sample_learners

CONTENT = ("user_profile", "course_similarity", "clustering", "clustering_pca")
FAST = {"clustering": {"n_clusters": 5}, "clustering_pca": {"n_clusters": 5}}


@pytest.fixture(scope="module")
def models(small_dataset):
    keys = ("popularity", "knn") + CONTENT
    return {k: make_model(k, seed=0, **FAST.get(k, {})).fit(small_dataset) for k in keys}


@pytest.fixture(scope="module")
def study(small_dataset, models):
    return ExposureStudy(small_dataset, list(models.values()), n_learners=300, seed=4, k=10)


def test_sample_is_seeded(small_dataset):
    a, b = sample_learners(small_dataset, 200, 1), sample_learners(small_dataset, 200, 1)
    assert np.array_equal(a, b) and len(np.unique(a)) == 200
    assert not np.array_equal(a, sample_learners(small_dataset, 200, 2))
    assert len(sample_learners(small_dataset, 10**6, 0)) == small_dataset.n_users


def test_exposure_matches_recommend_user(small_dataset, study):
    ds = small_dataset
    for key in ("popularity", "user_profile", "knn"):
        e = study.exposures[key]
        for row in (0, 17, 150):
            uid = ds.user_ids[study.positions[row]]
            listed = e.model.recommend_user(uid, k=10)["COURSE_ID"].astype(str).tolist()
            top = ds.item_ids.astype(str)[np.flatnonzero(e.in_top[row])]
            assert set(top) == set(listed)
            assert [ds.item_ids[np.flatnonzero(e.ranks[row] == r)[0]] for r in range(1, len(listed) + 1)] == listed


def test_course_report_adds_up(small_dataset, study):
    ds = small_dataset
    counts = np.bincount(ds.matrix.indices, minlength=ds.n_items)
    course = str(ds.item_ids[int(np.argsort(-counts)[5])])
    report = study.course_report(course)
    taken = np.asarray(ds.matrix[study.positions][:, ds.item_index.get_loc(course)].todense()).ravel() > 0
    for key, m in report["models"].items():
        assert m["learners"] == 300 and m["already_taken"] == int(taken.sum())
        shown = study.exposures[key].in_top[:, ds.item_index.get_loc(course)]
        assert m["shown"] == int(shown.sum()) and not (shown & taken).any(), "never shown to who took it"
        assert m["exposure"] == pytest.approx(shown.mean())
        for by in ("activity", "main_genre"):
            assert sum(s["shown"] for s in m["segments"][by]) == m["shown"]
            assert sum(s["learners"] for s in m["segments"][by]) == 300
        assert sum(b["learners"] for b in m["rank"]["bins"]) == m["rank"]["ranked_learners"]
        assert sum(b["learners"] for b in m["rank"]["bins"][:4]) == m["shown"], "ranks 1-10 are the shown ones"
    assert (
        report["models"]["popularity"]["exposure"] != report["models"]["user_profile"]["exposure"]
        or report["models"]["knn"]["exposure"] != report["models"]["user_profile"]["exposure"]
    )
    with pytest.raises(ValueError, match="unknown course id"):
        study.course_report("NOPE")


def test_catalogue_exposure(study):
    for key, e in study.exposures.items():
        curve = study.catalogue_exposure(key)
        assert curve["share"].is_monotonic_decreasing
        assert curve["share"].sum() == pytest.approx(e.in_top.sum(axis=1).mean()), "shares add up to list length"
    summary = {s["model"]: s for s in study.catalogue_summary()}
    assert summary["popularity"]["courses_shown"] < summary["knn"]["courses_shown"], (
        "popularity shows fewer distinct courses than a personal model"
    )
    assert 0 <= summary["popularity"]["gini"] <= 1 and summary["popularity"]["gini"] > summary["knn"]["gini"]


@pytest.mark.parametrize("key", ["user_profile", "course_similarity"])
def test_new_course_clone_scores_as_the_course(small_dataset, models, key):
    """Placed through its content with the same enrolments, a copy of course j scores as j does (for learners
    who did not take j; j's own similarity to itself is excluded in the catalogue)."""
    ds, model = small_dataset, models[key]
    histories = ds.matrix[:400]
    for j in (3, 21):
        new = model.score_new_course(course_description(ds, j), histories, enrolments=model.enrolments_[j])
        old = model.score_histories(histories)[:, j]
        not_taken = np.asarray(histories[:, j].todense()).ravel() == 0
        np.testing.assert_allclose(new[not_taken], old[not_taken], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("key", CONTENT)
def test_new_course_follows_its_content(small_dataset, models, key):
    """Learners whose courses share the new course's content -- its genre (genre models) or the courses whose
    titles it copies (text model) -- get a higher score than learners without any of it."""
    ds, model = small_dataset, models[key]
    genre = ds.genres[int(np.argmax(ds.courses[ds.genres].sum().to_numpy()))]
    rows = ds.matrix[:600]
    sources = np.flatnonzero(ds.courses[genre].to_numpy() > 0)[:3]
    course = {
        "title": " ".join(ds.courses["TITLE"].iloc[sources]),
        "genres": [genre],
        "level": "Beginner",
        "description": "",
    }
    if key == "course_similarity":
        related = np.asarray(rows[:, sources].sum(axis=1)).ravel() > 0
    else:
        related = np.asarray(rows @ ds.courses[genre].to_numpy(np.float64)).ravel() > 0
    scores = model.score_new_course(course, rows, enrolments=assumed_enrolments(ds, "median"))
    assert np.isfinite(scores).any() and related.any() and (~related).any()
    assert scores[related].mean() > scores[~related].mean()
    with pytest.raises(ValueError, match="unknown genre"):
        model.score_new_course({**course, "genres": ["Astrology"]}, rows)


def test_new_course_report(small_dataset, study):
    ds = small_dataset
    counts = ds.courses[ds.genres].sum().sort_values(ascending=False)
    course = {"title": "Practical data work", "description": "", "genres": [counts.index[0]], "level": "Beginner"}
    report = study.new_course_report(course, assumed_enrolments(ds, "p90"))
    for key in ("popularity", "knn"):
        assert report["models"][key]["placeable"] is False
        assert "cannot place a course without enrolments" in report["models"][key]["note"]
    for key in CONTENT:
        m = report["models"][key]
        assert m["placeable"] and sum(s["shown"] for s in m["segments"]["main_genre"]) == m["shown"]
    other = study.new_course_report({**course, "genres": [counts.index[-1]]}, assumed_enrolments(ds, "p90"))
    assert any(other["models"][k]["rank"]["median"] != report["models"][k]["rank"]["median"] for k in CONTENT), (
        "editing the genres changes where the course lands"
    )
    launch = study.new_course_report(course, 0)
    for key in ("user_profile", "course_similarity"):
        assert launch["models"][key]["rank"]["median"] >= report["models"][key]["rank"]["median"], (
            "no enrolments yet ranks the course lower than a well-attended one"
        )


def test_check_new_course_messages(small_dataset):
    with pytest.raises(ValueError, match="title or a description"):
        check_new_course({"genres": ["Python"]}, small_dataset)
    with pytest.raises(ValueError, match="unknown level"):
        check_new_course({"title": "x", "level": "Expert"}, small_dataset)
    with pytest.raises(ValueError, match="hours must be"):
        check_new_course({"title": "x", "hours": "-3"}, small_dataset)
    with pytest.raises(ValueError, match="enrolments"):
        assumed_enrolments(small_dataset, "lots")


def test_cli_prints_the_library_numbers(small_data_dir, small_dataset, tmp_path, capsys):
    from recsys import cli
    from recsys.serving.store import ModelStore

    ds = small_dataset
    course = str(ds.item_ids[9])
    base = [
        "--data",
        str(small_data_dir),
        "--models",
        "popularity,user_profile",
        "--learners",
        "250",
        "--seed",
        "7",
        "--models-dir",
        str(tmp_path / "models"),
    ]
    assert cli.main(["course-report", "--course", course, *base]) == 0
    printed = json.loads(capsys.readouterr().out)
    store = ModelStore(tmp_path / "models")
    fitted = [store.get_or_train(ds, k, {}) for k in ("popularity", "user_profile")]
    expected = course_report(ds, fitted, course, 250, 7, 10)
    assert printed == json.loads(json.dumps(expected))
    assert (
        cli.main(
            [
                "new-course",
                "--title",
                "Python for data",
                "--genres",
                "Python",
                "--level",
                "Beginner",
                "--enrolments",
                "median",
                *base,
            ]
        )
        == 0
    )
    placed = json.loads(capsys.readouterr().out)
    assert placed["models"]["popularity"]["placeable"] is False and placed["models"]["user_profile"]["placeable"]
    again = ExposureStudy(ds, fitted, 250, 7, 10).new_course_report(
        {"title": "Python for data", "genres": ["Python"], "level": "Beginner"}, assumed_enrolments(ds, "median")
    )
    assert placed["models"]["user_profile"]["rank"] == json.loads(json.dumps(again["models"]["user_profile"]["rank"]))
    assert cli.main(["new-course", "--title", "x", "--genres", "Astrology", *base]) == 2
    assert "unknown genre" in capsys.readouterr().err


def test_new_course_on_the_real_catalogue(shared_catalogue):
    """Real titles/descriptions (no metadata): a course described like the real deep-learning courses reaches
    the learners who took them first under the text model."""
    import pandas as pd

    from recsys.data import Dataset

    genre = pd.read_csv(shared_catalogue / "course_genre.csv", encoding="utf-8-sig")
    text = pd.read_csv(shared_catalogue / "course_processed.csv")
    courses = genre.merge(text[["COURSE_ID", "DESCRIPTION"]], on="COURSE_ID", how="left")
    genres = [c for c in genre.columns if c not in ("COURSE_ID", "TITLE")]
    deep = courses.index[courses["TITLE"].str.contains("deep learning", case=False)].tolist()[:2]
    web = courses.index[courses["TITLE"].str.contains("web|html|javascript", case=False)].tolist()[:2]
    assert deep and web
    ids = courses["COURSE_ID"].tolist()
    ratings = pd.DataFrame(
        [(u, ids[c], 3.0) for u in range(30) for c in (deep if u % 2 else web)], columns=["user", "item", "rating"]
    )
    ds = Dataset(ratings, courses, genres, (2.0, 3.0))
    model = make_model("course_similarity", seed=0, min_df=1, auto_weight=False, popularity_weight=0.0).fit(ds)
    study = ExposureStudy(ds, [model, make_model("popularity").fit(ds)], n_learners=30, seed=0, k=10)
    report = study.new_course_report(
        {
            "title": "deep learning with neural networks",
            "description": "train deep neural networks with gpu",
            "genres": ["MachineLearning"],
        }
    )
    m = report["models"]["course_similarity"]
    assert m["placeable"] and report["models"]["popularity"]["placeable"] is False
    scores = model.score_new_course(
        {"title": "deep learning with neural networks", "genres": []}, ds.matrix[study.positions]
    )
    took_deep = np.array([ds.user_ids[p] % 2 == 1 for p in study.positions])
    assert scores[took_deep].min() > scores[~took_deep].max()
