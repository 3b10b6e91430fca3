"""Fold a learner into a fitted factor model from their history alone, with the course factors frozen.

* `als_fold_in`: the closed-form implicit-ALS user step (Hu, Koren & Volinsky 2008) -- weighted ridge
  regression of the learner's preference row p_u (1 where r_ui > 0) on the course factors Y with confidence
  c_ui = 1 + alpha * r_ui (1 for courses not taken):

      x_u = (Y^T Y + Y^T (C_u - I) Y + lambda_u I)^-1  Y^T C_u p_u

  This is exactly what `implicit`'s `recalculate_user=True` computes when it is given the confidence matrix
  1 + alpha * r (see factorization/als.py), so a folded-in learner equals the library's answer. It is written
  against plain arrays (no `implicit` object) so any implicit-ALS model -- e.g. Spark's ALS(implicitPrefs=True),
  which uses the same confidence and scales lambda by the learner's number of ratings
  (`scale_regularization=True`) -- can reuse it.
* `bpr_fold_in`: BPR has no closed form. The learner's factors are fitted by gradient ascent on their BPR
  objective (mean log-sigmoid of taken-minus-not-taken score differences, L2 penalty as in training) with
  Nesterov momentum and a step of 1/L (L bounds the curvature). The gradient is taken over *all*
  (taken, not taken) pairs -- with a few hundred courses that is cheap and it is the expectation of the
  sampled SGD step, so the result is deterministic without a random stream.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

_CHUNK_FLOATS = 4_000_000  # floats held at once per chunk of learners


def als_fold_in(
    histories,
    item_factors: np.ndarray,
    regularization: float,
    alpha: float,
    scale_regularization: bool = False,
    gram: np.ndarray | None = None,
) -> np.ndarray:
    """Implicit-ALS learner factors (n_learners x n_factors, float64) for a batch of history rows.

    `histories`: learners x courses, value r_ui > 0 where the learner took the course (the same values the
    model was trained on). A row without history gets zero factors. `gram` = Y^T Y, if the caller keeps it.
    """
    H = sparse.csr_matrix(histories, dtype=np.float64)
    H.eliminate_zeros()
    Y = np.asarray(item_factors, dtype=np.float64)
    f = Y.shape[1]
    base = Y.T @ Y if gram is None else np.asarray(gram, dtype=np.float64)
    out = np.zeros((H.shape[0], f))
    rows = max(1, _CHUNK_FLOATS // (f * f))
    for start in range(0, H.shape[0], rows):
        C = H[start : start + rows]
        if C.nnz == 0:
            continue
        cols = np.unique(C.indices)  # only the courses this chunk touches
        Ys = Y[cols]
        Cs = C[:, cols]
        confidence_minus_one = Cs.copy()
        confidence_minus_one.data = float(alpha) * Cs.data
        outer = np.einsum("if,ig->ifg", Ys, Ys).reshape(len(cols), f * f)
        A = (confidence_minus_one @ outer).reshape(-1, f, f) + base
        lam = float(regularization) * (np.diff(C.indptr) if scale_regularization else np.ones(C.shape[0]))
        A[:, np.arange(f), np.arange(f)] += lam[:, None]
        confidence = Cs.copy()
        confidence.data = 1.0 + float(alpha) * Cs.data
        b = np.asarray(confidence @ Ys)
        has = np.diff(C.indptr) > 0
        out[start : start + C.shape[0]][has] = np.linalg.solve(A[has], b[has][..., None])[..., 0]
    return out


def bpr_auc(scores: np.ndarray, taken: np.ndarray) -> float:
    """Share of (taken, not taken) course pairs a learner's scores order correctly (ties count half)."""
    taken = np.asarray(taken, dtype=bool)
    pos, neg = scores[taken], scores[~taken]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)


def bpr_fold_in(
    histories,
    item_factors: np.ndarray,
    item_bias: np.ndarray,
    regularization: float,
    steps: int = 30,
    init: np.ndarray | None = None,
) -> np.ndarray:
    """BPR learner factors (n_learners x n_factors) for a batch of history rows, course factors frozen.

    Score of course j = x . item_factors[j] + item_bias[j]. `init` (n_factors,) is the starting point of every
    learner (e.g. the average training learner); a row without history keeps it.
    """
    H = sparse.csr_matrix(histories, dtype=np.float64)
    H.eliminate_zeros()
    Y = np.asarray(item_factors, dtype=np.float64)
    bias = np.asarray(item_bias, dtype=np.float64)
    n, n_items = H.shape
    f = Y.shape[1]
    start_point = np.zeros(f) if init is None else np.asarray(init, dtype=np.float64)
    out = np.tile(start_point, (n, 1))
    lengths = np.diff(H.indptr)
    # Curvature bound of the mean log-sigmoid pair loss: 1/4 max ||y_i - y_j||^2 <= max ||y||^2.
    step = 1.0 / (float(np.max(np.einsum("if,if->i", Y, Y))) + float(regularization) + 1e-12)
    kernel = _BPRKernel(Y, bias, float(regularization), step, start_point)
    order = np.argsort(lengths, kind="stable")  # similar lengths together: little padding
    order = order[lengths[order] > 0]
    pos = 0
    while pos < len(order):
        # grow the chunk while the longest history in it keeps the padded block within budget
        end = pos + 1
        while end < len(order) and (end - pos + 1) * n_items * int(lengths[order[end]]) <= _BPR_BLOCK_FLOATS:
            end += 1
        rows = order[pos:end]
        out[rows] = kernel.ascend(H[rows], int(steps))
        pos = end
    return out


