"""Non-negative matrix factorization: Surprise NMF for ratings, an implicit NMF for ranking.

* Predicted ratings (`predict`) are Surprise's `NMF` (`algo.predict(u, i).est`, to float rounding), batched
  in numpy from the learned factors: unbiased -> q_i . p_u, or the global mean when the learner or course
  is unknown (Surprise's "impossible"); biased -> mu + b_u + b_i + q_i . p_u with unknown parts dropped;
  clipped to the rating scale.
* Ranking cannot come from those ratings: NMF fitted on the explicit 2.0/3.0 ratings only sees observed
  entries, so every predicted rating is ~3.0 and the order carries no signal. `ranking="implicit_nmf"`
  (default) also factorizes the binary enrolment matrix (learners x courses ~= W H, sklearn NMF, seeded)
  and folds any learner in from their history h alone -- no retraining -- by non-negative least squares
  against the course factors H, ridge-regularised toward the average learner's factors w_bar:
  min_{w >= 0} ||h - w H||^2 + lam ||w - w_bar||^2 (lam = `fold_in_reg` x mean ||H_f||^2).
  Without the ridge, a one- or two-course history is reproduced exactly (the courses themselves) and the
  rest of the reconstruction is noise that loses to popularity; the pull toward w_bar keeps the popular
  head every learner shares and lets the history tilt it toward the factors it loads on. The fold-in is
  a batched coordinate descent over all rows at once (a fixed number of sweeps, so a row's result does
  not depend on its batch). Score = w H. `ranking="surprise"` ranks by Surprise-style predicted ratings
  (a new learner's p_u from scipy.optimize.nnls against the learned q_i) -- kept for comparison.
"""

from __future__ import annotations

import re

import numpy as np
from scipy import sparse

from recsys.models.base import Recommender, cosine_rows
from recsys.models.params import HyperParam
from recsys.models.shared.surprise_data import build_trainset, popularity_scores, rating_arrays

_FOLD_IN_SWEEPS = 60
_CHUNK_ROWS = 20_000
_EXACT_ROWS = 16  # batches up to this size are solved exactly per row (serving); larger ones by batched sweeps


