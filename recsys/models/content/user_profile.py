"""User profile: match a learner's genre profile against each course's genres.

Genre match alone ties massively (14 genres for ~300 courses), so the score blends in a log-popularity
prior learned in fit (within a tie, the course people actually take; the blend weight is chosen in fit by
default) and, when the catalogue has LEVEL, adds a readiness bonus (the learner took a course of the level
below in the course's genres, so Intermediate follows Beginner).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from recsys.data.dataset import LEVELS
from recsys.models.content.profiles import BlendParts, ContentRecommender, blend_params, genre_profiles, top_genres
from recsys.models.params import HyperParam


def course_levels(catalogue) -> np.ndarray:
    """Level of each course as 0/1/2 (Beginner/Intermediate/Advanced); NaN when absent or unknown."""
    if "LEVEL" not in catalogue:
        return np.full(len(catalogue), np.nan)
    codes = {name.lower(): float(i) for i, name in enumerate(LEVELS)}
    return np.array([codes.get(str(v).strip().lower(), np.nan) for v in catalogue["LEVEL"]], dtype=np.float64)


def new_course_level(course) -> float:
    """Level of a new course's "level" entry as 0/1/2; NaN when not given; an unknown name is an error."""
    value = course.get("level")
    if value is None or (isinstance(value, float) and np.isnan(value)) or not str(value).strip():
        return np.nan
    codes = {name.lower(): float(i) for i, name in enumerate(LEVELS)}
    if str(value).strip().lower() not in codes:
        raise ValueError(f"unknown level {value!r} for the new course (use one of {', '.join(LEVELS)})")
    return codes[str(value).strip().lower()]


def reached_levels(histories: sparse.csr_matrix, genre_matrix: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Highest level each learner took per genre (n x n_genres); -1 where they took nothing in that genre."""
    binary = histories.copy()
    binary.data = np.ones_like(binary.data)
    reached = np.full((histories.shape[0], genre_matrix.shape[1]), -1.0)
    for level in range(len(LEVELS)):  # ascending, so the highest level seen wins
        cols = np.flatnonzero(levels == level)
        if len(cols):
            took = np.asarray(binary[:, cols] @ genre_matrix[cols]) > 0
            reached[took] = level
    return reached


class UserProfileRecommender(ContentRecommender):
    """Cosine between the rating-weighted genre profile and each course's genres, plus prior and readiness."""

    key = "user_profile"
    label = "User profile (genres)"
    description = (
        "Builds your genre profile from the courses you rated and recommends courses in those genres, "
        "preferring well-attended ones at your level."
    )
    hyperparams = (
        HyperParam(
            "score_threshold",
            "float",
            0.0,
            tune_grid=(0.0, 0.1, 0.2),
            low=0.0,
            high=1.0,
            step=0.05,
            help="Courses whose genre match (cosine with your profile, 0-1) is below this are not recommended",
        ),
        *blend_params(0.85, "genre match"),
        HyperParam(
            "level_weight",
            "float",
            0.2,
            tune_grid=(0.0, 0.1, 0.2, 0.4),
            low=0.0,
            high=2.0,
            step=0.05,
            help="Bonus for courses whose level you are ready for: you took the level below in their "
            "genres (needs LEVEL in the catalogue)",
        ),
    )

    def __init__(
        self,
        score_threshold: float = 0.0,
        auto_weight: bool = True,
        popularity_weight: float = 0.85,
        seed: int = 0,
        level_weight: float = 0.2,
    ):
        self.score_threshold = score_threshold
        self.auto_weight = auto_weight
        self.popularity_weight = popularity_weight
        self.seed = seed
        self.level_weight = level_weight

    def _fit_content(self, dataset, progress) -> None:
        genres = self.genre_matrix_
        norms = np.linalg.norm(genres, axis=1, keepdims=True)
        self.course_genres_ = genres / np.where(norms > 0, norms, 1.0)
        self.levels_ = course_levels(self.catalogue_)

    def genre_match(self, histories: sparse.csr_matrix) -> np.ndarray:
        """Cosine between each learner's genre profile and each course's genre vector (n x n_courses)."""
        profile = genre_profiles(histories, self.genre_matrix_, self.top_rating_, norm="l2")
        return profile @ self.course_genres_.T

    def readiness(self, histories: sparse.csr_matrix) -> np.ndarray:
        """Share of a course's genres where the learner took a course of the level below or higher (n x n_courses).

        A learner who finished Beginner Python courses is ready for Intermediate Python; Advanced in a genre
        they never touched is not. Beginner courses are always ready. Unknown level or no genre: 0.5.
        """
        n = histories.shape[0]
        out = np.full((n, len(self.levels_)), 0.5)
        known = ~np.isnan(self.levels_)
        if not known.any():
            return out
        reached = reached_levels(histories, self.genre_matrix_, self.levels_)
        genres = self.genre_matrix_
        counts = genres.sum(axis=1)
        for level in range(len(LEVELS)):
            cols = np.flatnonzero((self.levels_ == level) & (counts > 0))
            if len(cols):
                ready = (reached >= level - 1).astype(np.float64)
                out[:, cols] = (ready @ genres[cols].T) / counts[cols]
        return out

    def _parts(self, histories) -> BlendParts:
        match = self.genre_match(histories)
        extra = None
        if self.level_weight and not np.isnan(self.levels_).all():
            extra = self.level_weight * self.readiness(histories)
        return BlendParts(match, self.prior_[None, :], extra, match < self.score_threshold)

    def _new_course_parts(self, course, genres, histories, enrolments, prior) -> BlendParts:
        """Genre match with the new course's genres, its readiness at its level, popularity of `enrolments`."""
        norm = np.linalg.norm(genres)
        profile = genre_profiles(histories, self.genre_matrix_, self.top_rating_, norm="l2")
        match = profile @ (genres / norm) if norm > 0 else np.zeros(histories.shape[0])
        extra = None
        if self.level_weight and not np.isnan(self.levels_).all():
            level = new_course_level(course)
            ready = np.full(histories.shape[0], 0.5)  # unknown level or no genre, as in `readiness`
            if not np.isnan(level) and genres.sum() > 0:
                reached = reached_levels(histories, self.genre_matrix_, self.levels_)
                ready = ((reached >= level - 1).astype(np.float64) @ genres) / genres.sum()
            extra = self.level_weight * ready
        return BlendParts(match, np.full(histories.shape[0], prior), extra, match < self.score_threshold)

    def _explain(self, history, items) -> list[str]:
        profile = genre_profiles(history, self.genre_matrix_, self.top_rating_, norm="none")[0]
        reached = reached_levels(history, self.genre_matrix_, self.levels_)[0]
        reasons = []
        for i in items:
            shared = top_genres(profile * self.genre_matrix_[i], self.genres_, k=2)
            if not shared:
                reasons.append(self._popular_reason(i) + " (outside your genres)")
                continue
            text = "matches your interests: " + ", ".join(shared)
            level = self.levels_[i]
            if not np.isnan(level) and level > 0:
                steps = [g for g in np.flatnonzero(self.genre_matrix_[i]) if reached[g] == level - 1]
                if steps:
                    text += f"; next step after your {LEVELS[int(level) - 1]} {self.genres_[steps[0]]} courses"
            reasons.append(text)
        return reasons
