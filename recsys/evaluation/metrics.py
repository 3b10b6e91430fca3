"""Vectorized top-K and rating metrics over a (learners x K) matrix of recommended course indices.

Conventions (the same for every model, CLI and app):

* `top` holds catalogue indices, best first; -1 pads lists shorter than K (a model may refuse courses
  with -inf). Padding counts as a miss, so precision@K always divides by K.
* Relevance is binary: every held-out (test) course of a learner is relevant, whatever its rating.
* recall@K = hits / |relevant|; ndcg@K uses gain 1 and discount 1/log2(rank + 1), normalised by the ideal
  list of min(|relevant|, K) hits; map@K = sum of precision at each hit / min(|relevant|, K).
* coverage@K = share of the catalogue recommended to at least one evaluated learner (one number).
* diversity@K = mean over pairs in a list of 1 - cosine(genre vectors) (a course without genres counts as
  fully dissimilar); NaN for lists with fewer than 2 courses.
* novelty@K = mean self-information -log2 p(i) of the listed courses, p(i) = (learners who took i in
  train + 1) / (train learners + 1), so courses nobody took in train stay finite.

Product KPIs (`product_kpis`, one number per model over every evaluated learner's top-K list; the product
seeds set targets: >= 25% niche, ~6 topics per learner, a 30/40/30 level mix, new courses surfaced):

* head courses = the most-enrolled courses that together hold the top `head_share` (default 20%) of all
  training enrolments (`head_courses`); every other course is niche (the tail).
* niche_share@K = share of listed slots holding a niche course.
* level_<level>@K = share of listed slots per course LEVEL (slots of courses without a level left out);
  level_distance@K = total variation distance 0.5 * sum |mix - target| to the target mix (default 30/40/30),
  0 = on target, 1 = disjoint.
* distinct_genres@K = mean number of distinct genres covered by one list.
* aggregate_diversity@K = number of distinct courses recommended to anyone (coverage@K is its share).
* exposure_gini@K = Gini coefficient of how often each catalogue course is listed (0 = every course shown
  equally often, towards 1 = a few courses take all the exposure).
* popularity_percentile@K = mean popularity percentile of the listed courses (mid-rank percentile of
  training enrolments over the catalogue: 0 = least taken, 100 = most taken).
"""

from __future__ import annotations

import re

import numpy as np
from scipy import sparse

from recsys.models import serving

RANKING = ("precision", "recall", "ndcg", "map", "hit_rate")
LIST = ("diversity", "novelty")
CATALOGUE = ("coverage",)
RATING = ("rmse", "mae")
PER_LEARNER = RANKING + LIST
TOP_K = ("precision", "recall", "ndcg", "map", "hit_rate", "coverage", "diversity", "novelty")
LOWER_IS_BETTER = frozenset(RATING)

_METRIC = re.compile(r"^([a-z_]+)(?:@(\d+))?$")


def metric_names(k: int) -> list[str]:
    """All reported metric keys for cut-off k, in display order, e.g. 'precision@10', ..., 'rmse', 'mae'."""
    return [f"{m}@{k}" for m in TOP_K] + list(RATING)


def parse_metric(name: str, default_k: int | None = None) -> tuple[str, int | None]:
    """'ndcg@10' -> ('ndcg', 10); 'rmse' -> ('rmse', None). Raises ValueError for unknown metrics."""
    match = _METRIC.match(str(name).strip().lower())
    known = ", ".join([f"{m}@K" for m in TOP_K] + list(RATING))
    if not match:
        raise ValueError(f"unknown metric '{name}' (known: {known})")
    base, k = match.group(1), match.group(2)
    if base in RATING:
        if k is not None:
            raise ValueError(f"metric '{base}' takes no @K cut-off, got '{name}'")
        return base, None
    if base not in TOP_K:
        raise ValueError(f"unknown metric '{name}' (known: {known})")
    k = int(k) if k is not None else default_k
    if k is None or k < 1:
        raise ValueError(f"metric '{name}' needs a cut-off K >= 1, e.g. '{base}@10'")
    return base, k


# ----- ranking ------------------------------------------------------------------------------------
# Evaluation ranks with the serving policy's own top-k (stable tie-break, excluded and -inf courses never
# listed), so a learner's list in a comparison is the list the Recommend page would show.
top_k = serving.top_k