class NMFRecommender(Recommender):
    """Surprise NMF rating predictions plus an implicit-feedback NMF that ranks courses."""

    key = "nmf"
    fit_cost = 2
    label = "Matrix factorization (NMF, Surprise)"
    description = (
        "Learns latent taste factors from who took what and recommends the courses that best fit your factor profile."
    )
    predicts_ratings = True
    param_conditions = {"lr": ("biased", (True,))}  # used only by the biased variant (UI hides it otherwise)
    hyperparams = (
        HyperParam(
            "n_factors",
            "int",
            15,
            tune_grid=(5, 15, 30),
            low=1,
            high=200,
            step=1,
            role="rating",
            help="Latent factors of the Surprise rating NMF",
        ),
        HyperParam(
            "n_epochs",
            "int",
            50,
            tune_grid=(20, 50, 100),
            low=1,
            high=500,
            step=5,
            role="rating",
            help="Passes of Surprise's multiplicative updates over the ratings",
        ),
        HyperParam(
            "reg_pu",
            "float",
            0.06,
            tune_grid=(0.02, 0.06, 0.2),
            low=0.0,
            high=10.0,
            step=0.01,
            role="rating",
            help="Learner factor regularisation",
        ),
        HyperParam(
            "reg_qi",
            "float",
            0.06,
            tune_grid=(0.02, 0.06, 0.2),
            low=0.0,
            high=10.0,
            step=0.01,
            role="rating",
            help="Course factor regularisation",
        ),
        HyperParam(
            "biased", "bool", False, role="rating", help="Add learner/course rating biases (Surprise's biased NMF)"
        ),
        HyperParam(
            "lr",
            "float",
            0.005,
            tune_grid=(0.002, 0.005, 0.01),
            low=1e-5,
            high=0.5,
            step=0.001,
            log=True,
            role="rating",
            help="Learning rate of the biases (used only when biased)",
        ),
        HyperParam("seed", "int", 0, low=0, high=2**31 - 1, role="seed", help="Random seed of both factorizations"),
        HyperParam(
            "ranking",
            "choice",
            "implicit_nmf",
            choices=("implicit_nmf", "surprise"),
            role="ranking",
            help="Ranking: factors of who-took-what (default) or Surprise's predicted ratings "
            "(degenerate on ~98% identical ratings; for comparison)",
        ),
        HyperParam(
            "implicit_factors",
            "int",
            12,
            tune_grid=(6, 12, 20, 30),
            low=1,
            high=100,
            step=1,
            role="ranking",
            help="Latent factors of the enrolment NMF used for ranking",
            log=True,
        ),
        HyperParam(
            "fold_in_reg",
            "float",
            1.5,
            tune_grid=(0.5, 1.5, 3.0, 6.0),
            low=0.0,
            high=100.0,
            step=0.5,
            role="ranking",
            help="Pull of a learner's factors toward the average learner (0 = plain NNLS; higher = "
            "closer to popularity)",
        ),
    )

    def __init__(
        self,
        n_factors: int = 15,
        n_epochs: int = 50,
        reg_pu: float = 0.06,
        reg_qi: float = 0.06,
        biased: bool = False,
        lr: float = 0.005,
        seed: int = 0,
        ranking: str = "implicit_nmf",
        implicit_factors: int = 12,
        fold_in_reg: float = 1.5,
    ):
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.reg_pu = reg_pu
        self.reg_qi = reg_qi
        self.biased = biased
        self.lr = lr
        self.seed = seed
        self.ranking = ranking
        self.implicit_factors = implicit_factors
        self.fold_in_reg = fold_in_reg

    # ----- fitting ----------------------------------------------------------------------------
    def _fit(self, dataset, progress) -> None:
        import surprise

        a = rating_arrays(dataset)
        R = a.csr()
        n_users, n_items = R.shape
        if self.biased:  # sequential bias updates inside the epoch: Surprise's own loop
            if progress:
                progress(0.05, "building the Surprise trainset")
            trainset = build_trainset(dataset, a)
            if progress:
                progress(0.15, "Surprise NMF on ratings")
            algo = surprise.NMF(
                n_factors=int(self.n_factors),
                n_epochs=int(self.n_epochs),
                biased=True,
                reg_pu=float(self.reg_pu),
                reg_qi=float(self.reg_qi),
                lr_bu=float(self.lr),
                lr_bi=float(self.lr),
                random_state=int(self.seed),
                verbose=False,
            )
            algo.fit(trainset)
            global_mean = float(trainset.global_mean)
        else:
            if progress:
                progress(0.15, "Surprise NMF on ratings (batched updates)")
            algo = _surprise_nmf_unbiased(
                a, int(self.n_factors), int(self.n_epochs), float(self.reg_pu), float(self.reg_qi), int(self.seed)
            )
            global_mean = a.global_mean
        inner = a.inner_item
        self.global_mean_ = global_mean
        self.item_known_ = a.item_inner >= 0
        self.pu_ = np.asarray(algo.pu, dtype=np.float64)  # inner learner id == matrix row
        self.qi_ = np.zeros((n_items, int(self.n_factors)))
        self.qi_[inner] = algo.qi
        self.bu_ = np.asarray(algo.bu, dtype=np.float64)
        self.bi_ = np.zeros(n_items)
        self.bi_[inner] = algo.bi
        self.popularity_ = popularity_scores(R)
        del algo
        if progress:
            progress(0.6, "implicit NMF on enrolments")
        self._fit_implicit(R, dataset)

    def _fit_implicit(self, R: sparse.csr_matrix, dataset) -> None:
        from sklearn.decomposition import NMF

        B = R.copy()
        B.data = np.ones_like(B.data)
        k = min(int(self.implicit_factors), min(B.shape))
        model = NMF(n_components=k, init="nndsvda", random_state=int(self.seed), max_iter=300, tol=1e-4)
        W = model.fit_transform(B)
        H = np.asarray(model.components_, dtype=np.float64)
        self.components_ = H
        self.w_mean_ = W.mean(axis=0)
        gram = H @ H.T
        self.fold_in_lambda_ = float(self.fold_in_reg) * float(np.trace(gram)) / max(1, k)
        self.factor_labels_ = _factor_labels(H, dataset)

    # ----- rating prediction ------------------------------------------------------------------
    def _predict(self, user_pos: np.ndarray, item_pos: np.ndarray) -> np.ndarray:
        self._check_fitted()
        user_pos = np.asarray(user_pos, np.int64)
        item_pos = np.asarray(item_pos, np.int64)
        user_known = user_pos >= 0
        u = np.maximum(user_pos, 0)
        dot = np.einsum("ij,ij->i", self.qi_[item_pos], self.pu_[u])
        return self._estimate(dot, user_known, self.bu_[u], item_pos)

    def _estimate(self, dot, user_known, bu, item_pos) -> np.ndarray:
        """Surprise NMF.estimate + clipping, for pairs given the factor dot product."""
        item_known = self.item_known_[item_pos]
        both = user_known & item_known
        if self.biased:
            est = np.full(len(item_pos), self.global_mean_)
            est = np.where(user_known, est + bu, est)
            est = np.where(item_known, est + self.bi_[item_pos], est)
            est = np.where(both, est + dot, est)
        else:
            est = np.where(both, dot, self.global_mean_)
        lo, hi = self.rating_scale_
        return np.maximum(lo, np.minimum(hi, est))

    # ----- ranking ----------------------------------------------------------------------------
    def score_histories(self, histories) -> np.ndarray:
        H = self._check_histories(histories)
        if self.ranking == "surprise":
            scores = self._rating_scores(H)
        else:
            scores = self.fold_in(H) @ self.components_
        empty = np.diff(H.indptr) == 0
        scores[empty] = self.popularity_[None, :]
        tie = self.popularity_ / (self.popularity_.max() + 1.0) * 1e-9
        return scores + tie[None, :]

    def fold_in(self, histories) -> np.ndarray:
        """Implicit factors w >= 0 for history rows: ridge NNLS toward the average learner (see module doc)."""
        B = sparse.csr_matrix(histories, dtype=np.float64)
        B.data = np.ones_like(B.data)
        H = self.components_
        lam = self.fold_in_lambda_
        if B.shape[0] <= _EXACT_ROWS:
            return self._fold_in_exact(B)
        gram = H @ H.T + lam * np.eye(H.shape[0])
        out = np.empty((B.shape[0], H.shape[0]))
        for lo in range(0, B.shape[0], _CHUNK_ROWS):
            target = np.asarray(B[lo : lo + _CHUNK_ROWS] @ H.T) + lam * self.w_mean_[None, :]
            out[lo : lo + _CHUNK_ROWS] = _nnls_cd(gram, target)
        return out

    def _fold_in_exact(self, B: sparse.csr_matrix) -> np.ndarray:
        """The same ridge NNLS solved exactly per row (a served learner: ~50 us instead of 60 sweeps of
        coordinate descent in numpy calls). The sweeps converge to machine precision, so both agree to ~1e-15.

        With G = gram = L L' the problem min w'Gw/2 - w't (w >= 0) is min ||L'w - L^-1 t||^2: scipy's NNLS.
        """
        from scipy.linalg import solve_triangular
        from scipy.optimize import nnls

        H, lam = self.components_, self.fold_in_lambda_
        factor = self.__dict__.get("_fold_in_cholesky")  # derived from learned state, never saved
        if factor is None:
            factor = np.linalg.cholesky(H @ H.T + lam * np.eye(H.shape[0]))
            self._fold_in_cholesky = factor
        target = np.asarray(B @ H.T) + lam * self.w_mean_[None, :]
        rhs = solve_triangular(factor, target.T, lower=True).T
        upper = np.ascontiguousarray(factor.T)
        return np.array([nnls(upper, b)[0] for b in rhs]).reshape(len(rhs), H.shape[0])

    def _rating_scores(self, H: sparse.csr_matrix) -> np.ndarray:
        """Surprise-style predicted ratings; a new learner's p_u is NNLS against the learned q_i."""
        from scipy.optimize import nnls

        n = H.shape[0]
        P = np.zeros((n, self.qi_.shape[1]))
        for r in range(n):
            cols, vals = H.indices[H.indptr[r] : H.indptr[r + 1]], H.data[H.indptr[r] : H.indptr[r + 1]]
            cols, vals = cols[self.item_known_[cols]], vals[self.item_known_[cols]]
            if len(cols) == 0:
                continue
            target = vals - (self.global_mean_ + self.bi_[cols]) if self.biased else vals
            P[r] = nnls(self.qi_[cols], target)[0]
        has = np.diff(H.indptr) > 0
        n_items = H.shape[1]
        rows = np.repeat(np.arange(n), n_items)
        items = np.tile(np.arange(n_items), n)
        dot = (P @ self.qi_.T).ravel()
        return self._estimate(dot, has[rows], np.zeros(len(rows)), items).reshape(n, n_items)

    def course_closeness(self, items) -> np.ndarray:
        """Dislikes: cosine of the course factors the ranking uses (enrolment NMF, or Surprise's q_i)."""
        factors = self.qi_ if self.ranking == "surprise" else self.components_.T
        return cosine_rows(factors, items)

    # ----- reasons ----------------------------------------------------------------------------
    def explain(self, history, items) -> list[str]:
        H = sparse.csr_matrix(history, dtype=np.float64)
        items = np.asarray(items, dtype=np.int64)
        if H.nnz == 0:
            return [f"popular: {int(self.popularity_[i]):,} learners enrolled (no history yet)" for i in items]
        if self.ranking == "surprise":
            predicted = self._rating_scores(H)[0]
            return [f"predicted rating {predicted[i]:.2f} from your ratings' latent factors" for i in items]
        w = self.fold_in(H)[0]
        contrib = w[:, None] * self.components_[:, items]
        best = np.argmax(contrib, axis=0)
        return [f"fits your taste profile: {self.factor_labels_[f]}" for f in best]