_BPR_BLOCK_FLOATS = 1_000_000  # float32 (learners x history x courses) block: a few MB, stays in cache


class _BPRKernel:
    """Nesterov gradient ascent on the BPR objective for a chunk of learners, in float32.

    sigma(a - c) = (1 + tanh(a/2 - c/2)) / 2, and numpy's float32 tanh is vectorised (~15x faster than
    `expit`), so the pair block is one subtract, one tanh and two sums per step. Every (taken, course) pair is
    evaluated, then the (taken, taken) pairs -- a small history x history block -- are taken back out; a
    padded history slot has score +inf, so its tanh is -1 and 1 + tanh adds an exact 0 (a learner's factors do
    not depend on who shares the chunk). Float32 moves the learner factors by ~1e-6 against float64 and
    leaves the top-10 lists as they were (tests/test_models_baselines.py).
    """

    def __init__(self, Y: np.ndarray, bias: np.ndarray, reg: float, step: float, start: np.ndarray):
        self.Y = np.ascontiguousarray(Y, dtype=np.float32)
        self.half_YT = np.ascontiguousarray(0.5 * self.Y.T)
        self.half_bias = (0.5 * bias).astype(np.float32)
        self.reg = np.float32(reg)
        self.step = np.float32(step)
        self.start = start.astype(np.float32)

    def ascend(self, H: sparse.csr_matrix, steps: int) -> np.ndarray:
        n, n_items = H.shape
        lengths = np.diff(H.indptr)
        width = int(lengths.max())
        valid = np.arange(width)[None, :] < lengths[:, None]
        taken_idx = np.zeros((n, width), dtype=np.int64)
        taken_idx[valid] = H.indices
        not_taken = np.ones((n, n_items), dtype=np.float32)
        not_taken[np.repeat(np.arange(n), lengths), H.indices] = 0.0
        pairs = (lengths * (n_items - lengths)).astype(np.float32)
        pairs[pairs == 0] = 1.0
        half_pairs = (0.5 / pairs)[:, None]
        padding = np.where(valid, 0.0, np.inf).astype(np.float32)
        taken_pair = valid[:, None, :]  # (n, 1, width): the j of a (taken i, taken j) pair is a real course
        Yp = self.Y[taken_idx]  # (n, width, f)
        learner = np.arange(n)[:, None]
        block = np.empty((n, width, n_items), dtype=np.float32)
        x = np.tile(self.start, (n, 1))
        previous = x.copy()
        for t in range(steps):
            look = x + np.float32(t / (t + 3.0)) * (x - previous)  # Nesterov look-ahead
            half = look @ self.half_YT + self.half_bias  # half scores
            half_taken = half[learner, taken_idx]
            anchor = half_taken + padding
            np.subtract(half[:, None, :], anchor[:, :, None], out=block)
            np.tanh(block, out=block)
            block += 1.0  # 2 sigma(s_j - s_i); exactly 0 in a padded slot
            per_course = block.sum(axis=1) * not_taken
            both_taken = np.tanh(half_taken[:, None, :] - anchor[:, :, None]) + 1.0
            per_taken = block.sum(axis=2) - (both_taken * taken_pair).sum(axis=2)
            grad = (np.einsum("np,npf->nf", per_taken, Yp) - per_course @ self.Y) * half_pairs - self.reg * look
            previous, x = x, look + self.step * grad
        return x.astype(np.float64)


def als_contributions(
    history_row,
    item_factors: np.ndarray,
    regularization: float,
    alpha: float,
    items,
    scale_regularization: bool = False,
    gram: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(taken course indices, their contribution to each of `items`' scores) for one learner.

    The folded-in score is linear in the taken courses: score_j = sum_i c_i y_i^T A^-1 y_j (Hu et al.'s
    explanation), so each taken course's share of a recommendation is exact. Returns (taken, taken x items).
    """
    row = sparse.csr_matrix(history_row, dtype=np.float64)
    row.eliminate_zeros()
    taken, r = row.indices, row.data
    Y = np.asarray(item_factors, dtype=np.float64)
    Yt = Y[taken]
    lam = float(regularization) * (len(taken) if scale_regularization else 1.0)
    A = (Y.T @ Y if gram is None else gram) + (Yt.T * (float(alpha) * r)) @ Yt + lam * np.eye(Y.shape[1])
    weighted = (1.0 + float(alpha) * r)[:, None] * Yt  # c_i y_i
    return taken, weighted @ np.linalg.solve(A, Y[np.asarray(items, dtype=np.int64)].T)


def taste_reasons(taken, contributions, items, titles, enrolments) -> list[str]:
    """Learner-facing reasons from `als_contributions`: the taken course that adds most to each recommended
    course's score, or its popularity when none adds anything (a new learner with no history)."""
    reasons = []
    for n, j in enumerate(items):
        if len(taken) and contributions[:, n].max() > 0:
            reasons.append(f"fits the tastes of learners who took {titles[taken[np.argmax(contributions[:, n])]]}")
        else:
            reasons.append(f"popular: {int(enrolments[j]):,} learners enrolled")
    return reasons