def hit_matrix(top: np.ndarray, relevant: sparse.csr_matrix) -> np.ndarray:
    """Boolean (learners x K): is the course at each rank relevant to that learner?"""
    relevant = sparse.csr_matrix(relevant)
    relevant.sort_indices()
    n_items = relevant.shape[1]
    rows = np.repeat(np.arange(relevant.shape[0], dtype=np.int64), np.diff(relevant.indptr))
    rel_keys = rows * n_items + relevant.indices.astype(np.int64)  # sorted: rows ascending, then columns
    keys = np.arange(top.shape[0], dtype=np.int64)[:, None] * n_items + top
    if len(rel_keys) == 0:
        return np.zeros(top.shape, dtype=bool)
    pos = np.minimum(np.searchsorted(rel_keys, keys), len(rel_keys) - 1)
    return (rel_keys[pos] == keys) & (top >= 0)


def precision_at_k(hits: np.ndarray) -> np.ndarray:
    return hits.sum(axis=1) / hits.shape[1]


def recall_at_k(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    return hits.sum(axis=1) / np.maximum(n_relevant, 1)


def ndcg_at_k(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    discounts = 1.0 / np.log2(np.arange(2, hits.shape[1] + 2))
    dcg = hits @ discounts
    ideal = np.concatenate(([0.0], np.cumsum(discounts)))[np.minimum(n_relevant, hits.shape[1])]
    return np.divide(dcg, ideal, out=np.zeros(len(dcg)), where=ideal > 0)


def map_at_k(hits: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    """Average precision@K per learner (normalised by min(|relevant|, K))."""
    precision_at_rank = np.cumsum(hits, axis=1) / np.arange(1, hits.shape[1] + 1)
    denom = np.minimum(n_relevant, hits.shape[1])
    return np.divide((precision_at_rank * hits).sum(axis=1), denom, out=np.zeros(len(hits)), where=denom > 0)


def hit_rate_at_k(hits: np.ndarray) -> np.ndarray:
    return hits.any(axis=1).astype(np.float64)


def coverage_at_k(top: np.ndarray, n_items: int) -> float:
    """Share of the catalogue that appears in at least one list."""
    listed = np.unique(top[top >= 0])
    return float(len(listed) / n_items) if n_items else 0.0


def diversity_at_k(top: np.ndarray, genre_matrix: np.ndarray) -> np.ndarray:
    """Mean pairwise 1 - cosine(genre vectors) within each list; NaN for lists with < 2 courses."""
    g = np.asarray(genre_matrix, dtype=np.float64)
    norms = np.linalg.norm(g, axis=1, keepdims=True)
    unit = np.divide(g, norms, out=np.zeros_like(g), where=norms > 0)
    valid = top >= 0
    vectors = unit[np.where(valid, top, 0)] * valid[..., None]  # learners x K x genres
    summed = vectors.sum(axis=1)
    # sum over ordered pairs i != j of v_i . v_j = |sum v|^2 - sum |v|^2
    pair_sim = (summed * summed).sum(axis=1) - (vectors * vectors).sum(axis=(1, 2))
    m = valid.sum(axis=1)
    pairs = m * (m - 1)
    out = np.full(len(top), np.nan)
    ok = pairs > 0
    out[ok] = 1.0 - pair_sim[ok] / pairs[ok]
    return out


def self_information(train_matrix: sparse.spmatrix) -> np.ndarray:
    """-log2 p(i) per course, p(i) = (train learners who took i + 1) / (train learners + 1)."""
    m = sparse.csr_matrix(train_matrix)
    takers = np.bincount(m.indices, minlength=m.shape[1]).astype(np.float64)
    return -np.log2((takers + 1.0) / (m.shape[0] + 1.0))


def novelty_at_k(top: np.ndarray, info: np.ndarray) -> np.ndarray:
    """Mean self-information of the listed courses; NaN for empty lists."""
    valid = top >= 0
    total = np.where(valid, np.asarray(info)[np.where(valid, top, 0)], 0.0).sum(axis=1)
    m = valid.sum(axis=1)
    return np.divide(total, m, out=np.full(len(top), np.nan), where=m > 0)


def per_learner_metrics(
    top: np.ndarray, relevant: sparse.csr_matrix, genre_matrix: np.ndarray, info: np.ndarray
) -> dict[str, np.ndarray]:
    """Every per-learner top-K metric (keys 'precision@K', ...) for the rows of `top` / `relevant`."""
    k = top.shape[1]
    relevant = sparse.csr_matrix(relevant)
    hits = hit_matrix(top, relevant)
    n_rel = np.diff(relevant.indptr)
    return {
        f"precision@{k}": precision_at_k(hits),
        f"recall@{k}": recall_at_k(hits, n_rel),
        f"ndcg@{k}": ndcg_at_k(hits, n_rel),
        f"map@{k}": map_at_k(hits, n_rel),
        f"hit_rate@{k}": hit_rate_at_k(hits),
        f"diversity@{k}": diversity_at_k(top, genre_matrix),
        f"novelty@{k}": novelty_at_k(top, info),
    }


# ----- product KPIs ------------------------------------------------------------------------------
LEVEL_NAMES = ("Beginner", "Intermediate", "Advanced")
DEFAULT_LEVEL_TARGET = (0.3, 0.4, 0.3)
DEFAULT_HEAD_SHARE = 0.2


def enrolments(train_matrix: sparse.spmatrix) -> np.ndarray:
    """Training learners per course (catalogue order)."""
    m = sparse.csr_matrix(train_matrix)
    return np.bincount(m.indices, minlength=m.shape[1]).astype(np.float64)


def check_head_share(head_share) -> float:
    try:
        value = float(head_share)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0.0 < value < 1.0:
        raise ValueError(f"head_share must be between 0 and 1 (exclusive), e.g. 0.2; got {head_share!r}")
    return value


def check_level_target(target, names=LEVEL_NAMES) -> tuple[float, ...]:
    """A target level mix as shares summing to 1 (given as shares or percentages, e.g. 30,40,30)."""
    try:
        values = np.asarray([float(t) for t in target], dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"level target must be {len(names)} numbers ({'/'.join(names)}), got {target!r}") from None
    if len(values) != len(names) or (values < 0).any() or not np.isfinite(values).all() or values.sum() <= 0:
        raise ValueError(
            f"level target must be {len(names)} non-negative shares ({'/'.join(names)}) with a positive "
            f"sum, e.g. 30,40,30; got {list(target)}"
        )
    return tuple(float(v) for v in values / values.sum())


def head_courses(enrolment: np.ndarray, head_share: float = DEFAULT_HEAD_SHARE) -> np.ndarray:
    """Boolean mask of head courses: the fewest most-enrolled courses holding >= `head_share` of enrolments.

    Courses are taken by enrolments, most first (ties in catalogue order) until their running total reaches
    head_share x total; with no enrolments at all there is no head.
    """
    head_share = check_head_share(head_share)
    enrolment = np.asarray(enrolment, dtype=np.float64)
    head = np.zeros(len(enrolment), dtype=bool)
    total = enrolment.sum()
    if total <= 0:
        return head
    order = np.argsort(-enrolment, kind="stable")
    before = np.concatenate(([0.0], np.cumsum(enrolment[order])[:-1]))  # enrolments held by earlier courses
    head[order[(before < head_share * total) & (enrolment[order] > 0)]] = True
    return head


def _listed(top: np.ndarray) -> np.ndarray:
    top = np.asarray(top)
    return top[top >= 0]


def niche_share(top: np.ndarray, head: np.ndarray) -> float:
    """Share of listed slots that hold a niche (non-head) course; NaN when nothing is listed."""
    listed = _listed(top)
    return float(np.mean(~np.asarray(head, dtype=bool)[listed])) if len(listed) else float("nan")


def level_mix(top: np.ndarray, levels, names=LEVEL_NAMES) -> dict[str, float]:
    """Share of listed slots per level (slots of courses without a known level are left out); NaN if none."""
    levels = np.asarray(levels, dtype=object)
    listed = levels[_listed(top)]
    known = np.isin(listed, list(names))
    if not known.any():
        return {name: float("nan") for name in names}
    return {name: float(np.mean(listed[known] == name)) for name in names}


def level_distance(mix, target=DEFAULT_LEVEL_TARGET) -> float:
    """Total variation distance 0.5 * sum |mix - target| (target renormalised to sum 1); NaN for an unknown mix."""
    mix = np.asarray(list(mix.values()) if isinstance(mix, dict) else mix, dtype=np.float64)
    target = np.asarray(check_level_target(target, names=[str(i + 1) for i in range(len(mix))]), dtype=np.float64)
    if np.isnan(mix).any():
        return float("nan")
    return float(0.5 * np.abs(mix - target).sum())


def distinct_genres(top: np.ndarray, genre_matrix: np.ndarray) -> np.ndarray:
    """Per list: how many distinct genres its courses cover (0 for an empty list)."""
    g = np.asarray(genre_matrix) > 0
    valid = top >= 0
    covered = (g[np.where(valid, top, 0)] & valid[..., None]).any(axis=1)  # learners x genres
    return covered.sum(axis=1).astype(np.float64)


def aggregate_diversity(top: np.ndarray) -> int:
    """Number of distinct courses recommended to at least one learner."""
    return int(len(np.unique(_listed(top))))


def exposure_counts(top: np.ndarray, n_items: int) -> np.ndarray:
    return np.bincount(_listed(top), minlength=n_items).astype(np.float64)


def gini(values) -> float:
    """Gini coefficient of non-negative values (0 = all equal); NaN for an all-zero or empty input."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    n, total = len(x), x.sum()
    if n == 0 or total <= 0:
        return float("nan")
    ranks = np.arange(1, n + 1)
    return float(((2 * ranks - n - 1) * x).sum() / (n * total))


def exposure_gini(top: np.ndarray, n_items: int) -> float:
    """Gini of list appearances over the whole catalogue (courses never listed count as zero exposure)."""
    return gini(exposure_counts(top, n_items))


def popularity_percentile(enrolment: np.ndarray) -> np.ndarray:
    """Mid-rank percentile of each course's enrolments: 100 * (#less + 0.5 * #equal) / n_courses."""
    from scipy.stats import rankdata

    enrolment = np.asarray(enrolment, dtype=np.float64)
    if len(enrolment) == 0:
        return enrolment
    return 100.0 * (rankdata(enrolment, method="average") - 0.5) / len(enrolment)


def mean_popularity_percentile(top: np.ndarray, percentile: np.ndarray) -> float:
    listed = _listed(top)
    return float(np.mean(np.asarray(percentile)[listed])) if len(listed) else float("nan")


def kpi_names(k: int, level_names=LEVEL_NAMES) -> list[str]:
    """Product KPI keys for cut-off k, in display order."""
    return (
        [f"niche_share@{k}"]
        + [f"level_{n.lower()}@{k}" for n in level_names]
        + [
            f"level_distance@{k}",
            f"distinct_genres@{k}",
            f"aggregate_diversity@{k}",
            f"exposure_gini@{k}",
            f"popularity_percentile@{k}",
        ]
    )


KPI_HIGHER_IS_BETTER = {
    "niche_share": True,
    "level_distance": False,
    "distinct_genres": True,
    "aggregate_diversity": True,
    "exposure_gini": False,
    "popularity_percentile": False,
}


def product_kpis(
    top: np.ndarray,
    enrolment: np.ndarray,
    genre_matrix: np.ndarray,
    levels=None,
    head_share: float = DEFAULT_HEAD_SHARE,
    level_target=DEFAULT_LEVEL_TARGET,
) -> dict[str, float]:
    """Every product KPI (keys from `kpi_names`) for a (learners x K) matrix of top-K lists.

    `levels`: one LEVEL per catalogue course (None/absent -> level KPIs are NaN).
    """
    k = top.shape[1]
    n_items = len(enrolment)
    head = head_courses(enrolment, head_share)
    mix = level_mix(top, levels if levels is not None else np.full(n_items, None, dtype=object))
    genres = distinct_genres(top, genre_matrix)
    out = {f"niche_share@{k}": niche_share(top, head)}
    out.update({f"level_{name.lower()}@{k}": share for name, share in mix.items()})
    out[f"level_distance@{k}"] = level_distance(mix, level_target)
    out[f"distinct_genres@{k}"] = float(genres.mean()) if len(genres) else float("nan")
    out[f"aggregate_diversity@{k}"] = float(aggregate_diversity(top))
    out[f"exposure_gini@{k}"] = exposure_gini(top, n_items)
    out[f"popularity_percentile@{k}"] = mean_popularity_percentile(top, popularity_percentile(enrolment))
    return out


# ----- rating prediction --------------------------------------------------------------------------
def rmse(errors: np.ndarray) -> float:
    errors = np.asarray(errors, dtype=np.float64)
    return float(np.sqrt(np.mean(errors**2))) if len(errors) else float("nan")


def mae(errors: np.ndarray) -> float:
    errors = np.asarray(errors, dtype=np.float64)
    return float(np.mean(np.abs(errors))) if len(errors) else float("nan")
