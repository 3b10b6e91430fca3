"""Rating prediction with exact Surprise parity (KNNBasic / KNNWithMeans / KNNBaseline), batched in numpy.

`predict` returns the same estimate as `algo.predict(u, i).est`: neighbours = the n_neighbours most similar
among those who rated the course / courses the learner rated, ties in list order like `heapq.nlargest`,
only positive similarities aggregated, fewer than `min_k` -> the variant's fallback, unknown learner or
course -> global mean (KNNBaseline: its baseline), clipped to the rating scale. Item-based models use the
similarity matrix Surprise learned; user-based ones compute Surprise's formulas themselves
(recsys.models.neighbours.similarities), because Surprise's n_learners^2 float64 matrices do not fit in memory
at 34k learners: up to 6,000 learners the full matrix is computed in fit (kept in memory, not saved), beyond
that each course's block learners x raters is computed when predicting.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from recsys.models.neighbours.similarities import surprise_similarity
from recsys.models.neighbours.topk import chunks, dense_transpose, top_k_mask
from recsys.models.shared.surprise_data import build_trainset, gather_rows, rating_arrays

_SURPRISE_CLASSES = {"basic": "KNNBasic", "with_means": "KNNWithMeans", "baseline": "KNNBaseline"}
_CHUNK_ENTRIES = 2_000_000  # neighbour candidates handled at once
_CHUNK_SIM_CELLS = 4_000_000  # learner x learner similarity cells held at once
_BSL_REG_U = 15.0  # Surprise's default ALS user regularisation (bsl_options reg_u)


class SurpriseRatingPredictor:
    """Mixin for KNNRecommender: the rating-prediction half (hyperparameters variant, user_based,
    n_neighbours, min_k, similarity, shrinkage, min_support live on the model)."""

    max_user_based_learners: int = 200_000
    """User-based similarities are n_learners^2: refused (with a clear message) above this many learners."""

    similarity_cache_max_cells: int = 36_000_000
    """User-based: the full learner x learner similarity matrix is kept up to this many cells (6,000 learners);
    beyond it, blocks are computed per course when predicting. Same numbers either way."""

    def _sim_options(self) -> dict:
        opts = {"name": self.similarity, "user_based": bool(self.user_based), "min_support": int(self.min_support)}
        if self.similarity == "pearson_baseline":
            opts["shrinkage"] = float(self.shrinkage)
        return opts

    def _fit_ratings(self, dataset, progress) -> sparse.csr_matrix:
        """Everything `predict` needs (Surprise's similarities, baselines, means); returns the rating matrix."""
        import surprise

        if progress:
            progress(0.0, "sorting ratings")
        a = rating_arrays(dataset)
        if self.user_based and a.n_users > self.max_user_based_learners:
            raise ValueError(
                f"user-based kNN compares every learner with every other and is limited to "
                f"{self.max_user_based_learners:,} learners (this dataset has {a.n_users:,}); "
                f"use user_based=false (item-based) instead"
            )
        R = a.csr()
        n_users, n_items = R.shape
        self.ratings_ = R
        self.global_mean_ = a.global_mean
        self.item_known_ = a.item_inner >= 0
        self.inner_item_ = a.inner_item
        need_bsl = self.variant == "baseline" or self.similarity == "pearson_baseline"
        self.bu_ = np.zeros(n_users)
        self.bi_ = np.zeros(n_items)
        self.x_means_ = None
        if progress:
            progress(0.05, "building the Surprise trainset")
        if not self.user_based or need_bsl:
            trainset = build_trainset(dataset, a)
        if not self.user_based:
            if progress:
                progress(0.3, "Surprise: course similarities")
            cls = getattr(surprise, _SURPRISE_CLASSES[self.variant])
            algo = cls(k=int(self.n_neighbours), min_k=int(self.min_k), sim_options=self._sim_options(), verbose=False)
            algo.fit(trainset)
            inner = a.inner_item
            self.sim_ = np.zeros((n_items, n_items))
            self.sim_[np.ix_(inner, inner)] = algo.sim
            # Rank of each course in heapq.nlargest order (similarity descending, then course index).
            order = np.argsort(-self.sim_, axis=1, kind="stable")
            self.sim_rank_ = np.empty(self.sim_.shape, dtype=np.int32)
            np.put_along_axis(self.sim_rank_, order, np.arange(n_items, dtype=np.int32)[None, :], axis=1)
            if self.variant == "with_means":
                self.x_means_ = np.zeros(n_items)
                self.x_means_[inner] = algo.means
            if algo.bu is not None:
                self.bu_ = np.asarray(algo.bu, dtype=np.float64)
                self.bi_[inner] = algo.bi
            self.neighbours_ = R  # y = learner; neighbours = the courses it rated
        else:
            if need_bsl:
                algo = surprise.BaselineOnly(verbose=False).fit(trainset)
                self.bu_ = np.asarray(algo.bu, dtype=np.float64)
                self.bi_[a.inner_item] = algo.bi
            if self.variant == "with_means":
                counts = np.diff(R.indptr)
                self.x_means_ = np.add.reduceat(R.data, R.indptr[:-1]) / counts
            self.neighbours_ = R.T.tocsr()  # y = course; neighbours = the learners who rated it
            self.neighbours_.sort_indices()
            self._prepare_user_sims(R)
            if progress:
                progress(0.4, "learner similarities")
            self._user_sim_cache()
        return R

    def _prepare_user_sims(self, R: sparse.csr_matrix) -> None:
        """Course x learner matrices (columns in Surprise's inner course order) for on-the-fly similarities."""
        Rin = R[:, self.inner_item_].tocsr()
        Rin.sort_indices()
        B = Rin.copy()
        B.data = np.ones_like(B.data)
        mats = {"bin": B}
        if self.similarity in ("cosine", "pearson", "msd"):
            R2 = Rin.copy()
            R2.data = R2.data * R2.data
            mats.update(val=Rin, sq=R2)
        else:  # pearson_baseline: deviations from the baseline
            D = self._deviations(Rin, self.bu_)
            D2 = D.copy()
            D2.data = D2.data * D2.data
            mats.update(val=D, sq=D2)
        self.user_rows_ = mats  # learners x courses (inner order)
        self.user_mats_ = {name: m.T.tocsr() for name, m in mats.items()}  # courses x learners

    def _deviations(self, Rin: sparse.csr_matrix, bu_rows: np.ndarray) -> sparse.csr_matrix:
        """r - (mu + b_i + b_u) in Surprise's evaluation order, for rows with inner-order columns."""
        D = Rin.copy().astype(np.float64)
        rows = np.repeat(np.arange(D.shape[0]), np.diff(D.indptr))
        partial = self.global_mean_ + self.bi_[self.inner_item_][D.indices]
        D.data = D.data - (partial + bu_rows[rows])
        return D

    # ----- rating prediction ------------------------------------------------------------------
    def _predict(self, user_pos: np.ndarray, item_pos: np.ndarray) -> np.ndarray:
        self._check_fitted()
        user_pos = np.asarray(user_pos, np.int64)
        item_pos = np.asarray(item_pos, np.int64)
        user_known = user_pos >= 0
        item_known = self.item_known_[item_pos]
        bu = self.bu_[np.maximum(user_pos, 0)] if self.variant == "baseline" else None
        est = self._fallback(bu, user_known, item_pos, item_known)
        known = user_known & item_known
        both = slice(None) if known.all() else np.flatnonzero(known)
        u, i = user_pos[both], item_pos[both]
        if len(u):
            if self.user_based:
                quotient, ok = self._user_based_pairs(u, i)
            else:
                quotient, ok = self._item_based_pairs(u, i, self.ratings_, self.bu_[u])
            start = self.x_means_[u if self.user_based else i] if self.variant == "with_means" else est[both]
            est[both] = self._combine(quotient, ok, start)
        return self._clip(est)

    def _clip(self, est: np.ndarray) -> np.ndarray:
        lo, hi = self.rating_scale_
        return np.maximum(lo, np.minimum(hi, est))

    def _fallback(self, bu_of_pair, user_known, item_pos, item_known) -> np.ndarray:
        """The estimate without neighbours: global mean (prediction impossible) or KNNBaseline's baseline."""
        est = np.full(len(item_pos), self.global_mean_)
        if self.variant != "baseline":
            return est
        est = np.where(user_known, est + bu_of_pair, est)
        return np.where(item_known, est + self.bi_[item_pos], est)

    def _combine(self, quotient, ok, start) -> np.ndarray:
        """Surprise's last step: basic -> quotient or global mean; others -> mean/baseline + quotient."""
        if self.variant == "basic":
            return np.where(ok, quotient, self.global_mean_)
        return np.where(ok, start + quotient, start)

    def _aggregate(self, pair, sim, dev, n_pairs, order_key=None):
        """Top-k positive neighbours per pair in heapq order; returns (sum(sim*dev)/sum(sim), ok).

        Within a pair, entries must come in Surprise's neighbour-list order (ascending learner / course
        index). `heapq.nlargest` keeps that order among equal similarities, so the neighbours are sorted
        by similarity (descending) with a stable sort -- or, item-based, by `order_key`, a precomputed
        rank of each neighbour in that order (integer keys sort much faster than a float lexsort).
        """
        keep = sim > 0  # non-positive neighbours never count and never displace a positive one
        if not keep.all():
            pair, sim, dev = pair[keep], sim[keep], dev[keep]
            order_key = order_key[keep] if order_key is not None else None
        if order_key is None:
            order = np.lexsort((-sim, pair))
        else:
            order = np.argsort(pair * np.int64(len(self.item_index_)) + order_key)
        pair, sim, dev = pair[order], sim[order], dev[order]
        rank = np.arange(len(pair)) - np.searchsorted(pair, np.arange(n_pairs))[pair]
        top = rank < int(self.n_neighbours)
        if not top.all():
            pair, sim, dev = pair[top], sim[top], dev[top]
        # bincount adds in array order, i.e. by decreasing similarity, exactly like Surprise's loop.
        sum_sim = np.bincount(pair, weights=sim, minlength=n_pairs)
        sum_dev = np.bincount(pair, weights=sim * dev, minlength=n_pairs)
        ok = np.bincount(pair, minlength=n_pairs) >= int(self.min_k)
        return np.where(ok, sum_dev / np.where(ok, sum_sim, 1.0), 0.0), ok

    def _neighbour_dev(self, r, nb, by_of_entry):
        """What a neighbour's rating contributes per variant: r, r - mean(nb) or r - baseline(nb, y)."""
        if self.variant == "basic":
            return r
        if self.variant == "with_means":
            return r - self.x_means_[nb]
        bx = self.bu_ if self.user_based else self.bi_
        return r - ((self.global_mean_ + bx[nb]) + by_of_entry)

    def _item_based_pairs(self, rows, items, H, bu_rows):
        """Quotients for (row of H, course) pairs; the neighbours are the courses rated in that row.

        A learner with at most k positively similar courses uses them all, so no neighbour selection is
        needed: plain sums (in list order -- equal to Surprise's up to float rounding). Only the rare
        pairs with more than k candidates go through the exact heapq-order selection of `_aggregate`.
        """
        n = len(rows)
        quotient, ok = np.zeros(n), np.zeros(n, dtype=bool)
        lengths = np.diff(H.indptr)[rows]
        for lo, hi in chunks(lengths, _CHUNK_ENTRIES):
            m = hi - lo
            owner, entry = gather_rows(H, rows[lo:hi])
            nb = H.indices[entry]
            flat = items[lo:hi][owner] * np.int64(self.sim_.shape[1]) + nb
            sim = np.take(self.sim_, flat)
            by = bu_rows[lo:hi][owner] if self.variant == "baseline" else None
            dev = self._neighbour_dev(H.data[entry], nb, by)
            positive = sim > 0
            weight = np.maximum(sim, 0.0)
            count = np.bincount(owner, weights=positive, minlength=m)
            sum_sim = np.bincount(owner, weights=weight, minlength=m)
            sum_dev = np.bincount(owner, weights=weight * dev, minlength=m)
            good = count >= int(self.min_k)
            q = np.where(good, sum_dev / np.where(good, sum_sim, 1.0), 0.0)
            crowded = np.flatnonzero(count > int(self.n_neighbours))
            if len(crowded):
                is_crowded = np.zeros(m, dtype=bool)
                is_crowded[crowded] = True
                sel = np.flatnonzero(is_crowded[owner])
                q[crowded], good[crowded] = self._aggregate(
                    np.searchsorted(crowded, owner[sel]),
                    sim[sel],
                    dev[sel],
                    len(crowded),
                    order_key=np.take(self.sim_rank_, flat[sel]),
                )
            quotient[lo:hi], ok[lo:hi] = q, good
        return quotient, ok

    def _user_based_pairs(self, users, items):
        """Quotients for known (learner, course) pairs; the neighbours are the learners who rated the course.

        Pairs are grouped by course, so each learner is compared only with that course's raters
        (a block learners x raters), and the top k per row are picked with a partition.
        """
        n = len(users)
        quotient, ok = np.zeros(n), np.zeros(n, dtype=bool)
        order = np.argsort(items, kind="stable")
        bounds = np.searchsorted(items[order], np.arange(len(self.item_index_) + 1))
        y = self.neighbours_
        cache = self._user_sim_cache()
        for i in np.flatnonzero(np.diff(bounds)):
            raters = y.indices[y.indptr[i] : y.indptr[i + 1]].astype(np.int64)
            ratings = y.data[y.indptr[i] : y.indptr[i + 1]]
            if len(raters) == 0:  # nobody rated the course: no neighbours (callers pass known courses)
                continue
            dev = self._neighbour_dev(ratings, raters, self.bi_[i])
            group = order[bounds[i] : bounds[i + 1]]
            per_chunk = max(1, _CHUNK_SIM_CELLS // max(1, len(raters)))
            if cache is None:
                # Dense course x rater blocks: sparse @ dense adds the same terms in the same order, fast.
                mats = {name: dense_transpose(mat[raters]) for name, mat in self.user_rows_.items()}
            for lo in range(0, len(group), per_chunk):
                idx = group[lo : lo + per_chunk]
                u = users[idx]
                if cache is not None:
                    sims = cache[np.ix_(u, raters)]
                else:
                    sims = self._user_sim_rows({name: mat[u] for name, mat in self.user_rows_.items()}, mats=mats)
                    pos = np.minimum(np.searchsorted(raters, u), len(raters) - 1)
                    own = raters[pos] == u  # the learner rated this course: Surprise's sim = 1
                    sims[np.flatnonzero(own), pos[own]] = 1.0
                quotient[idx], ok[idx] = self._aggregate_block(sims, dev)
        return quotient, ok

    def _aggregate_block(self, sims: np.ndarray, dev: np.ndarray):
        """`_aggregate` for a dense block (pairs x candidate neighbours in list order, shared `dev`)."""
        m, n = sims.shape
        rows, cols = np.nonzero(top_k_mask(sims, int(self.n_neighbours)))
        return self._aggregate(rows, sims[rows, cols], dev[cols], m)

    def _user_sim_cache(self):
        """The full learner x learner similarity (Surprise's `sim`) when it is small, else None.

        Computed in fit with the same kernel as the on-the-fly blocks (so identical values), not saved
        (rebuilt on first use after loading): predictions then only gather, like Surprise's own.
        """
        n = self.ratings_.shape[0]
        if n * n > self.similarity_cache_max_cells:
            return None
        cached = self.__dict__.get("_sim_cache")
        if cached is None:
            dense = {name: dense_transpose(mat) for name, mat in self.user_rows_.items()}
            cached = np.empty((n, n))
            step = max(1, _CHUNK_SIM_CELLS // n)
            for lo in range(0, n, step):
                rows = {name: mat[lo : lo + step] for name, mat in self.user_rows_.items()}
                cached[lo : lo + step] = self._user_sim_rows(rows, mats=dense)
            np.fill_diagonal(cached, 1.0)
            self.__dict__["_sim_cache"] = cached
        return cached

    def _query_side(self, A: sparse.csr_matrix, bu_rows: np.ndarray) -> dict:
        """Learner rows (any history) in Surprise's inner course order: binary, value and squared value.

        The value is the rating, or for pearson_baseline its deviation from the baseline.
        """
        Ain = A[:, self.inner_item_].tocsr().astype(np.float64)
        Ain.sort_indices()
        Ab = Ain.copy()
        Ab.data = np.ones_like(Ab.data)
        Aval = self._deviations(Ain, bu_rows) if self.similarity == "pearson_baseline" else Ain
        Asq = Aval.copy()
        Asq.data = Asq.data * Asq.data
        return {"bin": Ab, "val": Aval, "sq": Asq}

    def _user_sim_rows(self, a: dict, mats=None) -> np.ndarray:
        """Surprise's similarity between query learners `a` (see `_query_side`) and all training learners
        (or those in `mats`: the course x learner matrices restricted to some learners)."""
        return surprise_similarity(
            a,
            self.user_mats_ if mats is None else mats,
            self.similarity,
            shrinkage=float(self.shrinkage),
            min_support=int(self.min_support),
        )

    def _surprise_scores(self, H) -> np.ndarray:
        """The rating Surprise would predict for every course, as if each history row were a learner.

        The learned similarities stay fixed; a new learner's baseline offset is one ALS step
        (sum of residuals / (reg_u + n)), its mean is the mean of its ratings.
        """
        n, n_items = H.shape
        counts = np.diff(H.indptr)
        rows = np.repeat(np.arange(n), counts)
        known = self.item_known_[H.indices]
        resid = np.where(known, H.data - self.global_mean_ - self.bi_[H.indices], 0.0)
        bu_new = np.bincount(rows, weights=resid, minlength=n) / (
            _BSL_REG_U + np.bincount(rows, weights=known.astype(float), minlength=n)
        )
        means = np.bincount(rows, weights=H.data, minlength=n) / np.maximum(1, counts)
        has = counts > 0
        out = np.empty((n, n_items))
        if self.user_based:
            per_chunk = max(1, _CHUNK_SIM_CELLS // max(1, self.ratings_.shape[0]))
        else:
            per_chunk = max(1, _CHUNK_ENTRIES // (n_items * max(1, int(counts.max(initial=1)))))
        for lo in range(0, n, per_chunk):
            hi = min(n, lo + per_chunk)
            pr = np.repeat(np.arange(lo, hi), n_items)
            pi = np.tile(np.arange(n_items), hi - lo)
            item_known = self.item_known_[pi]
            base = self._fallback(bu_new[pr], has[pr], pi, item_known)
            if self.user_based:
                sims = self._user_sim_rows(self._query_side(H[lo:hi], bu_new[lo:hi]))
                q, ok = self._user_based_new(sims)
                start = means[pr] if self.variant == "with_means" else base
            else:
                q, ok = self._item_based_pairs(pr, pi, H, bu_new[pr])
                start = self.x_means_[pi] if self.variant == "with_means" else base
            est = np.where(has[pr] & item_known, self._combine(q, ok, start), base)
            out[lo:hi] = self._clip(est).reshape(hi - lo, n_items)
        return out

    def _user_based_new(self, sims):
        """Quotients for every (row of `sims`, course) pair; neighbours = positive-similarity raters."""
        n_rows, n_items = sims.shape[0], len(self.item_index_)
        quotient, ok = np.zeros(n_rows * n_items), np.zeros(n_rows * n_items, dtype=bool)
        R = self.ratings_
        positive = sims > 0
        row_entries = positive.astype(np.float64) @ np.diff(R.indptr).astype(np.float64)
        for lo, hi in chunks(row_entries, _CHUNK_ENTRIES):
            rr, vv = np.nonzero(positive[lo:hi])
            owner, entry = gather_rows(R, vv)
            item = R.indices[entry].astype(np.int64)
            nb = vv[owner]
            pair = rr[owner] * n_items + item
            dev = self._neighbour_dev(R.data[entry], nb, self.bi_[item])
            q, o = self._aggregate(pair, sims[lo + rr[owner], nb], dev, (hi - lo) * n_items)
            quotient[lo * n_items : hi * n_items], ok[lo * n_items : hi * n_items] = q, o
        return quotient, ok
