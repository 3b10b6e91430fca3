"""The Keras side of the neural recommender: seeded TensorFlow import, the two-head network and its train
step, negative sampling and batching. The recommender face (recsys.models.neural.recommender) only calls
`Trainer` while fitting; serving and fold-in are numpy and never import TensorFlow.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
from scipy import sparse

from recsys._logs import import_tensorflow

_ADAM = (0.9, 0.999, 1e-7)
_MAX_VALIDATION = 100_000  # held-out ratings for the validation curve at most (enough for a smooth curve)
_RATING_REG = 100.0  # L2 per rating on the course rating vectors: ratings are nearly all 'completed'
_BIAS_PRIOR = 30.0  # pseudo-ratings at the mean shrinking learner and course rating biases
PRIOR_EXAMPLES = 5.0  # every learner vector is also penalised as if in 5 more examples (one-course learners)


def tensorflow_seeded(seed: int):
    """Import TF/Keras on demand, seeded, with deterministic kernels.

    Op determinism is process-wide; with it and seeded initialisers/negatives, two fits with the same
    seed give bit-identical weights on CPU (no thread-count pinning needed: no op here reduces in a
    thread-dependent order once determinism is on).
    """
    tf, keras = import_tensorflow()  # TF's import-time chatter filtered at the source (recsys/_logs.py)
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    _one_thread(tf)
    return tf, keras


def keras_to_bytes(model) -> bytes:
    """The `.keras` bytes of `model`, written through a private temporary folder (mode 0700, this process's own)
    and read back from it: Keras 3 writes only to paths, and nobody else can swap a file in that folder."""
    with tempfile.TemporaryDirectory(prefix="recsys-keras-") as folder:
        target = os.path.join(folder, "model.keras")
        model.save(target)
        with open(target, "rb") as fh:
            return fh.read()


def keras_from_bytes(keras, data: bytes):
    """The Keras model in `data` (already verified), loaded in safe mode (no Python lambdas) from a private
    temporary copy that this process wrote with O_EXCL and removes right after."""
    with tempfile.TemporaryDirectory(prefix="recsys-keras-") as folder:
        target = os.path.join(folder, "model.keras")
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return keras.saving.load_model(target, compile=False, safe_mode=True)


def _one_thread(tf) -> None:
    """TF's own thread pools at one thread each. The network's ops are small (a 512-learner batch against a few
    hundred courses): on 2 cores one thread trains in 2.7 s of CPU where TF's default pools spend 4.0 s for a
    slower fit, and a comparison runs another model on the other core. Same weights either way. Only possible
    before TF's runtime starts; later calls keep whatever was set first."""
    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # the runtime is already initialised in this process
        pass


class Trainer:
    """The Keras model plus a compiled train step: dense Adam for the course side, lazy Adam for learners."""

    def __init__(self, tf, keras, n_users, n_items, d, reg, lr, rating_mean, seed, n_ratings):
        layers = keras.layers
        normal = lambda s: keras.initializers.RandomNormal(stddev=0.1, seed=seed + s)  # noqa: E731
        vec = keras.Input(shape=(d,), name="learner_vector")
        vec_bias = keras.Input(shape=(1,), name="learner_rating_bias_value")
        enrol = layers.Dense(n_items, kernel_initializer=normal(2), name="course_scores")(vec)
        rated = layers.Dense(
            n_items,
            kernel_initializer="zeros",
            bias_initializer=keras.initializers.Constant(rating_mean),
            name="course_ratings",
        )(vec)
        rating = layers.Add(name="rating")([rated, vec_bias])
        head = keras.Model([vec, vec_bias], {"enrol": enrol, "rating": rating}, name="head")
        ids = keras.Input(shape=(), dtype="int32", name="learner")
        u_layer = layers.Embedding(n_users, d, embeddings_initializer=normal(1), name="learner_embedding")
        b_layer = layers.Embedding(n_users, 1, embeddings_initializer="zeros", name="learner_rating_bias")
        self.model = keras.Model(ids, head([u_layer(ids), b_layer(ids)]), name="neural_recommender")
        self.head = head
        self.tables = [u_layer.embeddings.value, b_layer.embeddings.value]
        self.slots = [(tf.Variable(tf.zeros_like(t)), tf.Variable(tf.zeros_like(t))) for t in self.tables]
        self.step_count = tf.Variable(0.0)
        self.optimizer = keras.optimizers.Adam(learning_rate=lr, beta_1=_ADAM[0], beta_2=_ADAM[1], epsilon=_ADAM[2])
        self.optimizer.build(head.trainable_variables)
        self.tf, self.reg, self.lr = tf, reg, lr
        self.rating_mean, self.n_ratings = float(rating_mean), float(max(n_ratings, 1))
        spec = [tf.TensorSpec([None], tf.int32)] + [tf.TensorSpec([None, n_items], tf.float32)] * 4
        self.train_step = _numpy_out(tf.function(self._train, input_signature=spec, autograph=False))
        self.eval_step = _numpy_out(tf.function(self._eval, input_signature=spec, autograph=False))

    def _losses(self, u, b, labels, weights, ratings, rated):
        tf = self.tf
        out = self.head([u, b], training=True)
        bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=out["enrol"])
        enrol_sum = tf.reduce_sum(weights * bce)
        sq_sum = tf.reduce_sum(rated * tf.square(out["rating"] - ratings))
        return enrol_sum, sq_sum

    def _eval(self, ids, labels, weights, ratings, rated):
        tf = self.tf
        u, b = (tf.gather(t, ids) for t in self.tables)
        enrol_sum, sq_sum = self._losses(u, b, labels, weights, ratings, rated)
        return tf.stack([enrol_sum, tf.reduce_sum(weights), sq_sum]), tf.reduce_sum(rated)

    def _train(self, ids, labels, weights, ratings, rated):
        tf = self.tf
        mass = tf.reduce_sum(weights)
        n_rated = tf.maximum(tf.reduce_sum(rated), 1.0)
        kernel = self.head.get_layer("course_scores").kernel
        r_kernel = self.head.get_layer("course_ratings").kernel
        r_bias = self.head.get_layer("course_ratings").bias
        u, b = (tf.gather(t, ids) for t in self.tables)
        with tf.GradientTape() as tape:
            tape.watch([u, b])
            enrol_sum, sq_sum = self._losses(u, b, labels, weights, ratings, rated)
            # per-example L2: each learner (course) vector once per example it appears in (+ a prior)
            penalty = (
                tf.reduce_sum((tf.reduce_sum(weights, 1) + PRIOR_EXAMPLES) * tf.reduce_sum(u * u, 1))
                + tf.reduce_sum(tf.reduce_sum(weights, 0) * tf.reduce_sum(kernel * kernel, 0))
            ) / mass
            r_penalty = tf.reduce_sum(tf.reduce_sum(rated, 0) * tf.reduce_sum(r_kernel * r_kernel, 0)) / n_rated
            # rating biases: priors worth _BIAS_PRIOR ratings at the mean (a learner or course with one
            # audit would otherwise carry a full -1 to every prediction); the course term is spread over
            # the batches of an epoch, the learner term counts the learners of this batch
            b_penalty = _BIAS_PRIOR * (
                tf.reduce_sum(tf.cast(tf.reduce_sum(rated, 1) > 0, tf.float32) * b[:, 0] ** 2) / n_rated
                + tf.reduce_sum((r_bias - self.rating_mean) ** 2) / self.n_ratings
            )
            rating_loss = sq_sum / n_rated + b_penalty + _RATING_REG * r_penalty
            loss = enrol_sum / mass + self.reg * penalty + rating_loss
        variables = self.head.trainable_variables
        grads = tape.gradient(loss, [u, b] + variables)
        self.optimizer.apply_gradients(zip(grads[2:], variables))
        self.step_count.assign_add(1.0)
        t = self.step_count
        b1, b2, eps = _ADAM
        lr = self.lr * tf.sqrt(1.0 - b2**t) / (1.0 - b1**t)
        for table, (m, v), g in zip(self.tables, self.slots, grads[:2]):
            m_rows = b1 * tf.gather(m, ids) + (1.0 - b1) * g
            v_rows = b2 * tf.gather(v, ids) + (1.0 - b2) * g * g
            m.scatter_update(tf.IndexedSlices(m_rows, ids))
            v.scatter_update(tf.IndexedSlices(v_rows, ids))
            table.scatter_sub(tf.IndexedSlices(lr * m_rows / (tf.sqrt(v_rows) + eps), ids))
        return tf.stack([enrol_sum, mass, sq_sum]), tf.reduce_sum(rated)


