"""`Dataset` properties, checked against independent pandas computations on loaded data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from recsys.data import Dataset


def _catalogue(n: int = 6) -> tuple[pd.DataFrame, list[str]]:
    genres = ["Python", "Database"]
    courses = pd.DataFrame(
        {
            "COURSE_ID": [f"C{i}" for i in range(n)],
            "TITLE": [f"course {i}" for i in range(n)],
            "DESCRIPTION": "",
            "Python": [i % 2 for i in range(n)],
            "Database": [int(i % 3 == 0) for i in range(n)],
        }
    )
    return courses, genres


@pytest.fixture()
def str_dataset() -> Dataset:
    """String learner ids, an unrated course (C5), ratings in file order not sorted."""
    courses, genres = _catalogue()
    ratings = pd.DataFrame(
        {
            "user": ["u9", "u2", "u9", "u10", "u2"],
            "item": ["C3", "C0", "C1", "C0", "C4"],
            "rating": [3.0, 2.0, 2.0, 3.0, 3.0],
        }
    )
    return Dataset(ratings, courses, genres, name="s")


def test_matrix_matches_ratings(small_dataset):
    ds = small_dataset
    m = ds.matrix
    assert sparse.isspmatrix_csr(m) and m.dtype == np.float32
    assert m.shape == (ds.ratings["user"].nunique(), len(ds.courses))
    assert m.nnz == len(ds.ratings)
    dense = m.toarray()
    rows = ds.user_index.get_indexer(ds.ratings["user"])
    cols = ds.item_index.get_indexer(ds.ratings["item"])
    np.testing.assert_array_equal(dense[rows, cols], ds.ratings["rating"].to_numpy(np.float32))
    assert np.isclose(dense.sum(), ds.ratings["rating"].sum())
    np.testing.assert_array_equal(ds.user_codes, rows)
    np.testing.assert_array_equal(ds.item_codes, cols)


def test_index_maps_round_trip(small_dataset):
    ds = small_dataset
    assert list(ds.item_ids) == list(ds.courses["COURSE_ID"])
    assert (np.diff(ds.user_ids) > 0).all()  # sorted and unique
    assert set(ds.user_ids) == set(ds.ratings["user"])
    np.testing.assert_array_equal(ds.user_ids[ds.user_index.get_indexer(ds.user_ids)], ds.user_ids)
    np.testing.assert_array_equal(ds.item_index.get_indexer(ds.item_ids), np.arange(ds.n_items))
    assert ds.n_users == len(ds.user_ids) and ds.n_items == len(ds.item_ids)


def test_genre_matrix_follows_catalogue(small_dataset):
    ds = small_dataset
    g = ds.genre_matrix
    assert g.shape == (ds.n_items, len(ds.genres)) and g.dtype == np.float32
    np.testing.assert_array_equal(g, ds.courses[ds.genres].to_numpy(np.float32))
    assert set(np.unique(g)) <= {0.0, 1.0}


def test_history_vector_from_mapping_and_ids(small_dataset):
    ds = small_dataset
    a, b = ds.item_ids[3], ds.item_ids[7]
    row = ds.history_vector({a: 2.0, f" {b} ": 3.0})
    assert row.shape == (1, ds.n_items) and row.nnz == 2
    assert row[0, 3] == 2.0 and row[0, 7] == 3.0
    done = ds.history_vector([a, b])
    assert done[0, 3] == ds.rating_scale[1] and done[0, 7] == ds.rating_scale[1]
    assert ds.history_vector([]).nnz == 0


def test_history_vector_rejects_unknown_ids(small_dataset):
    with pytest.raises(ValueError, match="NOPE1.*NOPE2"):
        small_dataset.history_vector(["NOPE1", small_dataset.item_ids[0], "NOPE2"])
    with pytest.raises(ValueError, match="NOPE3"):
        small_dataset.history_vector({"NOPE3": 3.0})


def test_user_history_matches_ratings(small_dataset):
    ds = small_dataset
    counts = ds.ratings["user"].value_counts()
    for user in (counts.index[0], counts.index[-1], ds.user_ids[0]):
        mine = ds.ratings[ds.ratings["user"] == user]
        assert ds.user_history(user) == dict(zip(mine["item"], mine["rating"].astype(float)))
    with pytest.raises(KeyError):
        ds.user_history(-12345)


def test_summary_counts(small_dataset):
    ds = small_dataset
    s = ds.summary()
    per_user = ds.ratings.groupby("user").size()
    assert s["learners"] == ds.ratings["user"].nunique()
    assert s["courses"] == len(ds.courses) and s["genres"] == len(ds.genres)
    assert s["ratings"] == len(ds.ratings)
    assert s["rating_split"] == {float(k): int(v) for k, v in ds.ratings["rating"].value_counts().items()}
    assert sum(s["rating_split"].values()) == len(ds.ratings)
    assert s["learners_with_one_course"] == int((per_user == 1).sum())
    assert s["learners_with_over_10"] == int((per_user > 10).sum())
    assert s["density"] == pytest.approx(len(ds.ratings) / (s["learners"] * s["courses"]))
    assert s["fingerprint"] == ds.fingerprint


def test_string_user_ids_and_unrated_course(str_dataset):
    ds = str_dataset
    assert list(ds.user_ids) == ["u10", "u2", "u9"]
    assert ds.matrix.shape == (3, 6)
    assert ds.matrix[:, 5].nnz == 0  # C5 has a column although nobody rated it
    assert ds.user_history("u9") == {"C1": 2.0, "C3": 3.0}
    assert ds.rating_scale == (2.0, 3.0)
    assert ds.summary()["learners_with_one_course"] == 1


def test_with_ratings_keeps_catalogue_and_scale(small_dataset):
    ds = small_dataset
    part = ds.ratings.iloc[: len(ds.ratings) // 2]
    sub = ds.with_ratings(part, name="half")
    assert sub.name == "half" and sub.rating_scale == ds.rating_scale
    assert list(sub.item_ids) == list(ds.item_ids) and sub.genres == ds.genres
    assert len(sub.ratings) == len(part) and sub.fingerprint != ds.fingerprint


def test_fingerprint_ignores_row_order_and_name(str_dataset):
    ds = str_dataset
    shuffled = ds.ratings.sample(frac=1.0, random_state=3)
    other = Dataset(shuffled, ds.courses, ds.genres, name="other")
    assert other.fingerprint == ds.fingerprint
    changed = ds.ratings.copy()
    changed.loc[0, "rating"] = 2.0
    assert Dataset(changed, ds.courses, ds.genres).fingerprint != ds.fingerprint
