"""Implicit ALS on Apache Spark MLlib (`pyspark.ml.recommendation.ALS`, implicitPrefs=True).

Spark fits the factors -- on `local[2]` or on a cluster (the master comes from RECSYS_SPARK_MASTER or the
CLI's --spark-master; see recsys/spark/session.py). After the fit only the course factors (a few hundred rows)
are collected into the model as a numpy array, so serving, saving/loading and the app need no Spark: any
learner, in the training data or new, is folded in by the closed-form implicit least-squares step against
the course factors (`fold_in.als_fold_in`). That step is exactly Spark's own last user update:

* confidence c_ui = 1 + alpha * r_ui with r_ui = 1 for a course taken (Spark's "c1 = alpha * |rating|"),
* lambda scaled by the learner's number of taken courses (Spark's ALS-WR weighting: regParam * n_u),
* Y^T Y over the courses Spark has factors for; courses nobody took in training get no factors and are never
  recommended (-inf), as Spark's recommendForAllUsers never lists them,
* nonnegative=True: Spark solves the same normal equations under x >= 0 (its NNLS); the fold-in solves that
  problem exactly with scipy's NNLS on the Cholesky factor.

Spark needs integer ids: learners are numbered by their matrix row (sorted ids), as the `spark` CLI numbers
them, so the same seed starts from the same factors in both (Spark seeds the initial learner factors per
block of ids); courses by catalogue column (the CLI, which has no catalogue, uses sorted course ids).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

from recsys.models.base import Recommender, cosine_rows
from recsys.models.factorization.fold_in import als_contributions, als_fold_in, taste_reasons
from recsys.models.params import HyperParam
from recsys.spark.session import als_blocks, get_spark, run_with_progress, start_in_background, unavailable_reason

_REASON = unavailable_reason()


def spark_als(spark, rank: int, reg_param: float, alpha: float, max_iter: int, seed: int, nonnegative: bool):
    """The configured (unfitted) Spark estimator; columns user, item, rating (integer ids)."""
    from pyspark.ml.recommendation import ALS

    blocks = als_blocks(spark)
    return ALS(
        rank=int(rank),
        regParam=float(reg_param),
        alpha=float(alpha),
        maxIter=int(max_iter),
        seed=int(seed),
        nonnegative=bool(nonnegative),
        implicitPrefs=True,
        userCol="user",
        itemCol="item",
        ratingCol="rating",
        coldStartStrategy="drop",
        numUserBlocks=blocks,
        numItemBlocks=blocks,
    )


def collect_item_factors(als_model, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """(n_items x rank float64 factors, boolean mask of courses Spark has factors for) on the driver."""
    rows = als_model.itemFactors.collect()
    factors = np.zeros((n_items, int(als_model.rank)))
    trained = np.zeros(n_items, dtype=bool)
    for row in rows:
        factors[row["id"]] = np.asarray(row["features"], dtype=np.float64)
        trained[row["id"]] = True
    return factors, trained


class SparkALSRecommender(Recommender):
    """Spark MLlib implicit ALS; learners folded in from the collected course factors (no Spark to serve)."""

    key = "spark_als"
    fit_cost = 20
    label = "Implicit ALS on Spark (MLlib)" + (" -- unavailable" if _REASON else "")
    description = (
        (f"Spark {_REASON}. " if _REASON else "")
        + "Learns latent taste factors from who took what with Apache Spark's ALS (runs on a cluster "
        "too), then recommends the courses that best fit your factors."
    )
    hyperparams = (
        HyperParam(
            "rank",
            "int",
            32,
            low=1,
            high=512,
            step=8,
            role="ranking",
            tune_grid=(16, 32, 64),
            help="Latent factors per learner and course",
            log=True,
        ),
        HyperParam(
            "reg_param",
            "float",
            5.0,
            low=0.0,
            high=100.0,
            step=0.01,
            log=True,
            role="ranking",
            tune_grid=(1.0, 5.0, 10.0),
            help="L2 penalty, multiplied by each learner's (course's) number of ratings as in Spark. Default from "
            "2-fold cross-validation on the training data: Spark's own 0.1 overfits sparse enrolments badly",
        ),
        HyperParam(
            "alpha",
            "float",
            40.0,
            low=0.0,
            high=1000.0,
            step=1.0,
            role="ranking",
            tune_grid=(10.0, 40.0, 80.0),
            help="Confidence of a taken course: 1 + alpha (untaken courses have confidence 1)",
        ),
        HyperParam(
            "max_iter",
            "int",
            10,
            low=1,
            high=100,
            step=1,
            role="ranking",
            tune_grid=(5, 10, 20),
            help="Alternating least-squares sweeps",
            log=True,
        ),
        HyperParam(
            "nonnegative",
            "bool",
            False,
            role="ranking",
            tune_grid=(False, True),
            help="Constrain the factors to be >= 0 (Spark's NNLS solver)",
        ),
        HyperParam("seed", "int", 0, low=0, high=2**31 - 1, role="seed", help="Seed of Spark's initial factors"),
    )

    def __init__(
        self,
        rank: int = 32,
        reg_param: float = 5.0,
        alpha: float = 40.0,
        max_iter: int = 10,
        nonnegative: bool = False,
        seed: int = 0,
    ):
        self.rank = rank
        self.reg_param = reg_param
        self.alpha = alpha
        self.max_iter = max_iter
        self.nonnegative = nonnegative
        self.seed = seed

    @classmethod
    def warm_up(cls) -> None:
        """Start the SparkSession (JVM) on a background thread while other work goes on."""
        start_in_background()

    # ----- fitting (the only part that needs Spark) -------------------------------------------
    def _fit(self, dataset, progress) -> None:
        import pyarrow as pa

        spark = get_spark()
        if progress:
            progress(0.02, "Spark session ready")
        coo = sparse.coo_matrix(dataset.matrix)
        keep = coo.data > 0
        table = pa.table(
            {
                "user": pa.array(coo.row[keep].astype(np.int32)),
                "item": pa.array(coo.col[keep].astype(np.int32)),
                "rating": pa.array(np.ones(int(keep.sum()), dtype=np.float32)),
            }
        )
        ratings = spark.createDataFrame(table)
        estimator = spark_als(spark, **self.get_params())
        model = run_with_progress(spark, lambda: estimator.fit(ratings), progress, 0.05, 0.85, "Spark ALS fit")
        self.set_item_factors(*collect_item_factors(model, dataset.n_items))
        self.enrolments_ = np.bincount(coo.col[keep], minlength=dataset.n_items).astype(np.float64)

    def set_item_factors(self, factors: np.ndarray, trained: np.ndarray) -> None:
        """The learned state: course factors (float64) and which courses Spark fitted."""
        self.item_factors_ = np.asarray(factors, dtype=np.float64)
        self.trained_items_ = np.asarray(trained, dtype=bool)

    # ----- serving (numpy only) ----------------------------------------------------------------
    def _binary(self, histories) -> sparse.csr_matrix:
        """Taken courses (1) restricted to courses with factors, as Spark's ALS sees a learner."""
        H = self._check_histories(histories)
        H.data = (H.data > 0).astype(np.float64)
        H = H @ sparse.diags(self.trained_items_.astype(np.float64))
        H = sparse.csr_matrix(H)
        H.eliminate_zeros()
        return H

    def user_factors(self, histories) -> np.ndarray:
        """Folded-in learner factors: Spark's closed-form implicit user step with the course factors frozen."""
        H = self._binary(histories)
        if not self.nonnegative:
            return als_fold_in(
                H, self.item_factors_, float(self.reg_param), float(self.alpha), scale_regularization=True
            )
        return self._nonnegative_fold_in(H)

    def _nonnegative_fold_in(self, H: sparse.csr_matrix) -> np.ndarray:
        """min 1/2 x'Ax - b'x s.t. x >= 0 (Spark's NNLS problem) = NNLS on ||L'x - L^-1 b|| with A = LL'."""
        from scipy.linalg import cho_factor, solve_triangular
        from scipy.optimize import nnls

        Y = self.item_factors_
        base = Y.T @ Y
        out = np.zeros((H.shape[0], Y.shape[1]))
        for u in range(H.shape[0]):
            taken = H.indices[H.indptr[u] : H.indptr[u + 1]]
            if len(taken) == 0:
                continue
            Yt = Y[taken]
            A = base + float(self.alpha) * (Yt.T @ Yt) + float(self.reg_param) * len(taken) * np.eye(Y.shape[1])
            b = (1.0 + float(self.alpha)) * Yt.sum(axis=0)
            L = cho_factor(A, lower=True)[0]
            L = np.tril(L)
            out[u] = nnls(L.T, solve_triangular(L, b, lower=True), maxiter=50 * Y.shape[1])[0]
        return out

    def score_histories(self, histories) -> np.ndarray:
        scores = self.user_factors(histories) @ self.item_factors_.T
        scores[:, ~self.trained_items_] = -np.inf
        return scores

    def course_closeness(self, items) -> np.ndarray:
        """Dislikes: cosine of the learned course factors."""
        return cosine_rows(self.item_factors_, items)

    def explain(self, history, items) -> list[str]:
        items = np.asarray(items, dtype=np.int64)
        H = self._binary(history)
        taken, contrib = als_contributions(
            H, self.item_factors_, float(self.reg_param), float(self.alpha), items, scale_regularization=True
        )
        titles = self.catalogue_["TITLE"].astype(str).to_numpy()
        return taste_reasons(taken, contrib, items, titles, self.enrolments_)

    # ----- a model fitted by `python -m recsys spark train` (ratings never on the driver) ------------
    @classmethod
    def from_spark_fit(
        cls,
        params: dict,
        item_ids,
        factors: np.ndarray,
        trained: np.ndarray,
        enrolments: np.ndarray,
        fingerprint: str,
        fit_seconds: float,
    ) -> SparkALSRecommender:
        """A servable model from a fit done in Spark on data the driver never held.

        It knows the catalogue (course ids as titles) and folds in any learner from a history; it has no
        training matrix, so `recommend_user` for training learners is Spark's job (`spark recommend`).
        """
        model = cls(**cls.validate_params(params))
        item_ids = np.asarray(item_ids, dtype=object)
        model.fingerprint_ = fingerprint
        model.catalogue_ = pd.DataFrame({"COURSE_ID": item_ids.astype(str), "TITLE": item_ids.astype(str)})
        model.genres_ = []
        model.item_index_ = pd.Index(item_ids)
        model.user_index_ = pd.Index([])
        model.rating_scale_ = (0.0, 1.0)
        model.train_matrix_ = sparse.csr_matrix((0, len(item_ids)))
        model.set_item_factors(factors, trained)
        model.enrolments_ = np.asarray(enrolments, dtype=np.float64)
        model.fit_seconds_ = float(fit_seconds)
        return model