def _surprise_nmf_unbiased(a, n_factors: int, n_epochs: int, reg_pu: float, reg_qi: float, seed: int):
    """Surprise's unbiased `NMF.fit` with each epoch as sparse matrix products (same result to float rounding).

    Unbiased, an epoch of Surprise's loop only accumulates numerators (sum of q_i r) and denominators (sum of
    q_i est) from the factors of the previous epoch, then applies the multiplicative update -- a batch
    computation. Same initialisation (Surprise's RandomState draws in inner-id order), same update order.
    """
    from types import SimpleNamespace

    from surprise.utils import get_rng

    rng = get_rng(seed)
    inner_cols = a.item_inner[a.cols]
    n_users, n_inner = a.n_users, len(a.inner_item)
    pu = rng.uniform(0, 1, size=(n_users, n_factors))
    qi = rng.uniform(0, 1, size=(n_inner, n_factors))
    R = sparse.csr_matrix((a.vals, (a.rows, inner_cols)), shape=(n_users, n_inner))
    # the transpose's entry j is R's entry to_t[j]: estimates are computed once per epoch, for R's layout
    to_t = sparse.csr_matrix((np.arange(R.nnz, dtype=np.float64), R.indices, R.indptr), shape=R.shape).T.tocsr()
    to_t = to_t.data.astype(np.int64)
    RT = R.T.tocsr()
    rows, cols = np.repeat(np.arange(n_users), np.diff(R.indptr)), R.indices
    user_reg = (np.diff(R.indptr).astype(np.float64) * reg_pu)[:, None]
    item_reg = (np.diff(RT.indptr).astype(np.float64) * reg_qi)[:, None]
    E, ET = R.copy(), RT.copy()
    for _ in range(n_epochs):
        E.data = np.einsum("ij,ij->i", qi[cols], pu[rows])
        ET.data = E.data[to_t]
        user_num, user_denom = R @ qi, E @ qi
        item_num, item_denom = RT @ pu, ET @ pu
        for factors, num, denom, reg in ((pu, user_num, user_denom, user_reg), (qi, item_num, item_denom, item_reg)):
            live = factors != 0
            denom = np.where(live, denom + reg * factors, denom)
            with np.errstate(invalid="ignore", divide="ignore"):
                factors[live] *= (num / denom)[live]
    return SimpleNamespace(pu=pu, qi=qi, bu=np.zeros(n_users), bi=np.zeros(n_inner))


