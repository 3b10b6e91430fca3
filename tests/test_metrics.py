"""Top-K / rating metrics and bootstrap uncertainty: hand-computed cases plus independent references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import sparse
from sklearn.metrics import mean_absolute_error, mean_squared_error, ndcg_score

from recsys.evaluation import metrics as M
from recsys.evaluation.uncertainty import bootstrap_ci, bootstrap_intervals, paired_test


def csr(rows: list[set[int]], n_items: int) -> sparse.csr_matrix:
    r = [i for i, row in enumerate(rows) for _ in row]
    c = [j for row in rows for j in sorted(row)]
    return sparse.csr_matrix((np.ones(len(c)), (r, c)), shape=(len(rows), n_items))


# ----- hand-computed -------------------------------------------------------------------------------
def test_hand_computed_ranking_metrics():
    top = np.array([[0, 1, 2], [3, -1, -1], [4, 5, 6]])
    relevant = csr([{1, 5}, {3}, {0}], 8)
    per = M.per_learner_metrics(top, relevant, np.eye(8), np.zeros(8))
    d2 = 1 / math.log2(3)
    # learner 0: one hit at rank 2 of 2 relevant; learner 1: hit at rank 1, padded list; learner 2: no hit
    np.testing.assert_allclose(per["precision@3"], [1 / 3, 1 / 3, 0])
    np.testing.assert_allclose(per["recall@3"], [1 / 2, 1, 0])
    np.testing.assert_allclose(per["ndcg@3"], [d2 / (1 + d2), 1, 0])
    np.testing.assert_allclose(per["map@3"], [(1 / 2) / 2, 1, 0])
    np.testing.assert_allclose(per["hit_rate@3"], [1, 1, 0])
    assert M.coverage_at_k(top, 8) == pytest.approx(7 / 8)


def test_map_counts_every_hit_precision():
    top = np.array([[7, 2, 9, 4]])
    relevant = csr([{7, 9, 1}], 10)  # hits at ranks 1 and 3; 3 relevant
    per = M.per_learner_metrics(top, relevant, np.eye(10), np.zeros(10))
    assert per["map@4"][0] == pytest.approx((1 / 1 + 2 / 3) / 3)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert per["ndcg@4"][0] == pytest.approx((1 + 1 / math.log2(4)) / ideal)


def test_diversity_and_novelty_hand_computed():
    genres = np.array([[1, 0], [1, 0], [0, 1], [1, 1], [0, 0]], dtype=float)
    top = np.array([[0, 1], [0, 2], [0, 3], [2, -1], [0, 4]])
    div = M.diversity_at_k(top, genres)
    np.testing.assert_allclose(div[:3], [0.0, 1.0, 1 - 1 / math.sqrt(2)])
    assert math.isnan(div[3])  # a one-course list has no pairs
    assert div[4] == pytest.approx(1.0)  # a course without genres is fully dissimilar

    train = csr([{0, 1}, {0}, {0, 2}], 5)  # course 0 taken by all 3 learners, 1 and 2 by one, 3 and 4 by none
    info = M.self_information(train)
    np.testing.assert_allclose(info, -np.log2(np.array([4, 2, 2, 1, 1]) / 4))
    nov = M.novelty_at_k(np.array([[0, 1], [3, -1]]), info)
    np.testing.assert_allclose(nov, [(info[0] + info[1]) / 2, info[3]])


def test_top_k_excludes_ties_and_pads():
    scores = np.array([[0.5, 0.9, 0.9, -np.inf, np.nan], [1, 2, 3, 4, 5]], dtype=float)
    exclude = csr([{0}, {4, 3}], 5)
    top = M.top_k(scores, 4, exclude)
    np.testing.assert_array_equal(top[0], [1, 2, -1, -1])  # tie -> catalogue order; -inf/nan/excluded never listed
    np.testing.assert_array_equal(top[1], [2, 1, 0, -1])
    assert M.top_k(scores, 7).shape == (2, 7)


def test_evaluation_lists_are_the_recommend_lists(small_dataset):
    """Evaluation ranks with the serving policy's top-k: its lists are what `recommend_user` shows."""
    from recsys.models import make_model

    model = make_model("popularity").fit(small_dataset)
    rows = small_dataset.matrix[:50]
    scores = model.score_histories(rows)
    top = M.top_k(scores, 10, exclude=rows)
    for i in range(50):
        listed = model.recommend_user(small_dataset.user_ids[i], k=10).COURSE_ID
        np.testing.assert_array_equal(top[i][top[i] >= 0], model.item_index_.get_indexer(listed))


