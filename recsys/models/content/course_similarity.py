"""Course similarity: recommend courses whose title and description read like the learner's courses.

The course x course cosine similarity of TF-IDF (or bag-of-words) vectors is computed once in fit (the
catalogue is small, n_courses^2 floats), so scoring a learner is a gather + max (or weighted sum) over the
rows of their courses. A log-popularity prior is blended in (weight chosen in fit by default) because text
similarity alone ranks obscure near-duplicates above the courses learners actually take next.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.preprocessing import normalize

from recsys.models.content.profiles import BlendParts, ContentRecommender, blend_params, course_texts, rating_weights
from recsys.models.params import HyperParam


def text_space(texts: list[str], vectorizer: str = "tfidf", min_df: int = 2):
    """(fitted vectorizer, L2-normalised course x word matrix) of the course texts: the text representation
    the model compares courses in, shared with learning-path goals and new-course fold-in."""
    kind = TfidfVectorizer if vectorizer == "tfidf" else CountVectorizer
    vec = kind(stop_words="english", min_df=int(min_df), lowercase=True)
    try:
        features = vec.fit_transform(texts)
    except ValueError as exc:  # empty vocabulary after stop words / min_df
        raise ValueError(
            f"course texts give no usable words with min_df={min_df} ({exc}); lower min_df or check TITLE/DESCRIPTION"
        ) from None
    return vec, normalize(features.astype(np.float64), norm="l2")


class CourseSimilarityRecommender(ContentRecommender):
    """Scores a course by its text similarity to the learner's courses, blended with a popularity prior."""

    key = "course_similarity"
    label = "Course similarity (text)"
    description = (
        "Recommends courses whose title and description are most similar to courses you took, "
        "preferring well-attended ones among equally similar courses."
    )
    hyperparams = (
        HyperParam(
            "vectorizer",
            "choice",
            "tfidf",
            choices=("tfidf", "bow"),
            help="Text representation: TF-IDF weights (rare words count more) or raw word counts",
        ),
        HyperParam(
            "min_df",
            "int",
            2,
            tune_grid=(1, 2, 3, 5),
            low=1,
            high=20,
            help="Ignore words that appear in fewer than this many course texts",
        ),
        HyperParam(
            "aggregate",
            "choice",
            "sum",
            choices=("max", "sum"),
            help="Combine similarities to your courses: the best one (max) or all of them (sum, divided "
            "by your history size so the popularity blend means the same for any history)",
        ),
        HyperParam(
            "similarity_threshold",
            "float",
            0.0,
            tune_grid=(0.0, 0.05, 0.1),
            low=0.0,
            high=1.0,
            step=0.05,
            help="Courses whose best similarity to one of your courses is below this are not recommended",
        ),
        *blend_params(0.7, "text similarity"),
    )

    def __init__(
        self,
        vectorizer: str = "tfidf",
        min_df: int = 2,
        aggregate: str = "sum",
        similarity_threshold: float = 0.0,
        auto_weight: bool = True,
        popularity_weight: float = 0.7,
        seed: int = 0,
    ):
        self.vectorizer = vectorizer
        self.min_df = min_df
        self.aggregate = aggregate
        self.similarity_threshold = similarity_threshold
        self.auto_weight = auto_weight
        self.popularity_weight = popularity_weight
        self.seed = seed

    def _fit_content(self, dataset, progress) -> None:
        texts = course_texts(dataset)
        if len(texts) < 2:
            raise ValueError("course similarity needs at least 2 courses in the catalogue")
        if self.min_df > len(texts):
            raise ValueError(f"min_df={self.min_df} is larger than the number of courses ({len(texts)}); lower it")
        vec, features = text_space(texts, self.vectorizer, self.min_df)
        similarity = np.asarray((features @ features.T).todense())
        np.fill_diagonal(similarity, 0.0)  # a course is never "similar to" itself for recommending
        self.similarity_ = similarity
        self.vocabulary_size_ = len(vec.vocabulary_)
        self.text_vectorizer_ = vec  # kept to place texts the catalogue does not have (a new course, a goal)
        self.text_features_ = features

    chunk_elements: int = 4_000_000
    """Similarity floats gathered at once when taking the max over a batch of histories (bounds memory)."""

    def similarities(self, histories: sparse.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        """(aggregated similarity, best unweighted similarity) of each course to each learner's courses.

        Every row must have at least one rated course. The max is taken in chunks over the gathered
        similarity rows of the history courses, so memory stays bounded for any batch size.
        """
        weights = rating_weights(histories, self.top_rating_)
        n, n_items = histories.shape
        best = np.empty((n, n_items))
        if self.aggregate == "sum":
            total = np.asarray(weights.sum(axis=1)).ravel()
            agg = np.asarray(weights @ self.similarity_) / np.where(total > 0, total, 1.0)[:, None]
        else:
            agg = np.empty((n, n_items))
        indptr = histories.indptr
        per_chunk = max(1, self.chunk_elements // max(1, n_items))
        start = 0
        while start < n:
            stop = int(np.searchsorted(indptr, indptr[start] + per_chunk, side="right")) - 1
            stop = min(n, max(stop, start + 1))
            lo, hi = indptr[start], indptr[stop]
            gathered = self.similarity_[histories.indices[lo:hi]]
            offsets = indptr[start:stop] - lo
            best[start:stop] = np.maximum.reduceat(gathered, offsets, axis=0)
            if self.aggregate == "max":
                agg[start:stop] = np.maximum.reduceat(gathered * weights.data[lo:hi, None], offsets, axis=0)
            start = stop
        return agg, best

    def _parts(self, histories) -> BlendParts:
        agg, best = self.similarities(histories)
        return BlendParts(agg, self.prior_[None, :], None, best < self.similarity_threshold)

    def text_similarity(self, text: str) -> np.ndarray:
        """Cosine between a text the catalogue does not have (a new course) and each catalogue course."""
        vector = normalize(self.text_vectorizer_.transform([str(text)]).astype(np.float64), norm="l2")
        return np.asarray((self.text_features_ @ vector.T).todense()).ravel()

    def _new_course_parts(self, course, genres, histories, enrolments, prior) -> BlendParts:
        """The new course's text similarity to each learner's courses, aggregated as for catalogue courses."""
        sims = self.text_similarity(f"{course.get('title') or ''} {course.get('description') or ''}".strip())
        weights = rating_weights(histories, self.top_rating_)
        weighted = weights.multiply(sims[None, :]).tocsr()
        if self.aggregate == "sum":
            total = np.asarray(weights.sum(axis=1)).ravel()
            agg = np.asarray(weighted.sum(axis=1)).ravel() / np.where(total > 0, total, 1.0)
        else:
            agg = np.asarray(weighted.max(axis=1).todense()).ravel()
        taken = histories.copy()
        taken.data = np.ones_like(taken.data)
        best = np.asarray(taken.multiply(sims[None, :]).tocsr().max(axis=1).todense()).ravel()
        n = histories.shape[0]
        return BlendParts(agg, np.full(n, prior), None, best < self.similarity_threshold)

    def diagnostics(self) -> dict:
        return {"course_similarity": self.similarity_, "similarity_label": "text cosine"}

    def course_closeness(self, items) -> np.ndarray:
        """Dislikes: text cosine of the courses (the similarity this model ranks by)."""
        return self.similarity_[np.asarray(items, dtype=np.int64)]

    def _explain(self, history, items) -> list[str]:
        taken = history.indices
        reasons = []
        for i in items:
            sims = self.similarity_[taken, i]
            j = int(np.argmax(sims))
            if sims[j] <= 0:
                reasons.append(self._popular_reason(i) + " (no course of yours reads alike)")
            else:
                reasons.append(f"similar to {self.catalogue_['TITLE'].iloc[taken[j]]}")
        return reasons
