"""Similarity functions of the neighbourhood models, one per notion of "alike".

* `surprise_similarity`: Surprise's learner-learner formulas (cosine, msd, pearson, pearson_baseline) with
  the same summation order, so exact-valued ratings give identical similarities.
* `asymmetric_cosine`: course-course cosine on who-took-what, common / (n_query^(1-a) * n_neighbour^a).
* `weighted_item_similarity`: course-course similarity of BM25- or TF-IDF-weighted enrolment vectors, by the
  `implicit` library's item-kNN (its n_neighbours best per course).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import sparse

ITEM_WEIGHTINGS = ("bm25", "tfidf")


def surprise_similarity(a: dict, m: dict, name: str, shrinkage: float = 100.0, min_support: int = 1) -> np.ndarray:
    """Similarities between query rows `a` and training learners `m` (dicts of 'bin', 'val', 'sq' matrices:
    binary, value and squared value; query rows x courses, courses x learners)."""

    def product(left, right):
        out = left @ right
        return out.toarray() if sparse.issparse(out) else np.asarray(out)

    freq = product(a["bin"], m["bin"])
    prods = product(a["val"], m["val"])
    sqi = product(a["sq"], m["bin"])
    sqj = product(a["bin"], m["sq"])
    with np.errstate(divide="ignore", invalid="ignore"):
        if name == "cosine":
            sim = prods / np.sqrt(sqi * sqj)
        elif name == "msd":
            sim = 1.0 / ((sqi + sqj - 2.0 * prods) / freq + 1.0)
        elif name == "pearson":
            si = product(a["val"], m["bin"])
            sj = product(a["bin"], m["val"])
            num = freq * prods - si * sj
            den = np.sqrt((freq * sqi - si**2) * (freq * sqj - sj**2))
            sim = np.where(den == 0, 0.0, num / den)
        else:
            sim = prods / np.sqrt(sqi * sqj)
            sim = sim * ((freq - 1) / (freq - 1 + shrinkage))
    if name == "pearson_baseline":
        min_support = max(2, min_support)
    return np.where((freq < min_support) | ~np.isfinite(sim), 0.0, sim)


def asymmetric_cosine(enrolments: sparse.csr_matrix, alpha: float) -> np.ndarray:
    """Course x course co-enrolment / (n_row^(1-alpha) * n_column^alpha); row = your course, column = candidate.

    alpha = 0.5 is the plain cosine; lower values let popular candidates count a little more."""
    co = (enrolments.T @ enrolments).toarray().astype(np.float64)
    n = np.maximum(np.diag(co).copy(), 1.0)
    S = co / (n[:, None] ** (1.0 - alpha)) / (n[None, :] ** alpha)
    np.fill_diagonal(S, 0.0)
    return S


def weighted_item_similarity(
    enrolments: sparse.csr_matrix, weighting: str, n_neighbours: int, bm25_k1: float = 1.2, bm25_b: float = 0.75
) -> np.ndarray:
    """Dense course x course similarity from implicit's BM25Recommender / TFIDFRecommender (each course keeps
    its n_neighbours most similar courses; row = your course, column = candidate; no self-similarity)."""
    from implicit.nearest_neighbours import BM25Recommender, TFIDFRecommender

    if weighting not in ITEM_WEIGHTINGS:
        raise ValueError(f"unknown weighting '{weighting}' (known: {', '.join(ITEM_WEIGHTINGS)})")
    n_items = enrolments.shape[1]
    k = int(min(n_neighbours + 1, n_items))  # +1: implicit counts the course itself among its neighbours
    model = (
        BM25Recommender(K=k, K1=bm25_k1, B=bm25_b, num_threads=1)
        if weighting == "bm25"
        else TFIDFRecommender(K=k, num_threads=1)
    )
    with warnings.catch_warnings():  # implicit warns about its own internal COO -> CSR step
        warnings.filterwarnings("ignore", message="Method expects CSR input")
        model.fit(sparse.csr_matrix(enrolments, dtype=np.float32), show_progress=False)
    S = model.similarity.toarray().astype(np.float64)
    np.fill_diagonal(S, 0.0)
    return np.where(S > 0, S, 0.0)
