"""Seeded train/test splits of a Dataset's ratings, with no (learner, course) pair on both sides.

Every split keeps the full catalogue (`dataset.with_ratings`), so course indices mean the same thing in
train and test. Three protocols:

* `holdout_split` -- per learner: hide `n` of each learner's courses (learners with fewer than
  `min_ratings` stay in train only). Every test learner keeps training history, so every test learner
  is scored through the new-learner path. This is the primary protocol.
* `ratio_split` -- a random share of all ratings. Some test learners may have no training history
  (and some test courses no training ratings); the experiment computes ranking metrics only for test
  learners with training history and reports how many were skipped. Rating metrics use all test pairs.
* `kfold_splits` -- per-learner K-fold for tuning: each eligible learner's courses are dealt round-robin
  into K folds, so every fold's test learners keep training history and the K test sets partition the
  eligible learners' ratings.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

SPLIT_NAMES = ("holdout", "ratio")


@dataclass
class Split:
    """A train Dataset (same catalogue) plus held-out test ratings (user, item, rating)."""

    name: str
    params: dict[str, Any]
    train: Any  # recsys.data.Dataset
    test: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """JSON-able description: protocol, parameters and sizes."""
        return {
            "name": self.name,
            "params": dict(self.params),
            "train_ratings": int(len(self.train.ratings)),
            "test_ratings": int(len(self.test)),
            "test_learners": int(self.test["user"].nunique()),
            **self.info,
        }

    def __repr__(self) -> str:
        return (f"Split({self.name!r}, {self.params}, train={len(self.train.ratings)} ratings, "
                f"test={len(self.test)} ratings)")


def _unique_ratings(dataset) -> pd.DataFrame:
    """Ratings with one row per (user, item): a duplicated pair on both sides would leak the answer."""
    ratings = dataset.ratings
    if ratings.duplicated(["user", "item"]).any():
        ratings = ratings.drop_duplicates(["user", "item"], keep="last").reset_index(drop=True)
    return ratings


def _make(dataset, ratings, test_mask, name, params, info=None) -> Split:
    train = dataset.with_ratings(ratings.loc[~test_mask].reset_index(drop=True), name=f"{dataset.name} (train)")
    test = ratings.loc[test_mask, ["user", "item", "rating"]].reset_index(drop=True)
    if len(train.ratings) == 0:
        raise ValueError(f"{name} split left no training ratings; use a smaller test share")
    return Split(name, params, train, test, dict(info or {}))


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def ratio_split(dataset, test_size: float = 0.2, seed: int = 0) -> Split:
    """Hide a random `test_size` share of all ratings (seeded)."""
    seed = _check_seed(seed)
    try:
        test_size = float(test_size)
    except (TypeError, ValueError):
        raise ValueError(f"test_size must be a number between 0 and 1, got {test_size!r}") from None
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be between 0 and 1 (exclusive), got {test_size}")
    ratings = _unique_ratings(dataset)
    n = len(ratings)
    n_test = int(round(test_size * n))
    if n_test == 0 or n_test == n:
        raise ValueError(f"test_size {test_size} leaves an empty train or test set for {n} ratings")
    rng = np.random.default_rng(seed)
    mask = np.zeros(n, dtype=bool)
    mask[rng.permutation(n)[:n_test]] = True
    test_users = ratings.loc[mask, "user"].unique()
    train_users = pd.Index(ratings.loc[~mask, "user"].unique())
    info = {"test_learners_without_train_history": int((~pd.Index(test_users).isin(train_users)).sum())}
    return _make(dataset, ratings, pd.Series(mask), "ratio", {"test_size": test_size, "seed": seed}, info)


def _within_learner_rank(ratings: pd.DataFrame, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(user code per rating, random rank of each rating within its learner, ratings per learner)."""
    codes, _ = pd.factorize(ratings["user"], sort=True)
    codes = codes.astype(np.int64)
    counts = np.bincount(codes)
    order = np.lexsort((rng.random(len(codes)), codes))
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.empty(len(codes), dtype=np.int64)
    rank[order] = np.arange(len(codes)) - starts[codes[order]]
    return codes, rank, counts


