"""Seeded train/test splits of a Dataset's ratings, with no (learner, course) pair on both sides.

Every split keeps the full catalogue (`dataset.with_ratings`), so course indices mean the same thing in
train and test. Five protocols:

* `new_learners_split` -- the workbench's central case: a seeded share of learners (default 10%, each with at
  least `min_ratings` courses) is removed from training entirely. Each is folded in from a seeded share of
  their courses (`Split.fold_in`, default 80%, at least one) and asked for the rest (`Split.test`), through
  the same `score_histories` path as the Recommend page. This is the default protocol of Compare and the CLI.
* `new_courses_split` -- a seeded share of the rated courses (default 10%) loses every training rating; the
  test set is every rating of those courses, so metrics say whether a brand-new course reaches the learners
  who took it.

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


@dataclass
class Split:
    """A train Dataset (same catalogue) plus held-out test ratings (user, item, rating).

    `fold_in` (new_learners only) holds the test learners' known courses (user, item, rating): these
    learners are absent from `train`, and their histories come from here instead.
    `new_items` (new_courses only) lists the course ids that lost every training rating.
    """

    name: str
    params: dict[str, Any]
    train: Any  # recsys.data.Dataset
    test: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)
    fold_in: pd.DataFrame | None = None
    new_items: list | None = None

    def describe(self) -> dict[str, Any]:
        """JSON-able description: protocol, parameters and sizes."""
        return {
            "name": self.name,
            "params": dict(self.params),
            "train_ratings": int(len(self.train.ratings)),
            "test_ratings": int(len(self.test)),
            "test_learners": int(self.test["user"].nunique()),
            **({"fold_in_ratings": int(len(self.fold_in))} if self.fold_in is not None else {}),
            **({"new_courses": [str(c) for c in self.new_items]} if self.new_items is not None else {}),
            **self.info,
        }

    def __repr__(self) -> str:
        return (
            f"Split({self.name!r}, {self.params}, train={len(self.train.ratings)} ratings, "
            f"test={len(self.test)} ratings)"
        )


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


def _check_share(value, what: str) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number between 0 and 1, got {value!r}") from None
    if not 0.0 < value < 1.0:
        raise ValueError(f"{what} must be between 0 and 1 (exclusive), got {value}")
    return value


def ratio_split(dataset, test_size: float = 0.2, seed: int = 0) -> Split:
    """Hide a random `test_size` share of all ratings (seeded)."""
    seed = _check_seed(seed)
    test_size = _check_share(test_size, "test_size")
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
        raise ValueError(
            f"min_ratings must be an integer >= 2 (a test learner needs training history), got {min_ratings!r}"
        )
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
        _make(
            dataset,
            ratings,
            pd.Series(fold_of == f),
            "kfold",
            {"folds": folds, "fold": f, "min_ratings": min_ratings, "seed": seed},
        )
        for f in range(folds)
    ]


def new_learners_split(
    dataset, test_share: float = 0.1, fold_in: float = 0.8, min_ratings: int = 2, seed: int = 0
) -> Split:
    """Remove a seeded `test_share` of the learners with >= `min_ratings` courses from training entirely.

    Each removed learner keeps round(`fold_in` x their courses) as a fold-in history (at least one, at most
    all but one) in `Split.fold_in`; the rest is `Split.test`. Nobody in the test set is in `train`.
    """
    seed = _check_seed(seed)
    min_ratings = _check_min_ratings(min_ratings)
    test_share = _check_share(test_share, "test_share (share of learners held out)")
    fold_in = _check_share(fold_in, "fold_in (share of a new learner's courses given to the model)")
    ratings = _unique_ratings(dataset)
    rng = np.random.default_rng(seed)
    codes, rank, counts = _within_learner_rank(ratings, rng)
    eligible = np.flatnonzero(counts >= min_ratings)
    n_test = int(round(test_share * len(eligible)))
    if n_test < 1 or n_test >= len(counts):
        raise ValueError(
            f"new_learners split: {len(eligible)} of {len(counts)} learners have >= {min_ratings} courses, so a "
            f"{test_share:.0%} share holds out {n_test} learners; the protocol needs at least one held-out learner "
            f"and at least one training learner -- use a larger dataset or test_share"
        )
    chosen = np.zeros(len(counts), dtype=bool)
    chosen[rng.permutation(eligible)[:n_test]] = True
    n_known = np.clip(np.round(fold_in * counts), 1, counts - 1)
    in_test = chosen[codes]
    known = in_test & (rank < n_known[codes])
    hidden = in_test & ~known
    train = dataset.with_ratings(ratings.loc[~in_test].reset_index(drop=True), name=f"{dataset.name} (train)")
    if len(train.ratings) == 0:
        raise ValueError("new_learners split left no training ratings; use a smaller test_share")
    cols = ["user", "item", "rating"]
    params = {"test_share": test_share, "fold_in": fold_in, "min_ratings": min_ratings, "seed": seed}
    info = {"new_learners": int(n_test), "eligible_learners": int(len(eligible))}
    return Split(
        "new_learners",
        params,
        train,
        ratings.loc[hidden, cols].reset_index(drop=True),
        info,
        fold_in=ratings.loc[known, cols].reset_index(drop=True),
    )


def new_courses_split(dataset, course_share: float = 0.1, seed: int = 0) -> Split:
    """Take every rating of a seeded `course_share` of the rated courses out of training (they become `test`).

    The courses stay in the catalogue (content models can still describe them); learners who took them
    are evaluated on whether those courses reach their top-K from their other (training) courses.
    """
    seed = _check_seed(seed)
    course_share = _check_share(course_share, "course_share (share of courses made new)")
    ratings = _unique_ratings(dataset)
    rated = np.asarray(pd.unique(ratings["item"]), dtype=object)
    rated = rated[np.argsort(dataset.item_index.get_indexer(rated), kind="stable")]  # catalogue order
    n_new = int(round(course_share * len(rated)))
    if n_new < 1 or n_new >= len(rated):
        raise ValueError(
            f"new_courses split: {len(rated)} courses have ratings, so a {course_share:.0%} share makes {n_new} "
            f"courses new; the protocol needs at least one new course and one course left in training -- use a "
            f"larger dataset or course_share"
        )
    new = rated[np.sort(np.random.default_rng(seed).permutation(len(rated))[:n_new])]
    mask = ratings["item"].isin(set(new)).to_numpy()
    test_users = pd.Index(ratings.loc[mask, "user"].unique())
    train_users = pd.Index(ratings.loc[~mask, "user"].unique())
    with_history = int(test_users.isin(train_users).sum())
    if with_history == 0:
        raise ValueError(
            "new_courses split: no learner who took a new course has another course to start from; "
            "use a larger dataset or another seed"
        )
    info = {"test_learners_without_train_history": int(len(test_users) - with_history)}
    split = _make(dataset, ratings, pd.Series(mask), "new_courses", {"course_share": course_share, "seed": seed}, info)
    split.new_items = list(new)
    return split


# ----- the protocol registry: names, parameters and defaults that the CLI and the Compare page read ------------
@dataclass(frozen=True)
class SplitParam:
    """One protocol parameter: its keyword, command-line flag, default and how the Compare page asks for it.

    `label` empty = command line only. `kind` "share" is a number in (0, 1), "count" an integer, and
    "count_or_share" (holdout's n) either; `low`/`high`/`step` bound the page's control.
    """

    name: str
    flag: str
    default: float | int
    kind: str
    help: str
    label: str = ""
    low: float = 0.0
    high: float = 1.0
    step: float = 0.05

    @property
    def dest(self) -> str:
        """The argparse attribute of `flag` ('--test-learners' -> 'test_learners')."""
        return self.flag.lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class Protocol:
    """An evaluation protocol: the split function behind it, its parameters, and what to call it on screen."""

    name: str
    label: str
    summary: str
    build: Any  # (dataset, seed=..., **params) -> Split
    params: tuple[SplitParam, ...]

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}


_MIN_RATINGS = "courses a learner needs to be tested (default 2)"
PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol(
            "new_learners",
            "New learners",
            "a share of learners is removed from training and folded in from part of their courses",
            new_learners_split,
            (
                SplitParam(
                    "test_share",
                    "--test-learners",
                    0.1,
                    "share",
                    "share of learners held out (default 0.1)",
                    "Share of learners held out",
                    0.05,
                    0.5,
                    0.05,
                ),
                SplitParam(
                    "fold_in",
                    "--fold-in",
                    0.8,
                    "share",
                    "share of a held-out learner's courses the model is given (default 0.8, >= 1 course)",
                    "Share of their courses given",
                    0.1,
                    0.9,
                    0.1,
                ),
                SplitParam("min_ratings", "--min-ratings", 2, "count", _MIN_RATINGS),
            ),
        ),
        Protocol(
            "holdout",
            "Per-learner holdout",
            "hide courses per known learner",
            holdout_split,
            (
                SplitParam(
                    "n",
                    "--holdout",
                    1,
                    "count_or_share",
                    "courses hidden per learner (int) or a fraction (default 1)",
                    "Courses hidden per learner",
                    1,
                    10,
                    1,
                ),
                SplitParam(
                    "min_ratings", "--min-ratings", 2, "count", _MIN_RATINGS, "Min. courses to be tested", 2, 20, 1
                ),
            ),
        ),
        Protocol(
            "ratio",
            "Random ratio",
            "hide a share of all ratings",
            ratio_split,
            (
                SplitParam(
                    "test_size",
                    "--test-size",
                    0.2,
                    "share",
                    "test share of all ratings (default 0.2)",
                    "Test share of ratings",
                    0.05,
                    0.5,
                    0.05,
                ),
            ),
        ),
        Protocol(
            "new_courses",
            "New courses",
            "a share of courses loses every training rating",
            new_courses_split,
            (
                SplitParam(
                    "course_share",
                    "--new-courses",
                    0.1,
                    "share",
                    "share of the rated courses that lose every training rating (default 0.1)",
                    "Share of courses made new",
                    0.05,
                    0.5,
                    0.05,
                ),
            ),
        ),
    )
}
SPLIT_NAMES: tuple[str, ...] = tuple(PROTOCOLS)


def make_split(dataset, name: str = "holdout", seed: int = 0, **params) -> Split:
    """Build a split by name (see SPLIT_NAMES) with its parameters (e.g. n=1, test_size=0.2, test_share=0.1)."""
    if name not in PROTOCOLS:
        raise ValueError(f"unknown split '{name}' (known: {', '.join(SPLIT_NAMES)})")
    protocol = PROTOCOLS[name]
    allowed = {p.name for p in protocol.params}
    bad = set(params) - allowed
    if bad:
        raise ValueError(
            f"split '{name}' has no parameter(s) {', '.join(sorted(bad))} (known: {', '.join(sorted(allowed))})"
        )
    return protocol.build(dataset, seed=seed, **params)
