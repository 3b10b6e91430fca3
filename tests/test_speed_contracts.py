"""Behaviour the speed work (issue 14) must keep: shortcuts give exactly the numbers of the slow path.

No timings here (they are in bench/): these tests check that the shared neural embedding, the fold-in memo,
the partial top-k, the cached bootstrap resamples and the lazy TensorFlow import change nothing a user sees.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse

from recsys.evaluation import metrics as M
from recsys.evaluation import uncertainty as U
from recsys.models import make_model
from recsys.models.neural import shared_embedding

ROOT = Path(__file__).resolve().parents[1]
FAST = {"epochs": 2, "embedding_size": 8, "seed": 3}


def _rows(dataset, n=40):
    return dataset.matrix[:n]


def test_embedding_models_reuse_the_neural_network_with_identical_numbers(tiny_dataset):
    shared_embedding.clear()
    alone = make_model("embedding_regression", **FAST).fit(tiny_dataset)  # trains its own network
    shared_embedding.clear()
    neural = make_model("neural", **FAST).fit(tiny_dataset)
    messages = []
    reused = make_model("embedding_regression", **FAST).fit(tiny_dataset, progress=lambda f, m: messages.append(m))
    assert any("reused" in m for m in messages), messages  # it did not train a copy
    np.testing.assert_array_equal(reused.embedder_.item_embeddings_, neural.item_embeddings_)
    # ... and the reused network is bit-identical to the one a fresh fit trains
    np.testing.assert_array_equal(reused.embedder_.item_embeddings_, alone.embedder_.item_embeddings_)
    np.testing.assert_array_equal(reused.embedder_.user_embeddings_, alone.embedder_.user_embeddings_)
    H = _rows(tiny_dataset)
    np.testing.assert_array_equal(reused.score_histories(H), alone.score_histories(H))
    ids = tiny_dataset.ratings[["user", "item"]].head(50)
    np.testing.assert_array_equal(reused.predict(ids["user"], ids["item"]), alone.predict(ids["user"], ids["item"]))


def test_neural_fitted_after_an_embedding_model_reuses_its_network(tiny_dataset):
    shared_embedding.clear()
    classifier = make_model("embedding_classifier", **FAST).fit(tiny_dataset)
    messages = []
    neural = make_model("neural", **FAST).fit(tiny_dataset, progress=lambda f, m: messages.append(m))
    assert [m.split(":")[0] for m in messages if m.startswith("epoch")] == ["epoch 1/2", "epoch 2/2"]
    assert all("reused" in m for m in messages if m.startswith("epoch"))
    np.testing.assert_array_equal(neural.item_embeddings_, classifier.embedder_.item_embeddings_)


def test_other_parameters_or_data_train_their_own_network(tiny_dataset, small_dataset):
    shared_embedding.clear()
    make_model("neural", **FAST).fit(tiny_dataset)
    messages = []
    make_model("neural", **{**FAST, "seed": 4}).fit(tiny_dataset, progress=lambda f, m: messages.append(m))
    make_model("neural", **FAST).fit(small_dataset, progress=lambda f, m: messages.append(m))
    assert messages and not any("reused" in m for m in messages)


def test_fold_in_memo_returns_what_the_computation_gives(tiny_dataset):
    shared_embedding.clear()
    model = make_model("neural", **FAST).fit(tiny_dataset)
    H = _rows(tiny_dataset)
    first = model.fold_in(H)
    again = model.fold_in(H.copy())
    assert again is first  # the same batch is not folded in twice
    fresh = model._fold_in_block(H)
    np.testing.assert_array_equal(first, fresh)
    changed = H.copy().tolil()
    changed[0, int(np.flatnonzero(H[0].toarray()[0] == 0)[0])] = 3.0
    assert not np.array_equal(model.fold_in(changed.tocsr())[0], first[0])


def _reference_top_k(scores, k, exclude=None):
    """The plain definition: stable sort of every row by descending score."""
    scores = np.array(scores, dtype=np.float64)
    scores[~np.isfinite(scores)] = -np.inf
    if exclude is not None:
        scores[exclude.toarray() != 0] = -np.inf
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    top = np.where(np.isfinite(np.take_along_axis(scores, order, axis=1)), order, -1)
    if top.shape[1] < k:
        top = np.hstack([top, np.full((len(top), k - top.shape[1]), -1)])
    return top


@pytest.mark.parametrize("k", [1, 5, 10, 40])
def test_partial_top_k_equals_a_full_stable_sort_with_ties(k):
    rng = np.random.default_rng(k)
    scores = rng.integers(0, 6, size=(300, 30)).astype(np.float64)  # many ties
    scores[rng.random(scores.shape) < 0.3] = -np.inf
    scores[rng.random(scores.shape) < 0.05] = np.nan
    scores[7] = -np.inf  # nothing to list
    exclude = sparse.csr_matrix(rng.random(scores.shape) < 0.2)
    np.testing.assert_array_equal(M.top_k(scores, k, exclude), _reference_top_k(scores, k, exclude))
    np.testing.assert_array_equal(M.top_k(scores, k), _reference_top_k(scores, k))


def test_bootstrap_reuses_resamples_with_the_same_numbers():
    rng = np.random.default_rng(0)
    values = rng.random((500, 3))
    values[rng.random(values.shape) < 0.1] = np.nan
    U._COUNTS.clear()
    first = U._resampled_means(values, 200, 5)
    assert U._COUNTS  # the resample counts are kept for the next model on the same learners
    again = U._resampled_means(values, 200, 5)
    U._COUNTS.clear()
    cold = U._resampled_means(values, 200, 5)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, cold)
    assert not np.array_equal(U._resampled_means(values, 200, 6), first)


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys\nprint(' '.join(sorted(sys.modules)))"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return set(out.stdout.split())


def test_app_start_and_home_page_do_not_import_tensorflow():
    code = (
        "from streamlit.testing.v1 import AppTest\n"
        "at = AppTest.from_file('app.py', default_timeout=120)\n"
        "at.run()\n"
        "assert not at.exception, at.exception\n"
        "import recsys.models, recsys.serving.store, recsys.evaluation, recsys.ui.session\n"
        "from recsys.models import MODEL_KEYS, model_class\n"
        "[model_class(k) for k in MODEL_KEYS]\n"
    )
    modules = _modules_after(code)
    assert "recsys.models.neural.recommender" in modules  # the neural classes were imported ...
    assert "tensorflow" not in modules and "keras" not in modules  # ... but not TensorFlow


@pytest.mark.parametrize("key", ["clustering", "clustering_pca"])
def test_one_learner_at_a_time_lands_in_the_same_cluster_with_the_same_scores(key, small_dataset):
    model = make_model(key, n_clusters=6, seed=1).fit(small_dataset)
    H = small_dataset.matrix[:300]
    batched_clusters, batched = model.assign(H), model.score_histories(H)  # sklearn path (large batch)
    one_by_one = np.concatenate([model.assign(H[i : i + 1]) for i in range(H.shape[0])])
    np.testing.assert_array_equal(one_by_one, batched_clusters)
    np.testing.assert_allclose(
        np.vstack([model.score_histories(H[i : i + 1]) for i in range(40)]), batched[:40], rtol=1e-12, atol=0
    )
    np.testing.assert_allclose(model.learner_features(H[:5]), model.learner_features(H)[:5], rtol=1e-12, atol=1e-12)
