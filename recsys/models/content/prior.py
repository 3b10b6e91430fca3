"""The popularity prior of a course nobody has taken yet, predicted from its content.

The content models blend a log-popularity prior into every score. A course without a training enrolment
(brand new, or made new by the `new_courses` protocol) would get prior 0 and never reach a top-10 list, so
its prior is predicted instead: log(1 + enrolments) from the course's content -- genres, title + description
(TF-IDF), level and duration when the catalogue has them -- learned on the courses that do have enrolments.

Two predictors compete, chosen per dataset by a seeded 5-fold validation over the enrolled courses (lowest
mean absolute error of log(1 + enrolments) wins; the catalogue median competes as the "content says nothing"
baseline, and wins ties):

- regression: ridge regression of log-enrolments on the content features (penalty chosen by RidgeCV);
- neighbours: the similarity-weighted log-enrolments of the k most similar enrolled courses (cosine on the
  same features, k in NEIGHBOURS; weight 1 / (1 - cosine)).

Whatever the method, a course whose content is that of an enrolled course (cosine >= COPY_COSINE: the same
text, genres, level and duration up to rounding) takes that course's log-enrolments: the identical course is
better evidence than any fit (a ridge fit leaves a residual of ~1.4 log units per course on the built-in data).

A course nobody took yet is ranked with an optimistic prior: the predicted log-enrolments plus an `optimism`
shift (cold-start exploration). Why: even a perfect popularity estimate keeps most new courses out of every
top-10 (on the built-in data, the true enrolments of the new courses would list only 20-33% of them to anyone,
the same long tail as the old courses), so "will my course be shown to the learners it suits?" would be
answered "no" for most courses before they could collect a single enrolment. How much: each content model
calibrates the shift in fit (`ContentRecommender`) so that new courses get their fair share of the lists --
simulated new courses (a seeded 10% of the enrolled courses, priced at their out-of-fold prediction) fill as
many top-10 slots of a seeded learner sample as their share of the catalogue. Without enough data to simulate,
the shift is the 95th percentile of the validation residuals (a one-sided 95% upper bound).

Log because enrolments are heavy-tailed (on real data the top 20 of ~300 courses hold ~60%): an error on
the log scale is an error on the prior's own scale, and a few giant courses cannot dominate the fit.
The learned state is a plain dict (arrays, numbers, the scikit-learn vectorizer), so artifacts stay
pickle-free.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import KFold
from sklearn.preprocessing import normalize

FOLDS = 5
NEIGHBOURS = (5, 10, 20)
ALPHAS = tuple(float(a) for a in np.logspace(-2, 3, 11))
MIN_KNOWN = 2 * FOLDS  # fewer enrolled courses than this: nothing to validate on, the median is the prior
_COPY = 1e-6  # 1 - cosine below this counts as the same content (weight capped at 1 / _COPY)
UPPER = 95.0  # optimism: this percentile of the validation residuals (a one-sided 95% upper bound)
COPY_COSINE = 0.98  # content this close to an enrolled course is that course: its enrolments are the prior


def course_levels_codes(values) -> np.ndarray:
    """0/1/2 per course for Beginner/Intermediate/Advanced; NaN when absent or unknown."""
    from recsys.data.dataset import LEVELS

    codes = {name.lower(): float(i) for i, name in enumerate(LEVELS)}
    out = []
    for v in values:
        key = "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip().lower()
        out.append(codes.get(key, np.nan))
    return np.asarray(out, dtype=np.float64)


def _hours(values) -> np.ndarray:
    out = []
    for v in values:
        try:
            h = float(v)
        except (TypeError, ValueError):
            h = np.nan
        out.append(h if np.isfinite(h) and h > 0 else np.nan)
    return np.asarray(out, dtype=np.float64)


def _text_vectorizer(texts: list[str]) -> TfidfVectorizer | None:
    """TF-IDF over the catalogue texts (min_df 2, else 1); None when the texts have no usable word."""
    for min_df in (2, 1):
        vec = TfidfVectorizer(stop_words="english", min_df=min(min_df, max(1, len(texts))), lowercase=True)
        try:
            vec.fit(texts)
            return vec
        except ValueError:  # empty vocabulary
            continue
    return None


def _features(state: Mapping[str, Any], texts, genres: np.ndarray, levels: np.ndarray, hours: np.ndarray):
    """Content features (courses x features, CSR, rows L2-normalised): each present block -- text, genres,
    level one-hot, standardised log-hours -- normalised on its own so no block dominates by its width."""
    n = len(genres)
    blocks = []
    if state["vectorizer"] is not None:
        blocks.append(normalize(state["vectorizer"].transform(list(texts)).astype(np.float64), norm="l2"))
    if genres.shape[1]:
        blocks.append(sparse.csr_matrix(normalize(np.asarray(genres, dtype=np.float64), norm="l2")))
    if state["use_levels"]:
        onehot = np.zeros((n, 3))
        known = ~np.isnan(levels)
        onehot[np.flatnonzero(known), levels[known].astype(np.int64)] = 1.0
        blocks.append(sparse.csr_matrix(onehot))
    if state["use_hours"]:
        z = (np.log1p(hours) - state["hours_center"]) / state["hours_scale"]
        blocks.append(sparse.csr_matrix(np.nan_to_num(np.clip(z, -3.0, 3.0))[:, None] * 0.5))
    if not blocks:
        return sparse.csr_matrix((n, 1))
    return normalize(sparse.hstack(blocks).tocsr(), norm="l2")


def _neighbour_predict(query, known, targets: np.ndarray, k: int) -> np.ndarray:
    """Similarity-weighted mean target of the k most similar known rows (weight 1 / (1 - cosine))."""
    sims = np.asarray((query @ known.T).todense()) if sparse.issparse(query) else query @ known.T
    k = min(int(k), known.shape[0])
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    near = np.take_along_axis(sims, top, axis=1)
    weights = 1.0 / np.maximum(1.0 - near, _COPY)
    return (weights * targets[top]).sum(axis=1) / weights.sum(axis=1)


def _copies(query, known, targets: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """`predicted`, except where a known row has the same content (cosine >= COPY_COSINE): its target."""
    sims = np.asarray((query @ known.T).todense())
    best = sims.argmax(axis=1)
    same = sims[np.arange(len(best)), best] >= COPY_COSINE
    return np.where(same, targets[best], predicted)


def _fit_predict(method: str, k: int, X_train, y_train, X_test) -> tuple[np.ndarray, dict]:
    fitted: dict[str, Any] = {}
    if method == "median":
        predicted = np.full(X_test.shape[0], float(np.median(y_train)))
    elif method == "regression":
        ridge = RidgeCV(alphas=ALPHAS).fit(X_train, y_train)
        coef = np.asarray(ridge.coef_, dtype=np.float64)
        fitted = {"coef": coef, "intercept": float(ridge.intercept_), "alpha": float(ridge.alpha_)}
        predicted = np.asarray(X_test @ coef).ravel() + fitted["intercept"]
    else:
        predicted = _neighbour_predict(X_test, X_train, y_train, k)
    return _copies(X_test, X_train, y_train, predicted), fitted


def _candidates(n_known: int) -> list[tuple[str, int]]:
    """(method, k) pairs in tie-break order: the median first (simplest), then regression, then neighbours."""
    out = [("median", 0), ("regression", 0)]
    out += [("neighbours", k) for k in NEIGHBOURS if k < n_known * (FOLDS - 1) / FOLDS]
    return out


def fit_content_prior(
    texts: list[str],
    genres: np.ndarray,
    levels,
    hours,
    enrolments: np.ndarray,
    seed: int = 0,
) -> dict[str, Any]:
    """Learn the content prior from the catalogue (one entry per course) and its enrolment counts.

    Returns the plain state dict `predict_log_enrolments` uses: the chosen method, its fitted numbers and the
    validation error of every candidate ("validation_mae", log scale) so the choice can be shown.
    """
    enrolments = np.asarray(enrolments, dtype=np.float64)
    genres = np.asarray(genres, dtype=np.float64).reshape(len(enrolments), -1)
    levels = course_levels_codes(levels)
    hours = _hours(hours)
    logged = np.log1p(hours[~np.isnan(hours)])
    state: dict[str, Any] = {
        "vectorizer": _text_vectorizer(list(texts)),
        "use_levels": bool((~np.isnan(levels)).any()),
        "use_hours": bool(len(logged)),
        "hours_center": float(logged.mean()) if len(logged) else 0.0,
        "hours_scale": float(logged.std()) if len(logged) > 1 and logged.std() > 0 else 1.0,
        "top": float(np.log1p(enrolments.max())) if len(enrolments) and enrolments.max() > 0 else 0.0,
    }
    X = _features(state, texts, genres, levels, hours)
    known = np.flatnonzero(enrolments > 0)
    y = np.log1p(enrolments[known])
    state.update(method="median", k=0, coef=None, intercept=0.0, alpha=None, validation_mae={}, known_features=None)
    state["median"] = float(np.median(y)) if len(y) else 0.0
    state["optimism"] = _upper(y - state["median"])  # the median's own residuals
    if len(known) < MIN_KNOWN:
        return state
    Xk = X[known]
    errors: dict[str, np.ndarray] = {}
    folds = KFold(FOLDS, shuffle=True, random_state=int(seed))
    candidates = _candidates(len(known))
    for train, test in folds.split(known):
        for method, k in candidates:
            predicted, _ = _fit_predict(method, k, Xk[train], y[train], Xk[test])
            errors.setdefault(_name(method, k), np.zeros(len(known)))[test] = predicted - y[test]
    mae = {name: float(np.abs(parts).mean()) for name, parts in errors.items()}
    rmse = {name: float(np.sqrt(np.mean(np.square(parts)))) for name, parts in errors.items()}
    best = min(candidates, key=lambda c: mae[_name(*c)])  # min keeps the first of equal errors
    method, k = best
    _, fitted = _fit_predict(method, k, Xk, y, Xk[:1])
    state.update(
        method=method,
        k=int(k),
        validation_mae=mae,
        validation_rmse=rmse,
        optimism=_upper(-errors[_name(method, k)]),
        known_features=Xk,
        known_targets=y,
        known_courses=known,
        out_of_fold=y + errors[_name(method, k)],  # each enrolled course predicted without its own data
        **fitted,
    )
    return state


def _upper(residuals: np.ndarray) -> float:
    """How far above a prediction the truth lies at the UPPER percentile of the residuals (never below 0)."""
    return float(max(0.0, np.percentile(residuals, UPPER))) if len(residuals) else 0.0


def _name(method: str, k: int) -> str:
    return f"neighbours_{k}" if method == "neighbours" else method


def predict_log_enrolments(state: Mapping[str, Any], texts, genres, levels, hours) -> np.ndarray:
    """Predicted log(1 + enrolments) of courses described by their content, clipped to [0, log(1 + top)]."""
    genres = np.asarray(genres, dtype=np.float64).reshape(len(texts), -1)
    if state.get("known_features") is None:  # too few enrolled courses: the median, no content used
        return np.clip(np.full(len(texts), state["median"]), 0.0, state["top"])
    X = _features(state, texts, genres, course_levels_codes(levels), _hours(hours))
    if state["method"] == "median":
        raw = np.full(len(texts), state["median"])
    elif state["method"] == "regression":
        raw = np.asarray(X @ state["coef"]).ravel() + state["intercept"]
    else:
        raw = _neighbour_predict(X, state["known_features"], state["known_targets"], state["k"])
    raw = _copies(X, state["known_features"], state["known_targets"], raw)
    return np.clip(raw, 0.0, state["top"])


def ranking_log_enrolments(state: Mapping[str, Any], logged: np.ndarray) -> np.ndarray:
    """The log-enrolments a course without enrolments is ranked with: the prediction plus `optimism`."""
    return np.clip(np.asarray(logged, dtype=np.float64) + state["optimism"], 0.0, state["top"])


def describe(state: Mapping[str, Any]) -> str:
    """One line for people: which predictor won and by how much."""
    mae = state.get("validation_mae") or {}
    name = _name(state["method"], state.get("k", 0))
    if not mae:
        return "new-course prior: the median enrolled course (too few enrolled courses to validate a predictor)"
    others = ", ".join(f"{n} {v:.3f}" for n, v in mae.items() if n != name)
    return (
        f"new-course prior: {name} (validation MAE of log-enrolments {mae[name]:.3f}; {others}); "
        f"ranked {state['optimism']:.2f} log units above the prediction until enrolments arrive "
        f"({state.get('optimism_rule') or 'the 95th percentile of the validation residuals'})"
    )
