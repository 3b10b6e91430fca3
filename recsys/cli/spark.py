"""`spark train|recommend|evaluate`: the `spark_als` model on data that does not fit one machine.

Ratings are read by Spark straight from a path it understands (CSV with a header, or Parquet; local, hdfs://,
s3a://) -- never through pandas -- with columns user, item and optionally rating (a row with rating <= 0 is
not an enrolment). Learners are numbered 0..n-1 in sorted id order, as `spark_als` numbers them, so the same
seed gives the same factors here and in the app; courses are numbered in sorted id order.

* train: fit in Spark, save the servable model (course factors) with the model's own `save`; optionally the
  full Spark model (user + course factors and the id maps) with --spark-model for `spark recommend`.
* recommend: `recommendForAllUsers`, taken courses removed, to Parquet (user, rank, course, score).
* evaluate: a seeded per-learner holdout inside Spark; precision/recall/NDCG/MAP@K from
  `pyspark.ml.evaluation.RankingEvaluator`, hit rate and coverage in Spark.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from recsys.cli.common import Progress, UsageError, artifacts_dir, check_export_target, guard, parse_params, positive

KEY = "spark_als"
RANKING_METRICS = {
    "precision": "precisionAtK",
    "recall": "recallAtK",
    "ndcg": "ndcgAtK",
    "map": "meanAveragePrecisionAtK",
}


# ----- reading ratings in Spark -----------------------------------------------------------------
def read_ratings(spark, path: str, fmt: str | None = None):
    """Distinct (user, item) enrolments from a CSV/Parquet path; one clear error for a bad file."""
    from pyspark.sql import functions as F
    from pyspark.sql.utils import AnalysisException

    fmt = fmt or ("parquet" if str(path).rstrip("/").endswith(".parquet") else "csv")
    if fmt not in ("csv", "parquet"):
        raise UsageError(f"--format must be csv or parquet, got '{fmt}'")
    try:
        reader = spark.read.option("header", True).option("inferSchema", True) if fmt == "csv" else spark.read
        frame = reader.format(fmt).load(str(path))
        columns = {c.lower(): c for c in frame.columns}
    except AnalysisException as exc:
        message = str(exc).strip().splitlines()[0]
        raise UsageError(f"{path}: cannot read ratings as {fmt} ({message})") from None
    missing = [c for c in ("user", "item") if c not in columns]
    if missing:
        raise UsageError(
            f"{path}: missing column(s) {', '.join(missing)}; expected user, item[, rating] "
            f"(found: {', '.join(frame.columns) or 'none'})"
        )
    frame = frame.select(
        F.col(columns["user"]).alias("user_id"),
        F.col(columns["item"]).alias("item_id"),
        *([F.col(columns["rating"]).alias("rating")] if "rating" in columns else []),
    )
    if "rating" in columns:
        kind = dict(frame.dtypes)["rating"]
        if kind not in ("int", "bigint", "double", "float", "smallint", "tinyint") and not kind.startswith("decimal"):
            raise UsageError(f"{path}: column rating must be numeric, found {kind} values")
        frame = frame.where(F.col("rating") > 0)
    bad = frame.where(F.col("user_id").isNull() | F.col("item_id").isNull()).limit(1).count()
    if bad:
        raise UsageError(f"{path}: some rows have no user or item value (columns user, item must be filled)")
    return frame.select("user_id", "item_id").distinct()


def index_ids(spark, pairs):
    """(ratings with int columns user/item, user map [user_id, user], course ids in sorted order).

    Learners: sorted distinct ids numbered in Spark (distributed, no driver collect); courses (a few hundred)
    are collected and numbered on the driver.
    """
    from pyspark.sql import functions as F

    item_ids = [r[0] for r in pairs.select("item_id").distinct().orderBy("item_id").collect()]
    if not item_ids:
        raise UsageError("no enrolments (rating > 0) in the ratings")
    item_type = dict(pairs.dtypes)["item_id"]
    courses = spark.createDataFrame([(c, i) for i, c in enumerate(item_ids)], f"item_id {item_type}, item int")
    # Dense numbers in sorted order without Python workers: a range-sorted, checkpointed list (so the
    # partitions cannot change between the two passes), each partition offset by the sizes before it.
    ordered = (
        pairs.select("user_id")
        .distinct()
        .orderBy("user_id")
        .select("user_id", F.spark_partition_id().alias("part"), F.monotonically_increasing_id().alias("mid"))
        .localCheckpoint()
    )
    sizes = sorted(ordered.groupBy("part").agg(F.count("*").alias("n"), F.min("mid").alias("first")).collect())
    bases, before = [], 0
    for part, n, first in sizes:
        bases.append((part, before - first))
        before += n
    if before >= 2**31:
        raise UsageError(f"{before:,} learners: Spark's ALS numbers learners with 32-bit integers")
    base = spark.createDataFrame(bases, "part int, base long")
    users = ordered.join(F.broadcast(base), "part").select(
        "user_id", (F.col("mid") + F.col("base")).cast("int").alias("user")
    )
    ratings = (
        pairs.join(F.broadcast(courses), "item_id")
        .join(users, "user_id")
        .select("user", "item", F.lit(1.0).cast("float").alias("rating"))
    )
    return ratings, users, courses, item_ids


# ----- ranking in Spark ---------------------------------------------------------------------------
def top_k_unseen(als_model, users, seen, k: int, n_items: int):
    """(user, recs) with recs = the k best courses not in `seen`, as array<struct<item, score>> ordered by
    score desc then course number (the catalogue-order tie-break of our metrics). `users`: None = all."""
    from pyspark.sql import functions as F

    per_user = seen.groupBy("user").agg(F.collect_set("item").alias("seen"))
    depth = min(n_items, k + int(per_user.agg(F.max(F.size("seen"))).first()[0] or 0))
    recs = als_model.recommendForAllUsers(depth) if users is None else als_model.recommendForUserSubset(users, depth)
    unseen = F.filter("recommendations", lambda r: ~F.array_contains(F.col("seen"), r["item"]))
    ordered = F.array_sort(
        unseen,
        lambda a, b: F.when(a["rating"] > b["rating"], -1)
        .when(a["rating"] < b["rating"], 1)
        .otherwise(a["item"] - b["item"]),
    )
    return (
        recs.join(per_user, "user", "left")
        .withColumn("seen", F.coalesce("seen", F.array().cast("array<int>")))
        .select("user", F.slice(ordered, 1, k).alias("recs"))
    )


def _needs_spark(command):
    """Check that Spark can run here before anything imports pyspark: one line with the fix, not a traceback."""

    def run(args) -> int:
        from recsys.spark.session import unavailable_reason

        reason = unavailable_reason(getattr(args, "spark_master", None))
        if reason:
            raise UsageError(f"Spark {reason}")
        return command(args)

    return run


def _session(args):
    from recsys.spark.session import get_spark

    if args.spark_master:
        os.environ["RECSYS_SPARK_MASTER"] = args.spark_master  # the model's own get_spark() sees it too
    return get_spark(args.spark_master)


def _model_params(args) -> dict:
    from recsys.models import model_class

    cls = model_class(KEY)
    params = cls.validate_params(parse_params(args.param))
    params.setdefault("seed", args.seed)
    return {**cls().get_params(), **params}


def _fit(spark, ratings, params: dict, progress):
    from recsys.models.factorization.spark_als import spark_als
    from recsys.spark.session import run_with_progress

    estimator = spark_als(spark, **params)
    return run_with_progress(spark, lambda: estimator.fit(ratings), progress, 0.1, 0.8, "Spark ALS fit")


# ----- commands -------------------------------------------------------------------------------------
def _cmd_train(args) -> int:
    from recsys.models import save_model
    from recsys.models.factorization.spark_als import SparkALSRecommender, collect_item_factors

    params = _model_params(args)
    out = Path(args.out) if args.out else artifacts_dir() / "spark" / KEY
    check_export_target(out)
    spark = _session(args)
    progress = Progress(f"spark train {KEY}")
    began = time.perf_counter()
    progress(0.0, "reading ratings")
    ratings, users, courses, item_ids = index_ids(spark, read_ratings(spark, args.ratings, args.format))
    ratings = ratings.persist()
    n_ratings = ratings.count()
    model = _fit(spark, ratings, params, progress)
    factors, trained = collect_item_factors(model, len(item_ids))
    counts = dict(ratings.groupBy("item").count().collect())
    enrolments = [counts.get(i, 0) for i in range(len(item_ids))]
    n_users = model.userFactors.count()
    fingerprint = hashlib.sha256(
        f"spark:{args.ratings}:{n_ratings}:{n_users}:{','.join(map(str, item_ids))}".encode()
    ).hexdigest()[:16]
    seconds = time.perf_counter() - began
    recommender = SparkALSRecommender.from_spark_fit(
        params, item_ids, factors, trained, enrolments, fingerprint, seconds
    )
    path = save_model(recommender, out)
    if args.spark_model:
        model.write().overwrite().save(f"{args.spark_model.rstrip('/')}/als")
        users.write.mode("overwrite").parquet(f"{args.spark_model.rstrip('/')}/users")
        courses.write.mode("overwrite").parquet(f"{args.spark_model.rstrip('/')}/courses")
    ratings.unpersist()
    progress(1.0, "done")
    print(
        f"trained '{KEY}' in Spark on {n_users:,} learners / {n_ratings:,} enrolments / {len(item_ids):,} "
        f"courses in {seconds:.1f}s; saved to {path}"
        + (f"; Spark model in {args.spark_model}" if args.spark_model else "")
    )
    return 0


def _cmd_recommend(args) -> int:
    from pyspark.ml.recommendation import ALSModel
    from pyspark.sql import functions as F

    from recsys.spark.session import run_with_progress

    positive("--k", args.k)
    spark = _session(args)
    progress = Progress(f"spark recommend {KEY}")
    progress(0.0, "reading ratings")
    ratings, users, courses, item_ids = index_ids(spark, read_ratings(spark, args.ratings, args.format))
    began = time.perf_counter()
    if args.spark_model:
        root = args.spark_model.rstrip("/")
        try:
            model = ALSModel.load(f"{root}/als")
            saved_users = spark.read.parquet(f"{root}/users")
            saved_courses = spark.read.parquet(f"{root}/courses")
        except Exception as exc:
            raise UsageError(
                f"{root}: not a Spark model written by `spark train --spark-model` "
                f"({str(exc).strip().splitlines()[0] if str(exc).strip() else exc})"
            ) from None
        if saved_courses.count() != len(item_ids):
            raise UsageError(
                f"{root}: trained on {saved_courses.count()} courses, the ratings have {len(item_ids)}; "
                "retrain with `spark train`"
            )
        users, courses = saved_users, saved_courses
        ratings = (
            read_ratings(spark, args.ratings, args.format)
            .join(F.broadcast(courses), "item_id")
            .join(users, "user_id")
            .select("user", "item")
        )
    else:
        model = _fit(spark, ratings, _model_params(args), progress)
    fit_seconds = time.perf_counter() - began
    recs = top_k_unseen(model, None, ratings.select("user", "item"), args.k, len(item_ids))
    rows = (
        recs.select("user", F.posexplode("recs").alias("pos", "rec"))
        .select(
            "user",
            (F.col("pos") + 1).alias("rank"),
            F.col("rec.item").alias("item"),
            F.col("rec.rating").cast("double").alias("score"),
        )
        .join(F.broadcast(courses), "item")
        .join(users, "user")
        .select(F.col("user_id").alias("user"), "rank", F.col("item_id").alias("course"), "score")
    )
    started = time.perf_counter()
    start = 0.1 if args.spark_model else 0.9
    run_with_progress(
        spark,
        lambda: rows.write.mode("overwrite").parquet(args.out),
        progress,
        start,
        0.99 - start,
        "recommendForAllUsers",
    )
    progress(1.0, "done")
    print(
        f"top-{args.k} courses for every learner written to {args.out} (columns user, rank, course, score) in "
        f"{time.perf_counter() - started:.1f}s" + ("" if args.spark_model else f" after a {fit_seconds:.1f}s fit")
    )
    return 0


def holdout(ratings, n: int, min_ratings: int, seed: int):
    """(train, test) of int (user, item) pairs: per learner with >= min_ratings courses, the n courses (at most
    count - 1) with the smallest seeded hash are held out. A hash, not rand(): the same rows whatever the
    partitioning, so the split is reproducible on any cluster."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    by_user = Window.partitionBy("user")
    ranked = (
        ratings.withColumn("count", F.count("*").over(by_user))
        .withColumn("key", F.xxhash64(F.lit(int(seed)), "user", "item"))
        .withColumn("pos", F.row_number().over(by_user.orderBy("key", "item")))
    )
    held = (F.col("count") >= min_ratings) & (F.col("pos") <= F.least(F.lit(int(n)), F.col("count") - 1))
    return ratings.join(ranked.where(~held).select("user", "item"), ["user", "item"]), ranked.where(held).select(
        "user", "item"
    )


