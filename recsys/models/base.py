"""The one interface every recommender implements (scikit-learn style).

A model is fitted once on a `Dataset`; afterwards any learner -- in the training data or brand new -- is
scored from the fitted state through `score_histories`, a batched (learners x courses) method that the
evaluation engine also uses. `recommend` adds exclusion, filters, ranking and reasons on top of it.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator

from recsys.models.params import HyperParam

Progress = Callable[[float, str], None]
"""Progress callback: fraction done in [0, 1] and a short message (e.g. 'epoch 3/10: loss 0.21')."""


class NotFittedError(RuntimeError):
    """The model was used before `fit`."""


class Recommender(BaseEstimator):
    """Base class. Subclasses declare `key`, `label`, `hyperparams` and implement `_fit` + `score_histories`.

    Hyperparameters are only `__init__` keyword arguments (with the defaults declared in `hyperparams`);
    learned state ends with `_`.
    """

    key: ClassVar[str] = ""
    label: ClassVar[str] = ""
    description: ClassVar[str] = ""
    hyperparams: ClassVar[tuple[HyperParam, ...]] = ()
    predicts_ratings: ClassVar[bool] = False
    uses_tensorflow: ClassVar[bool] = False
    reports_checkpoints: ClassVar[bool] = False
    """True for iterative models whose `fit` calls `checkpoint(step)` after each epoch/iteration (tuning prunes them)."""
    fit_cost: ClassVar[float] = 1.0
    """Rough wall time of fit + scoring relative to a light model (a Keras training ~10, a JVM start ~20):
    a comparison on several threads starts the costliest first. Scheduling only; never changes results."""

    @classmethod
    def warm_up(cls) -> None:
        """Start slow set-up that a coming fit will need (a JVM) in the background; a no-op for most models.
        Callers that know fits are coming (a comparison) call it first. Never changes results."""

    def __init_subclass__(cls, **kwargs):
        """The `hyperparams` spec is the single source of defaults: a concrete model's `__init__` must take
        exactly the declared parameters with exactly the declared defaults (checked once, at class creation)."""
        super().__init_subclass__(**kwargs)
        if not cls.key:
            return
        signature = inspect.signature(cls.__init__)
        accepted = {
            name: p.default
            for name, p in signature.parameters.items()
            if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        }
        declared = {p.name: p.default for p in cls.hyperparams}
        if accepted != declared:
            raise TypeError(
                f"{cls.__name__}.__init__ must take exactly the declared hyperparameters with their "
                f"declared defaults: declared {declared}, __init__ takes {accepted}"
            )

    # ----- spec helpers -----------------------------------------------------------------------
    @classmethod
    def param_spec(cls) -> dict[str, HyperParam]:
        return {p.name: p for p in cls.hyperparams}

    @classmethod
    def seed_param(cls) -> str | None:
        """Name of the parameter that seeds the model's random stream (role "seed"), or None."""
        return next((p.name for p in cls.hyperparams if p.role == "seed"), None)

    @classmethod
    def validate_params(cls, params: Mapping[str, Any]) -> dict[str, Any]:
        """Check names and values against the declared spec; returns coerced values or raises ValueError."""
        spec = cls.param_spec()
        out = {}
        for name, value in params.items():
            if name not in spec:
                known = ", ".join(spec) or "none"
                raise ValueError(f"model '{cls.key}' has no parameter '{name}' (known: {known})")
            out[name] = spec[name].validate(value)
        return out

    # ----- fitting ----------------------------------------------------------------------------
    def fit(
        self, dataset, progress: Progress | None = None, checkpoint: Callable[[int], None] | None = None
    ) -> Recommender:
        """Learn from `dataset`; returns self. `progress(fraction, message)` is called on long steps.

        `checkpoint(step)`: iterative models (`reports_checkpoints`) call it after each epoch or iteration with a
        usable partial state, so tuning can score the model mid-fit and let a pruner stop a hopeless trial (by
        raising from the callback). Without it the fit does no extra work.
        """
        self.validate_params(self.get_params())
        if len(dataset.ratings) == 0:
            raise ValueError("cannot fit on a dataset with no ratings")
        start = time.perf_counter()
        self.fingerprint_ = dataset.fingerprint
        keep = ["COURSE_ID", "TITLE", *dataset.genres] + [
            c for c in ("LEVEL", "DURATION_HOURS") if c in dataset.courses
        ]
        self.catalogue_ = dataset.courses[keep].copy()
        self.genres_ = list(dataset.genres)
        self.item_index_ = pd.Index(dataset.item_ids)
        self.user_index_ = pd.Index(dataset.user_ids)
        self.rating_scale_ = dataset.rating_scale
        self.train_matrix_ = dataset.matrix
        self._checkpoint = checkpoint
        try:
            self._fit(dataset, progress)
        finally:
            self.__dict__.pop("_checkpoint", None)
        self.fit_seconds_ = time.perf_counter() - start
        if progress:
            progress(1.0, "done")
        return self

    def _fit(self, dataset, progress: Progress | None) -> None:
        raise NotImplementedError

    def _wants_checkpoints(self) -> bool:
        """True while a caller of `fit` asked for mid-fit checkpoints (set partial state only then)."""
        return getattr(self, "_checkpoint", None) is not None

    def _checkpoint_reached(self, step: int) -> None:
        """Hand a mid-fit state to the caller's `checkpoint` (the partial learned state must already be set)."""
        hook = getattr(self, "_checkpoint", None)
        if hook is not None:
            hook(int(step))

    def _check_fitted(self) -> None:
        if not hasattr(self, "fingerprint_"):
            raise NotFittedError(f"model '{self.key}' is not fitted yet: call fit(dataset) first")

    # ----- batched scoring --------------------------------------------------------------------
    def score_histories(self, histories: sparse.csr_matrix) -> np.ndarray:
        """Scores (n_learners x n_courses, higher is better) for learners given their rating rows.

        Rows are in the training matrix layout (column = catalogue index, 0 = not rated), so new learners
        and held-out learners are scored the same way. -inf marks a course the model will not recommend.
        """
        raise NotImplementedError

    def _check_histories(self, histories) -> sparse.csr_matrix:
        """A validated float64 CSR copy of a history batch (one column per catalogue course, sorted indices)."""
        self._check_fitted()
        H = sparse.csr_matrix(histories, dtype=np.float64)
        if H.ndim != 2 or H.shape[1] != len(self.item_index_):
            raise ValueError(
                f"histories must have {len(self.item_index_)} columns (one per catalogue course), got shape {H.shape}"
            )
        H.sort_indices()
        return H

    def score_users(self, user_positions: np.ndarray) -> np.ndarray:
        """Scores for training learners by matrix row position (default: their training history)."""
        return self.score_histories(self.train_matrix_[np.asarray(user_positions)])

    def explain(self, history: sparse.csr_matrix, items: np.ndarray) -> list[str]:
        """One short learner-facing reason per recommended course index in `items`."""
        return ["recommended for you"] * len(items)

    def diagnostics(self) -> dict[str, Any]:
        """What this model can show about itself on the Evaluation page (recsys.ui.diagnostics draws it).

        Known keys: "cluster_sizes" (array), "explained_variance" (array), "learner_map" (callable histories ->
        (features, cluster labels)), "course_similarity" (n_courses x n_courses array) with
        "similarity_label", "chosen_params" (see `chosen_params`). Models without any of these return {}.
        """
        chosen = self.chosen_params()
        return {"chosen_params": chosen} if chosen else {}

    def chosen_params(self) -> dict[str, dict[str, Any]]:
        """For each hyperparameter that can be "auto": {"given": the value set, "used": the value `fit` used
        (learned state `<name>_`), "rule": how "auto" is chosen from the data}. Empty before `fit`."""
        out = {}
        for p in self.hyperparams:
            used = self.__dict__.get(f"{p.name}_")
            if p.allows_auto and used is not None:
                out[p.name] = {"given": getattr(self, p.name), "used": used, "rule": p.auto}
        return out

    # ----- serving ----------------------------------------------------------------------------
    def history_row(self, history: Mapping[str, float] | Iterable[str]) -> sparse.csr_matrix:
        """Turn a mapping id -> rating (or a list of completed ids) into a 1 x n_courses row."""
        from recsys.data.dataset import history_row

        self._check_fitted()
        return history_row(self.item_index_, history, completed=self.rating_scale_[1])

    def filter_mask(self, filters: Mapping[str, Any] | None) -> np.ndarray:
        """Boolean mask over the catalogue for filters {genres: [...], levels: [...], max_duration: h}."""
        mask = np.ones(len(self.catalogue_), dtype=bool)
        if not filters:
            return mask
        unknown = set(filters) - {"genres", "levels", "max_duration"}
        if unknown:
            raise ValueError(f"unknown filter(s): {', '.join(sorted(unknown))} (use genres, levels, max_duration)")
        genres = list(filters.get("genres") or [])
        if genres:
            bad = [g for g in genres if g not in self.genres_]
            if bad:
                raise ValueError(f"unknown genre(s): {', '.join(bad)} (known: {', '.join(self.genres_)})")
            mask &= self.catalogue_[genres].to_numpy().sum(axis=1) > 0
        levels = list(filters.get("levels") or [])
        if levels:
            mask &= self.catalogue_[self._known_column("LEVEL", "levels")].isin(levels).to_numpy()
        max_duration = filters.get("max_duration")
        if max_duration is not None:
            hours = self.catalogue_[self._known_column("DURATION_HOURS", "max_duration")]
            mask &= pd.to_numeric(hours, errors="coerce").fillna(np.inf).to_numpy() <= float(max_duration)
        return mask

    def _known_column(self, column: str, filter_name: str) -> str:
        """A metadata column a filter needs; a clear error (not an empty list) when the dataset lacks it."""
        if column not in self.catalogue_ or self.catalogue_[column].isna().all():
            raise ValueError(
                f"filter '{filter_name}' needs course {column} values, but this dataset has none "
                f"(add course_meta.csv with COURSE_ID, LEVEL, DURATION_HOURS)"
            )
        return column

    def rank(
        self,
        scores: np.ndarray,
        history: sparse.csr_matrix,
        k: int,
        exclude_seen: bool = True,
        filters: Mapping[str, Any] | None = None,
        exclude: Iterable[str] = (),
    ) -> np.ndarray:
        """Indices of the top-k courses for one learner (ties broken by catalogue order)."""
        scores = np.asarray(scores, dtype=np.float64).ravel().copy()
        broken = np.isnan(scores) | (scores == np.inf)  # -inf is the "never recommend" mark; these are faults
        if broken.any():
            raise ValueError(
                f"model '{self.key}' produced {int(broken.sum())} NaN or infinite scores, so it cannot "
                f"rank courses; the ratings it was trained on may be outside a numerically safe range"
            )
        if exclude_seen:
            scores[history.indices] = -np.inf
        exclude = list(exclude or [])
        if exclude:
            cols = self.item_index_.get_indexer([str(e) for e in exclude])
            scores[cols[cols >= 0]] = -np.inf
        scores[~self.filter_mask(filters)] = -np.inf
        order = np.argsort(-scores, kind="stable")
        order = order[np.isfinite(scores[order])]
        return order[: max(0, int(k))]

    # ----- feedback: liked / disliked courses --------------------------------------------------
    dislike_strength: ClassVar[float] = 1.0
    """A disliked course pulls a course of closeness 1 down by this share of the learner's score spread
    (best score minus median score), so the penalty means the same on every model's score scale."""

    def course_closeness(self, items: np.ndarray) -> np.ndarray:
        """How close each course is to each of `items` by this model's own notion (len(items) x n_courses,
        higher = closer; negative values count as 0). Used to push courses near a disliked one down.

        Default: cosine of the catalogue genre vectors. Models override it with what they rank by (item
        similarities, factor or embedding cosine, shared clusters)."""
        self._check_fitted()
        G = (
            self.catalogue_[self.genres_].to_numpy(dtype=np.float64)
            if self.genres_
            else np.zeros((len(self.item_index_), 0))
        )
        return _cosine_rows(G, np.asarray(items, dtype=np.int64))

    def _feedback_columns(self, ids: Iterable[str], what: str) -> np.ndarray:
        ids = [str(i).strip() for i in (ids or [])]
        cols = self.item_index_.get_indexer(ids) if ids else np.zeros(0, dtype=np.int64)
        unknown = [i for i, c in zip(ids, cols) if c < 0]
        if unknown:
            raise ValueError(
                f"unknown {what} course id(s): {', '.join(unknown[:5])}"
                f"{' ...' if len(unknown) > 5 else ''} -- not in this model's catalogue"
            )
        return np.unique(np.asarray(cols, dtype=np.int64))

    def _feedback_matrix(self, votes, n_rows: int, what: str) -> sparse.csr_matrix:
        """Liked/disliked courses of a batch as a 0/1 (learners x courses) CSR: accepts a sparse/dense matrix of
        that shape, or one list of course ids per learner."""
        n_items = len(self.item_index_)
        if votes is None:
            return sparse.csr_matrix((n_rows, n_items), dtype=np.float64)
        if sparse.issparse(votes) or isinstance(votes, np.ndarray):
            M = sparse.csr_matrix(votes, dtype=np.float64)
            if M.shape != (n_rows, n_items):
                raise ValueError(f"{what} must have shape {(n_rows, n_items)}, got {M.shape}")
        else:
            votes = list(votes)
            if len(votes) != n_rows:
                raise ValueError(f"{what}: one list of course ids per learner expected ({n_rows}), got {len(votes)}")
            row_parts: list[np.ndarray] = []
            col_parts: list[np.ndarray] = []
            for r, ids in enumerate(votes):
                c = self._feedback_columns(ids, what)
                row_parts.append(np.full(len(c), r))
                col_parts.append(c)
            rows = np.concatenate(row_parts) if row_parts else np.zeros(0, np.int64)
            cols = np.concatenate(col_parts) if col_parts else np.zeros(0, np.int64)
            M = sparse.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(n_rows, n_items))
        M.eliminate_zeros()
        M.data[:] = 1.0
        return M

    def with_feedback(self, histories, liked=None, disliked=None):
        """(history rows used for scoring, disliked 0/1 rows) for a batch.

        A liked course joins the history at the top of the rating scale (positive evidence, like a
        completion); a disliked course is taken out of the history: it never counts as an enrolment."""
        H = self._check_histories(histories)
        L = self._feedback_matrix(liked, H.shape[0], "liked")
        D = self._feedback_matrix(disliked, H.shape[0], "disliked")
        if L.multiply(D).nnz:
            raise ValueError("a course cannot be both liked and disliked")
        if L.nnz:
            top = float(self.rating_scale_[1])
            H = (H - H.multiply(L) + L * top).tocsr()
        if D.nnz:
            H = (H - H.multiply(D)).tocsr()
        H.eliminate_zeros()
        H.sort_indices()
        return H, D

    def dislike_penalty(self, scores: np.ndarray, disliked: sparse.csr_matrix) -> np.ndarray:
        """Scores with negative evidence applied: each course drops by
        `dislike_strength` x (best - median finite score of the row) x its closeness to the closest disliked
        course, rescaled per disliked course from 0 (median closeness or less) to 1 (its closest course);
        disliked courses themselves get -inf."""
        scores = np.array(scores, dtype=np.float64, copy=True)
        D = sparse.csr_matrix(disliked)
        if D.nnz == 0:
            return scores
        wanted = np.unique(D.indices)
        closeness = np.clip(np.nan_to_num(np.asarray(self.course_closeness(wanted), dtype=np.float64)), 0.0, None)
        closeness[np.arange(len(wanted)), wanted] = np.nan
        # relative closeness: 1 for the closest course, 0 at or below the median one (dense similarities
        # that make every course a bit alike must not just shift the whole list)
        middle = np.nanmedian(closeness, axis=1, keepdims=True)
        peak = np.nanmax(closeness, axis=1, keepdims=True)
        closeness = np.clip((closeness - middle) / np.where(peak > middle, peak - middle, np.inf), 0.0, 1.0)
        closeness = np.nan_to_num(closeness)
        where = {c: n for n, c in enumerate(wanted)}
        for r in np.flatnonzero(np.diff(D.indptr)):
            cols = D.indices[D.indptr[r] : D.indptr[r + 1]]
            row = scores[r]
            finite = row[np.isfinite(row)]
            spread = float(finite.max() - np.median(finite)) if len(finite) else 0.0
            if not spread > 0:
                spread = float(abs(finite.max())) if len(finite) and finite.max() != 0 else 1.0
            near = closeness[[where[c] for c in cols]].max(axis=0)
            row -= float(self.dislike_strength) * spread * near
            row[cols] = -np.inf
        return scores

    def score_with_feedback(self, histories, liked=None, disliked=None) -> np.ndarray:
        """Batched scores (learners x courses) with thumbs feedback: `liked` / `disliked` are (learners x courses)
        0/1 matrices or one list of course ids per learner. Disliked courses score -inf."""
        H, D = self.with_feedback(histories, liked, disliked)
        return self.dislike_penalty(self.score_histories(H), D)

    def recommend(
        self,
        history,
        k: int = 10,
        *,
        liked: Iterable[str] = (),
        disliked: Iterable[str] = (),
        exclude_seen: bool = True,
        filters: Mapping[str, Any] | None = None,
        exclude: Iterable[str] = (),
    ) -> pd.DataFrame:
        """Top-k courses for a learner given their history (need not be in the training data).

        `history`: mapping course id -> rating, or a list of completed course ids. `liked` courses count as
        positive evidence (reasons say "because you liked ..."); `disliked` courses are never recommended, never
        count as taken, and push the courses closest to them (by `course_closeness`) down.
        Returns COURSE_ID, SCORE (higher is better) and REASON, rank-ordered. Bad arguments raise one
        ValueError naming the argument (`recsys.data.validation.check_request`).
        """
        from recsys.data.validation import check_request

        self._check_fitted()
        check_request(
            history,
            k,
            liked=liked,
            disliked=disliked,
            exclude=exclude,
            filters=filters,
            genres=self.genres_,
        )
        row = self.history_row(history)
        L = self._feedback_matrix([liked], 1, "liked")
        D = self._feedback_matrix([disliked], 1, "disliked")
        if not L.nnz and not D.nnz:
            scores = self.score_histories(row)[0]
            return self._to_frame(scores, row, k, exclude_seen, filters, exclude)
        H, D = self.with_feedback(row, L, D)
        scores = self.dislike_penalty(self.score_histories(H), D)[0]
        exclude = list(exclude or []) + [str(self.item_index_[c]) for c in D.indices]
        return self._to_frame(scores, H, k, exclude_seen, filters, exclude, liked=L.indices)

    def recommend_user(
        self,
        user_id,
        k: int = 10,
        *,
        exclude_seen: bool = True,
        filters: Mapping[str, Any] | None = None,
        exclude: Iterable[str] = (),
    ) -> pd.DataFrame:
        """Top-k courses for a learner of the training data."""
        self._check_fitted()
        pos = self.user_index_.get_indexer([user_id])[0]
        if pos < 0:
            raise KeyError(f"learner {user_id!r} is not in the training data")
        row = self.train_matrix_[pos]
        scores = self.score_users(np.array([pos]))[0]
        return self._to_frame(scores, row, k, exclude_seen, filters, exclude)

    def _to_frame(self, scores, row, k, exclude_seen, filters, exclude, liked=()) -> pd.DataFrame:
        # called through the class: a model may declare a hyperparameter named `rank` (e.g. ALS factor rank)
        top = Recommender.rank(self, scores, row, k, exclude_seen, filters, exclude)
        reasons = self.explain(row, top) if len(top) else []
        if len(liked) and len(top):
            titles = self.catalogue_["TITLE"].astype(str).to_numpy()
            reasons = liked_reasons(list(reasons), [titles[c] for c in liked])
        return pd.DataFrame(
            {
                "COURSE_ID": self.item_index_[top].astype(str) if len(top) else pd.Series([], dtype=str),
                "SCORE": np.asarray(scores, dtype=np.float64).ravel()[top],
                "REASON": list(reasons),
            }
        )

    # ----- rating prediction ------------------------------------------------------------------
    def predict(self, users, items) -> np.ndarray:
        """Predicted ratings for (user, course) pairs, vectorized. Only for `predicts_ratings` models."""
        if not self.predicts_ratings:
            raise TypeError(f"model '{self.key}' ranks courses but does not predict ratings")
        self._check_fitted()
        users = np.asarray(users, dtype=object).ravel()
        items = np.asarray(items, dtype=object).ravel()
        if len(users) != len(items):
            raise ValueError(f"users and items must have the same length ({len(users)} != {len(items)})")
        u = _positions(self.user_index_, users)
        i = _positions(self.item_index_, items)
        if (i < 0).any():
            raise ValueError(f"unknown course id(s): {', '.join(map(str, items[i < 0][:5]))}")
        return self._predict(np.asarray(u, np.int64), np.asarray(i, np.int64))

    def _predict(self, user_pos: np.ndarray, item_pos: np.ndarray) -> np.ndarray:
        """Ratings for row/column positions; user_pos == -1 marks a learner unknown to the model."""
        raise NotImplementedError

    # ----- persistence hooks (the artifact format itself lives in recsys.models.persistence) ----------
    def _save_extra(self) -> dict[str, bytes]:
        """Hook for state the generic format cannot hold (e.g. a Keras model in its own format): file name ->
        bytes. The artifact signs exactly these bytes; nothing is re-read from disk."""
        return {}

    def _load_extra(self, files: Mapping[str, bytes]) -> None:
        """Counterpart of `_save_extra`: the verified bytes of those files, called after the state is restored."""


