"""Shared pieces of the content models (user_profile, course_similarity, clustering, clustering_pca).

All four score a learner from their history row, fall back to a popularity prior when the history is
empty, and blend a personal signal with a popularity signal:

    score = (1 - w) * personal + w * popular + extra,    blocked courses -> -inf

How much popularity helps depends on the data (it dominates real enrolments, but by how much varies), so
with `auto_weight` the weight w is chosen in fit: a seeded sample of training learners each hides one
course, and the w on a 0..1 grid with the best NDCG@10 on those hidden courses wins. Only training data is
used, so evaluation on a separate test split stays honest.

A course nobody took in training (brand new, or made new by the new_courses protocol) gets the prior its
content predicts (`prior.py`: validated ridge or nearest-content-neighbour estimate, ranked one validation
error optimistic) instead of 0, in `score_histories`, `recommend` and `score_new_course` alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy import sparse

from recsys.models.base import Recommender
from recsys.models.content.prior import fit_content_prior, predict_log_enrolments, ranking_log_enrolments
from recsys.models.params import HyperParam

CALIBRATION_LEARNERS = 5000  # learners sampled to choose the blend weight (enough for ~0.005 NDCG noise)
NEW_COURSE_SHARE = 0.1  # enrolled courses simulated as new to calibrate the new-course optimism
WEIGHT_GRID = np.round(np.linspace(0.0, 1.0, 21), 2)


def blend_params(
    default_weight: float, what: str, seed_help: str = "the learners sampled to choose the weight"
) -> tuple[HyperParam, ...]:
    """The blend hyperparameters shared by the content models (`what` names the personal signal)."""
    return (
        HyperParam(
            "auto_weight",
            "bool",
            True,
            help="Choose the popularity weight in fit (best NDCG@10 on a seeded one-course holdout of "
            "training learners); off = use popularity_weight as given",
        ),
        HyperParam(
            "popularity_weight",
            "float",
            default_weight,
            tune_grid=(0.2, 0.4, 0.6, 0.8),
            low=0.0,
            high=1.0,
            step=0.05,
            help=f"Share of the score from popularity, the rest from {what} (0 = {what} only, "
            f"1 = popularity only); used when auto_weight is off",
        ),
        HyperParam(
            "seed",
            "int",
            0,
            low=0,
            high=2**31 - 1,
            role="seed",
            step=1,
            help=f"Seed of the random choices in fit ({seed_help})",
        ),
    )


def course_texts(dataset) -> list[str]:
    """TITLE + DESCRIPTION per catalogue course; bag-of-words tokens stand in for a missing DESCRIPTION."""
    courses = dataset.courses
    titles = courses["TITLE"].fillna("").astype(str)
    if "DESCRIPTION" in courses:
        body = courses["DESCRIPTION"].fillna("").astype(str)
    elif dataset.bows is not None and len(dataset.bows) and {"doc_id", "token", "bow"} <= set(dataset.bows):
        bows = dataset.bows
        words = (bows["token"].astype(str) + " ").str.repeat(bows["bow"].clip(lower=1).astype(int))
        joined = words.groupby(bows["doc_id"].astype(str).str.strip()).sum()
        body = courses["COURSE_ID"].astype(str).map(joined).fillna("")
    else:
        body = pd.Series([""] * len(courses))
    return [f"{t} {d}".strip() for t, d in zip(titles, body)]


class BlendParts(NamedTuple):
    """Score components for a batch: personal (n x I), popular (n x I or 1 x I), extra (or None), blocked."""

    personal: np.ndarray
    popular: np.ndarray
    extra: np.ndarray | None = None
    blocked: np.ndarray | None = None  # boolean n x I: never recommend


def blend(parts: BlendParts, weight: float) -> np.ndarray:
    score = (1.0 - weight) * parts.personal + weight * parts.popular
    if parts.extra is not None:
        score = score + parts.extra
    if parts.blocked is not None:
        score[parts.blocked] = -np.inf
    return score


def holdout_ndcg10(scores: np.ndarray, history: sparse.csr_matrix, hidden: np.ndarray) -> float:
    """Mean NDCG@10 of one hidden course per row, history excluded, ties by catalogue order (as `rank`)."""
    scores = scores.copy()
    rows = np.repeat(np.arange(history.shape[0]), np.diff(history.indptr))
    scores[rows, history.indices] = -np.inf
    target = scores[np.arange(len(hidden)), hidden][:, None]
    cols = np.arange(scores.shape[1])[None, :]
    rank = (scores > target).sum(axis=1) + ((scores == target) & (cols < hidden[:, None])).sum(axis=1)
    gain = np.where(np.isfinite(target[:, 0]) & (rank < 10), 1.0 / np.log2(rank + 2.0), 0.0)
    return float(gain.mean())


def popularity_prior(matrix: sparse.csr_matrix, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """Enrolment counts and a log-popularity prior scaled to [0, 1].

    Log because enrolments are heavy-tailed (top 20 courses hold ~60%): a linear prior would drown any
    content signal, a log prior only breaks ties and nudges towards courses people actually finish.
    """
    counts = np.bincount(matrix.indices, minlength=n_items).astype(np.float64)
    top = np.log1p(counts.max()) if counts.max() > 0 else 1.0
    return counts, np.log1p(counts) / top


def rating_weights(histories: sparse.csr_matrix, top_rating: float) -> sparse.csr_matrix:
    """History rows with each rating divided by the top of the scale (a completion weighs 1, an audit less)."""
    weights = histories.astype(np.float64, copy=True)
    weights.data = np.clip(weights.data / float(top_rating), 0.0, None)
    return weights


def genre_profiles(
    histories: sparse.csr_matrix, genre_matrix: np.ndarray, top_rating: float, norm: str = "l2"
) -> np.ndarray:
    """Rating-weighted sum of the genre vectors of each learner's courses (n x n_genres), row-normalized.

    `norm` "l2" (unit length: cosine matching and clustering), "l1" (genre shares) or "none" (raw sums).
    """
    profile = np.asarray(rating_weights(histories, top_rating) @ genre_matrix, dtype=np.float64)
    if norm == "l2":
        scale = np.linalg.norm(profile, axis=1, keepdims=True)
    elif norm == "l1":
        scale = np.abs(profile).sum(axis=1, keepdims=True)
    else:
        return profile
    return profile / np.where(scale > 0, scale, 1.0)


def top_genres(weights: np.ndarray, names: list[str], k: int = 2) -> list[str]:
    """Names of the `k` largest positive weights, largest first."""
    order = np.argsort(-weights, kind="stable")[:k]
    return [names[g] for g in order if weights[g] > 0]


class ContentRecommender(Recommender):
    """Base of the four content models: popularity prior, history validation, the empty-history fallback and
    the (optionally calibrated) popularity blend.

    Subclasses implement `_fit_content`, `_parts` (components for rows with at least one rated course) and
    `_explain`, and have the `auto_weight`, `popularity_weight` and `seed` hyperparameters.
    """

    param_conditions = {"popularity_weight": ("auto_weight", (False,))}  # the UI hides it while auto_weight is on

    def _fit(self, dataset, progress) -> None:
        self.enrolments_, self.prior_ = popularity_prior(dataset.matrix, dataset.n_items)
        self.genre_matrix_ = np.asarray(dataset.genre_matrix, dtype=np.float64)
        self.top_rating_ = self.rating_scale_[1]
        self._fit_new_course_prior(dataset)
        self._fit_content(dataset, progress)
        if progress:
            progress(0.9, "choosing the popularity weight" if self.auto_weight else "done")
        self.popularity_weight_ = self._choose_weight(dataset.matrix)
        self._calibrate_new_course_optimism(dataset.matrix)

    def _fit_new_course_prior(self, dataset) -> None:
        """Learn the content prior (`prior.fit_content_prior`) and give every catalogue course without a
        training enrolment its predicted prior instead of 0, so content can carry it into a top-K list."""
        courses, texts = dataset.courses, course_texts(dataset)
        self.content_prior_ = fit_content_prior(
            texts,
            self.genre_matrix_,
            courses["LEVEL"] if "LEVEL" in courses else [None] * len(courses),
            courses["DURATION_HOURS"] if "DURATION_HOURS" in courses else [None] * len(courses),
            self.enrolments_,
            seed=int(self.seed),
        )
        self.cold_courses_ = np.flatnonzero(self.enrolments_ == 0)
        self.predicted_enrolments_ = np.zeros(len(self.enrolments_))
        if len(self.cold_courses_) and self.content_prior_["top"] > 0:
            cold = self.catalogue_.iloc[self.cold_courses_]
            logged = predict_log_enrolments(
                self.content_prior_,
                [texts[i] for i in self.cold_courses_],
                self.genre_matrix_[self.cold_courses_],
                cold["LEVEL"] if "LEVEL" in cold else [None] * len(cold),
                cold["DURATION_HOURS"] if "DURATION_HOURS" in cold else [None] * len(cold),
            )
            self.predicted_enrolments_[self.cold_courses_] = np.expm1(logged)
        self._place_cold_courses()

    def _place_cold_courses(self) -> None:
        """Popularity part of the courses nobody took: their predicted log-enrolments plus the optimism."""
        cold = self.cold_courses_
        if len(cold) and self.content_prior_["top"] > 0:
            ranked = ranking_log_enrolments(self.content_prior_, np.log1p(self.predicted_enrolments_[cold]))
            self.prior_[cold] = ranked / self.content_prior_["top"]

    def _popular_from_log(self, logged: np.ndarray) -> np.ndarray:
        """The popularity part (`BlendParts.popular`) of courses with these log(1 + enrolments)."""
        return logged / self.content_prior_["top"]

    def _calibrate_new_course_optimism(self, matrix: sparse.csr_matrix) -> None:
        """Choose the optimism (log units above the prediction) that gives new courses their fair share of the
        top-10 lists: a seeded NEW_COURSE_SHARE of the enrolled courses is priced at its out-of-fold prediction
        plus the optimism, and the smallest optimism on a 0.1 grid with which these simulated new courses fill
        at least their share of the slots of a seeded learner sample wins (the enrolled courses take the
        rest, by their own counts). Keeps the residual-based optimism when there is too little data."""
        state = self.content_prior_
        known, oof, top = state.get("known_courses"), state.get("out_of_fold"), state["top"]
        counts = np.diff(matrix.indptr)
        learners = np.flatnonzero(counts > 0)
        if oof is None or top <= 0 or len(known) < 10 or len(learners) < 50:
            return
        rng = np.random.default_rng([int(self.seed), 22])
        pick = np.sort(rng.choice(len(known), max(1, int(round(NEW_COURSE_SHARE * len(known)))), replace=False))
        simulated, logged = known[pick], oof[pick]
        users = np.sort(rng.choice(learners, min(CALIBRATION_LEARNERS, len(learners)), replace=False))
        histories = matrix[users].astype(np.float64)
        parts = self._calibration_parts(histories, users)
        popular = np.array(np.broadcast_to(parts.popular, (len(users), matrix.shape[1])), dtype=np.float64)
        target = len(simulated) / max(1, matrix.shape[1] - len(self.cold_courses_))
        rows = np.repeat(np.arange(len(users)), np.diff(histories.indptr))

        def share(optimism: float) -> float:
            popular[:, simulated] = self._popular_from_log(np.clip(logged + optimism, 0.0, top))[None, :]
            scores = blend(parts._replace(popular=popular), self.popularity_weight_)
            scores[rows, histories.indices] = -np.inf
            scores[:, self.cold_courses_] = -np.inf
            k = min(10, scores.shape[1] - 1)
            listed = np.argpartition(-scores, k - 1, axis=1)[:, :k]
            listed_scores = np.take_along_axis(scores, listed, axis=1)
            real = np.isfinite(listed_scores)
            return float(np.isin(listed, simulated)[real].sum() / max(1, real.sum()))

        grid = np.round(np.arange(0.0, top + 0.1, 0.1), 1)
        lo, hi = 0, len(grid) - 1
        if share(grid[hi]) < target:
            lo = hi
        while lo < hi:  # the share grows with the optimism: the first grid value reaching the target
            mid = (lo + hi) // 2
            if share(grid[mid]) >= target:
                hi = mid
            else:
                lo = mid + 1
        state["optimism"] = float(grid[lo])
        state["optimism_rule"] = f"fair share: simulated new courses fill {target:.1%} of the top-10 slots"
        self._place_cold_courses()

    def predicted_new_course_enrolments(self, course: Mapping[str, Any]) -> float:
        """Enrolments the content prior expects for a course that is not in the catalogue yet ("genres",
        "level", "hours", "title", "description"), learned from the courses that have enrolments."""
        self._check_fitted()
        genres = self.new_course_genres(course)
        text = f"{course.get('title') or ''} {course.get('description') or ''}".strip()
        logged = predict_log_enrolments(
            self.content_prior_, [text], genres[None, :], [course.get("level")], [course.get("hours")]
        )
        return float(np.expm1(logged[0]))

    def new_course_ranking_enrolments(self, course: Mapping[str, Any]) -> float:
        """Enrolments a new course is ranked with until it has its own: the prediction plus the prior's
        `optimism` (as `score_histories` ranks a catalogue course nobody took yet)."""
        logged = np.log1p(self.predicted_new_course_enrolments(course))
        return float(np.expm1(ranking_log_enrolments(self.content_prior_, np.array([logged]))[0]))

    def _fit_content(self, dataset, progress) -> None:
        raise NotImplementedError

    def _parts(self, histories: sparse.csr_matrix) -> BlendParts:
        raise NotImplementedError

    def _calibration_parts(self, histories: sparse.csr_matrix, users: np.ndarray) -> BlendParts:
        """Components for training learners `users` with one course hidden (override to remove their own
        contribution from learned counts, as clustering does)."""
        return self._parts(histories)

    def _choose_weight(self, matrix: sparse.csr_matrix) -> float:
        """The blend weight: `popularity_weight`, or with `auto_weight` the grid value with the best NDCG@10
        on a seeded one-course holdout of up to CALIBRATION_LEARNERS training learners."""
        self.weight_curve_ = None
        if not self.auto_weight:
            return float(self.popularity_weight)
        counts = np.diff(matrix.indptr)
        eligible = np.flatnonzero(counts >= 2)
        if len(eligible) < 50:  # too few learners to measure anything: keep the declared weight
            return float(self.popularity_weight)
        rng = np.random.default_rng(self.seed)
        users = np.sort(rng.choice(eligible, min(CALIBRATION_LEARNERS, len(eligible)), replace=False))
        sub = matrix[users]
        hidden_pos = sub.indptr[:-1] + (rng.random(len(users)) * counts[users]).astype(np.int64)
        hidden = sub.indices[hidden_pos]
        sub = sub.astype(np.float64)
        sub.data[hidden_pos] = 0.0
        sub.eliminate_zeros()
        parts = self._calibration_parts(sub, users)
        ndcg = np.array([holdout_ndcg10(self._without_cold(blend(parts, w)), sub, hidden) for w in WEIGHT_GRID])
        self.weight_curve_ = {"popularity_weight": WEIGHT_GRID.copy(), "ndcg@10": ndcg}
        return float(WEIGHT_GRID[int(np.argmax(ndcg))])

    def _without_cold(self, scores: np.ndarray) -> np.ndarray:
        """Calibration scores without the courses nobody took: they can never be the hidden course, so as
        mere distractors they would bias the weight (the weight is then the one the enrolled courses choose)."""
        scores[:, self.cold_courses_] = -np.inf
        return scores

    def check_histories(self, histories) -> sparse.csr_matrix:
        """The batch as CSR float64 with one column per catalogue course, or a ValueError saying why not."""
        self._check_fitted()
        if not sparse.issparse(histories):
            histories = np.asarray(histories, dtype=np.float64)
            if histories.ndim == 1:
                histories = histories[None, :]
            if histories.ndim != 2:
                raise ValueError(
                    f"histories must be a 2-D (learners x courses) matrix, got {histories.ndim} dimensions"
                )
        histories = sparse.csr_matrix(histories, dtype=np.float64)
        if histories.shape[1] != len(self.item_index_):
            raise ValueError(
                f"histories have {histories.shape[1]} columns; expected one per catalogue course "
                f"({len(self.item_index_)})"
            )
        histories.eliminate_zeros()
        return histories

    def score_histories(self, histories) -> np.ndarray:
        histories = self.check_histories(histories)
        out = np.empty(histories.shape, dtype=np.float64)
        active = np.diff(histories.indptr) > 0
        out[~active] = self.prior_
        if active.any():
            out[active] = blend(
                self._parts(histories[active] if not active.all() else histories), self.popularity_weight_
            )
        return out

    def explain(self, history, items) -> list[str]:
        history = self.check_histories(history)[:1]
        items = np.asarray(items, dtype=np.int64).ravel()
        if history.nnz == 0:
            return [
                (
                    f"popular with all learners ({int(self.enrolments_[i]):,} enrolled)"
                    if self.enrolments_[i] > 0
                    else self._popular_reason(i)
                )
                + "; add courses to your history for personal picks"
                for i in items
            ]
        return self._explain(history, items)

    def _explain(self, history: sparse.csr_matrix, items: np.ndarray) -> list[str]:
        raise NotImplementedError

    def _popular_reason(self, i: int) -> str:
        if self.enrolments_[i] == 0:
            expected = getattr(self, "predicted_enrolments_", np.zeros(len(self.enrolments_)))[i]
            return f"new: nobody enrolled yet (courses like it have ~{expected:,.0f} learners)"
        return f"popular: {int(self.enrolments_[i]):,} learners enrolled"

    # ----- a course before launch: placed through its content, no refit -------------------------
    def score_new_course(self, course: Mapping[str, Any], histories, enrolments: float | None = None) -> np.ndarray:
        """Score each learner (history row) would give a course that is not in the catalogue yet, on the scale
        of `score_histories`, so its rank among the existing courses can be read off; -inf = never shown.

        The course enters through its content -- `course` has "genres" (names), "level", "hours", "title",
        "description" -- and no refit happens. Its popularity part is that of a course with the enrolments the
        content prior predicts for it (None, the default: as `score_histories` treats a catalogue course nobody
        took yet), or with `enrolments` learners as a what-if (0 = launch day, the catalogue median, ...).
        """
        histories = self.check_histories(histories)
        genres = self.new_course_genres(course)
        if enrolments is None:
            enrolments = self.new_course_ranking_enrolments(course)
        enrolments = float(enrolments)
        if not np.isfinite(enrolments) or enrolments < 0:
            raise ValueError(f"enrolments must be a number >= 0, got {enrolments}")
        top = self.enrolments_.max()
        prior = float(np.log1p(enrolments) / np.log1p(top)) if top > 0 else 0.0
        out = np.full(histories.shape[0], prior)  # empty history: the popularity prior, as for any course
        active = np.diff(histories.indptr) > 0
        if active.any():
            parts = self._new_course_parts(course, genres, histories[active], enrolments, prior)
            out[active] = blend(parts, self.popularity_weight_)
        return out

    def new_course_genres(self, course: Mapping[str, Any]) -> np.ndarray:
        """0/1 genre vector (this model's genre order) of a new course; unknown genre names are an error."""
        names = [str(g).strip() for g in (course.get("genres") or [])]
        unknown = [g for g in names if g not in self.genres_]
        if unknown:
            raise ValueError(
                f"unknown genre(s) {', '.join(unknown)} for the new course (known: {', '.join(self.genres_)})"
            )
        return np.array([1.0 if g in names else 0.0 for g in self.genres_])

    def _new_course_parts(
        self, course, genres: np.ndarray, histories: sparse.csr_matrix, enrolments: float, prior: float
    ) -> BlendParts:
        """Blend components (1-D, one per history row) of a new course; each content model says how."""
        raise NotImplementedError