def test_rating_metrics_against_sklearn():
    rng = np.random.default_rng(3)
    actual, predicted = rng.uniform(2, 3, 200), rng.uniform(2, 3, 200)
    assert M.rmse(predicted - actual) == pytest.approx(math.sqrt(mean_squared_error(actual, predicted)))
    assert M.mae(predicted - actual) == pytest.approx(mean_absolute_error(actual, predicted))
    assert math.isnan(M.rmse(np.array([])))


def test_parse_metric():
    assert M.parse_metric("NDCG@5") == ("ndcg", 5)
    assert M.parse_metric("recall", default_k=10) == ("recall", 10)
    assert M.parse_metric("rmse") == ("rmse", None)
    for bad in ("auc@10", "ndcg@0", "rmse@10", "ndcg@x", "recall"):
        with pytest.raises(ValueError):
            M.parse_metric(bad)
    assert M.metric_names(5)[:3] == ["precision@5", "recall@5", "ndcg@5"]


# ----- independent references ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def random_case():
    rng = np.random.default_rng(7)
    n, n_items, k = 300, 40, 10
    scores = rng.random((n, n_items))  # distinct scores: no ties for sklearn to average
    rel = rng.random((n, n_items)) < 0.08
    rel[np.arange(n), rng.integers(0, n_items, n)] = True  # everyone has at least one relevant course
    genres = (rng.random((n_items, 6)) < 0.3).astype(float)
    info = rng.uniform(0.1, 5, n_items)
    top = M.top_k(scores, k)
    return scores, rel, genres, info, top, k


def test_ndcg_matches_sklearn(random_case):
    scores, rel, genres, info, top, k = random_case
    per = M.per_learner_metrics(top, sparse.csr_matrix(rel.astype(float)), genres, info)
    expected = [ndcg_score(rel[i : i + 1].astype(float), scores[i : i + 1], k=k) for i in range(len(rel))]
    np.testing.assert_allclose(per[f"ndcg@{k}"], expected, atol=1e-12)
    assert per[f"ndcg@{k}"].mean() == pytest.approx(ndcg_score(rel.astype(float), scores, k=k))


def test_metrics_match_python_loops(random_case):
    scores, rel, genres, info, top, k = random_case
    per = M.per_learner_metrics(top, sparse.csr_matrix(rel.astype(float)), genres, info)
    for i in range(len(rel)):
        ranked = sorted(range(rel.shape[1]), key=lambda j: -scores[i, j])[:k]
        relevant = set(np.flatnonzero(rel[i]))
        hits = [j in relevant for j in ranked]
        assert per[f"precision@{k}"][i] == pytest.approx(sum(hits) / k)
        assert per[f"recall@{k}"][i] == pytest.approx(sum(hits) / len(relevant))
        assert per[f"hit_rate@{k}"][i] == float(any(hits))
        ap, found = 0.0, 0
        for rank, hit in enumerate(hits, start=1):
            if hit:
                found += 1
                ap += found / rank
        assert per[f"map@{k}"][i] == pytest.approx(ap / min(len(relevant), k))
        dissim = []
        for a in range(k):
            for b in range(k):
                if a != b:
                    ga, gb = genres[ranked[a]], genres[ranked[b]]
                    na, nb = np.linalg.norm(ga), np.linalg.norm(gb)
                    dissim.append(1 - (ga @ gb / (na * nb) if na and nb else 0.0))
        assert per[f"diversity@{k}"][i] == pytest.approx(np.mean(dissim))
        assert per[f"novelty@{k}"][i] == pytest.approx(np.mean([info[j] for j in ranked]))
    listed = {j for row in top for j in row}
    assert M.coverage_at_k(top, rel.shape[1]) == pytest.approx(len(listed) / rel.shape[1])


# ----- uncertainty ---------------------------------------------------------------------------------
def test_bootstrap_brackets_mean_shrinks_and_is_seeded():
    rng = np.random.default_rng(0)
    small, large = rng.random(200), rng.random(5000)
    lo_s, hi_s = bootstrap_ci(small, seed=1)
    lo_l, hi_l = bootstrap_ci(large, seed=1)
    assert lo_s < small.mean() < hi_s and lo_l < large.mean() < hi_l
    assert hi_l - lo_l < (hi_s - lo_s) / 3  # width ~ 1/sqrt(n): 5000 vs 200 learners -> 5x narrower
    assert bootstrap_ci(small, seed=1) == (lo_s, hi_s)
    assert bootstrap_ci(small, seed=2) != (lo_s, hi_s)


