"""Neural embeddings: a Keras model of learner and course vectors trained on "would this learner enrol?".

Why this shape: ratings on this data are ~98% "completed", so a model fitted to ratings alone ranks no
better than popularity. The ranking signal is *which* courses a learner enrolled in, so the main head is a
logistic "enrol" score (taken courses vs sampled non-enrolled courses); a second head on the same learner
vectors regresses the observed ratings for `predict`.

Speed: a training example is one learner's row over the whole catalogue (~300 courses), so a step is two
small matrix products and the course side is updated densely, while the large learner table gets a "lazy"
Adam update of just the rows in the batch (cost independent of the number of learners).

TensorFlow is imported only inside `fit` (and when the Keras model itself is asked for after `load`): after
fitting, every weight serving needs is copied into numpy, and new learners get a vector by a few batched
Newton steps of the same regularised logistic objective with the course vectors frozen (milliseconds).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np
import pandas as pd
from scipy import sparse

from recsys.models.base import NotFittedError, Recommender
from recsys.models.neural import shared_embedding
from recsys.models.neural.backend import (
    PRIOR_EXAMPLES,
    RowSampler,
    Trainer,
    chunks,
    keep_entries,
    keras_from_bytes,
    keras_to_bytes,
    make_batch,
    mean_loss,
    tensorflow_seeded,
    validation_mask,
)
from recsys.models.params import HyperParam

KERAS_FILE = "model.keras"
_FOLD_IN_STEPS = 6  # max Newton steps for a new learner (from the mean vector: ~1e-4 after 3, ~1e-7 after 5)
_FOLD_IN_CHUNK = 2048  # learners per batched fold-in block (memory: chunk x d^2 floats)
_MIN_STEPS = 20  # steps per epoch at least: small datasets get smaller batches instead of 1-2 steps
# A course is named as the reason only when it is clearly alike (cosine of the course embeddings): two unrelated
# courses' vectors have a cosine around 0, so "also take this (similarity 0.04)" would cite noise.
REASON_MIN_SIMILARITY = 0.3
_MEMO_ROWS = 65_536  # learner vectors kept by the fold-in memo (~8 MB at 32 dimensions)


def ranking_geometry(user_vectors: np.ndarray, item_vectors: np.ndarray) -> np.ndarray:
    """Unit rows w_j = L'v_j with S = LL' the covariance of the learner vectors: w_i . w_j is the correlation of
    courses i and j's scores u.v across learners (the bias b_j shifts a score column, not its correlation)."""
    U = np.asarray(user_vectors, np.float64)
    V = np.asarray(item_vectors, np.float64)
    d = V.shape[1]
    cov = np.cov(U.T) if len(U) > 1 else np.eye(d)
    cov = np.atleast_2d(cov) + 1e-9 * (np.trace(np.atleast_2d(cov)) / d + 1.0) * np.eye(d)
    W = V @ np.linalg.cholesky(cov)
    norms = np.linalg.norm(W, axis=1, keepdims=True)
    return W / np.where(norms > 0, norms, 1.0)


class _FoldInMemo:
    """Fold-in results of recent history batches, keyed by a digest of the batch.

    The embedding models score through the same (shared) neural model, so a comparison folds the same test
    learners in once instead of three times. The result is a pure function of the frozen weights and the batch.
    """

    def __init__(self, max_rows: int = _MEMO_ROWS):
        self.max_rows, self.rows = max_rows, 0
        self.entries: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self.lock = threading.Lock()

    @staticmethod
    def digest(histories: sparse.csr_matrix) -> bytes:
        h = hashlib.blake2b(digest_size=16)
        h.update(np.asarray(histories.shape, np.int64).tobytes())
        for part in (histories.indptr, histories.indices, histories.data):
            h.update(np.ascontiguousarray(part).tobytes())
        return h.digest()

    def get(self, key: bytes):
        with self.lock:
            found = self.entries.get(key)
            if found is not None:
                self.entries.move_to_end(key)
            return found

    def put(self, key: bytes, vectors: np.ndarray) -> None:
        if len(vectors) > self.max_rows:
            return
        vectors.setflags(write=False)  # shared by every caller: never modified in place
        with self.lock:
            if key not in self.entries:
                self.entries[key] = vectors
                self.rows += len(vectors)
            while self.rows > self.max_rows:
                self.rows -= len(self.entries.popitem(last=False)[1])


