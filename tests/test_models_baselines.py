"""EASE, RP3beta, implicit ALS / BPR and the hybrid against reference computations on tiny matrices.

The shared rules (recommend contract, filters, save/load, same seed -> same list) are checked for these keys
by tests/test_model_contract.py, which runs over every registry key.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from recsys.evaluation import metrics as M
from recsys.models import Recommender, make_model
from recsys.models.ensemble.hybrid import (
    MAX_VALIDATION_ROUNDS,
    blend_hits,
    blend_or_member,
    descending_average_ranks,
    rank_normalize,
    simplex_grid,
    validation_rounds,
    validation_split,
)
from recsys.models.factorization.als import confidence_matrix
from recsys.models.factorization.fold_in import als_fold_in, bpr_auc, bpr_fold_in
from recsys.models.linear.ease import ease_weights
from recsys.models.neighbours.rp3beta import rp3beta_weights


@pytest.fixture(scope="module")
def tiny_binary():
    rng = np.random.default_rng(3)
    X = (rng.random((12, 6)) < 0.45).astype(np.float64)
    X[0, :] = 1.0  # every course taken by someone
    return sparse.csr_matrix(X)


def test_ease_equals_a_ridge_regression_per_course_with_itself_left_out(tiny_binary):
    X, l2 = tiny_binary.toarray(), 2.5
    B = ease_weights(tiny_binary, l2)
    n = X.shape[1]
    for j in range(n):
        others = [i for i in range(n) if i != j]
        A = X[:, others]
        expected = np.linalg.solve(A.T @ A + l2 * np.eye(n - 1), A.T @ X[:, j])
        np.testing.assert_allclose(B[others, j], expected, rtol=0, atol=1e-9)
        assert B[j, j] == 0.0


def test_rp3beta_equals_the_random_walk_loop(tiny_binary):
    X, alpha, beta = tiny_binary.toarray(), 0.7, 0.4
    W = rp3beta_weights(tiny_binary, alpha, beta)
    users, items = X.shape
    pop, deg = X.sum(axis=0), X.sum(axis=1)
    expected = np.zeros((items, items))
    for i in range(items):
        for j in range(items):
            if i == j:
                continue
            walk = sum(
                (X[u, i] / pop[i]) ** alpha * (X[u, j] / deg[u]) ** alpha for u in range(users) if X[u, i] and X[u, j]
            )
            expected[i, j] = walk / pop[j] ** beta
    np.testing.assert_allclose(W, expected, rtol=1e-12, atol=1e-12)
    pruned = rp3beta_weights(tiny_binary, alpha, beta, top_k=2)
    assert ((pruned > 0).sum(axis=1) <= 2).all()
    np.testing.assert_allclose(pruned[pruned > 0], W[pruned > 0])


def test_item_models_score_new_learners_as_history_times_weights(tiny_dataset):
    history = list(tiny_dataset.user_history(tiny_dataset.user_ids[0]))[:2]
    for key in ("ease", "rp3beta"):
        model = make_model(key).fit(tiny_dataset)
        row = model.history_row(history)
        np.testing.assert_allclose(model.score_histories(row)[0], model.weights_[row.indices].sum(axis=0))
        assert all("also took this" in r or "popular" in r for r in model.recommend(history, k=5).REASON)


def test_als_fold_in_reproduces_the_library_recalculated_user(tiny_dataset):
    from implicit.cpu.als import AlternatingLeastSquares

    params = dict(factors=8, regularization=3.0, alpha=10.0, iterations=10, seed=4)
    model = make_model("als", **params).fit(tiny_dataset)
    C = confidence_matrix(tiny_dataset.matrix, params["alpha"])
    library = AlternatingLeastSquares(factors=8, regularization=3.0, alpha=1.0, iterations=10, random_state=4)
    library.fit(C, show_progress=False)
    np.testing.assert_array_equal(library.item_factors, model.item_factors_.astype(np.float32))
    rows = np.arange(25)
    theirs = library.recalculate_user(rows, C[rows])
    ours = model.user_factors(tiny_dataset.matrix[rows])
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-4)
    ids, _ = library.recommend(rows, C[rows], N=5, recalculate_user=True, filter_already_liked_items=True)
    for r in rows:
        ours_top = model.recommend_user(tiny_dataset.user_ids[r], k=5).COURSE_ID.tolist()
        assert ours_top == tiny_dataset.item_ids[ids[r]].tolist()
    # The Spark flavour (lambda x number of ratings) is the same solve with a per-learner penalty.
    counts = np.diff(C[rows].indptr)
    scaled = als_fold_in(tiny_dataset.matrix[rows], model.item_factors_, 0.5, 10.0, scale_regularization=True)
    one = int(np.flatnonzero(counts > 1)[0])
    direct = als_fold_in(tiny_dataset.matrix[rows[[one]]], model.item_factors_, 0.5 * counts[one], 10.0)
    np.testing.assert_allclose(scaled[one], direct[0], atol=1e-10)


def test_bpr_fold_in_raises_the_learners_training_auc(tiny_dataset):
    model = make_model("bpr", factors=8, iterations=30, seed=1).fit(tiny_dataset)
    X = tiny_dataset.matrix
    counts = np.diff(X.indptr)
    rows = np.flatnonzero(counts >= 3)[:40]
    start = np.tile(model.mean_user_, (len(rows), 1))
    folded = bpr_fold_in(
        X[rows],
        model.item_factors_,
        model.item_bias_,
        model.regularization,
        steps=model.fold_in_steps,
        init=model.mean_user_,
    )
    before, after = [], []
    for n, r in enumerate(rows):
        taken = np.zeros(X.shape[1], dtype=bool)
        taken[X[r].indices] = True
        before.append(bpr_auc(start[n] @ model.item_factors_.T + model.item_bias_, taken))
        after.append(bpr_auc(folded[n] @ model.item_factors_.T + model.item_bias_, taken))
    assert np.mean(after) > np.mean(before) + 0.02
    # one learner folded alone gets the same factors as inside a batch
    alone = bpr_fold_in(
        X[rows[[5]]],
        model.item_factors_,
        model.item_bias_,
        model.regularization,
        steps=model.fold_in_steps,
        init=model.mean_user_,
    )
    np.testing.assert_allclose(alone[0], folded[5], atol=1e-5)  # float32 kernel: BLAS shapes differ


def _bpr_ascent_reference(taken, Y, bias, reg, steps, start):
    """One learner, float64, the textbook way: Nesterov ascent on mean log sigma(s_i - s_j) - reg/2 ||x||^2."""
    not_taken = np.setdiff1d(np.arange(len(Y)), taken)
    diffs = Y[taken][:, None, :] - Y[not_taken][None, :, :]  # (taken, not taken, f)
    bias_diff = bias[taken][:, None] - bias[not_taken][None, :]
    step = 1.0 / (np.max(np.sum(Y * Y, axis=1)) + reg + 1e-12)
    x, previous = start.copy(), start.copy()
    for t in range(steps):
        look = x + (t / (t + 3.0)) * (x - previous)
        margin = diffs @ look + bias_diff
        weight = 1.0 / (1.0 + np.exp(margin))  # d/dm log sigma(m) = sigma(-m)
        grad = np.einsum("ij,ijf->f", weight, diffs) / weight.size - reg * look
        previous, x = x, look + step * grad
    return x


def test_bpr_fold_in_kernel_matches_the_textbook_ascent(tiny_dataset):
    model = make_model("bpr", factors=8, iterations=30, seed=1).fit(tiny_dataset)
    X = tiny_dataset.matrix
    rows = np.flatnonzero(np.diff(X.indptr) >= 1)[:60]
    folded = bpr_fold_in(
        X[rows], model.item_factors_, model.item_bias_, model.regularization, steps=30, init=model.mean_user_
    )
    for n, r in enumerate(rows):
        expected = _bpr_ascent_reference(
            X[r].indices, model.item_factors_, model.item_bias_, model.regularization, 30, model.mean_user_
        )
        np.testing.assert_allclose(folded[n], expected, atol=1e-5)
        scores = lambda x: x @ model.item_factors_.T + model.item_bias_  # noqa: E731
        np.testing.assert_array_equal(
            np.argsort(-scores(folded[n]), kind="stable")[:5], np.argsort(-scores(expected), kind="stable")[:5]
        )


@pytest.mark.parametrize(
    "key, params",
    [
        ("als", {"factors": 4, "iterations": 3}),
        ("bpr", {"factors": 4, "iterations": 3}),
        ("hybrid", {"member_2": "popularity", "member_3": "none", "member_4": "none"}),
    ],
)
def test_long_fits_report_progress(key, params, tiny_dataset):
    calls = []
    make_model(key, **params).fit(tiny_dataset, progress=lambda fraction, message: calls.append((fraction, message)))
    fractions = [f for f, _ in calls]
    assert len(calls) >= 4 and fractions == sorted(fractions) and fractions[-1] == 1.0
    assert all(isinstance(m, str) and m for _, m in calls)


def test_rank_normalize_orders_and_handles_courses_a_model_cannot_score():
    scores = np.array([[3.0, -np.inf, 1.0, 2.0, 2.0]])
    out = rank_normalize(scores)
    assert out[0, 0] == 1.0 and out[0, 1] == 0.0
    assert out[0, 0] > out[0, 3] == out[0, 4] > out[0, 2] > 0.0
    seen = sparse.csr_matrix(([1.0], ([0], [0])), shape=(1, 5))
    masked = rank_normalize(scores, seen=seen)
    assert masked[0, 0] == 0.0 and masked[0, 3] == 1.0 - np.log(1.5) / np.log(5)
    grid = simplex_grid(3)
    np.testing.assert_allclose(grid.sum(axis=1), 1.0)
    assert len(grid) == 66 and (grid >= 0).all()


def test_descending_average_ranks_equal_scipys_rankdata_with_ties_and_minus_inf():
    from scipy.stats import rankdata

    rng = np.random.default_rng(11)
    scores = np.round(rng.random((200, 37)), 1)  # many ties
    scores[rng.random(scores.shape) < 0.2] = -np.inf
    scores[0] = 0.5  # a row of one value
    np.testing.assert_array_equal(descending_average_ranks(scores), rankdata(-scores, method="average", axis=1))
    assert descending_average_ranks(np.zeros((3, 0))).shape == (3, 0)


def test_blend_hits_equal_the_sorted_top_k_of_every_grid_blend():
    rng = np.random.default_rng(7)
    n, n_items = 300, 40
    seen = sparse.csr_matrix(rng.random((n, n_items)) < 0.15)
    hidden = sparse.csr_matrix((rng.random((n, n_items)) < 0.1) & ~seen.toarray())
    # coarse values: many exact ties inside and across members, which the catalogue order must break
    parts = [rank_normalize(np.round(rng.random((n, n_items)), 1), seen=seen) for _ in range(3)]
    parts.append(np.round(rng.random((n, n_items)), 1) * ~seen.toarray())
    grid = simplex_grid(4, step=0.25)
    hits = blend_hits(grid, parts, seen, hidden, 10, chunk=64)
    for g, weights in enumerate(grid):
        top = M.top_k(sum(w * part for w, part in zip(weights, parts)), 10, exclude=seen)
        np.testing.assert_array_equal(hits[g], M.hit_matrix(top, hidden))
    assert hits.any() and not hits.all()


def test_single_member_hybrid_ranks_like_its_member(tiny_dataset):
    ease = make_model("ease").fit(tiny_dataset)
    hybrid = make_model(
        "hybrid", member_1="ease", member_2="none", member_3="none", member_4="none", learn_weights=False
    ).fit(tiny_dataset)
    np.testing.assert_allclose(hybrid.weights_, 1.0)
    for user in tiny_dataset.user_ids[:30]:
        history = list(tiny_dataset.user_history(user))
        assert hybrid.recommend(history, k=10).COURSE_ID.tolist() == ease.recommend(history, k=10).COURSE_ID.tolist()


def test_hybrid_learns_weights_that_sum_to_one_and_merges_reasons(tiny_dataset):
    hybrid = make_model(
        "hybrid", member_1="ease", member_2="course_similarity", member_3="popularity", member_4="none", seed=3
    ).fit(tiny_dataset)
    assert hybrid.weights_.shape == (3, 3)
    np.testing.assert_allclose(hybrid.weights_.sum(axis=1), 1.0)
    assert (hybrid.weights_ >= 0).all() and hybrid.validation_ndcg_["overall"] > 0
    history = list(tiny_dataset.user_history(tiny_dataset.user_ids[0]))[:2]
    recs = hybrid.recommend(history, k=5)
    member_reasons = set()
    for member in hybrid.members:
        member_reasons |= set(member.explain(hybrid.history_row(history), np.arange(tiny_dataset.n_items)))
    for reason in recs.REASON:
        assert all(part in member_reasons for part in reason.split("; ")), reason
    # the saved state holds plain values, not model objects
    state = hybrid.__getstate__()
    assert "_members" not in state
    assert not any(isinstance(v, Recommender) for s in state["member_states_"] for v in s.values())
    assert "train_matrix_" not in state["member_states_"][0]


def test_hybrid_rejects_a_member_chosen_twice(tiny_dataset):
    with pytest.raises(ValueError, match="ease"):
        make_model("hybrid", member_1="ease", member_2="ease").fit(tiny_dataset)


def test_hybrid_validates_on_disjoint_learners_in_several_rounds_on_small_data(tiny_dataset):
    rounds = validation_rounds(tiny_dataset)
    assert 1 < rounds <= MAX_VALIDATION_ROUNDS  # a few hundred learners: one round would be ~50 learners' noise
    validated: set = set()
    for r in range(rounds):
        train, histories, hidden = validation_split(tiny_dataset, 0, r)
        held = set(tiny_dataset.user_ids) - set(train.user_ids)
        assert histories.shape[0] == hidden.shape[0] == len(held) > 0
        assert not held & validated  # each round validates other learners
        validated |= held
    hybrid = make_model("hybrid", seed=0, member_1="ease", member_2="popularity", member_3="none", member_4="none").fit(
        tiny_dataset
    )
    assert hybrid.validation_ndcg_["validation_rounds"] == rounds
    assert hybrid.validation_ndcg_["validation_learners"] == len(validated)


def test_hybrid_validates_once_when_a_round_has_enough_learners(tiny_dataset, monkeypatch):
    import recsys.models.ensemble.hybrid as H

    monkeypatch.setattr(H, "VALIDATION_TARGET_LEARNERS", 10)  # the data rule's threshold, not the code under test
    assert validation_rounds(tiny_dataset) == 1
    train, histories, _ = validation_split(tiny_dataset, 0)
    assert histories.shape[0] == tiny_dataset.n_users - train.n_users


def test_a_blend_is_used_only_when_it_beats_the_best_member_beyond_the_noise():
    grid = simplex_grid(2, step=0.5)  # the two members alone and their half-half blend
    rng = np.random.default_rng(0)
    member = rng.random(300) * 0.5
    rows = np.ones(300, dtype=bool)

    def scores(blend):  # grid points x learners: member 1 alone, member 2 alone (worse), the blend
        return np.stack([member if w[0] == 1 else member - 0.1 if w[1] == 1 else blend for w in grid])

    clearly = scores(member + 0.05)  # the blend gains 0.05 for every learner
    assert grid[blend_or_member(grid, clearly, rows)].tolist() == [0.5, 0.5]
    noise = rng.normal(0.0, 0.1, 300)
    barely = scores(member + 0.001 + (noise - noise.mean()))  # +0.001 on average, standard error ~0.006
    assert grid[blend_or_member(grid, barely, rows)].tolist() == [1.0, 0.0]  # the member alone
