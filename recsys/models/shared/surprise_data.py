"""Shared plumbing for the scikit-surprise models (knn, nmf): canonical rating arrays and a fast Trainset.

Why build the Trainset ourselves: `surprise.Dataset.load_from_df(...).build_full_trainset()` walks every
rating in Python (a dict lookup and two list appends each), which dominates fitting at millions of ratings.
`build_trainset` produces the *same* object -- same inner ids, same list order, same global mean as the
standard path fed with the ratings sorted by (learner, course) -- from numpy arrays, creating the tuples at
C speed and sharing the id/rating objects. Matching the standard path exactly matters: Surprise breaks
similarity ties by list order, so predictions are reproducible only with the same order.

Canonical order (used everywhere in both models): ratings sorted by learner row, then catalogue column;
learner inner id = matrix row; course inner id = order of first appearance in that stream (what Surprise
assigns), with `item_inner[col] == -1` for catalogue courses nobody rated.
"""

from __future__ import annotations

import gc
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from scipy import sparse


@dataclass
class RatingArrays:
    """Ratings in canonical order plus the course <-> Surprise inner-id maps."""

    rows: np.ndarray  # learner matrix row, ascending
    cols: np.ndarray  # catalogue column, ascending within a learner
    vals: np.ndarray  # float64 ratings (exact values from the ratings table)
    n_users: int
    n_items: int  # catalogue size
    item_inner: np.ndarray  # catalogue column -> Surprise inner id, -1 if never rated
    inner_item: np.ndarray  # Surprise inner id -> catalogue column

    @property
    def indptr(self) -> np.ndarray:
        return np.searchsorted(self.rows, np.arange(self.n_users + 1))

    def csr(self) -> sparse.csr_matrix:
        """Learners x catalogue ratings (float64, sorted indices) in canonical order."""
        return sparse.csr_matrix((self.vals, self.cols, self.indptr), shape=(self.n_users, self.n_items))

    @property
    def global_mean(self) -> float:
        """Mean rating computed exactly like `Trainset.global_mean` (same values, same order)."""
        return float(np.mean(self.vals))


def rating_arrays(dataset) -> RatingArrays:
    """Canonical ratings of `dataset` (a duplicated (learner, course) pair keeps its last rating)."""
    rows = np.asarray(dataset.user_codes, dtype=np.int64)
    cols = np.asarray(dataset.item_codes, dtype=np.int64)
    vals = dataset.ratings["rating"].to_numpy(dtype=np.float64)
    n_items = dataset.n_items
    key = rows * n_items + cols
    order = np.argsort(key, kind="stable")
    key = key[order]
    last = np.r_[key[1:] != key[:-1], True]
    order = order[last]
    rows, cols, vals = rows[order], cols[order], vals[order]
    first = np.full(n_items, len(cols), dtype=np.int64)
    np.minimum.at(first, cols, np.arange(len(cols), dtype=np.int64))
    rated = np.flatnonzero(first < len(cols))
    inner_item = rated[np.argsort(first[rated], kind="stable")]
    item_inner = np.full(n_items, -1, dtype=np.int64)
    item_inner[inner_item] = np.arange(len(inner_item))
    return RatingArrays(
        rows, cols, np.ascontiguousarray(vals), int(dataset.n_users), int(n_items), item_inner, inner_item
    )


def build_trainset(dataset, arrays: RatingArrays | None = None):
    """A `surprise.Trainset` equal to the standard one built from the canonically sorted ratings."""
    from surprise import Trainset

    a = arrays if arrays is not None else rating_arrays(dataset)
    # Millions of new tuples would trigger the cyclic GC over and over (none of them can form a cycle).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _build_trainset(dataset, a, Trainset)
    finally:
        if was_enabled:
            gc.enable()


def _build_trainset(dataset, a: RatingArrays, Trainset):
    n_users, n_inner = a.n_users, len(a.inner_item)
    inner_cols = a.item_inner[a.cols]
    # One Python object per distinct id / rating value, shared by all tuples (memory at millions of ratings).
    user_objs = np.arange(n_users).astype(object)[a.rows]
    item_objs = np.arange(n_inner).astype(object)[inner_cols]
    values, codes = np.unique(a.vals, return_inverse=True)
    rating_objs = np.array(values.tolist(), dtype=object)[codes]

    by_user = list(zip(item_objs.tolist(), rating_objs.tolist()))
    bounds = a.indptr.tolist()
    ur = defaultdict(list)
    ur.update((u, by_user[bounds[u] : bounds[u + 1]]) for u in range(n_users))

    order = np.argsort(inner_cols, kind="stable")  # rows stay ascending within a course
    by_item = list(zip(user_objs[order].tolist(), rating_objs[order].tolist()))
    ibounds = np.searchsorted(inner_cols[order], np.arange(n_inner + 1)).tolist()
    ir = defaultdict(list)
    ir.update((i, by_item[ibounds[i] : ibounds[i + 1]]) for i in range(n_inner))

    raw_users = dict(zip(np.asarray(dataset.user_ids).tolist(), range(n_users)))
    raw_items = dict(zip(np.asarray(dataset.item_ids)[a.inner_item].tolist(), range(n_inner)))
    trainset = Trainset(ur, ir, n_users, n_inner, len(a.vals), tuple(dataset.rating_scale), raw_users, raw_items)
    trainset._global_mean = np.mean(a.vals)
    return trainset


def standard_trainset(dataset):
    """The trainset through Surprise's public API (reference for tests and benchmarks; slow when large)."""
    import pandas as pd
    from surprise import Dataset as SurpriseDataset
    from surprise import Reader

    a = rating_arrays(dataset)
    df = pd.DataFrame(
        {"user": np.asarray(dataset.user_ids)[a.rows], "item": np.asarray(dataset.item_ids)[a.cols], "rating": a.vals}
    )
    data = SurpriseDataset.load_from_df(df, Reader(rating_scale=tuple(dataset.rating_scale)))
    return data.build_full_trainset()


def gather_rows(matrix: sparse.csr_matrix, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each requested row, its stored entries: (owner index into `rows`, entry index into the matrix).

    Entries come grouped by request and in stored order within a row (the Surprise list order).
    """
    rows = np.asarray(rows, dtype=np.int64)
    starts = matrix.indptr[rows].astype(np.int64)
    lengths = matrix.indptr[rows + 1].astype(np.int64) - starts
    owner = np.repeat(np.arange(len(rows), dtype=np.int64), lengths)
    offsets = np.cumsum(lengths) - lengths
    entry = np.arange(int(lengths.sum()), dtype=np.int64) - np.repeat(offsets - starts, lengths)
    return owner, entry


def popularity_scores(matrix: sparse.csr_matrix) -> np.ndarray:
    """Enrolment count per course: the fallback for learners with an empty history."""
    return np.bincount(matrix.indices, minlength=matrix.shape[1]).astype(np.float64)