def _numpy_out(fn):
    """Wrap a compiled step: numpy batch in, [logistic loss sum, weight mass, squared error sum, n rated] out."""

    def run(batch):
        sums, n_rated = fn(*batch)
        return np.append(sums.numpy().astype(np.float64), float(n_rated))

    return run


def mean_loss(total: np.ndarray) -> float:
    """Reported loss: mean logistic loss per (weighted) example + mean squared rating error."""
    total = np.asarray(total, np.float64)
    if len(total) < 4 or total[1] <= 0:
        return float("nan")
    return float(total[0] / total[1] + (total[2] / total[3] if total[3] > 0 else 0.0))


class RowSampler:
    """Draws `negatives` courses per taken course from q, redrawing any the learner already took."""

    def __init__(self, probs: np.ndarray, negatives: int):
        self.cdf = np.cumsum(probs)
        self.cdf[-1] = 1.0
        self.negatives = negatives

    def counts(self, taken: np.ndarray, n_pos: np.ndarray, rng) -> np.ndarray:
        n_rows, n_items = taken.shape
        rows = np.repeat(np.arange(n_rows), n_pos * self.negatives)
        cols = np.searchsorted(self.cdf, rng.random(len(rows)), side="right")
        bad = taken[rows, cols]
        for _ in range(8):
            if not bad.any():
                break
            idx = np.flatnonzero(bad)
            cols[idx] = np.searchsorted(self.cdf, rng.random(len(idx)), side="right")
            bad[idx] = taken[rows[idx], cols[idx]]
        keep = ~bad  # leftover collisions (learners who took nearly everything) are dropped
        return np.bincount(rows[keep] * n_items + cols[keep], minlength=n_rows * n_items).reshape(n_rows, n_items)


