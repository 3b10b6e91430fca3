"""Top-k and chunking kernels shared by the neighbourhood models: exact, tie-stable, no Python loops per row."""

from __future__ import annotations

import numpy as np
from scipy import sparse


def chunks(lengths: np.ndarray, budget: int):
    """Consecutive (lo, hi) slices whose summed lengths stay near `budget` (at least one item each)."""
    n = len(lengths)
    if n == 0:
        return
    csum = np.cumsum(lengths)
    lo = 0
    while lo < n:
        base = csum[lo - 1] if lo else 0
        hi = int(np.searchsorted(csum, base + budget, side="right"))
        hi = max(hi, lo + 1)
        yield lo, min(hi, n)
        lo = hi


def keep_top_k_per_column(S: np.ndarray, k: int) -> np.ndarray:
    """Zero all but the k largest positive entries of each column (ties: lower row index first)."""
    n = S.shape[0]
    if k >= n:
        return np.where(S > 0, S, 0.0)
    order = np.lexsort((np.broadcast_to(np.arange(n)[:, None], S.shape), -S), axis=0)[:k]
    out = np.zeros_like(S)
    cols = np.broadcast_to(np.arange(n)[None, :], order.shape)
    out[order, cols] = S[order, cols]
    return np.where(out > 0, out, 0.0)


def dense_transpose(m: sparse.csr_matrix) -> np.ndarray:
    """m.T as a C-contiguous dense array, written straight from the sparse entries."""
    out = np.zeros((m.shape[1], m.shape[0]))
    out[m.indices, np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))] = m.data
    return out


def top_k_mask(sim: np.ndarray, k: int) -> np.ndarray:
    """Each row's k largest *positive* values; ties at the k-th value go to the lower column first (the
    order of a stable sort, i.e. heapq.nlargest over a list in column order)."""
    n, m = sim.shape
    if k >= m:
        return sim > 0
    kth = np.partition(sim, m - k, axis=1)[:, m - k]  # the k-th largest value of each row
    keep = sim > np.maximum(kth, 0)[:, None]
    need = k - np.count_nonzero(keep, axis=1)
    # Non-positive ties are dropped anyway, so only a positive k-th value needs a tie-break.
    r, c = np.nonzero(sim == np.where(kth > 0, kth, np.nan)[:, None])  # row-major: lower columns first
    if len(r):
        rank = np.arange(len(r)) - np.searchsorted(r, np.arange(n))[r]
        take = rank < need[r]
        keep[r[take], c[take]] = True
    return keep


def top_k_rows(sim: np.ndarray, k: int) -> sparse.csr_matrix:
    """Sparse matrix keeping each row's k largest positive values (ties: lower column index first)."""
    r, c = np.nonzero(top_k_mask(sim, k))
    return sparse.csr_matrix((sim[r, c], (r, c)), shape=sim.shape)
