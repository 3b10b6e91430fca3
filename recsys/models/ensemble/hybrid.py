"""Hybrid: a weighted blend of 1-4 registry models' rank-normalized scores.

Members score on different scales (EASE weights, cosine similarities, factor dot products), so each member's
scores for a learner become a normalized rank over the courses the learner has not taken:
1 - log(rank) / log(n_courses) -- 1 for the member's best course, falling fast over the first places (the
top of each list is what matters for a top-10) and slowly below. The hybrid score is the weighted sum. A course
a member will not recommend (-inf) gets nothing from it; a course no weighted member can score stays -inf;
courses already taken get 0 (they are excluded anyway unless the caller asks to see them).

Weights come from the `weight_i` hyperparameters, or -- `learn_weights` (default) -- from a seeded
validation split of the training data that imitates serving new learners: 20% of the learners with 2+
courses (at most 10,000) are removed, the members are fitted on the rest, each removed learner is scored from
80% of their courses, and the weights on a 0.1 simplex grid with the best NDCG@10 on the hidden 20% win. On
small data one such round has only a few hundred learners, too few to tell blends apart, so it is repeated on the
next disjoint 20% (up to five rounds, until 2,000 learners are validated or all learners with 2+ courses are)
and the weights are chosen on every round's learners together. A blend must earn its place: when the best blend
beats the best single member by no more than one standard error (paired over the validation learners), that
member is used alone (`blend_or_member`), so on data too small to tell them apart the hybrid ranks like its best
member instead of like a blend picked from noise. The
weights are learned separately for learners with 1, 2-4 and 5+ known courses: with one course, a
co-enrolment model knows little and content, genre profile or a popularity-damped walk add most; with many,
co-enrolment alone is hard to beat. The members are then refitted on all the data. So the blend adapts to
each dataset (a member whose signal does not help gets little or no weight) instead of carrying weights tuned
to one dataset.

The default members -- EASE (co-enrolment), the learner's genre profile, course text similarity (the only way
a course nobody has taken yet can surface) and RP3beta (random walk with a popularity penalty) -- are four
different signals.

A course nobody took in training is ranked only through the members that place such courses by their content
(`score_new_course`: the content models); the co-enrolment members know nothing of it and abstain. With learned
weights it takes, per segment, the content member that ranked best alone on the validation learners (a blend
weight measures what a member adds to the others on enrolled courses, not how well it places a course from its
content); with hand-set weights the content members' weights are rescaled to sum to 1 (`new_course_weights`).
Otherwise rank normalisation
would bury it: a member's empty column ties it at a middling rank with 0.7 of the weight. `score_new_course`
places a course that is not in the catalogue yet the same way, so the new-course story lists the hybrid.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy import sparse

from recsys.models.base import Recommender
from recsys.models.params import HyperParam
from recsys.models.registry import LOCATIONS

NONE = "none"
MEMBER_CHOICES = tuple(k for k in LOCATIONS if k != "hybrid")
SLOTS = 4
GRID_STEP = 0.1
VALIDATION_SHARE = 0.2
VALIDATION_MAX_LEARNERS = 10_000
VALIDATION_TARGET_LEARNERS = 2_000  # a round with fewer validation learners is repeated on other learners
MAX_VALIDATION_ROUNDS = 5
SEGMENTS = ((1, 1), (2, 4), (5, None))  # known courses per learner: weights are learned per segment
MIN_SEGMENT_LEARNERS = 200  # a smaller validation segment uses the weights learned on everyone
HIDDEN_SHARE = 0.2
_BASE_STATE = ("fingerprint_", "catalogue_", "genres_", "item_index_", "user_index_", "rating_scale_", "train_matrix_")


def _member_param(slot: int, default: str) -> HyperParam:
    choices = MEMBER_CHOICES if slot == 1 else (NONE, *MEMBER_CHOICES)
    grid = (default,) if slot == 1 else (default, NONE)  # tuning: keep or drop a member, not try all 16
    return HyperParam(
        f"member_{slot}",
        "choice",
        default,
        choices=choices,
        role="ranking",
        tune_grid=grid,
        help=f"Model {slot} of the blend" + ("" if slot == 1 else " ('none' = unused)"),
    )


def _weight_param(slot: int, default: float) -> HyperParam:
    return HyperParam(
        f"weight_{slot}",
        "float",
        default,
        low=0.0,
        high=1.0,
        step=0.05,
        role="ranking",
        tune_grid=(0.0, 0.25, 0.5, 0.75, 1.0),
        help=f"Weight of model {slot} (weights are rescaled to sum to 1; ignored when learned)",
    )


def rank_normalize(scores: np.ndarray, seen: sparse.spmatrix | None = None) -> np.ndarray:
    """Per row, 1 - log(rank) / log(n) over the courses not in `seen` (rank 1 = best; ties share their mean
    rank): 1 for the best course, >= 0 for the worst. -inf/NaN scores and seen courses get 0."""
    scores = np.array(scores, dtype=np.float64, copy=True)
    scores[~np.isfinite(scores)] = -np.inf
    if seen is not None:
        seen = sparse.csr_matrix(seen)
        scores[np.repeat(np.arange(seen.shape[0]), np.diff(seen.indptr)), seen.indices] = -np.inf
    n = scores.shape[1]
    if n < 2:
        return np.where(np.isfinite(scores), 1.0, 0.0)
    normalized = 1.0 - np.log(descending_average_ranks(scores)) / np.log(n)
    normalized[~np.isfinite(scores)] = 0.0
    return normalized


def descending_average_ranks(scores: np.ndarray) -> np.ndarray:
    """Per row, the rank of each score from the top (1 = highest), ties sharing their mean rank: the numbers of
    `scipy.stats.rankdata(-scores, method="average", axis=1)`, about 1.5x faster (an unstable row sort is
    enough, since tied scores get one shared rank; -inf scores tie at the bottom)."""
    n_rows, n = scores.shape
    if n == 0:
        return np.zeros((n_rows, 0))
    negated = -scores
    order = np.argsort(negated, axis=1)
    ordered = np.take_along_axis(negated, order, axis=1)
    place = np.broadcast_to(np.arange(n), (n_rows, n))
    starts = np.ones((n_rows, n), dtype=bool)  # a tie group starts here
    np.not_equal(ordered[:, 1:], ordered[:, :-1], out=starts[:, 1:])
    ends = np.ones((n_rows, n), dtype=bool)  # ... and ends here
    ends[:, :-1] = starts[:, 1:]
    first = np.maximum.accumulate(np.where(starts, place, 0), axis=1)
    last = np.minimum.accumulate(np.where(ends, place, n - 1)[:, ::-1], axis=1)[:, ::-1]
    ranks = np.empty((n_rows, n))
    np.put_along_axis(ranks, order, (first + last) / 2.0 + 1.0, axis=1)
    return ranks


def segment_of(histories: sparse.spmatrix) -> np.ndarray:
    """Index into SEGMENTS per learner row, by how many courses the row holds (0 courses -> segment 0)."""
    counts = np.diff(sparse.csr_matrix(histories).indptr)
    out = np.zeros(len(counts), dtype=np.int64)
    for n, (low, _) in enumerate(SEGMENTS):
        out[counts >= low] = n
    return out


def simplex_grid(n_members: int, step: float = GRID_STEP) -> np.ndarray:
    """Every weight vector on a `step` grid with non-negative entries summing to 1 (rows)."""
    units = int(round(1.0 / step))
    rows = [c for c in itertools.product(range(units + 1), repeat=n_members) if sum(c) == units]
    return np.asarray(rows, dtype=np.float64) / units


class HybridRecommender(Recommender):
    """Weighted blend of rank-normalized member scores, weights set by hand or learned on validation data."""

    key = "hybrid"
    fit_cost = 5
    label = "Hybrid (weighted rank blend)"
    description = (
        "Combines several models -- by default co-enrolment (EASE, RP3beta), your genre profile and "
        "course content -- by blending their rankings, with weights learned on held-out learners."
    )
    hyperparams = (
        _member_param(1, "ease"),
        _member_param(2, "user_profile"),
        _member_param(3, "course_similarity"),
        _member_param(4, "rp3beta"),
        _weight_param(1, 0.7),
        _weight_param(2, 0.1),
        _weight_param(3, 0.1),
        _weight_param(4, 0.1),
        HyperParam(
            "learn_weights",
            "bool",
            True,
            role="ranking",
            help="Learn the weights on a seeded validation split of the training data (new-learner "
            "style) instead of using weight_1..weight_4",
        ),
        HyperParam(
            "member_params",
            "mapping",
            None,
            role="ranking",
            help='Parameters of the member models, e.g. {"ease": {"l2": 100}} (a tuned comparison sets '
            "its members' tuned parameters here); a member not named keeps its defaults",
        ),
        HyperParam(
            "seed",
            "int",
            0,
            low=0,
            high=2**31 - 1,
            role="seed",
            help="Seed of the validation split and of every member",
        ),
    )
    param_conditions = {f"weight_{slot}": ("learn_weights", (False,)) for slot in range(1, SLOTS + 1)}

    def __init__(
        self,
        member_1: str = "ease",
        member_2: str = "user_profile",
        member_3: str = "course_similarity",
        member_4: str = "rp3beta",
        weight_1: float = 0.7,
        weight_2: float = 0.1,
        weight_3: float = 0.1,
        weight_4: float = 0.1,
        learn_weights: bool = True,
        member_params: dict | None = None,
        seed: int = 0,
    ):
        self.member_1 = member_1
        self.member_2 = member_2
        self.member_3 = member_3
        self.member_4 = member_4
        self.weight_1 = weight_1
        self.weight_2 = weight_2
        self.weight_3 = weight_3
        self.weight_4 = weight_4
        self.learn_weights = learn_weights
        self.member_params = member_params
        self.seed = seed

    # ----- members ----------------------------------------------------------------------------
    def chosen_members(self) -> list[tuple[str, float]]:
        """(model key, hand-set weight) per used slot; ValueError for a model listed twice."""
        chosen = [(getattr(self, f"member_{s}"), float(getattr(self, f"weight_{s}"))) for s in range(1, SLOTS + 1)]
        chosen = [(k, w) for k, w in chosen if k != NONE]
        keys = [k for k, _ in chosen]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            raise ValueError(f"hybrid: model(s) {', '.join(twice)} chosen more than once; pick each model once")
        return chosen

    def _new_members(self, keys) -> list[Recommender]:
        from recsys.models.registry import make_model

        given = self.member_params or {}
        return [make_model(k, **{"seed": int(self.seed), **dict(given.get(k) or {})}) for k in keys]

    def _check_member_params(self, keys) -> None:
        """Every named member is in the blend and its parameters are valid for it (checked before any fit)."""
        from recsys.models.registry import model_class

        for key, params in (self.member_params or {}).items():
            if key not in keys:
                raise ValueError(
                    f"hybrid: member_params names '{key}', which is not a member (members: {', '.join(keys)})"
                )
            if not isinstance(params, dict):
                raise ValueError(f"hybrid: member_params['{key}'] must be a mapping of parameters, got {params!r}")
            model_class(key).validate_params(params)

    def _fit(self, dataset, progress) -> None:
        chosen = self.chosen_members()
        keys = [k for k, _ in chosen]
        self._check_member_params(keys)
        if self.learn_weights and len(keys) > 1:
            weights, alone, self.validation_ndcg_ = self._learn_weights(dataset, keys, progress)
        else:
            alone = None
            hand = np.array([w for _, w in chosen], dtype=np.float64)
            if hand.sum() <= 0:
                raise ValueError("hybrid: the member weights are all 0; give at least one a positive weight")
            weights = np.tile(hand, (len(SEGMENTS), 1))
            self.validation_ndcg_ = {}
        self.weights_ = weights / weights.sum(axis=1, keepdims=True)  # segments x members, rows sum to 1
        self.member_keys_ = keys
        members = []
        for n, model in enumerate(self._new_members(keys)):
            model.fit(dataset, progress=_scaled(progress, 0.5 + 0.5 * n / len(keys), 0.5 / len(keys), model.key))
            members.append(model)
        self.member_params_ = [m.get_params() for m in members]
        self.member_states_ = [_learned_state(m) for m in members]
        self._members = members
        self.cold_courses_ = np.flatnonzero(np.diff(sparse.csc_matrix(dataset.matrix).indptr) == 0)
        self.new_course_members_ = np.array([places_new_courses(m) for m in members], dtype=bool)
        self.new_course_fallback_ = None if alone is None else new_course_choice(alone, self.new_course_members_)

    def _learn_weights(self, dataset, keys, progress) -> tuple[np.ndarray, np.ndarray, dict]:
        """Per segment, the simplex-grid weights with the best NDCG@10 on seeded validation learners folded in
        as new learners (segments with too few validation learners take the weights best for everyone). On small
        data the validation is repeated on disjoint learners (`validation_rounds`), so the weights are not chosen
        from a hundred learners' noise."""
        from recsys.evaluation import metrics as M

        grid = simplex_grid(len(keys))
        rounds = validation_rounds(dataset)
        progress = _forward_only(progress)
        scores, segments = [], []
        for r in range(rounds):
            train, histories, hidden = validation_split(dataset, int(self.seed), r)
            normalized = []
            for n, model in enumerate(self._new_members(keys)):
                start = 0.4 * (r * len(keys) + n) / (rounds * len(keys))
                where = f"validation {model.key}" + (f" (round {r + 1}/{rounds})" if rounds > 1 else "")
                model.fit(train, progress=_scaled(progress, start, 0.4 / (rounds * len(keys)), where))
                normalized.append(rank_normalize(model.score_histories(histories), seen=histories))
            if progress:
                progress(0.4 * (r + 1) / rounds, "searching blend weights")
            hits = blend_hits(grid, normalized, histories, hidden, 10)
            n_hidden = np.diff(hidden.indptr)
            scores.append(np.stack([M.ndcg_at_k(grid_hits, n_hidden) for grid_hits in hits]))
            segments.append(segment_of(histories))
        per_learner = np.hstack(scores)  # grid points x validation learners of every round
        vertices = [int(np.flatnonzero(grid[:, m] == 1.0)[0]) for m in range(len(keys))]  # each member alone
        overall = blend_or_member(grid, per_learner, np.ones(per_learner.shape[1], dtype=bool))
        segment = np.concatenate(segments)
        chosen, alone = [], np.zeros((len(SEGMENTS), len(keys)))  # alone: each member's NDCG@10 on its own
        report = {"overall": float(per_learner[overall].mean())}
        report.update(validation_learners=int(per_learner.shape[1]), validation_rounds=rounds)
        report.update({f"overall_{key}": float(per_learner[v].mean()) for key, v in zip(keys, vertices)})
        for n in range(len(SEGMENTS)):
            rows = segment == n
            own = rows.sum() >= MIN_SEGMENT_LEARNERS
            best = blend_or_member(grid, per_learner, rows) if own else overall
            chosen.append(grid[best])
            alone[n] = per_learner[vertices][:, rows if own else slice(None)].mean(axis=1)
            report[f"segment_{n}_learners"] = int(rows.sum())
            report[f"segment_{n}_blend"] = float(per_learner[best, rows].mean()) if rows.any() else None
            for key, v in zip(keys, vertices):
                report[f"segment_{n}_{key}"] = float(per_learner[v, rows].mean()) if rows.any() else None
        return np.asarray(chosen, dtype=np.float64), alone, report

    @property
    def members(self) -> list[Recommender]:
        """The fitted member models (rebuilt from their plain learned state after loading)."""
        self._check_fitted()
        if getattr(self, "_members", None) is None:
            members = []
            for key, params, state in zip(self.member_keys_, self.member_params_, self.member_states_):
                from recsys.models.registry import make_model

                model = make_model(key, **params)
                for name in _BASE_STATE:
                    setattr(model, name, getattr(self, name))
                for name, value in state.items():
                    setattr(model, name, value)
                members.append(model)
            self._members = members
        return self._members

    def __getstate__(self):
        state = dict(super().__getstate__())
        state.pop("_members", None)  # saved as member_states_ (plain values), rebuilt on use
        return state

    # ----- scoring ----------------------------------------------------------------------------
    def member_scores(self, histories, needed=None) -> list[np.ndarray | None]:
        """Rank-normalized scores of each member (aligned with member_keys_); -inf where the member cannot score.

        `needed` (one bool per member) skips members that carry no weight for any learner of the batch (their
        slot is None): a learner whose segment uses EASE alone costs one member, not four.
        """
        H = self._check_histories(histories)
        out: list[np.ndarray | None] = []
        for m, model in enumerate(self.members):
            if needed is not None and not needed[m]:
                out.append(None)
                continue
            raw = np.asarray(model.score_histories(H), dtype=np.float64)
            normalized = rank_normalize(raw, seen=H)
            normalized[~np.isfinite(raw)] = -np.inf
            out.append(normalized)
        return out

    def learner_weights(self, histories) -> np.ndarray:
        """(learners x members) blend weights: the row of each learner's history-length segment."""
        return self.weights_[segment_of(histories)]

    def new_course_weights(self, weights: np.ndarray, segments: np.ndarray) -> np.ndarray:
        """(learners x members) weights for a course nobody took in training: only members that place such a
        course through its content (`places_new_courses`) count -- the others know nothing about it and abstain
        instead of voting it to the bottom. Learned weights: the segment's `new_course_fallback_` (`segments`:
        each learner's segment); hand-set weights: those members' weights rescaled to sum to 1 (equal parts
        when the user gave them none). All zero when no member can place a new course."""
        able = getattr(self, "new_course_members_", np.zeros(weights.shape[1], dtype=bool))
        learned = getattr(self, "new_course_fallback_", None)
        if learned is not None:
            return learned[segments] * able.any()
        kept = np.where(able[None, :], weights, 0.0)
        total = kept.sum(axis=1, keepdims=True)
        equal = np.where(able, 1.0 / max(1, int(able.sum())), 0.0)[None, :]
        return np.where(total > 0, kept / np.where(total > 0, total, 1.0), equal * able.any())

    def score_histories(self, histories) -> np.ndarray:
        H = self._check_histories(histories)
        weights = self.learner_weights(H)
        cold = getattr(self, "cold_courses_", np.zeros(0, dtype=np.int64))
        cold_weights = self.new_course_weights(weights, segment_of(H)) if len(cold) else None
        needed = (weights > 0).any(axis=0)
        if cold_weights is not None:
            needed |= (cold_weights > 0).any(axis=0)
        parts = self.member_scores(H, needed=needed)
        total = np.zeros(H.shape)
        scorable = np.zeros(H.shape, dtype=bool)
        for m, part in enumerate(parts):
            if part is None:  # zero weight for every learner of the batch
                continue
            finite = np.isfinite(part)
            w = weights[:, m][:, None]
            total += w * np.where(finite, part, 0.0)
            scorable |= finite & (w > 0)
        if cold_weights is not None:  # courses nobody took: through the members that can place them
            total[:, cold], scorable[:, cold] = 0.0, False
            for m, part in enumerate(parts):
                if part is None or not cold_weights[:, m].any():
                    continue
                finite = np.isfinite(part[:, cold])
                w = cold_weights[:, m][:, None]
                total[:, cold] += w * np.where(finite, part[:, cold], 0.0)
                scorable[:, cold] |= finite & (w > 0)
        total[~scorable] = -np.inf
        return total

    @property
    def places_new_courses(self) -> bool:
        """Whether a member places a course nobody took through its content (the hybrid then carries it)."""
        self._check_fitted()
        return bool(np.any(getattr(self, "new_course_members_", False)))

    def score_new_course(self, course, histories, enrolments: float | None = None) -> np.ndarray:
        """Score of a course not in the catalogue yet for each learner, on the scale of `score_histories`: each
        member that places new courses scores it (`score_new_course`), the score becomes its rank among the
        member's scores of the learner's untaken catalogue courses (normalised as `rank_normalize`), and the
        members are blended with `new_course_weights`. -inf for everyone when no member can place it."""
        H = self._check_histories(histories)
        weights = self.new_course_weights(self.learner_weights(H), segment_of(H))
        total = np.zeros(H.shape[0])
        scorable = np.zeros(H.shape[0], dtype=bool)
        n = H.shape[1]
        for m, model in enumerate(self.members):
            if not weights[:, m].any():
                continue
            new = np.asarray(model.score_new_course(course, H, enrolments=enrolments), dtype=np.float64)
            raw = np.array(model.score_histories(H), dtype=np.float64)
            raw[~np.isfinite(raw)] = -np.inf
            raw[np.repeat(np.arange(H.shape[0]), np.diff(H.indptr)), H.indices] = -np.inf
            rank = 1.0 + (raw > new[:, None]).sum(axis=1) + 0.5 * (raw == new[:, None]).sum(axis=1)
            part = 1.0 - np.log(rank) / np.log(n) if n > 1 else np.ones(len(rank))
            finite = np.isfinite(new)
            total += weights[:, m] * np.where(finite, part, 0.0)
            scorable |= finite & (weights[:, m] > 0)
        total[~scorable] = -np.inf
        return total

    def course_closeness(self, items) -> np.ndarray:
        """Dislikes: the members' own closeness (each scaled so its closest course is 1), weighted by the members'
        average blend weight over the learner segments."""
        items = np.asarray(items, dtype=np.int64)
        total = np.zeros((len(items), len(self.item_index_)))
        for w, model in zip(np.asarray(self.weights_).mean(axis=0), self.members):
            if w > 0:
                part = np.clip(np.nan_to_num(np.asarray(model.course_closeness(items), dtype=np.float64)), 0.0, None)
                part[np.arange(len(items)), items] = 0.0
                peak = part.max(axis=1, keepdims=True)
                total += w * part / np.where(peak > 0, peak, 1.0)
        return total

    def explain(self, history, items) -> list[str]:
        """The reasons of the members that pushed each course up most (up to two, strongest first)."""
        items = np.asarray(items, dtype=np.int64)
        H = self._check_histories(history)
        weights = self.learner_weights(H)[0]
        parts = self.member_scores(H, needed=weights > 0)
        contributions = np.array(
            [
                np.zeros(len(items)) if p is None else w * np.where(np.isfinite(p[0, items]), p[0, items], 0.0)
                for w, p in zip(weights, parts)
            ]
        )  # members x items
        reasons = [m.explain(H, items) if w > 0 else [""] * len(items) for m, w in zip(self.members, weights)]
        out = []
        for n in range(len(items)):
            merged = []
            for m in np.argsort(-contributions[:, n], kind="stable"):
                text = reasons[m][n]
                if contributions[m, n] > 0 and text and text not in merged:
                    merged.append(text)
            out.append("; ".join(merged[:2]) if merged else "recommended by the blended models")
        return out