def test_bootstrap_width_matches_normal_theory():
    values = np.random.default_rng(5).exponential(1.0, 3000)
    lo, hi = bootstrap_ci(values, n_resamples=2000, seed=0)
    half = 1.96 * values.std(ddof=1) / math.sqrt(len(values))
    assert (hi - lo) / 2 == pytest.approx(half, rel=0.12)
    assert (lo + hi) / 2 == pytest.approx(values.mean(), abs=half * 0.2)


def test_bootstrap_intervals_ignore_nan_and_validate():
    values = np.r_[np.random.default_rng(1).random(500), [np.nan] * 50]
    ci = bootstrap_intervals({"a": values, "b": values * 2}, seed=0)
    assert ci["a"][0] < np.nanmean(values) < ci["a"][1]
    assert ci["b"] == pytest.approx((2 * ci["a"][0], 2 * ci["a"][1]))  # same resamples for every metric
    with pytest.raises(ValueError):
        bootstrap_intervals({"a": values, "b": values[:10]})
    with pytest.raises(ValueError):
        bootstrap_ci(values, n_resamples=3)


def test_paired_test_detects_a_shift_and_not_self():
    rng = np.random.default_rng(11)
    b = rng.random(800)
    a = np.clip(b + 0.05 + rng.normal(0, 0.1, 800), 0, None)
    res = paired_test(a, b, seed=0)
    assert res.p_value < 1e-6 and res.p_bootstrap < 0.01
    assert 0 < res.ci[0] < res.mean_diff < res.ci[1]
    assert res.mean_diff == pytest.approx((a - b).mean())
    same = paired_test(b, b.copy(), seed=0)
    assert same.p_value == 1.0 and same.mean_diff == 0.0 and same.ci == (0.0, 0.0)
    other = paired_test(rng.random(800), rng.random(800), seed=0)  # no real difference
    assert other.p_value > 0.01 and other.ci[0] < 0 < other.ci[1]
    with pytest.raises(ValueError):
        paired_test(a, b[:-1])


# ----- Holm, corrected comparisons, product KPIs, segments -----------------------------------------
from recsys.evaluation import comparison as C  # noqa: E402
from recsys.evaluation import segments as S  # noqa: E402
from recsys.evaluation.uncertainty import holm  # noqa: E402


def test_holm_against_hand_computed_example():
    # sorted: 0.005 x4 = 0.02, 0.01 x3 = 0.03, 0.03 x2 = 0.06, 0.04 x1 = 0.04 -> running max 0.06
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(holm([0.5, 0.6]), [1.0, 1.0])  # capped at 1, monotone
    out = holm([0.02, np.nan, 0.01])  # NaN neither counts nor changes
    assert np.isnan(out[1]) and out[0] == pytest.approx(0.02) and out[2] == pytest.approx(0.02)
    with pytest.raises(ValueError, match="between 0 and 1"):
        holm([1.5])


def test_compare_to_best_and_all_pairs():
    import pandas as pd
    from scipy import stats

    rng = np.random.default_rng(0)
    base = rng.random(400)
    per = {
        "weak": pd.DataFrame({"m@5": base - 0.2 + 0.05 * rng.standard_normal(400)}),
        "strong": pd.DataFrame({"m@5": base}),
        "twin": pd.DataFrame({"m@5": base + 0.001 * rng.standard_normal(400)}),
    }
    table = C.compare_to_best(per, ["m@5"], seed=3, n_resamples=200).set_index("name")
    best = table["best"].iloc[0]
    assert best in ("strong", "twin")
    other = "twin" if best == "strong" else "strong"
    weak = table.loc["weak"]
    diff = per["weak"]["m@5"] - per[best]["m@5"]
    assert weak["mean_diff"] == pytest.approx(diff.mean())
    assert weak["p_value"] == pytest.approx(stats.wilcoxon(diff).pvalue)
    p = [table.loc["weak", "p_value"], table.loc[other, "p_value"]]
    np.testing.assert_allclose([table.loc["weak", "p_holm"], table.loc[other, "p_holm"]], holm(p))
    assert weak["effect_size"] == pytest.approx(diff.mean() / per[best]["m@5"].mean())
    assert not weak["tied_with_best"] and weak["ci_hi"] < 0
    same = paired_test(per["weak"]["m@5"], per[best]["m@5"], seed=3, n_resamples=200)
    assert (weak["ci_lo"], weak["ci_hi"]) == pytest.approx(same.ci)  # same resamples as the one-pair test
    assert table.loc[best, "tied_with_best"] and table.loc[best, "mean_diff"] == 0
    pairs = C.all_pairs(per, ["m@5"], seed=3, n_resamples=200)
    assert len(pairs) == 3
    np.testing.assert_allclose(pairs["p_holm"], holm(pairs["p_value"]))
    assert pairs.set_index(["a", "b"]).loc[("weak", "strong"), "significant"]