def _check_min_ratings(min_ratings) -> int:
    if isinstance(min_ratings, bool) or not float(min_ratings).is_integer() or int(min_ratings) < 2:
        raise ValueError(f"min_ratings must be an integer >= 2 (a test learner needs training history), got {min_ratings!r}")
    return int(min_ratings)


def holdout_split(dataset, n: int | float = 1, min_ratings: int = 2, seed: int = 0) -> Split:
    """Hide `n` random courses per learner (an int), or a fraction of each learner's courses (0 < n < 1).

    Learners with fewer than `min_ratings` ratings stay in train only; every test learner keeps at least
    one training course (a fraction rounds to at least 1 hidden and at most count - 1).
    """
    seed = _check_seed(seed)
    min_ratings = _check_min_ratings(min_ratings)
    if isinstance(n, bool) or not isinstance(n, (int, float, np.integer, np.floating)):
        raise ValueError(f"holdout n must be a positive integer or a fraction in (0, 1), got {n!r}")
    fraction = isinstance(n, (float, np.floating)) and not float(n).is_integer()
    if fraction and not 0.0 < n < 1.0:
        raise ValueError(f"holdout fraction must be in (0, 1), got {n}")
    if not fraction and int(n) < 1:
        raise ValueError(f"holdout n must be at least 1, got {n}")
    ratings = _unique_ratings(dataset)
    codes, rank, counts = _within_learner_rank(ratings, np.random.default_rng(seed))
    if fraction:
        n_hold = np.clip(np.round(n * counts), 1, None)
    else:
        n_hold = np.full(len(counts), int(n))
    n_hold = np.minimum(n_hold, counts - 1)
    n_hold[counts < min_ratings] = 0
    mask = rank < n_hold[codes]
    params = {"n": float(n) if fraction else int(n), "min_ratings": min_ratings, "seed": seed}
    info = {"train_only_learners": int((counts < min_ratings).sum())}
    return _make(dataset, ratings, pd.Series(mask), "holdout", params, info)


def kfold_splits(dataset, folds: int = 3, seed: int = 0, min_ratings: int = 2) -> list[Split]:
    """`folds` per-learner folds: each eligible learner's courses dealt round-robin (random order and start).

    The test sets are disjoint and together hold every rating of learners with >= `min_ratings`
    ratings; each test learner keeps training history in every fold.
    """
    seed = _check_seed(seed)
    min_ratings = _check_min_ratings(min_ratings)
    if isinstance(folds, bool) or not float(folds).is_integer() or int(folds) < 2:
        raise ValueError(f"folds must be an integer >= 2, got {folds!r}")
    folds = int(folds)
    ratings = _unique_ratings(dataset)
    rng = np.random.default_rng(seed)
    codes, rank, counts = _within_learner_rank(ratings, rng)
    offset = rng.integers(0, folds, size=len(counts))
    fold_of = (rank + offset[codes]) % folds
    fold_of[counts[codes] < min_ratings] = -1
    return [
        _make(dataset, ratings, pd.Series(fold_of == f), "kfold",
              {"folds": folds, "fold": f, "min_ratings": min_ratings, "seed": seed})
        for f in range(folds)
    ]


def make_split(dataset, name: str = "holdout", seed: int = 0, **params) -> Split:
    """Build a split by name ('holdout' or 'ratio') with its parameters (e.g. n=1, test_size=0.2)."""
    if name == "holdout":
        allowed, fn = {"n", "min_ratings"}, holdout_split
    elif name == "ratio":
        allowed, fn = {"test_size"}, ratio_split
    else:
        raise ValueError(f"unknown split '{name}' (known: {', '.join(SPLIT_NAMES)})")
    bad = set(params) - allowed
    if bad:
        raise ValueError(f"split '{name}' has no parameter(s) {', '.join(sorted(bad))} (known: {', '.join(sorted(allowed))})")
    return fn(dataset, seed=seed, **params)
