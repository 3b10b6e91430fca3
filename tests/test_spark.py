"""spark_als and the `spark` CLI on a tiny generated dataset, one local[2] SparkSession for the module.

What is checked against Spark itself: the fold-in served without Spark reproduces Spark's own userFactors;
`spark recommend` scores equal the saved model's; `spark evaluate`'s RankingEvaluator numbers equal our
metrics on the very same lists, and `compare`'s engine (Experiment) on the same split gives the same lists.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from recsys.cli import main
from recsys.evaluation import metrics as M
from recsys.models import load_model, make_model
from recsys.spark.session import SparkUnavailableError, unavailable_reason

PARAMS = {"rank": 8, "reg_param": 0.05, "alpha": 10.0, "max_iter": 4}
PARAM_ARGS = [a for name, value in PARAMS.items() for a in ("--param", f"{name}={value}")]


@pytest.fixture(scope="module")
def spark():
    """One local[2] session for the module (few shuffle partitions: tiny data)."""
    os.environ.setdefault("RECSYS_SPARK_SHUFFLE_PARTITIONS", "2")
    from recsys.spark.session import get_spark

    return get_spark("local[2]")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from recsys.data import generate_dataset, load_dataset

    folder = tmp_path_factory.mktemp("spark") / "data"
    generate_dataset(folder, seed=5, n_learners=250, n_courses=25)
    return folder, load_dataset(folder)


@pytest.fixture(scope="module")
def train(spark, data, tmp_path_factory):
    """`spark train` (once per solver, on demand): folder with the servable model and Spark's full model."""
    folder, _ = data
    done = {}

    def run(nonnegative: bool = False):
        if nonnegative not in done:
            out = tmp_path_factory.mktemp("trained")
            args = ["spark", "train", "--ratings", str(folder / "ratings.csv"), "--out", str(out / "model")]
            args += ["--spark-model", str(out / "spark"), "--seed", "3", *PARAM_ARGS]
            assert main([*args, "--param", f"nonnegative={nonnegative}"]) == 0
            done[nonnegative] = out
        return done[nonnegative]

    return run


@pytest.mark.parametrize("nonnegative", [False, True], ids=["free", "nonnegative"])
def test_fold_in_reproduces_spark_user_factors(spark, data, train, nonnegative):
    """Serving needs no Spark: folding a training learner in from the saved course factors gives Spark's row."""
    _, dataset = data
    trained = train(nonnegative)
    model = load_model(trained / "model")
    assert model.key == "spark_als" and isinstance(model.item_factors_, np.ndarray)
    users = spark.read.parquet(str(trained / "spark" / "users")).toArrow().to_pandas()
    factors = spark.read.parquet(str(trained / "spark" / "als" / "userFactors")).toArrow().to_pandas()
    joined = factors.merge(users, left_on="id", right_on="user")
    spark_rows = np.vstack(joined["features"].to_numpy()).astype(np.float64)
    rows = dataset.user_index.get_indexer(joined["user_id"])
    # the model numbers courses in sorted id order (it never saw the catalogue file): reorder the columns
    folded = model.user_factors(dataset.matrix[rows][:, dataset.item_index.get_indexer(model.item_index_)])
    assert len(rows) == dataset.n_users
    assert np.abs(folded - spark_rows).max() < 1e-3
    assert model.nonnegative == nonnegative
    if nonnegative:
        assert folded.min() >= 0.0


def test_spark_recommend_matches_the_saved_model(spark, data, train, tmp_path):
    folder, dataset = data
    trained = train()
    out = tmp_path / "recs.parquet"
    assert (
        main(
            [
                "spark",
                "recommend",
                "--ratings",
                str(folder / "ratings.csv"),
                "--spark-model",
                str(trained / "spark"),
                "--out",
                str(out),
                "--k",
                "5",
            ]
        )
        == 0
    )
    recs = pd.read_parquet(out)
    assert list(recs.columns) == ["user", "rank", "course", "score"]
    # k courses per learner, fewer only for a learner with fewer than k courses left to take
    expected = np.minimum(5, dataset.n_items - np.diff(dataset.matrix.indptr))
    counts = recs.groupby("user")["rank"].agg(["count", "max"]).reindex(dataset.user_ids, fill_value=0)
    assert (counts["count"].to_numpy() == expected).all() and (counts["max"] == counts["count"]).all()
    model = load_model(trained / "model")
    sample = np.sort(dataset.user_ids)[:40]
    for user in sample:
        row = dataset.matrix[dataset.user_index.get_loc(user)]
        mine = recs[recs["user"] == user].sort_values("rank")
        assert not set(mine["course"]) & set(dataset.item_ids[row.indices])  # taken courses never listed
        history = {dataset.item_ids[c]: float(v) for c, v in zip(row.indices, row.data)}
        scores = model.score_histories(model.history_row(history))[0][model.item_index_.get_indexer(mine["course"])]
        np.testing.assert_allclose(mine["score"].to_numpy(), scores, atol=1e-4)
        served = model.recommend(history, k=5)
        assert list(served["COURSE_ID"]) == list(mine["course"])