def test_product_kpis_against_hand_computed_example():
    enrol = np.array([50, 30, 10, 5, 5, 0], dtype=float)
    np.testing.assert_array_equal(M.head_courses(enrol, 0.2), [True, False, False, False, False, False])
    np.testing.assert_array_equal(M.head_courses(enrol, 0.6), [True, True, False, False, False, False])
    top = np.array([[0, 1, -1], [2, 3, 4]])
    levels = ["Beginner", "Intermediate", "Advanced", "Beginner", None, "Advanced"]
    genres = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 0, 0], [0, 1, 0], [1, 1, 1]])
    kpis = M.product_kpis(top, enrol, genres, levels, head_share=0.2, level_target=(30, 40, 30))
    assert kpis["niche_share@3"] == pytest.approx(4 / 5)  # 5 listed slots, only course 0 is head
    # 4 slots with a level: 2 Beginner, 1 Intermediate, 1 Advanced
    assert (kpis["level_beginner@3"], kpis["level_intermediate@3"], kpis["level_advanced@3"]) == (0.5, 0.25, 0.25)
    assert kpis["level_distance@3"] == pytest.approx(0.5 * (0.2 + 0.15 + 0.05))
    assert kpis["distinct_genres@3"] == 2.0  # {g0, g1} and {g2, g1}
    assert kpis["aggregate_diversity@3"] == 5
    assert kpis["exposure_gini@3"] == pytest.approx(1 / 6)  # exposure 1,1,1,1,1,0
    # mid-rank percentiles: 50 -> 5.5/6, 30 -> 4.5/6, 10 -> 3.5/6, 5 and 5 -> 2/6 each
    assert kpis["popularity_percentile@3"] == pytest.approx(100 * (5.5 + 4.5 + 3.5 + 2 + 2) / 6 / 5)
    assert list(kpis) == M.kpi_names(3)
    assert M.gini([3, 3, 3]) == 0 and M.gini([0, 0, 6]) == pytest.approx(2 / 3)
    no_levels = M.product_kpis(top, enrol, genres, None)
    assert np.isnan(no_levels["level_beginner@3"]) and np.isnan(no_levels["level_distance@3"])
    with pytest.raises(ValueError, match="level target"):
        M.product_kpis(top, enrol, genres, levels, level_target=(1, 2))


def test_activity_segments_on_known_counts():
    assert S.activity_labels((1, 3, 10)) == ["1", "2-3", "4-10", ">10"]
    assert S.activity_labels((2, 5)) == ["1-2", "3-5", ">5"]
    assert list(S.assign_activity([1, 2, 3, 4, 10, 11, 50])) == ["1", "2-3", "2-3", "4-10", "4-10", ">10", ">10"]
    with pytest.raises(ValueError, match="increasing"):
        S.check_bins([3, 3])


def test_segment_frame_on_a_tiny_example():
    import pandas as pd

    # 4 learners, 4 courses; course 0 is the only head course.
    head = np.array([True, False, False, False])
    relevant = csr([{0}, {1}, {0, 2}, {3}], 4)
    top = np.array([[0, 1], [2, 3], [2, 1], [0, 1]])
    per = M.per_learner_metrics(top, relevant, np.eye(4), np.zeros(4))
    frame = pd.DataFrame({"user": [1, 2, 3, 4], "n_train": [1, 3, 4, 12], **per})
    seg = S.segment_frame(frame, top, relevant, head, np.eye(4), np.zeros(4)).set_index(["kind", "segment"])
    counts = seg["n_learners"].to_dict()
    assert counts == {
        ("activity", "1"): 1,
        ("activity", "2-3"): 1,
        ("activity", "4-10"): 1,
        ("activity", ">10"): 1,
        ("popularity", "head"): 2,
        ("popularity", "tail"): 3,
    }
    # head: learner 0 finds course 0, learner 2 does not list it -> recall 0.5; tail: learner 1 misses course 1,
    # learner 2 finds course 2, learner 3 misses course 3 -> recall 1/3
    assert seg.loc[("popularity", "head"), "recall@2"] == pytest.approx(0.5)
    assert seg.loc[("popularity", "tail"), "recall@2"] == pytest.approx(1 / 3)
    assert seg.loc[("activity", "4-10"), "recall@2"] == pytest.approx(0.5)  # learner 2: 1 of 2 relevant