def new_course_choice(alone: np.ndarray, able: np.ndarray) -> np.ndarray | None:
    """(segments x members) weights for courses nobody took, given each member's validation NDCG@10 alone per
    segment (`alone`) and which members can place such a course (`able`): the best of those, alone. A blend
    weight says what a member adds to the others on courses with enrolments, not how well it places a course from
    its content; ranking alone is the closer measure. None when no member can place a new course."""
    if not able.any():
        return None
    return np.eye(len(able))[np.argmax(np.where(able[None, :], alone, -np.inf), axis=1)]


def blend_or_member(grid: np.ndarray, per_learner: np.ndarray, rows: np.ndarray) -> int:
    """The grid point to use for the learners `rows`: the best blend when it beats the best single member by more
    than one standard error of their paired per-learner difference, else that member alone. The best of 286
    blends is picked from noisy means; on a few hundred validation learners a blend whose edge is within the
    noise would, on new learners, more often lose to its best member than beat it."""
    means = per_learner[:, rows].mean(axis=1)
    blend = int(np.argmax(means))
    singles = np.flatnonzero(grid.max(axis=1) == 1.0)
    member = int(singles[np.argmax(means[singles])])
    if blend == member:
        return blend
    diff = per_learner[blend, rows] - per_learner[member, rows]
    if len(diff) < 2:
        return member
    se = float(np.std(diff, ddof=1) / np.sqrt(len(diff)))
    return blend if float(diff.mean()) > se else member