def _nnls_cd(gram: np.ndarray, target: np.ndarray) -> np.ndarray:
    """min_{w >= 0} w G w' / 2 - w t' for every row of `target` at once (projected coordinate descent)."""
    w = np.zeros_like(target)
    diag = np.diag(gram).copy()
    diag[diag <= 0] = 1.0
    for _ in range(_FOLD_IN_SWEEPS):
        for f in range(gram.shape[0]):
            grad = w @ gram[:, f] - target[:, f]
            w[:, f] = np.maximum(0.0, w[:, f] - grad / diag[f])
    return w


def _factor_labels(H: np.ndarray, dataset) -> list[str]:
    """Name each enrolment factor by the genres of its heaviest courses (or its top course title)."""
    genres = list(dataset.genres)
    G = dataset.genre_matrix
    titles = dataset.courses["TITLE"].astype(str).to_numpy()
    labels = []
    for row in H:
        if genres and G.shape[1] and row.sum() > 0:
            load = row @ G
            share = load / max(load.sum(), 1e-12)
            top = [g for g in np.argsort(-share, kind="stable")[:2] if share[g] >= 0.15] or [int(np.argmax(share))]
            labels.append(" & ".join(_readable(genres[g]) for g in top))
        else:
            labels.append(f"learners who take {titles[int(np.argmax(row))]}")
    return labels


def _readable(genre: str) -> str:
    """'MachineLearning' -> 'Machine Learning'."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", genre)
