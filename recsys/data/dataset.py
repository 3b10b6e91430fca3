"""In-memory dataset: ratings, catalogue and the learner x course matrix, built once.

Everything downstream (models, evaluation, UI) reads data only through `Dataset`, so the matrix and
index maps are computed here once and shared.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import sparse


def history_row(
    item_index: pd.Index, history: Mapping[str, float] | Iterable[str], completed: float
) -> sparse.csr_matrix:
    """A 1 x len(item_index) CSR row from a learner history: a mapping course id -> rating, or course ids
    meaning completed (rating `completed`, the top of the scale). Unknown course ids raise ValueError naming
    them. The one place a typed history becomes a matrix row (datasets and fitted models both use it)."""
    if isinstance(history, Mapping):
        ids, values = list(history.keys()), [float(v) for v in history.values()]
    else:
        ids = list(history)
        values = [completed] * len(ids)
    ids = [str(i).strip() for i in ids]
    cols = item_index.get_indexer(ids) if ids else np.zeros(0, dtype=np.int64)
    unknown = [i for i, c in zip(ids, cols) if c < 0]
    if unknown:
        shown = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise ValueError(
            f"unknown course id(s) in history: {shown} (not in the catalogue of {len(item_index)} courses)"
        )
    row = sparse.csr_matrix(
        (np.asarray(values, dtype=np.float32), (np.zeros(len(cols), dtype=np.int64), np.asarray(cols, np.int64))),
        shape=(1, len(item_index)),
    )
    row.sum_duplicates()
    return row


LEVELS = ("Beginner", "Intermediate", "Advanced")


class Dataset:
    """Ratings (user, item, rating) plus a course catalogue with genre flags and optional metadata.

    Matrix columns follow catalogue order (`courses` row i is column i), so every course has a column
    even if nobody rated it. Learner rows follow `user_ids` (sorted unique ids).
    """

    def __init__(
        self,
        ratings: pd.DataFrame,
        courses: pd.DataFrame,
        genres: Iterable[str],
        rating_scale: tuple[float, float] | None = None,
        bows: pd.DataFrame | None = None,
        name: str = "dataset",
    ):
        self.genres = list(genres)
        self.courses = courses.reset_index(drop=True)
        self.ratings = ratings[["user", "item", "rating"]].reset_index(drop=True)
        if rating_scale is None:
            lo, hi = (
                (float(self.ratings["rating"].min()), float(self.ratings["rating"].max()))
                if len(self.ratings)
                else (0.0, 1.0)
            )
            rating_scale = (lo, hi)
        self.rating_scale = (float(rating_scale[0]), float(rating_scale[1]))
        self.bows = bows
        self.name = name

    # ----- index maps -------------------------------------------------------------------------
    @cached_property
    def item_ids(self) -> np.ndarray:
        """Course ids in catalogue (= matrix column) order."""
        return self.courses["COURSE_ID"].to_numpy(dtype=object)

    @cached_property
    def item_index(self) -> pd.Index:
        return pd.Index(self.item_ids)

    @cached_property
    def user_ids(self) -> np.ndarray:
        """Learner ids in matrix row order (sorted unique)."""
        return np.sort(self.ratings["user"].unique())

    @cached_property
    def user_index(self) -> pd.Index:
        return pd.Index(self.user_ids)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @cached_property
    def user_codes(self) -> np.ndarray:
        """Row index of each rating's learner (aligned with `ratings`)."""
        return self.user_index.get_indexer(self.ratings["user"]).astype(np.int64)

    @cached_property
    def item_codes(self) -> np.ndarray:
        """Column index of each rating's course (aligned with `ratings`)."""
        codes = self.item_index.get_indexer(self.ratings["item"]).astype(np.int64)
        if (codes < 0).any():
            raise ValueError("ratings name courses that are not in the catalogue")
        return codes

    @cached_property
    def matrix(self) -> sparse.csr_matrix:
        """Learner x course ratings (float32, CSR); 0 means not rated."""
        m = sparse.csr_matrix(
            (self.ratings["rating"].to_numpy(np.float32), (self.user_codes, self.item_codes)),
            shape=(self.n_users, self.n_items),
        )
        m.sum_duplicates()
        m.sort_indices()
        return m

    @cached_property
    def genre_matrix(self) -> np.ndarray:
        """Course x genre 0/1 matrix (float32), catalogue order."""
        if not self.genres:
            return np.zeros((self.n_items, 0), dtype=np.float32)
        return self.courses[self.genres].to_numpy(dtype=np.float32)

    # ----- identity ---------------------------------------------------------------------------
    @cached_property
    def fingerprint(self) -> str:
        """Stable content hash of ratings + catalogue: same content gives the same value across loads."""
        h = hashlib.sha256()
        # Row hashes sorted numerically: independent of row order, no string casting of millions of rows.
        row_hashes = pd.util.hash_pandas_object(self.ratings[["user", "item", "rating"]], index=False).to_numpy()
        h.update(np.sort(row_hashes).tobytes())
        catalogue = self.courses.sort_values("COURSE_ID", kind="mergesort").astype(str)
        h.update(",".join(catalogue.columns).encode())
        h.update(pd.util.hash_pandas_object(catalogue, index=False).to_numpy().tobytes())
        h.update(repr(self.rating_scale).encode())
        return h.hexdigest()[:16]

    # ----- derived datasets and histories -----------------------------------------------------
    def with_ratings(self, ratings: pd.DataFrame, name: str | None = None) -> Dataset:
        """Same catalogue and scale, other ratings (used for train/test splits)."""
        return Dataset(ratings, self.courses, self.genres, self.rating_scale, self.bows, name or self.name)

    def sample_learners(self, n: int, seed: int = 0, name: str | None = None) -> Dataset:
        """The same catalogue with the ratings of `n` learners drawn at random (seeded, without replacement):
        a small dataset with this one's shape, e.g. to check that defaults hold on 1,000 learners."""
        if isinstance(n, bool) or int(n) != n or n < 1:
            raise ValueError(f"n must be a positive integer number of learners, got {n!r}")
        if n >= self.n_users:
            return self
        rng = np.random.default_rng(seed)
        chosen = self.user_ids[np.sort(rng.choice(self.n_users, int(n), replace=False))]
        keep = self.ratings["user"].isin(chosen).to_numpy()
        return self.with_ratings(self.ratings[keep], name=name or f"{self.name} ({int(n):,} learners, seed {seed})")

    def history_vector(self, history: Mapping[str, float] | Iterable[str]) -> sparse.csr_matrix:
        """A 1 x n_items CSR row from a learner history (see `history_row`)."""
        return history_row(self.item_index, history, completed=self.rating_scale[1])

    def find_learner(self, text: str):
        """The learner id typed as `text` (ids may be integers or strings in ratings.csv); KeyError if absent."""
        pos = self.user_index.astype(str).get_indexer([str(text).strip()])[0]
        if pos < 0:
            raise KeyError(f"learner {str(text).strip()!r} is not in the dataset; type an id from ratings.csv")
        return self.user_ids[pos]

    def user_history(self, user_id) -> dict[str, float]:
        """The rated courses of a learner in this dataset, as course id -> rating."""
        pos = self.user_index.get_indexer([user_id])[0]
        if pos < 0:
            raise KeyError(f"learner {user_id!r} is not in the dataset")
        row = self.matrix[pos]
        return {self.item_ids[c]: float(v) for c, v in zip(row.indices, row.data)}

    def summary(self) -> dict:
        """Counts for display: learners, courses, ratings, rating split, activity."""
        per_user = np.diff(self.matrix.indptr)
        counts = self.ratings["rating"].value_counts().sort_index()
        return {
            "learners": int(self.n_users),
            "courses": int(self.n_items),
            "ratings": int(len(self.ratings)),
            "genres": len(self.genres),
            "rating_split": {float(k): int(v) for k, v in counts.items()},
            "learners_with_one_course": int((per_user == 1).sum()),
            "learners_with_over_10": int((per_user > 10).sum()),
            "density": float(len(self.ratings) / max(1, self.n_users * self.n_items)),
            "fingerprint": self.fingerprint,
        }

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}: {self.n_users} learners, {self.n_items} courses, {len(self.ratings)} ratings)"
