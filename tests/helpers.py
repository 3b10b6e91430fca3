"""Shared test helpers (one copy of each): imported by test modules as `from helpers import ...`."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np


def ndcg_at_10(model, train, users, hidden) -> float:
    """Mean NDCG@10 with one relevant course per learner, scored through the new-learner path.

    `users` are row positions in `train`, `hidden` the held-out course column of each; training courses are
    excluded; the relevant course gains 1/log2(rank + 2) if it ranks in the top 10 (ties by catalogue order).
    """
    users, hidden = np.asarray(users), np.asarray(hidden)
    histories = train.matrix[users]
    scores = np.array(model.score_histories(histories), dtype=np.float64)
    scores[~np.isfinite(scores)] = -np.inf
    r, c = histories.nonzero()
    scores[r, c] = -np.inf
    target = scores[np.arange(len(users)), hidden]
    cols = np.arange(scores.shape[1])[None, :]
    rank = (scores > target[:, None]).sum(1) + ((scores == target[:, None]) & (cols < hidden[:, None])).sum(1)
    gain = np.where(np.isfinite(target) & (rank < 10), 1.0 / np.log2(rank + 2.0), 0.0)
    return float(gain.mean())


def ndcg_at_10_on_frame(model, train, test) -> float:
    """`ndcg_at_10` for a held-out frame with one (user, item) row per learner."""
    return ndcg_at_10(
        model, train, train.user_index.get_indexer(test["user"]), train.item_index.get_indexer(test["item"])
    )


@contextmanager
def app_environment(base: Path, *, seed: int = 5, n_learners: int = 500, n_courses: int = 30):
    """Point the app (and the CLI's model store) at a small generated dataset and a private artifacts folder
    under `base`; yields {"data", "artifacts", "dataset"} and restores the environment afterwards."""
    from recsys.data import generate_dataset, load_dataset

    generate_dataset(base / "data", seed=seed, n_learners=n_learners, n_courses=n_courses)
    saved = {k: os.environ.get(k) for k in ("RECSYS_DATA_DIR", "RECSYS_ARTIFACTS_DIR")}
    os.environ["RECSYS_DATA_DIR"] = str(base / "data")
    os.environ["RECSYS_ARTIFACTS_DIR"] = str(base / "artifacts")
    try:
        yield {"data": base / "data", "artifacts": base / "artifacts", "dataset": load_dataset(base / "data")}
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def assert_page_ok(at) -> None:
    """No exception element and no error message on an AppTest page."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


# Small, fast settings for the slow model families in tests that loop over every registry key.
FAST_PARAMS = {
    "neural": {"epochs": 2},
    "embedding_regression": {"epochs": 2, "n_estimators": 10},
    "embedding_classifier": {"epochs": 2, "n_estimators": 10},
}


def learner_history(dataset, n: int = 3) -> list[str]:
    """The first `n` courses of the first learner with at least n courses: a realistic history from the data."""
    counts = np.diff(dataset.matrix.indptr)
    user = dataset.user_ids[np.flatnonzero(counts >= n)[0]]
    return list(dataset.user_history(user))[:n]


def real_catalogue_proxy(catalogue, root: Path, n_learners: int = 3000, seed: int = 0):
    """The real IBM catalogue files (copied to `root`) plus ratings sampled here, since the real ratings are not
    available: Zipf course appeal (unrelated to content) x sparse genre interests; a quarter of the learners
    take one course, ~98% of ratings are completions. Returns the loaded Dataset."""
    import shutil

    import pandas as pd

    from recsys.data import load_dataset

    for fname in ("course_genre.csv", "course_processed.csv", "courses_bows.csv"):
        shutil.copyfile(Path(catalogue) / fname, root / fname)
    genre = pd.read_csv(root / "course_genre.csv", encoding="utf-8-sig")
    flags = genre.iloc[:, 2:].to_numpy(float)
    rng = np.random.default_rng(seed)
    n, n_items = n_learners, len(genre)
    appeal = 1.0 / (rng.permutation(n_items) + 3.0) ** 2
    interest = rng.dirichlet(np.full(flags.shape[1], 0.3), size=n)
    affinity = interest @ (flags / np.maximum(flags.sum(1, keepdims=True), 1)).T
    keys = np.log(appeal) + 2 * np.log(0.02 + affinity) + rng.gumbel(size=(n, n_items))
    taken = np.where(rng.random(n) < 0.25, 1, 2 + rng.poisson(5, n))
    order = np.argsort(-keys, axis=1)
    users = np.repeat(np.arange(n), taken)
    items = np.concatenate([order[u, :t] for u, t in enumerate(taken)])
    pd.DataFrame(
        {
            "user": users,
            "item": genre["COURSE_ID"].to_numpy()[items],
            "rating": np.where(rng.random(len(items)) < 0.98, 3.0, 2.0),
        }
    ).to_csv(root / "ratings.csv", index=False)
    return load_dataset(root)


def course_description(ds, j: int) -> dict:
    """Course `j` of `ds` as `score_new_course` takes a course before launch (title, text, level, genres, hours)."""
    row = ds.courses.iloc[j]
    return {
        "title": row["TITLE"],
        "description": row["DESCRIPTION"],
        "level": row["LEVEL"],
        "genres": [g for g in ds.genres if row[g] > 0],
        "hours": row["DURATION_HOURS"],
    }


class Payload:
    """What an attacker would plant: unpickling it creates a file (stands for running a shell command)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))