def make_batch(rows, full, part, sampler, rng):
    """Dense arrays for a batch of learners: ids, labels, weights (1 + negative counts), ratings, rated."""
    taken = full[rows].toarray() != 0
    ratings = part[rows].toarray().astype(np.float32)
    labels = (ratings != 0).astype(np.float32)
    negatives = sampler.counts(taken, labels.sum(axis=1).astype(np.int64), rng)
    weights = labels + negatives.astype(np.float32)
    return (np.asarray(rows, np.int32), labels, weights, ratings, labels)


def chunks(values: np.ndarray, size: int):
    for start in range(0, len(values), size):
        yield values[start : start + size]


def keep_entries(matrix: sparse.csr_matrix, mask: np.ndarray) -> sparse.csr_matrix:
    """The entries of a CSR matrix where `mask` (aligned with .data) is true, same shape."""
    coo = matrix.tocoo()
    out = sparse.csr_matrix((coo.data[mask], (coo.row[mask], coo.col[mask])), shape=matrix.shape)
    out.sort_indices()
    return out


def validation_mask(matrix: sparse.csr_matrix, share: float, rng) -> np.ndarray:
    """Seeded held-out share of the stored ratings (at most _MAX_VALIDATION); every learner keeps one."""
    n = matrix.nnz
    mask = np.zeros(n, bool)
    if share <= 0 or n == 0:
        return mask
    per_user = np.diff(matrix.indptr)
    users = np.repeat(np.arange(matrix.shape[0]), per_user)
    # each learner's first stored rating in a random order is never held out
    order = rng.permutation(n)
    _, first = np.unique(users[order], return_index=True)
    protected = np.zeros(n, bool)
    protected[order[first]] = True
    eligible = order[~protected[order]]
    mask[eligible[: min(int(round(share * n)), _MAX_VALIDATION)]] = True
    return mask