def blend_hits(grid, normalized, histories, hidden, k: int, chunk: int = 256) -> np.ndarray:
    """(grid points x learners x k) hit matrices of every weighted blend, as `metrics.hit_matrix` of
    `metrics.top_k(sum(w * part), k, exclude=histories)` would give -- without sorting 286 blends of every row.

    Only the hidden courses' places matter: a hidden course sits at place #(unseen courses scoring higher) +
    #(unseen courses tied with it and earlier in the catalogue), the stable order `top_k` uses. The blend is
    computed with the same float64 operations in the same order, so the places (and the chosen weights) are
    exactly those of the sorted lists. A seen course's parts are NaN: NaN never compares above or equal.
    """
    n, n_items = histories.shape
    hits = np.zeros((len(grid), n, k), dtype=bool)
    seen_rows = sparse.csr_matrix(histories, dtype=bool)
    hidden = sparse.csr_matrix(hidden)
    hidden.sort_indices()
    catalogue = np.arange(n_items)
    for start in range(0, n, chunk):
        block = hidden[start : start + chunk]
        rows = np.repeat(np.arange(block.shape[0]), np.diff(block.indptr))  # one row per hidden course
        cols = block.indices
        if len(rows) == 0:
            continue
        seen = seen_rows[start : start + chunk].toarray()[rows]
        earlier = catalogue[None, :] < cols[:, None]
        parts = []
        for part in normalized:
            part = part[start : start + chunk][rows]
            part[seen] = np.nan
            parts.append(part)
        products: dict[tuple[int, float], np.ndarray] = {}
        entry = np.arange(len(rows))
        for g, weights in enumerate(grid):
            for m, w in enumerate(weights):
                if (m, w) not in products:
                    products[m, w] = w * parts[m]
            blended = products[0, weights[0]]  # sum(w * part for ...): the same additions in the same order
            for m in range(1, len(weights)):
                blended = blended + products[m, weights[m]]
            own = blended[entry, cols][:, None]
            place = (blended > own).sum(axis=1) + ((blended == own) & earlier).sum(axis=1)
            inside = place < k
            hits[g, start + rows[inside], place[inside]] = True
    return hits


