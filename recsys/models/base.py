"""The one interface every recommender implements (scikit-learn style).

A model is fitted once on a `Dataset`; afterwards any learner -- in the training data or brand new -- is
scored from the fitted state through `score_histories`, a batched (learners x courses) method that the
evaluation engine also uses. This module is the contract only: declared hyperparameters, `fit`,
`score_histories`, `explain`, `course_closeness` and what a model can do (`predicts_ratings`, `predict`,
`diagnostics`). What is done with the scores -- feedback, exclusion, filters, top-k, reasons -- is the serving
policy in `recsys.models.serving`; `recommend` and `recommend_user` are thin calls into it.
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

from recsys._progress import Progress
from recsys.models import serving
from recsys.models.params import HyperParam


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

    # ----- the learner's history in this model's layout ---------------------------------------
    def history_row(self, history: Mapping[str, float] | Iterable[str]) -> sparse.csr_matrix:
        """Turn a mapping id -> rating (or a list of completed ids) into a 1 x n_courses row."""
        from recsys.data.dataset import history_row

        self._check_fitted()
        return history_row(self.item_index_, history, completed=self.rating_scale_[1])

    # ----- closeness (the serving policy uses it for dislikes) --------------------------------
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
        return cosine_rows(G, np.asarray(items, dtype=np.int64))

    # ----- entry points: thin calls into the serving policy (recsys.models.serving) -------------
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
        return serving.recommend(
            self,
            self.history_row(history),
            k,
            liked=liked,
            disliked=disliked,
            exclude_seen=exclude_seen,
            filters=filters,
            exclude=exclude,
        )

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
        return serving.recommend_known(self, pos, k, exclude_seen=exclude_seen, filters=filters, exclude=exclude)

    def score_with_feedback(self, histories, liked=None, disliked=None) -> np.ndarray:
        """Batched scores (learners x courses) with thumbs feedback: `liked` / `disliked` are (learners x courses)
        0/1 matrices or one list of course ids per learner. Disliked courses score -inf (see
        `recsys.models.serving`)."""
        return serving.score_with_feedback(self, histories, liked, disliked)

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


def cosine_rows(vectors: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Cosine of the rows `items` of `vectors` with every row (len(items) x n); zero rows give 0."""
    V = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(V, axis=1)
    unit = V / np.where(norms > 0, norms, 1.0)[:, None]
    return unit[np.asarray(items, dtype=np.int64)] @ unit.T


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