def test_spark_evaluate_equals_our_metrics_and_compare(spark, data, tmp_path):
    """RankingEvaluator (ln discount, binary gains) and our metrics agree on identical lists; the compare
    engine, fitting spark_als on the split Spark made, produces those same lists."""
    from recsys.evaluation.experiment import Experiment
    from recsys.evaluation.splits import Split

    folder, dataset = data
    k = 10
    report_file, lists = tmp_path / "eval.json", tmp_path / "lists"
    assert (
        main(
            [
                "spark",
                "evaluate",
                "--ratings",
                str(folder / "ratings.csv"),
                "--k",
                str(k),
                "--seed",
                "4",
                "--json",
                str(report_file),
                "--lists-out",
                str(lists),
                *PARAM_ARGS,
            ]
        )
        == 0
    )
    report = json.loads(report_file.read_text())["metrics"]
    recommended = pd.read_parquet(lists / "recommended")
    held_out = pd.read_parquet(lists / "held_out")

    users = np.sort(held_out["user"].unique())
    row_of = pd.Index(users)
    top = np.full((len(users), k), -1, dtype=np.int64)
    top[row_of.get_indexer(recommended["user"]), recommended["rank"] - 1] = dataset.item_index.get_indexer(
        recommended["course"]
    )
    relevant = sparse.csr_matrix(
        (
            np.ones(len(held_out)),
            (row_of.get_indexer(held_out["user"]), dataset.item_index.get_indexer(held_out["course"])),
        ),
        shape=(len(users), dataset.n_items),
    )
    hits = M.hit_matrix(top, relevant)
    n_rel = np.diff(relevant.indptr)
    ours = {
        f"ndcg@{k}": M.ndcg_at_k(hits, n_rel).mean(),
        f"precision@{k}": M.precision_at_k(hits).mean(),
        f"recall@{k}": M.recall_at_k(hits, n_rel).mean(),
        f"map@{k}": M.map_at_k(hits, n_rel).mean(),
        f"hit_rate@{k}": M.hit_rate_at_k(hits).mean(),
        f"coverage@{k}": M.coverage_at_k(top, dataset.n_items),
    }
    for name, value in ours.items():
        assert report[name] == pytest.approx(value, abs=1e-6), name
    assert 0.0 < report[f"ndcg@{k}"] < 1.0

    # The same split through `compare`'s engine: spark_als fitted on the train part, scored by fold-in.
    ratings = dataset.ratings
    held = pd.MultiIndex.from_frame(held_out[["user", "course"]])
    is_test = pd.MultiIndex.from_frame(ratings[["user", "item"]]).isin(held)
    split = Split(
        "holdout",
        {"n": 1, "seed": 4},
        dataset.with_ratings(ratings[~is_test].reset_index(drop=True)),
        ratings.loc[is_test, ["user", "item", "rating"]].reset_index(drop=True),
    )
    result = Experiment(dataset, split=split, models=[("spark_als", PARAMS)], k=k, seed=4, n_resamples=0).run()
    details = next(iter(result.details.values()))
    order = pd.Index(details.per_learner["user"]).get_indexer(users)
    assert (details.top[order] == top).all()
    assert details.metrics[f"ndcg@{k}"] == pytest.approx(report[f"ndcg@{k}"], abs=1e-6)


def test_bad_ratings_file_is_one_clear_line(spark, tmp_path, capsys):
    bad = tmp_path / "ratings.csv"
    bad.write_text("learner,course\n1,A\n")
    assert main(["spark", "evaluate", "--ratings", str(bad)]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(bad) in errors[0] and "missing column(s) user, item" in errors[0]
    assert "Traceback" not in err


def test_without_java_spark_als_is_unavailable_with_the_fix(data, tmp_path, monkeypatch, capsys):
    folder, dataset = data
    monkeypatch.setenv("PATH", str(tmp_path))  # no java on the PATH
    monkeypatch.delenv("JAVA_HOME", raising=False)
    reason = unavailable_reason("local[2]")
    assert reason and "Java" in reason and "make spark" in reason
    with pytest.raises(SparkUnavailableError, match="make spark"):
        make_model("spark_als").fit(dataset)
    assert main(["train", "--model", "spark_als", "--data", str(folder), "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "Java is missing" in err and "Traceback" not in err


def test_warm_up_starts_the_session_a_fit_then_uses(spark):
    from recsys.models.factorization.spark_als import SparkALSRecommender
    from recsys.spark.session import get_spark, start_in_background

    SparkALSRecommender.warm_up()  # a comparison calls it before splitting the data
    thread = start_in_background()
    assert thread is not None and thread is start_in_background()  # one start per master, however often asked
    thread.join(timeout=120)
    assert not thread.is_alive() and get_spark() is spark