def _cmd_evaluate(args) -> int:
    from pyspark.ml.evaluation import RankingEvaluator
    from pyspark.sql import functions as F

    positive("--k", args.k)
    positive("--holdout", args.holdout)
    if args.min_ratings < 2:
        raise UsageError(f"--min-ratings must be >= 2 (a test learner needs training history), got {args.min_ratings}")
    params = _model_params(args)
    spark = _session(args)
    progress = Progress(f"spark evaluate {KEY}")
    progress(0.0, "reading ratings")
    ratings, users, courses, item_ids = index_ids(spark, read_ratings(spark, args.ratings, args.format))
    train, test = holdout(ratings.select("user", "item"), args.holdout, args.min_ratings, args.seed)
    train = train.withColumn("rating", F.lit(1.0).cast("float")).persist()
    test = test.persist()
    model = _fit(spark, train, params, progress)
    relevant = test.groupBy("user").agg(F.collect_set(F.col("item").cast("double")).alias("label"))
    recs = top_k_unseen(model, relevant.select("user"), train, args.k, len(item_ids))
    lists = (
        relevant.join(recs, "user", "left")
        .select(
            "user",
            "label",
            F.coalesce(F.transform("recs", lambda r: r["item"].cast("double")), F.array().cast("array<double>")).alias(
                "prediction"
            ),
        )
        .persist()
    )
    k = args.k
    metrics = {}
    for name, spark_name in RANKING_METRICS.items():
        evaluator = RankingEvaluator(predictionCol="prediction", labelCol="label", metricName=spark_name, k=k)
        metrics[f"{name}@{k}"] = float(evaluator.evaluate(lists))
    hit = F.size(F.array_intersect("prediction", "label")) > 0
    summary = lists.agg(F.avg(hit.cast("double")).alias("hit_rate"), F.count("*").alias("learners")).first()
    listed = lists.select(F.explode("prediction").alias("item")).distinct().count()
    metrics[f"hit_rate@{k}"] = float(summary["hit_rate"])
    metrics[f"coverage@{k}"] = listed / len(item_ids)
    report = {
        "model": KEY,
        "params": params,
        "k": k,
        "split": {
            "name": "holdout",
            "n": args.holdout,
            "min_ratings": args.min_ratings,
            "seed": args.seed,
            "test_learners": int(summary["learners"]),
            "test_ratings": int(test.count()),
            "train_ratings": int(train.count()),
            "courses": len(item_ids),
        },
        "metrics": metrics,
    }
    if args.lists_out:  # the exact lists and held-out courses behind the metrics, with the original ids
        names = F.broadcast(courses.select(F.col("item").cast("double").alias("i"), "item_id"))
        for column in ("prediction", "label"):
            (
                lists.select("user", F.posexplode(column).alias("pos", "i"))
                .join(names, "i")
                .join(users, "user")
                .select(
                    F.col("user_id").alias("user"), (F.col("pos") + 1).alias("rank"), F.col("item_id").alias("course")
                )
                .write.mode("overwrite")
                .parquet(f"{args.lists_out.rstrip('/')}/{'recommended' if column == 'prediction' else 'held_out'}")
            )
    for frame in (train, test, lists):
        frame.unpersist()
    progress(1.0, "done")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2))
    print(
        f"{KEY} on Spark, holdout {args.holdout}/learner (seed {args.seed}), {report['split']['test_learners']:,} "
        "test learners:"
    )
    for name, value in metrics.items():
        print(f"  {name:<14} {value:.4f}")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "spark",
        help="train / batch-recommend / evaluate spark_als on Apache Spark",
        description="The spark_als model on data read by Spark (CSV with header or Parquet; local, "
        "hdfs:// or s3a:// paths) with columns user, item[, rating]. Master: "
        "--spark-master, else RECSYS_SPARK_MASTER, else local[2].",
    )
    commands = p.add_subparsers(dest="spark_command", metavar="<train|recommend|evaluate>")
    commands.required = True

    def common(q, fit: bool = True) -> None:
        q.add_argument("--ratings", required=True, help="ratings path Spark can read (CSV/Parquet)")
        q.add_argument("--format", choices=("csv", "parquet"), help="default: parquet for *.parquet, else csv")
        q.add_argument(
            "--spark-master", help="Spark master URL (local[2], spark://host:7077, yarn, k8s://..., sc://...)"
        )
        if fit:
            q.add_argument(
                "--param", action="append", metavar="NAME=VALUE", help="spark_als hyperparameter (repeatable)"
            )
            q.add_argument("--seed", type=int, default=0, help="seed (default 0)")

    q = commands.add_parser("train", help="fit in Spark and save the servable model")
    common(q)
    q.add_argument(
        "--out", help=f"model folder (default $RECSYS_ARTIFACTS_DIR/spark/{KEY}, else artifacts/spark/{KEY})"
    )
    q.add_argument("--spark-model", help="also write Spark's full model + id maps here (any Spark path)")
    q.set_defaults(func=guard(_needs_spark(_cmd_train)))

    q = commands.add_parser("recommend", help="top-K unseen courses for every learner to Parquet")
    common(q)
    q.add_argument("--out", required=True, help="output Parquet path (user, rank, course, score)")
    q.add_argument("--k", type=int, default=10, help="courses per learner (default 10)")
    q.add_argument("--spark-model", help="Spark model from `spark train --spark-model` (default: fit now)")
    q.set_defaults(func=guard(_needs_spark(_cmd_recommend)))

    q = commands.add_parser("evaluate", help="seeded per-learner holdout and ranking metrics in Spark")
    common(q)
    q.add_argument("--k", type=int, default=10, help="cut-off K (default 10)")
    q.add_argument("--holdout", type=int, default=1, help="courses held out per learner (default 1)")
    q.add_argument("--min-ratings", type=int, default=2, help="learners with fewer courses stay in train (default 2)")
    q.add_argument("--json", help="write the metrics and split description here")
    q.add_argument("--lists-out", help="write the recommended and held-out lists (Parquet) under this path")
    q.set_defaults(func=guard(_needs_spark(_cmd_evaluate)))