class NeuralRecommender(Recommender):
    """Learner/course embeddings + biases; logistic enrol head for ranking, regression head for ratings.

    Per epoch each learner with n training courses gets n * `negatives` courses drawn (without the ones
    they took) with probability proportional to (enrolments + 1) ** `negative_exponent` (0 uniform, 1 by
    popularity). Popular negatives teach the model to separate popular courses but also remove popularity
    from the logit, so ranking scores add `negative_exponent * log(enrolments + 1)` back (the usual
    sampling correction): score(learner, course) = u . v_course + b_course + correction.
    The L2 penalty is per example, like a per-pair model: each learner or course vector is penalised
    `regularization` times the number of examples it appears in (learners: plus 5, so a learner with a
    single course does not get an extreme vector -- worth ~+0.004 NDCG@10 on the built-in data).
    """

    key = "neural"
    reports_checkpoints = True
    fit_cost = 10
    label = "Neural embeddings"
    description = (
        "Keras learner/course embeddings trained to tell enrolled courses from sampled others; "
        "new learners are folded in with the course embeddings frozen."
    )
    predicts_ratings = True
    uses_tensorflow = True
    hyperparams = (
        HyperParam(
            "embedding_size",
            "int",
            32,
            tune_grid=(16, 32, 64),
            low=2,
            high=256,
            step=2,
            help="Length of the learner and course vectors",
            log=True,
        ),
        HyperParam(
            "epochs",
            "int",
            10,
            tune_grid=(5, 10, 20),
            low=1,
            high=200,
            step=1,
            help="Passes over the learners (fresh negatives each pass)",
            log=True,
        ),
        HyperParam(
            "learning_rate",
            "float",
            0.02,
            tune_grid=(0.005, 0.02, 0.05),
            low=1e-4,
            high=1.0,
            log=True,
            help="Adam step size",
        ),
        HyperParam(
            "regularization",
            "float",
            0.01,
            tune_grid=(0.001, 0.01, 0.05),
            low=0.0,
            high=1.0,
            log=True,
            help="L2 penalty per training example on the learner and course vectors",
        ),
        HyperParam(
            "batch_size",
            "int",
            512,
            tune_grid=(256, 512, 1024),
            low=8,
            high=65536,
            step=8,
            log=True,
            help="Learners per gradient step (each brings all its courses and negatives); "
            "lowered on small data so an epoch has at least 20 steps",
        ),
        HyperParam(
            "negatives",
            "int",
            2,
            tune_grid=(1, 2, 4),
            low=1,
            high=50,
            step=1,
            help="Sampled non-enrolled courses per enrolment, redrawn every epoch",
        ),
        HyperParam(
            "negative_exponent",
            "float",
            0.5,
            tune_grid=(0.0, 0.5, 1.0),
            low=0.0,
            high=1.0,
            step=0.05,
            help="Negatives drawn by popularity ** exponent (0 uniform, 1 proportional)",
        ),
        HyperParam(
            "validation_share",
            "float",
            0.1,
            tune_grid=(0.0, 0.1),
            low=0.0,
            high=0.5,
            step=0.05,
            help="Share of training ratings held out for the validation loss curve (at most 100,000 ratings)",
        ),
        HyperParam("seed", "int", 0, low=0, high=2**31 - 1, role="seed", help="Random seed (same seed, same model)"),
    )

    def __init__(
        self,
        embedding_size: int = 32,
        epochs: int = 10,
        learning_rate: float = 0.02,
        regularization: float = 0.01,
        batch_size: int = 512,
        negatives: int = 2,
        negative_exponent: float = 0.5,
        validation_share: float = 0.1,
        seed: int = 0,
    ):
        self.embedding_size = embedding_size
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.batch_size = batch_size
        self.negatives = negatives
        self.negative_exponent = negative_exponent
        self.validation_share = validation_share
        self.seed = seed

    # ----- fitting ----------------------------------------------------------------------------
    def _fit(self, dataset, progress) -> None:
        self._fold_in_memo = _FoldInMemo()
        with shared_embedding.exclusive(dataset.fingerprint, self):
            shared = shared_embedding.lookup(dataset.fingerprint, self)
            if shared is not None:  # same data and parameters trained in this process: same weights
                self._adopt(shared, progress)
                return
            self._train(dataset, progress)
            shared_embedding.remember(self)

    def _adopt(self, shared: NeuralRecommender, progress) -> None:
        """Take the learned state of an identical fit (deterministic training: the same weights)."""
        own = set(self.__dict__) | set(self.get_params())
        self.__dict__.update({k: v for k, v in shared.__dict__.items() if k not in own})
        self._fold_in_memo = shared.__dict__.setdefault("_fold_in_memo", _FoldInMemo())
        self.history_ = shared.history_.copy()
        if progress:
            epochs = len(self.history_)
            for row in self.history_.itertuples():
                progress(
                    row.epoch / epochs,
                    f"epoch {row.epoch}/{epochs}: loss {row.loss:.4f}, "
                    f"val {row.val_loss:.4f} (trained earlier in this session, reused)",
                )

    def share_fitted(self) -> None:
        """Offer this fitted network to the embedding models (the model store calls it after a load)."""
        shared_embedding.remember(self)

    def _train(self, dataset, progress) -> None:
        full = dataset.matrix
        n_users, n_items = full.shape
        counts = np.bincount(full.indices, minlength=n_items).astype(np.float64)
        q = (counts + 1.0) ** float(self.negative_exponent)
        self.negative_probs_ = q / q.sum()
        self.score_offset_ = float(self.negative_exponent) * np.log(counts + 1.0)
        self.enrolments_ = counts
        self.rating_mean_ = float(full.data.mean())

        rng = np.random.default_rng(self.seed)
        val_mask = validation_mask(full, float(self.validation_share), rng)
        train = keep_entries(full, ~val_mask)
        valid = keep_entries(full, val_mask)
        sampler = RowSampler(self.negative_probs_, int(self.negatives))

        tf, keras = tensorflow_seeded(int(self.seed))
        trainer = Trainer(
            tf,
            keras,
            n_users,
            n_items,
            int(self.embedding_size),
            float(self.regularization),
            float(self.learning_rate),
            self.rating_mean_,
            int(self.seed),
            train.nnz,
        )
        val_rows = np.flatnonzero(np.diff(valid.indptr))
        val_chunks = list(chunks(val_rows, 4 * int(self.batch_size)))
        learners = np.flatnonzero(np.diff(train.indptr))
        batch_size = max(1, min(int(self.batch_size), -(-len(learners) // _MIN_STEPS)))
        history = []
        epochs = int(self.epochs)
        for epoch in range(1, epochs + 1):
            ep_rng = np.random.default_rng([self.seed, 2, epoch])
            total = np.zeros(4)
            for rows in chunks(ep_rng.permutation(learners), batch_size):
                total += trainer.train_step(make_batch(rows, full, train, sampler, ep_rng))
            loss = mean_loss(total)
            val_total = np.zeros(4)
            for i, rows in enumerate(val_chunks):  # same seeded negatives every epoch, built on the fly
                val_rng = np.random.default_rng([self.seed, 1, i])
                val_total += trainer.eval_step(make_batch(rows, full, valid, sampler, val_rng))
            val_loss = mean_loss(val_total)
            history.append({"epoch": epoch, "loss": loss, "val_loss": val_loss})
            if progress:
                progress(epoch / epochs, f"epoch {epoch}/{epochs}: loss {loss:.4f}, val {val_loss:.4f}")
            if self._wants_checkpoints() and epoch < epochs:  # tuning scores the network after this epoch
                self._copy_weights(trainer.model)
                self._fold_in_memo = _FoldInMemo()  # fold-ins of the previous weights no longer hold
                self._checkpoint_reached(epoch)
        self._fold_in_memo = _FoldInMemo()
        self.history_ = pd.DataFrame(history, columns=["epoch", "loss", "val_loss"])
        self._copy_weights(trainer.model)
        self._keras = trainer.model
        self._keras_bytes = None

    def _copy_weights(self, model) -> None:
        """Numpy copies of everything serving needs, so scoring never touches TensorFlow."""

        def weights(name):
            return [np.asarray(w, np.float32) for w in model.get_layer(name).get_weights()]

        self.user_embeddings_ = weights("learner_embedding")[0]
        self.rating_user_bias_ = weights("learner_rating_bias")[0][:, 0]
        head = model.get_layer("head")
        kernel, bias = (np.asarray(w, np.float32) for w in head.get_layer("course_scores").get_weights())
        self.item_embeddings_, self.item_bias_ = np.ascontiguousarray(kernel.T), bias
        kernel, bias = (np.asarray(w, np.float32) for w in head.get_layer("course_ratings").get_weights())
        self.item_rating_vectors_, self.item_rating_bias_ = np.ascontiguousarray(kernel.T), bias
        self.mean_user_embedding_ = self.user_embeddings_.mean(axis=0)
        self.item_norms_ = np.linalg.norm(self.item_embeddings_, axis=1) + 1e-12
        self.fold_in_radius_ = float(max(1.0, 4.0 * np.linalg.norm(self.user_embeddings_, axis=1).mean()))
        self._outer_products = None
        self._ranking_geometry = None

    # ----- learner vectors --------------------------------------------------------------------
    def fold_in(self, histories: sparse.csr_matrix) -> np.ndarray:
        """Learner vectors for history rows with course vectors frozen (numpy only, batched).

        Minimises each learner's share of the training objective: logistic loss of their courses
        (label 1) and of every other course weighted by its expected number of sampled negatives
        (n_taken * negatives * q_j / (1 - q(taken))), plus the L2 penalty training gave the learner
        vector (regularization * (number of examples + 5)). Newton steps (length-capped) on d unknowns
        per learner.
        """
        self._check_fitted()
        histories = sparse.csr_matrix(histories)
        memo = self.__dict__.setdefault("_fold_in_memo", _FoldInMemo())
        key = memo.digest(histories)
        found = memo.get(key)
        if found is not None:
            return found
        out = np.empty((histories.shape[0], self.item_embeddings_.shape[1]), np.float32)
        for start in range(0, histories.shape[0], _FOLD_IN_CHUNK):
            block = histories[start : start + _FOLD_IN_CHUNK]
            out[start : start + block.shape[0]] = self._fold_in_block(block)
        memo.put(key, out)
        return out

    def _fold_in_block(self, block: sparse.csr_matrix) -> np.ndarray:
        V = self.item_embeddings_
        n_items, d = V.shape
        taken = (block != 0).astype(np.float32).toarray()
        n_taken = taken.sum(axis=1)
        q = self.negative_probs_.astype(np.float32)
        free = np.clip(1.0 - taken @ q, 1e-6, None)
        weights = taken + (1.0 - taken) * (n_taken * self.negatives / free)[:, None] * q[None, :]
        lam = 2.0 * float(self.regularization) * (n_taken * (1 + self.negatives) + PRIOR_EXAMPLES) + 1e-6
        outer = self.__dict__.get("_outer_products")  # derived from the frozen course vectors, never saved
        if outer is None or outer.shape != (n_items, d * d):
            outer = self._outer_products = (V[:, :, None] * V[:, None, :]).reshape(n_items, d * d)
        x = np.tile(self.mean_user_embedding_, (len(n_taken), 1))
        if not (n_taken > 0).any():
            return x
        idx = np.flatnonzero(n_taken > 0)
        x_a, t_a, w_a, lam_a = x[idx], taken[idx], weights[idx], lam[idx]
        for _ in range(_FOLD_IN_STEPS):
            s = x_a @ V.T + self.item_bias_
            p = 0.5 * (1.0 + np.tanh(0.5 * s))  # overflow-free sigmoid
            grad = ((p - t_a) * w_a) @ V + lam_a[:, None] * x_a
            hess = (((p * (1.0 - p)) * w_a) @ outer).reshape(-1, d, d)
            hess[:, np.arange(d), np.arange(d)] += lam_a[:, None]
            step = np.linalg.solve(hess, grad[..., None])[..., 0]
            # trust region: with a tiny `regularization` a learner's problem can be nearly separable
            norm = np.linalg.norm(step, axis=1, keepdims=True)
            x_a -= step * np.minimum(1.0, self.fold_in_radius_ / np.maximum(norm, 1e-12))
            if norm.max() < 1e-5 * (1.0 + np.abs(x_a).max()):
                break
        x[idx] = x_a
        return x

    # ----- scoring ----------------------------------------------------------------------------
    def scores_from_vectors(self, vectors: np.ndarray) -> np.ndarray:
        """Ranking scores (enrol logit + sampling correction) for learner vectors; -inf for a course nobody
        took in training: its vector only ever saw sampled negatives, so its score is noise, not evidence."""
        scores = (vectors @ self.item_embeddings_.T + self.item_bias_ + self.score_offset_).astype(np.float64)
        scores[:, self.enrolments_ == 0] = -np.inf
        return scores

    def score_histories(self, histories) -> np.ndarray:
        """Ranking scores for any learners given their rating rows, via the numpy fold-in.

        Training learners are scored the same way (the base `score_users`): the fold-in is the exact
        optimum for the final course vectors, and ranks better than the vectors SGD left in the table
        (NDCG@10 0.593 vs 0.576 on the built-in data); it also makes `recommend_user(id)` and
        `recommend(history)` agree.
        """
        return self.scores_from_vectors(self.fold_in(histories))

    def course_closeness(self, items) -> np.ndarray:
        """Dislikes: how alike this model *ranks* two courses -- the correlation of their enrol scores across
        the training learners. A course's score is u.v_j + b_j, so over learners with covariance S the scores
        of courses i and j covary as v_i' S v_j: courses that rise and fall together in learners' lists are
        the ones placed next to each other. (The plain cosine of v_i and v_j ignores how learners actually
        spread, so a course it calls far could still sit next to the disliked one and rise after it.)"""
        geometry = self.__dict__.get("_ranking_geometry")  # derived from saved weights, never saved itself
        if geometry is None:
            geometry = self._ranking_geometry = ranking_geometry(self.user_embeddings_, self.item_embeddings_)
        return (geometry[np.asarray(items, np.int64)] @ geometry.T).astype(np.float64)

    def explain(self, history, items) -> list[str]:
        items = np.asarray(items, np.int64)
        taken = np.asarray(history.indices, np.int64)
        if len(taken) == 0:
            return [f"popular: {int(self.enrolments_[i]):,} learners enrolled" for i in items]
        unit = self.item_embeddings_ / self.item_norms_[:, None]
        sims = unit[items] @ unit[taken].T
        best = taken[sims.argmax(axis=1)]
        titles = self.catalogue_["TITLE"].astype(str).to_numpy()
        return [
            f"learners who took '{titles[b]}' also take this (similarity {s:.2f})"
            if s >= REASON_MIN_SIMILARITY
            else f"fits the courses you took as a whole; {int(self.enrolments_[i]):,} learners enrolled"
            for i, b, s in zip(items, best, sims.max(axis=1))
        ]

    # ----- ratings ----------------------------------------------------------------------------
    def predict_from_vectors(
        self, vectors: np.ndarray, item_pos: np.ndarray, user_bias: np.ndarray | float = 0.0
    ) -> np.ndarray:
        """Rating head for learner vectors paired with course positions (clipped to the scale)."""
        r = (
            np.einsum("nd,nd->n", vectors, self.item_rating_vectors_[item_pos])
            + self.item_rating_bias_[item_pos]
            + user_bias
        )
        lo, hi = self.rating_scale_
        return np.clip(r.astype(np.float64), lo, hi)

    def _predict(self, user_pos, item_pos) -> np.ndarray:
        known = user_pos >= 0
        safe = np.where(known, user_pos, 0)
        vectors = np.where(known[:, None], self.user_embeddings_[safe], self.mean_user_embedding_[None, :])
        return self.predict_from_vectors(vectors, item_pos, np.where(known, self.rating_user_bias_[safe], 0.0))

    # ----- persistence ------------------------------------------------------------------------
    @property
    def keras_model_(self):
        """The trained Keras model (built from the artifact's verified bytes on first use after `load_model`)."""
        model = getattr(self, "_keras", None)
        if model is None:
            data = getattr(self, "_keras_bytes", None)
            if data is None:
                raise NotFittedError("no Keras model: fit the model or load it from a saved artifact")
            _, keras = tensorflow_seeded(int(self.seed))
            model = keras_from_bytes(keras, data)
            self._keras = model
        return model

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_keras", None)  # saved separately in Keras' own format (model.keras)
        state.pop("_keras_bytes", None)
        state.pop("_fold_in_memo", None)
        state.pop("_outer_products", None)
        state.pop("_ranking_geometry", None)
        return state

    def _save_extra(self) -> dict[str, bytes]:
        model = getattr(self, "_keras", None)
        if model is not None:
            return {KERAS_FILE: keras_to_bytes(model)}
        if getattr(self, "_keras_bytes", None) is not None:  # loaded but never used: no TensorFlow needed
            return {KERAS_FILE: self._keras_bytes}
        raise NotFittedError("the Keras model is not available to save (fit the model first)")

    def _load_extra(self, files) -> None:
        if KERAS_FILE not in files:
            raise NotFittedError(f"the saved neural model has no {KERAS_FILE}; retrain it")
        self._keras = None
        self._keras_bytes = bytes(files[KERAS_FILE])
