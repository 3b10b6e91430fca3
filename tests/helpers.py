"""Shared test helpers (one copy of each): imported by test modules as `from helpers import ...`."""
from __future__ import annotations

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
    return ndcg_at_10(model, train, train.user_index.get_indexer(test["user"]),
                      train.item_index.get_indexer(test["item"]))