def _cosine_rows(vectors: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Cosine of the rows `items` of `vectors` with every row (len(items) x n); zero rows give 0."""
    V = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(V, axis=1)
    unit = V / np.where(norms > 0, norms, 1.0)[:, None]
    return unit[np.asarray(items, dtype=np.int64)] @ unit.T


def liked_reasons(reasons: list[str], liked_titles: list[str]) -> list[str]:
    """Reasons that name a liked course say so: "because you took T" -> "because you liked T"; any other
    reason naming T gets "because you liked T: " in front (the learner liked it, they did not take it)."""
    out = []
    for reason in reasons:
        for title in sorted(set(liked_titles), key=len, reverse=True):
            if f"you took {title}" in reason:
                reason = reason.replace(f"you took {title}", f"you liked {title}")
                break
            if title and title in reason:
                reason = f"because you liked {title}: {reason}"
                break
        out.append(reason)
    return out


def _positions(index: pd.Index, values: np.ndarray) -> np.ndarray:
    """Positions of `values` in `index` (-1 = absent), same answer as `index.get_indexer(values)`.

    Batched predictions repeat each learner and course many times, and get_indexer on an object array
    (against an int64 or arrow-string index) costs more than the prediction itself; hashing the values
    once (factorize) and looking up only the distinct ones is ~3x faster on 46k pairs.
    """
    if len(values) == 0:
        return np.zeros(0, np.int64)
    if (
        index.dtype.kind in "iu"
        and values.dtype == object
        and pd.api.types.infer_dtype(values, skipna=False) == "integer"
    ):
        try:
            values = values.astype(index.dtype)
        except (OverflowError, ValueError, TypeError):
            pass
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    return index.get_indexer(uniques)[codes]
