"""Split properties: no overlap, nothing lost, per-learner counts, seeded determinism, k-fold partitions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.data import Dataset
from recsys.evaluation.splits import holdout_split, kfold_splits, make_split, ratio_split

GENRES = ["A", "B", "C"]


@pytest.fixture(scope="module")
def handmade() -> Dataset:
    """400 learners taking 1..12 of 25 courses (so some learners have a single course)."""
    rng = np.random.default_rng(0)
    courses = pd.DataFrame({"COURSE_ID": [f"C{i:02d}" for i in range(25)], "TITLE": [f"course {i}" for i in range(25)]})
    for g in GENRES:
        courses[g] = (rng.random(25) < 0.4).astype(int)
    rows = []
    for u in range(400):
        for c in rng.choice(25, size=int(rng.integers(1, 13)), replace=False):
            rows.append((f"u{u}", f"C{c:02d}", float(rng.choice([2.0, 3.0], p=[0.1, 0.9]))))
    return Dataset(pd.DataFrame(rows, columns=["user", "item", "rating"]), courses, GENRES, (2.0, 3.0), name="hand")


def pairs(frame: pd.DataFrame) -> set:
    return set(zip(frame["user"], frame["item"]))


def check_partition(dataset, split):
    train, test = pairs(split.train.ratings), pairs(split.test)
    assert not train & test, "a (learner, course) pair is on both sides"
    assert train | test == pairs(dataset.ratings)
    assert len(split.train.ratings) + len(split.test) == len(dataset.ratings)
    assert list(split.train.item_ids) == list(dataset.item_ids)  # same catalogue, same columns
    assert list(split.test.columns) == ["user", "item", "rating"]


def test_ratio_split(handmade):
    split = ratio_split(handmade, test_size=0.25, seed=3)
    check_partition(handmade, split)
    assert len(split.test) == round(0.25 * len(handmade.ratings))
    merged = split.test.merge(handmade.ratings, on=["user", "item"], suffixes=("", "_orig"))
    assert (merged["rating"] == merged["rating_orig"]).all()
    missing = set(split.test["user"]) - set(split.train.ratings["user"])
    assert split.describe()["test_learners_without_train_history"] == len(missing)
    assert split.params == {"test_size": 0.25, "seed": 3}


def test_holdout_one_per_learner(handmade):
    split = holdout_split(handmade, n=1, min_ratings=2, seed=0)
    check_partition(handmade, split)
    counts = handmade.ratings["user"].value_counts()
    per_test = split.test["user"].value_counts()
    assert set(per_test.index) == set(counts.index[counts >= 2])
    assert (per_test == 1).all()
    singles = counts.index[counts < 2]
    assert len(singles) > 0 and not set(singles) & set(split.test["user"])
    assert set(singles) <= set(split.train.ratings["user"])  # train-only learners stay in train


def test_holdout_n_and_fraction(handmade):
    counts = handmade.ratings["user"].value_counts()
    split = holdout_split(handmade, n=3, min_ratings=4, seed=1)
    check_partition(handmade, split)
    per_test = split.test["user"].value_counts().reindex(counts.index, fill_value=0)
    expected = np.where(counts >= 4, np.minimum(3, counts - 1), 0)
    np.testing.assert_array_equal(per_test.to_numpy(), expected)

    split = holdout_split(handmade, n=0.3, seed=1)
    check_partition(handmade, split)
    per_test = split.test["user"].value_counts().reindex(counts.index, fill_value=0)
    expected = np.where(counts >= 2, np.minimum(np.clip(np.round(0.3 * counts), 1, None), counts - 1), 0)
    np.testing.assert_array_equal(per_test.to_numpy(), expected)
    train_counts = split.train.ratings["user"].value_counts()
    assert set(train_counts.index) == set(counts.index)  # everyone keeps training history


def test_splits_are_seeded(handmade):
    for make in (lambda s: ratio_split(handmade, 0.2, seed=s), lambda s: holdout_split(handmade, seed=s)):
        a, b, c = make(5), make(5), make(6)
        pd.testing.assert_frame_equal(a.test, b.test)
        pd.testing.assert_frame_equal(a.train.ratings, b.train.ratings)
        assert pairs(a.test) != pairs(c.test)


def test_kfold_partitions(handmade):
    folds = kfold_splits(handmade, folds=3, seed=2)
    assert len(folds) == 3
    counts = handmade.ratings["user"].value_counts()
    eligible = handmade.ratings[handmade.ratings["user"].isin(counts.index[counts >= 2])]
    tests = [pairs(f.test) for f in folds]
    for f in folds:
        check_partition(handmade, f)
        assert set(f.test["user"]) <= set(f.train.ratings["user"])  # every test learner keeps history
    for i in range(3):
        for j in range(i + 1, 3):
            assert not tests[i] & tests[j]
    assert set().union(*tests) == pairs(eligible)
    sizes = [len(t) for t in tests]
    assert max(sizes) - min(sizes) < 0.1 * np.mean(sizes)  # balanced folds
    again = kfold_splits(handmade, folds=3, seed=2)
    assert [pairs(f.test) for f in again] == tests


def test_duplicated_pairs_never_leak():
    courses = pd.DataFrame({"COURSE_ID": ["a", "b", "c"], "TITLE": ["a", "b", "c"], "A": [1, 0, 1]})
    ratings = pd.DataFrame(
        {"user": [1, 1, 1, 1, 2, 2], "item": ["a", "a", "b", "c", "a", "b"], "rating": [2.0, 3.0, 3.0, 3.0, 3.0, 3.0]}
    )
    ds = Dataset(ratings, courses, ["A"])
    for seed in range(10):
        split = holdout_split(ds, n=2, seed=seed)
        assert not pairs(split.train.ratings) & pairs(split.test)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda d: ratio_split(d, test_size=1.5), "test_size"),
        (lambda d: ratio_split(d, seed=-1), "seed"),
        (lambda d: holdout_split(d, n=0), "at least 1"),
        (lambda d: holdout_split(d, n=1.5), "fraction"),
        (lambda d: holdout_split(d, min_ratings=1), "min_ratings"),
        (lambda d: kfold_splits(d, folds=1), "folds"),
        (lambda d: make_split(d, "loo"), "unknown split"),
        (lambda d: make_split(d, "ratio", n=2), "no parameter"),
    ],
)
def test_bad_split_arguments(handmade, call, message):
    with pytest.raises(ValueError, match=message):
        call(handmade)


# ----- new_learners and new_courses protocols -------------------------------------------------------
from recsys.evaluation.splits import new_courses_split, new_learners_split  # noqa: E402


def test_new_learners_are_absent_from_training(handmade):
    split = new_learners_split(handmade, test_share=0.1, fold_in=0.8, min_ratings=2, seed=4)
    counts = handmade.ratings["user"].value_counts()
    chosen = set(split.fold_in["user"])
    assert chosen == set(split.test["user"]), "every new learner has known and asked-for courses"
    assert not chosen & set(split.train.ratings["user"]), "no test learner in training"
    assert len(chosen) == round(0.1 * (counts >= 2).sum())
    assert all(counts[u] >= 2 for u in chosen)
    # fold-in + test = exactly the chosen learners' ratings; train = everyone else's
    assert not pairs(split.fold_in) & pairs(split.test)
    assert pairs(split.fold_in) | pairs(split.test) == pairs(handmade.ratings[handmade.ratings["user"].isin(chosen)])
    assert pairs(split.train.ratings) == pairs(handmade.ratings[~handmade.ratings["user"].isin(chosen)])
    known = split.fold_in["user"].value_counts()
    for user in chosen:  # round(80%) of their courses, at least one known and one asked for
        assert known[user] == min(max(round(0.8 * counts[user]), 1), counts[user] - 1)
    assert split.describe()["fold_in_ratings"] == len(split.fold_in)
    assert list(split.train.item_ids) == list(handmade.item_ids)


def test_new_courses_lose_every_training_rating(handmade):
    split = new_courses_split(handmade, course_share=0.2, seed=1)
    new = set(split.new_items)
    assert len(new) == round(0.2 * handmade.ratings["item"].nunique())
    assert not new & set(split.train.ratings["item"]), "no rating of a held-out course in training"
    assert set(split.test["item"]) == new
    check_partition(handmade, split)
    assert split.describe()["new_courses"] == sorted(new, key=list(handmade.item_ids).index)


def test_new_protocols_are_seeded(handmade):
    for make in (lambda s: new_learners_split(handmade, seed=s), lambda s: new_courses_split(handmade, seed=s)):
        a, b, c = make(7), make(7), make(8)
        pd.testing.assert_frame_equal(a.test, b.test)
        pd.testing.assert_frame_equal(a.train.ratings, b.train.ratings)
        assert pairs(a.test) != pairs(c.test)
    a, b = new_learners_split(handmade, seed=7), new_learners_split(handmade, seed=7)
    pd.testing.assert_frame_equal(a.fold_in, b.fold_in)
    split = make_split(handmade, "new_learners", seed=3, test_share=0.2, fold_in=0.5, min_ratings=3)
    assert split.params == {"test_share": 0.2, "fold_in": 0.5, "min_ratings": 3, "seed": 3}


def test_new_protocols_refuse_datasets_too_small():
    courses = pd.DataFrame({"COURSE_ID": ["a", "b", "c"], "TITLE": ["a", "b", "c"], "A": [1, 0, 1]})
    ratings = pd.DataFrame({"user": [1, 1, 2, 2, 3], "item": ["a", "b", "a", "c", "b"], "rating": [3.0] * 5})
    ds = Dataset(ratings, courses, ["A"])
    with pytest.raises(ValueError, match=r"new_learners split: 2 of 3 learners have >= 2 courses.*larger dataset"):
        new_learners_split(ds, test_share=0.1)
    with pytest.raises(ValueError, match=r"new_courses split: 3 courses have ratings.*larger dataset"):
        new_courses_split(ds, course_share=0.1)
    with pytest.raises(ValueError, match="fold_in"):
        new_learners_split(ds, fold_in=1.0)
    with pytest.raises(ValueError, match="no parameter"):
        make_split(ds, "new_courses", test_share=0.5)
