"""Does offline agree with online? Offline NDCG@K rank order next to the simulated CTR order, with Kendall's tau.

The offline side is the evaluation engine's own holdout experiment (models refitted on the split's training
part), so the numbers are the ones the Compare page shows for the same seed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats


def offline_ndcg(
    dataset, models: Sequence[tuple[str, str, Mapping[str, Any]]], k: int = 10, seed: int = 0, progress=None
) -> dict[str, float]:
    """NDCG@k per arm name on a per-learner holdout split; `models` = (arm name, key, params)."""
    from recsys.evaluation import Experiment

    result = Experiment(
        dataset, "holdout", [(key, dict(params)) for _, key, params in models], k=int(k), seed=int(seed), n_resamples=0
    ).run(progress=progress)
    table = result.table
    metric = f"ndcg@{int(k)}"
    # Experiment names runs by key (+ parameters); the arms are matched to them in the same order
    return {name: float(v) for (name, _, _), v in zip(models, table[metric].to_numpy())}


MIN_ARMS_FOR_TAU = 3


def orders_agree(table: pd.DataFrame) -> bool:
    """Whether the offline and online rank orders are the same."""
    return bool((table["offline_rank"].to_numpy() == table["online_rank"].to_numpy()).all())


def agreement(offline: Mapping[str, float], online: Mapping[str, float]) -> tuple[pd.DataFrame, float, float]:
    """Side-by-side ranks (1 = best) and Kendall's tau (with its p-value) between the two orders.

    Tau and p are NaN with fewer than three models (two orders of two either agree or not: tau is +-1 with
    p = 1, which says nothing) or when one order is all ties."""
    names = [n for n in offline if n in online]
    if len(names) < 2:
        raise ValueError("agreement needs at least two models measured both offline and online")
    off = np.array([offline[n] for n in names], dtype=float)
    on = np.array([online[n] for n in names], dtype=float)
    table = pd.DataFrame(
        {
            "arm": names,
            "offline_ndcg": off,
            "online_ctr": on,
            "offline_rank": stats.rankdata(-off, method="min").astype(int),
            "online_rank": stats.rankdata(-on, method="min").astype(int),
        }
    )
    if len(names) < MIN_ARMS_FOR_TAU or np.ptp(off) == 0 or np.ptp(on) == 0:
        return table.sort_values("offline_rank", kind="stable").reset_index(drop=True), float("nan"), float("nan")
    res = stats.kendalltau(off, on)
    return (
        table.sort_values("offline_rank", kind="stable").reset_index(drop=True),
        float(res.statistic),
        float(res.pvalue),
    )