def _eligible_learners(dataset) -> tuple[sparse.csr_matrix, np.ndarray, int]:
    """(rating matrix, rows of learners with 2+ courses, validation learners per round)."""
    X = sparse.csr_matrix(dataset.matrix)
    eligible = np.flatnonzero(np.diff(X.indptr) >= 2)
    n_val = min(VALIDATION_MAX_LEARNERS, int(round(VALIDATION_SHARE * len(eligible))))
    if n_val < 1:
        raise ValueError(
            "hybrid: learning weights needs learners with at least 2 courses; set learn_weights to false or add ratings"
        )
    return X, eligible, n_val


def validation_rounds(dataset) -> int:
    """Validation rounds on disjoint learners: one when a round has VALIDATION_TARGET_LEARNERS, more on small data
    (up to 1 / VALIDATION_SHARE rounds: every learner with 2+ courses validated once)."""
    _, eligible, n_val = _eligible_learners(dataset)
    most = min(MAX_VALIDATION_ROUNDS, len(eligible) // n_val)
    return int(max(1, min(most, -(-VALIDATION_TARGET_LEARNERS // n_val))))


def validation_split(dataset, seed: int, round_: int = 0):
    """(training Dataset without the validation learners, their 80% histories, their hidden 20%) -- rows of
    the two matrices are the validation learners, columns the catalogue. Round r > 0 takes the r-th next set of
    learners, disjoint from the earlier rounds' (seeded)."""
    X, eligible, n_val = _eligible_learners(dataset)
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(eligible, size=n_val, replace=False))
    if round_ > 0:
        rest = np.random.default_rng([seed, 1]).permutation(np.setdiff1d(eligible, rows))
        rows = np.sort(rest[(round_ - 1) * n_val : round_ * n_val])
        if len(rows) == 0:
            raise ValueError(f"hybrid: no learners left for validation round {round_ + 1}")
        rng = np.random.default_rng([seed, 2, round_])
    V = X[rows].tocsr()
    V.sort_indices()
    lengths = np.diff(V.indptr)
    n_hide = np.clip(np.round(HIDDEN_SHARE * lengths), 1, lengths - 1).astype(np.int64)
    keys = rng.random(V.nnz)
    row_of = np.repeat(np.arange(len(rows)), lengths)
    order = np.lexsort((keys, row_of))  # random order within each row
    rank = np.empty(V.nnz, dtype=np.int64)
    rank[order] = np.arange(V.nnz) - np.repeat(V.indptr[:-1], lengths)
    hide = rank < n_hide[row_of]
    histories = sparse.csr_matrix((V.data[~hide], (row_of[~hide], V.indices[~hide])), shape=V.shape)
    hidden = sparse.csr_matrix((np.ones(int(hide.sum())), (row_of[hide], V.indices[hide])), shape=V.shape)
    held_users = set(dataset.user_ids[rows].tolist())
    keep = ~dataset.ratings["user"].isin(held_users).to_numpy()
    return dataset.with_ratings(dataset.ratings[keep]), histories, hidden


def places_new_courses(model: Recommender) -> bool:
    """A member places a course nobody took when it scores courses through their content (it can score a
    course that is not in the catalogue: `score_new_course`); co-enrolment members cannot."""
    return callable(getattr(model, "score_new_course", None)) and bool(getattr(model, "places_new_courses", True))


def _learned_state(model: Recommender) -> dict:
    """A member's learned attributes (ending in _), minus what the hybrid already holds itself."""
    return {k: v for k, v in vars(model).items() if k.endswith("_") and not k.startswith("_") and k not in _BASE_STATE}


def _forward_only(progress):
    """`progress` that never moves back (sub-ranges computed in floating point may overlap by a rounding error)."""
    if progress is None:
        return None
    furthest = [0.0]

    def report(fraction: float, message: str) -> None:
        furthest[0] = max(furthest[0], float(fraction))
        progress(furthest[0], message)

    return report


def _scaled(progress, start: float, width: float, prefix: str):
    if progress is None:
        return None
    return lambda fraction, message: progress(min(1.0, start + width * float(fraction)), f"{prefix}: {message}")
