"""The built-in dataset generator: valid IBM-format files, lab-like shape and a learnable signal."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from recsys.data import GENRES, LEVELS
from recsys.data.generator import BEHAVIOUR_FILE, generate_dataset

FILES = ("ratings.csv", "course_genre.csv", "course_processed.csv", "course_meta.csv", "courses_bows.csv")


def _read(folder):
    return {name: pd.read_csv(folder / name) for name in FILES}


@pytest.fixture(scope="module")
def default_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen_default")
    summary = generate_dataset(out, seed=0)
    return out, summary


@pytest.fixture(scope="module")
def default_tables(default_dir):
    return _read(default_dir[0])


@pytest.fixture(scope="module", params=[(300, 30, 2), (1500, 60, 1), (200, 14, 5)], ids=lambda p: f"{p[0]}x{p[1]}")
def small(request, tmp_path_factory):
    n_learners, n_courses, seed = request.param
    out = tmp_path_factory.mktemp("gen_small")
    summary = generate_dataset(out, seed=seed, n_learners=n_learners, n_courses=n_courses)
    return n_learners, n_courses, out, summary


def _matrix(tables):
    """Binary learner x course matrix (catalogue column order) and per-course level codes."""
    ratings, genre, meta = tables["ratings.csv"], tables["course_genre.csv"], tables["course_meta.csv"]
    col = pd.Index(genre["COURSE_ID"])
    users, rows = np.unique(ratings["user"].to_numpy(), return_inverse=True)
    cols = col.get_indexer(ratings["item"])
    x = sparse.csr_matrix((np.ones(len(ratings)), (rows, cols)), shape=(len(users), len(col)))
    level = meta.set_index("COURSE_ID").loc[genre["COURSE_ID"], "LEVEL"].map(LEVELS.index).to_numpy()
    return x, level, genre[list(GENRES)].to_numpy(float)


# ----- files and validity ---------------------------------------------------------------------------
def test_small_sizes_write_valid_files(small):
    n_learners, n_courses, out, summary = small
    t = _read(out)
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES + (BEHAVIOUR_FILE,))  # no temp files left
    assert list(t["ratings.csv"].columns) == ["user", "item", "rating"]
    assert list(t["course_genre.csv"].columns) == ["COURSE_ID", "TITLE", *GENRES]
    assert list(t["course_processed.csv"].columns) == ["COURSE_ID", "TITLE", "DESCRIPTION"]
    assert list(t["course_meta.csv"].columns) == ["COURSE_ID", "LEVEL", "DURATION_HOURS"]
    assert list(t["courses_bows.csv"].columns) == ["doc_index", "doc_id", "token", "bow"]

    ratings, genre = t["ratings.csv"], t["course_genre.csv"]
    assert ratings["user"].nunique() == n_learners == summary["learners"]  # every learner has a rating
    assert len(ratings) == summary["ratings"] and len(genre) == n_courses == summary["courses"]
    assert not ratings.duplicated(["user", "item"]).any()
    assert ratings["item"].isin(genre["COURSE_ID"]).all()
    assert set(ratings["rating"].unique()) <= {2.0, 3.0}
    flags = genre[list(GENRES)].to_numpy()
    assert set(np.unique(flags)) <= {0, 1}
    assert (flags.sum(axis=0) >= 1).all(), "every genre is used"
    assert (flags.sum(axis=1) >= 1).all() and (flags.sum(axis=1) <= 4).all()
    assert genre["COURSE_ID"].is_unique and genre["TITLE"].str.lower().is_unique
    for name in ("course_processed.csv", "course_meta.csv"):
        assert t[name]["COURSE_ID"].tolist() == genre["COURSE_ID"].tolist()
    assert t["course_meta.csv"]["LEVEL"].isin(LEVELS).all()
    assert t["course_meta.csv"]["DURATION_HOURS"].between(1, 40).all()


def test_ratings_written_like_the_lab_file(tmp_path):
    generate_dataset(tmp_path, seed=3, n_learners=50, n_courses=20)
    lines = (tmp_path / "ratings.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "user,item,rating"
    assert all(re.fullmatch(r"\d{6,8},[A-Z]{2}[0-9X]\d{3,4}EN,[23]\.0", line) for line in lines[1:])


def test_course_ids_and_titles_look_real(default_tables):
    genre = default_tables["course_genre.csv"]
    assert genre["COURSE_ID"].str.fullmatch(r"[A-Z]{2}0[123]\d{2}EN").all()
    # the id prefix names the main genre: every course flags the genre its prefix stands for
    prefix_genre = genre.groupby(genre["COURSE_ID"].str[:2])[list(GENRES)].mean().max(axis=1)
    assert (prefix_genre == 1.0).all()
    assert genre["TITLE"].str.len().between(5, 90).all()
    per_course = genre[list(GENRES)].sum(axis=1)
    assert per_course.between(1, 3).mean() > 0.95


def test_large_catalogue_keeps_ids_and_titles_unique(tmp_path):
    summary = generate_dataset(tmp_path, seed=4, n_learners=100, n_courses=1500)
    genre = pd.read_csv(tmp_path / "course_genre.csv")
    assert summary["courses"] == 1500 and genre["COURSE_ID"].is_unique
    assert genre["TITLE"].str.lower().is_unique


def test_bows_count_title_and_description_tokens(default_tables):
    bows, text = default_tables["courses_bows.csv"], default_tables["course_processed.csv"]
    assert bows["doc_id"].tolist() == text["COURSE_ID"].iloc[bows["doc_index"]].tolist()
    assert (bows["bow"] >= 1).all() and not bows.duplicated(["doc_index", "token"]).any()
    assert bows["doc_index"].nunique() == len(text)
    for i in (0, len(text) // 2, len(text) - 1):
        words = re.findall(r"[a-z0-9]+", f"{text['TITLE'][i]} {text['DESCRIPTION'][i]}".lower())
        doc = bows[bows["doc_index"] == i].set_index("token")["bow"]
        for token, count in doc.items():
            assert words.count(token) == count
        assert "the" not in doc.index and "and" not in doc.index  # stop words dropped


def test_text_reflects_genre_and_level(default_tables):
    """Content models need signal: same-genre courses share vocabulary; level words follow level."""
    bows, genre = default_tables["courses_bows.csv"], default_tables["course_genre.csv"]
    vocab = pd.Index(bows["token"].unique())
    x = sparse.csr_matrix((bows["bow"].astype(float), (bows["doc_index"], vocab.get_indexer(bows["token"]))))
    x = x.multiply(1.0 / np.sqrt(x.multiply(x).sum(axis=1))).tocsr()
    sim = (x @ x.T).toarray()
    np.fill_diagonal(sim, np.nan)
    same = genre["COURSE_ID"].str[:2].to_numpy()
    same = same[:, None] == same[None, :]
    assert np.nanmean(sim[same]) > 1.5 * np.nanmean(sim[~same])

    text = default_tables["course_processed.csv"]
    level = default_tables["course_meta.csv"]["LEVEL"]
    full = (text["TITLE"] + " " + text["DESCRIPTION"]).str.lower()
    beginner_words = full.str.contains(r"introduct|basics|beginner|first steps|fundamentals")
    advanced_words = full.str.contains(r"advanced|production|optimiz|expert")
    assert beginner_words[level == "Beginner"].mean() > 0.9 > 0.2 > beginner_words[level == "Advanced"].mean()
    assert advanced_words[level == "Advanced"].mean() > 0.9 > 0.2 > advanced_words[level == "Beginner"].mean()


# ----- determinism, errors, overwrite --------------------------------------------------------------------
def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a, b, c = (tmp_path / n for n in "abc")
    generate_dataset(a, seed=7, n_learners=400, n_courses=40)
    generate_dataset(b, seed=7, n_learners=400, n_courses=40)
    generate_dataset(c, seed=8, n_learners=400, n_courses=40)
    for name in FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / "ratings.csv").read_bytes() != (c / "ratings.csv").read_bytes()
    assert (a / "course_genre.csv").read_bytes() != (c / "course_genre.csv").read_bytes()


def test_regenerating_into_a_folder_replaces_files(tmp_path):
    generate_dataset(tmp_path, seed=1, n_learners=500, n_courses=30)
    generate_dataset(tmp_path, seed=1, n_learners=100, n_courses=20)
    assert pd.read_csv(tmp_path / "ratings.csv")["user"].nunique() == 100
    assert len(pd.read_csv(tmp_path / "course_meta.csv")) == 20
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(FILES + (BEHAVIOUR_FILE,))


@pytest.mark.parametrize(
    "kwargs, word", [({"n_learners": 0}, "n_learners"), ({"n_courses": 13}, "n_courses"), ({"seed": -1}, "seed")]
)
def test_bad_sizes_raise_clear_errors(tmp_path, kwargs, word):
    with pytest.raises(ValueError, match=word):
        generate_dataset(tmp_path / "x", **kwargs)
    assert not (tmp_path / "x").exists()


# ----- shape at the default size -----------------------------------------------------------------------
def test_default_size_matches_lab_shape(default_dir, default_tables):
    _, summary = default_dir
    ratings = default_tables["ratings.csv"]
    per_user = ratings.groupby("user").size()
    per_course = ratings["item"].value_counts()
    assert summary["learners"] == len(per_user) == 34000 and summary["courses"] == 300
    assert 207_000 <= len(ratings) <= 253_000
    assert 0.20 <= (per_user == 1).mean() <= 0.30
    assert 0.25 <= (per_user > 10).mean() <= 0.35
    assert 0.55 <= per_course.iloc[:20].sum() / len(ratings) <= 0.65
    assert 0.90 <= (ratings["rating"] == 3.0).mean() < 1.0
    assert summary["top20_share"] == pytest.approx(per_course.iloc[:20].sum() / len(ratings))


def test_level_progression_almost_always_holds(default_tables):
    """A learner who took an advanced course almost always took a beginner course of its genre."""
    x, level, flags = _matrix(default_tables)
    took_beginner_genre = (x[:, level == 0] @ flags[level == 0]) > 0  # learners x genres
    coo = x.tocoo()
    adv = level[coo.col] == 2
    assert adv.sum() > 2000, "advanced courses are taken often enough to measure"
    ok = (took_beginner_genre[coo.row[adv]] & (flags[coo.col[adv]] > 0)).any(axis=1)
    assert ok.mean() > 0.97
    # the share of enrolments falls with level: beginner > intermediate > advanced
    by_level = np.bincount(level[coo.col], minlength=3)
    assert by_level[0] > by_level[1] > by_level[2] > 0


def test_personal_scorer_beats_popularity_clearly(default_tables):
    """Hold out one course per learner with >= 3; co-occurrence and genre profile beat popularity."""
    x, _, flags = _matrix(default_tables)
    rng = np.random.default_rng(0)
    n = np.diff(x.indptr)
    users = np.flatnonzero(n >= 3)
    held = x.indices[x.indptr[users] + rng.integers(0, n[users])]
    train = x.tolil()
    train[users, held] = 0
    train = train.tocsr()
    train.eliminate_zeros()
    hist = train[users]
    seen = hist.toarray() > 0
    pop = np.asarray(train.sum(axis=0)).ravel()

    def hit_rate(scores):
        scores = np.where(seen, -np.inf, scores)
        top = np.argpartition(-scores, 10, axis=1)[:, :10]
        return float((top == held[:, None]).any(axis=1).mean())

    co = (train.T @ train).toarray()
    np.fill_diagonal(co, 0)
    co /= np.sqrt(np.outer(pop, pop)) + 1e-9
    profile = np.asarray(hist @ flags)
    hit_pop = hit_rate(np.broadcast_to(pop, seen.shape))
    hit_co = hit_rate(np.asarray(hist @ co))
    hit_genre = hit_rate((profile / profile.sum(axis=1, keepdims=True)) @ flags.T * pop)
    print(f"hit@10 popularity={hit_pop:.3f} co-occurrence={hit_co:.3f} genre-profile={hit_genre:.3f}")
    assert hit_pop > 0.3, "popularity stays a respectable baseline"
    assert hit_co > hit_pop + 0.1
    assert hit_genre > hit_pop + 0.03


def test_generated_folder_loads(small):
    from recsys.data import loader

    n_learners, n_courses, out, summary = small
    ds = loader.load_dataset(out)
    assert ds.n_users == n_learners and ds.n_items == n_courses and len(ds.ratings) == summary["ratings"]
    assert ds.rating_scale == (2.0, 3.0) or ds.rating_scale[1] == 3.0
    assert list(ds.genres) == list(GENRES)


def test_files_get_ordinary_permissions(tmp_path):
    import os
    import stat

    generate_dataset(tmp_path, seed=0, n_learners=20, n_courses=14)
    mask = os.umask(0o022)
    os.umask(mask)
    for name in FILES:
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~mask, name
