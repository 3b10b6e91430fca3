"""Learning paths: an ordered, time-boxed list of courses towards a career goal.

A goal scores every course in [0, 1]: a built-in career goal (recsys/stories/career_goals.toml) by the cosine between
its genre weights and the course's genres, a free-text goal by the TF-IDF cosine between the text and the
course titles/descriptions (the text space of the course-similarity model). Candidates are ranked by

    combined = (1 - goal_weight) * model percentile + goal_weight * goal match

where the model percentile is the course's place in the chosen model's scores for this learner (0 = last,
1 = first), so any model's scale combines the same way. Courses are then taken greedily by that score while
they fit the time budget; a course whose level the learner is not ready for (an Advanced course in a genre
without an Intermediate one taken) brings the missing lower-level course of that genre with it, or is
skipped. Finally the chosen courses are ordered so that within every genre lower levels come first (the best
course whose prerequisites are placed goes next), and each step gets its cumulative hours and finish week.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import rankdata

from recsys.data.dataset import LEVELS

GOALS_FILE = Path(__file__).with_name("career_goals.toml")
DEFAULT_MAX_COURSES = 10  # path length when there is no time budget to bound it
DEFAULT_MIN_GOAL_MATCH = 0.1


# ----- goals ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CareerGoal:
    """A built-in goal: genre -> weight (how central the genre is). Its genres are the "on-topic" ones."""

    key: str
    name: str
    description: str
    genres: Mapping[str, float]

    @property
    def genre_names(self) -> list[str]:
        return [g for g, w in self.genres.items() if w > 0]


@lru_cache(maxsize=1)
def _load_goals() -> tuple[CareerGoal, ...]:
    data = tomllib.loads(GOALS_FILE.read_text(encoding="utf-8"))
    goals = []
    for key, entry in data.items():
        weights = {str(g): float(w) for g, w in entry["genres"].items()}
        if not weights or min(weights.values()) < 0:
            raise ValueError(f"{GOALS_FILE.name}: goal '{key}' needs genre weights >= 0")
        goals.append(CareerGoal(key, entry["name"], entry.get("description", ""), weights))
    return tuple(goals)


def career_goals() -> dict[str, CareerGoal]:
    """The built-in career goals by key, in file order."""
    return {g.key: g for g in _load_goals()}


def _norm_name(text: str) -> str:
    return re.sub(r"[\s_\-]+", " ", str(text).strip().lower())


def find_goal(name: str) -> CareerGoal | None:
    """The built-in goal whose key or name is `name` (ignoring case, spaces, '_' and '-'), else None."""
    wanted = _norm_name(name)
    return next((g for g in _load_goals() if wanted in (_norm_name(g.key), _norm_name(g.name))), None)


def get_goal(key: str) -> CareerGoal:
    goal = find_goal(key)
    if goal is None:
        raise ValueError(
            f"unknown career goal '{key}' (known: {', '.join(career_goals())}); or describe the goal in free text"
        )
    return goal


@dataclass
class GoalMatch:
    """How well each catalogue course serves a goal (0..1, catalogue order), with the goal's on-topic genres."""

    kind: str  # "career" or "text"
    label: str
    scores: np.ndarray
    genres: list[str]  # on-topic genres (career: declared; text: the genres of the best-matching courses)
    terms: list[list[str]] = field(default_factory=list)  # text goals: shared words per course (for reasons)
    key: str | None = None

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "label": self.label, "genres": list(self.genres)}


def career_match(dataset, goal: CareerGoal) -> GoalMatch:
    """Cosine between the goal's genre weights and each course's genre flags."""
    weights = np.array([goal.genres.get(g, 0.0) for g in dataset.genres], dtype=np.float64)
    if not (weights > 0).any():
        raise ValueError(
            f"goal '{goal.name}' uses genres {', '.join(goal.genres)}, none of which this dataset has "
            f"(its genres: {', '.join(dataset.genres) or 'none'})"
        )
    flags = np.asarray(dataset.genre_matrix, dtype=np.float64)
    norms = np.linalg.norm(flags, axis=1) * np.linalg.norm(weights)
    scores = np.where(norms > 0, flags @ weights / np.where(norms > 0, norms, 1.0), 0.0)
    return GoalMatch("career", goal.name, scores, [g for g in goal.genre_names if g in dataset.genres], key=goal.key)


def text_match(dataset, text: str, min_df: int = 2) -> GoalMatch:
    """TF-IDF cosine between a free-text goal and each course's title + description, scaled so the best is 1.

    Uses the course-similarity model's text space (same texts, stop words and min_df), fitted on this catalogue.
    """
    from recsys.models.content.course_similarity import course_texts, text_space

    text = str(text or "").strip()
    if not text:
        raise ValueError(
            "the goal text is empty; describe the goal (e.g. 'deep learning for images') or pick a built-in career goal"
        )
    texts = course_texts(dataset)
    vec, features = text_space(texts, "tfidf", min(int(min_df), max(1, len(texts) // 2)))
    goal_vec = vec.transform([text])
    words = vec.get_feature_names_out()
    known = list(words[goal_vec.indices])
    if not known:
        raise ValueError(
            f"no word of the goal '{text}' appears in the course titles or descriptions; "
            f"try other words or a built-in career goal"
        )
    raw = np.asarray((features @ goal_vec.T).todense()).ravel()
    scores = raw / raw.max() if raw.max() > 0 else raw
    weights = dict(zip(goal_vec.indices, goal_vec.data))
    terms = []
    for row in range(features.shape[0]):
        start, stop = features.indptr[row], features.indptr[row + 1]
        shared = [
            (features.data[p] * weights[i], words[i])
            for p, i in zip(range(start, stop), features.indices[start:stop])
            if i in weights
        ]
        terms.append([w for _, w in sorted(shared, key=lambda t: (-t[0], t[1]))[:3]])
    # on-topic genres: the genres holding most of the match (at least 15% of it each)
    genre_mass = scores @ np.asarray(dataset.genre_matrix, dtype=np.float64)
    total = genre_mass.sum()
    genres = [
        dataset.genres[g] for g in np.argsort(-genre_mass, kind="stable") if total > 0 and genre_mass[g] / total >= 0.15
    ]
    return GoalMatch("text", f"“{text}”", scores, genres, terms)


def match_goal(dataset, goal: CareerGoal | GoalMatch | str) -> GoalMatch:
    """A goal given as a CareerGoal, a built-in key/name, or any other text (matched as free text)."""
    if isinstance(goal, GoalMatch):
        return goal
    if isinstance(goal, CareerGoal):
        return career_match(dataset, goal)
    found = find_goal(str(goal))
    return career_match(dataset, found) if found is not None else text_match(dataset, str(goal))


# ----- course metadata -----------------------------------------------------------------------------
def course_level_codes(dataset) -> np.ndarray:
    """0/1/2 per course (Beginner/Intermediate/Advanced); NaN where unknown or without course_meta.csv."""
    if "LEVEL" not in dataset.courses:
        return np.full(dataset.n_items, np.nan)
    codes = {name.lower(): float(i) for i, name in enumerate(LEVELS)}
    return np.array([codes.get(str(v).strip().lower(), np.nan) for v in dataset.courses["LEVEL"]])


def course_hours(dataset) -> np.ndarray:
    """DURATION_HOURS per course; NaN where unknown."""
    if "DURATION_HOURS" not in dataset.courses:
        return np.full(dataset.n_items, np.nan)
    import pandas as pd

    return pd.to_numeric(dataset.courses["DURATION_HOURS"], errors="coerce").to_numpy(dtype=np.float64)


# ----- the path ------------------------------------------------------------------------------------
@dataclass
class LearningPath:
    """An ordered path: `steps` (dicts, in order) plus what was asked and what could not be honoured."""

    goal: dict[str, Any]
    model: dict[str, Any] | None
    goal_weight: float
    hours_per_week: float | None
    weeks: int | None
    budget_hours: float | None
    completed: list[str]
    steps: list[dict[str, Any]]
    notes: list[str]
    unavailable: list[str]

    @property
    def course_ids(self) -> list[str]:
        return [s["course_id"] for s in self.steps]

    @property
    def total_hours(self) -> float | None:
        return self.steps[-1]["cumulative_hours"] if self.steps else 0.0

    def on_topic_share(self) -> float:
        """Share of steps having at least one of the goal's genres."""
        if not self.steps:
            return 0.0
        wanted = set(self.goal["genres"])
        return sum(bool(wanted & set(s["genres"])) for s in self.steps) / len(self.steps)

    def to_dict(self) -> dict[str, Any]:
        return {
            "goal": self.goal,
            "model": self.model,
            "goal_weight": self.goal_weight,
            "hours_per_week": self.hours_per_week,
            "weeks": self.weeks,
            "budget_hours": self.budget_hours,
            "total_hours": self.total_hours,
            "completed": self.completed,
            "on_topic_share": self.on_topic_share(),
            "steps": self.steps,
            "notes": self.notes,
            "unavailable": self.unavailable,
        }


class _Planner:
    """Greedy selection under the budget with prerequisite bundles (see the module docstring)."""

    def __init__(self, genre_flags, levels, hours, combined, usable, use_levels: bool):
        self.flags = genre_flags > 0
        self.levels = levels
        self.hours = hours
        self.combined = combined
        self.usable = usable  # may be chosen at all (not completed, passes filters, hours known if budgeted)
        self.use_levels = use_levels
        n_genres = genre_flags.shape[1]
        # which levels exist in each genre (anywhere in the catalogue): a missing level is no prerequisite
        self.present = np.zeros((n_genres, len(LEVELS)), dtype=bool)
        for lv in range(len(LEVELS)):
            rows = levels == lv
            if rows.any():
                self.present[:, lv] = self.flags[rows].any(axis=0)

    def required(self, course: int, genre: int) -> int:
        """Level that must be reached in `genre` before `course`: the highest level below it that exists there."""
        level = self.levels[course]
        if not self.use_levels or np.isnan(level):
            return -1
        below = np.flatnonzero(self.present[genre, : int(level)])
        return int(below[-1]) if len(below) else -1

    def missing(self, course: int, reached: np.ndarray) -> list[tuple[int, int]]:
        return [
            (g, need) for g in np.flatnonzero(self.flags[course]) if reached[g] < (need := self.required(course, g))
        ]

    def reach(self, reached: np.ndarray, course: int) -> None:
        level = self.levels[course]
        if not np.isnan(level):
            genres = self.flags[course]
            reached[genres] = np.maximum(reached[genres], level)

    def bundle(self, course: int, reached: np.ndarray, taken: set[int], depth: int = 0) -> list[int] | None:
        """`course` preceded by the prerequisites it still lacks (best-scoring of the needed level), or None."""
        if depth > len(LEVELS):
            return None
        state = reached.copy()
        plan: list[int] = []
        for genre, need in self.missing(course, state):
            if state[genre] >= need:  # an earlier prerequisite of this bundle covered it
                continue
            options = [
                int(c)
                for c in np.flatnonzero(self.usable & self.flags[:, genre] & (self.levels == need))
                if c not in taken and c not in plan
            ]
            options.sort(key=lambda c: (-self.combined[c], c))
            chosen = None
            for option in options:
                sub = self.bundle(option, state, taken | set(plan), depth + 1)
                if sub is not None:
                    chosen = sub
                    break
            if chosen is None:
                return None
            for c in chosen:
                plan.append(c)
                self.reach(state, c)
        return plan + [course]


def learning_path(
    dataset,
    goal: CareerGoal | GoalMatch | str,
    completed: Iterable[str] | Mapping[str, float] = (),
    model=None,
    *,
    goal_weight: float = 0.5,
    hours_per_week: float | None = None,
    weeks: int | None = None,
    max_courses: int | None = None,
    levels: Iterable[str] | None = None,
    max_course_hours: float | None = None,
    min_goal_match: float = DEFAULT_MIN_GOAL_MATCH,
) -> LearningPath:
    """An ordered learning path towards `goal` for a learner who completed `completed` (course ids).

    `model`: a fitted recommender (any registry model) whose scores for this learner are combined with the goal
    match (`goal_weight` = share of the goal match, 0..1); None = goal match only. `hours_per_week` x `weeks`
    is the time budget (needs DURATION_HOURS); without a budget the path has at most `max_courses` courses
    (default 10). `levels` / `max_course_hours` filter the courses (by LEVEL / DURATION_HOURS). Courses whose
    goal match is below `min_goal_match` are only taken as prerequisites of on-goal courses. Deterministic.
    """
    if not 0.0 <= float(goal_weight) <= 1.0:
        raise ValueError(f"goal_weight must be between 0 and 1, got {goal_weight}")
    if hours_per_week is not None and not float(hours_per_week) > 0:
        raise ValueError(f"hours_per_week must be > 0, got {hours_per_week}")
    if weeks is not None and int(weeks) < 1:
        raise ValueError(f"weeks must be a positive whole number, got {weeks}")
    if weeks is not None and hours_per_week is None:
        raise ValueError("weeks needs hours_per_week (the budget is hours per week x weeks)")
    if max_courses is not None and int(max_courses) < 1:
        raise ValueError(f"max_courses must be a positive whole number, got {max_courses}")
    match = match_goal(dataset, goal)
    row = dataset.history_vector(completed)  # unknown ids -> ValueError naming them
    done = np.zeros(dataset.n_items, dtype=bool)
    done[row.indices] = True

    notes: list[str] = []
    unavailable: list[str] = []
    level_codes = course_level_codes(dataset)
    hours = course_hours(dataset)
    has_levels = bool((~np.isnan(level_codes)).any())
    has_hours = bool((~np.isnan(hours)).any())
    if not has_levels:
        unavailable.append(
            "level progression and the level filter: the catalogue has no LEVEL "
            "(add course_meta.csv with COURSE_ID, LEVEL, DURATION_HOURS)"
        )
    if not has_hours:
        unavailable.append(
            "the time budget, finish weeks and the course-length filter: the catalogue has no "
            "DURATION_HOURS (add course_meta.csv)"
        )

    usable = ~done
    wanted_levels = [str(lv) for lv in (levels or [])]
    if wanted_levels and has_levels:
        bad = [lv for lv in wanted_levels if lv not in LEVELS]
        if bad:
            raise ValueError(f"unknown level(s) {', '.join(bad)} (use {', '.join(LEVELS)})")
        codes = [LEVELS.index(lv) for lv in wanted_levels]
        usable &= np.isin(level_codes, codes)
    if max_course_hours is not None and has_hours:
        usable &= hours <= float(max_course_hours)
    budget = None
    if hours_per_week is not None and weeks is not None and has_hours:
        budget = float(hours_per_week) * int(weeks)
    budgeted = budget is not None or (hours_per_week is not None and has_hours)
    if budgeted:
        unknown = usable & np.isnan(hours)
        if unknown.any():
            notes.append(f"{int(unknown.sum())} course(s) without DURATION_HOURS left out: they cannot be timed")
        usable &= ~np.isnan(hours)
    limit = int(max_courses) if max_courses is not None else (None if budget is not None else DEFAULT_MAX_COURSES)
    if budget is None and max_courses is None:
        notes.append(f"no time budget: the path has at most {DEFAULT_MAX_COURSES} courses")

    # ----- scores ------------------------------------------------------------------------------
    model_raw = np.full(dataset.n_items, np.nan)
    model_pct = np.zeros(dataset.n_items)
    weight = float(goal_weight)
    model_info = None
    if model is not None:
        _check_model(model, dataset)
        model_raw = np.asarray(model.score_histories(row), dtype=np.float64)[0]
        ranked = ~done & np.isfinite(model_raw)
        if ranked.sum() > 1:
            model_pct[ranked] = (rankdata(model_raw[ranked], method="average") - 1) / (ranked.sum() - 1)
        elif ranked.any():
            model_pct[ranked] = 1.0
        model_info = {"key": model.key, "label": model.label}
    else:
        weight = 1.0
        notes.append("no model chosen: courses are ranked by goal match only")
    combined = (1.0 - weight) * model_pct + weight * match.scores

    planner = _Planner(
        np.asarray(dataset.genre_matrix), level_codes, np.nan_to_num(hours), combined, usable, has_levels
    )
    reached = np.full(len(dataset.genres), -1.0)
    for c in row.indices:
        planner.reach(reached, c)

    chosen: list[int] = []
    unlocks: dict[int, int] = {}
    used = 0.0
    blocked = 0
    candidates = np.flatnonzero(usable & (match.scores >= float(min_goal_match)))
    for c in sorted(map(int, candidates), key=lambda c: (-combined[c], c)):
        if c in chosen:
            continue
        plan = planner.bundle(int(c), reached, set(chosen))
        if plan is None:
            blocked += 1
            continue
        cost = float(planner.hours[plan].sum()) if budgeted else 0.0
        if budget is not None and used + cost > budget + 1e-9:
            continue
        if limit is not None and len(chosen) + len(plan) > limit:
            continue
        for p in plan[:-1]:
            unlocks.setdefault(p, int(c))
        for p in plan:
            chosen.append(p)
            planner.reach(reached, p)
        used += cost
    if blocked:
        notes.append(
            f"{blocked} on-goal course(s) left out: a lower-level course they need in their genre is "
            f"filtered out or missing"
        )
    if not len(candidates):
        notes.append(f"no course left with a goal match of at least {min_goal_match:g}")

    order = _progression_order(chosen, planner)
    steps = _steps(
        dataset,
        order,
        match,
        model,
        row,
        model_raw,
        model_pct,
        combined,
        hours,
        level_codes,
        unlocks,
        hours_per_week if budgeted else None,
        weight,
    )
    return LearningPath(
        goal=match.describe(),
        model=model_info,
        goal_weight=weight,
        hours_per_week=float(hours_per_week) if hours_per_week is not None else None,
        weeks=int(weeks) if weeks is not None else None,
        budget_hours=budget,
        completed=[str(dataset.item_ids[c]) for c in row.indices],
        steps=steps,
        notes=notes,
        unavailable=unavailable,
    )


def _check_model(model, dataset) -> None:
    ids = getattr(model, "item_index_", None)
    if ids is None:
        raise ValueError(f"model '{getattr(model, 'key', model)}' is not fitted; train it first")
    if len(ids) != dataset.n_items or not (np.asarray(ids, dtype=str) == dataset.item_ids.astype(str)).all():
        raise ValueError(
            f"model '{model.key}' was trained on another catalogue ({len(ids)} courses) than this "
            f"dataset ({dataset.n_items}); retrain it on this dataset"
        )


def _progression_order(chosen: list[int], planner: _Planner) -> list[int]:
    """Best-scoring course first among those with no lower-level chosen course of a shared genre still unplaced."""
    remaining = list(chosen)
    order: list[int] = []
    while remaining:

        def ready(c: int) -> bool:
            level = planner.levels[c]
            if np.isnan(level):
                return True
            return not any(
                d != c
                and not np.isnan(planner.levels[d])
                and planner.levels[d] < level
                and (planner.flags[c] & planner.flags[d]).any()
                for d in remaining
            )

        nxt = min((c for c in remaining if ready(c)), key=lambda c: (-planner.combined[c], c))
        order.append(nxt)
        remaining.remove(nxt)
    return order


def _steps(
    dataset, order, match, model, row, model_raw, model_pct, combined, hours, levels, unlocks, hours_per_week, weight
) -> list[dict[str, Any]]:
    genres = np.asarray(dataset.genres, dtype=object)
    flags = np.asarray(dataset.genre_matrix) > 0
    titles = dataset.courses["TITLE"].astype(str).to_numpy() if "TITLE" in dataset.courses else dataset.item_ids
    reasons = model.explain(row, np.asarray(order, dtype=np.int64)) if model is not None and order else []
    ids = dataset.item_ids
    timed = bool((~np.isnan(hours)).any())
    seen = np.zeros(len(ids), dtype=bool)
    seen[row.indices] = True
    scored = np.where(np.isfinite(model_raw) & ~seen, model_raw, -np.inf)
    by_score = np.argsort(-scored, kind="stable")  # ties by catalogue order, as serving.top_k
    model_rank = np.empty(len(ids), dtype=np.int64)
    model_rank[by_score] = np.arange(1, len(ids) + 1)
    n_ranked = int(np.isfinite(scored).sum())
    steps = []
    total = 0.0
    for n, c in enumerate(order):
        h = float(hours[c]) if not np.isnan(hours[c]) else None
        start = total
        total += h or 0.0
        why = [_goal_reason(match, c, genres[flags[c]])]
        if model is not None:
            place = (
                f"ranked {model_rank[c]} of {n_ranked} for this learner"
                if np.isfinite(model_raw[c])
                else "not recommended by it"
            )
            why.append(f"{model.label}: {place}" + (f" ({reasons[n]})" if n < len(reasons) and reasons[n] else ""))
        if c in unlocks:
            why.append(f"prerequisite: unlocks {titles[unlocks[c]]} ({ids[unlocks[c]]})")
        steps.append(
            {
                "step": n + 1,
                "course_id": str(ids[c]),
                "title": str(titles[c]),
                "level": LEVELS[int(levels[c])] if not np.isnan(levels[c]) else None,
                "genres": [str(g) for g in genres[flags[c]]],
                "hours": h,
                "cumulative_hours": round(total, 2) if timed else None,
                "start_week": math.floor(start / hours_per_week + 1e-9) + 1
                if hours_per_week and h is not None
                else None,
                "finish_week": max(1, math.ceil(total / hours_per_week - 1e-9))
                if hours_per_week and h is not None
                else None,
                "goal_match": round(float(match.scores[c]), 4),
                "model_score": (float(model_raw[c]) if np.isfinite(model_raw[c]) else None)
                if model is not None
                else None,
                "model_rank": int(model_rank[c]) if model is not None and np.isfinite(model_raw[c]) else None,
                "model_percentile": round(float(model_pct[c]), 4) if model is not None else None,
                "score": round(float(combined[c]), 4),
                "role": "prerequisite" if c in unlocks else "goal",
                "unlocks": str(ids[unlocks[c]]) if c in unlocks else None,
                "why": "; ".join(why),
            }
        )
    return steps


def _goal_reason(match: GoalMatch, course: int, course_genres) -> str:
    score = match.scores[course]
    if match.kind == "career":
        shared = [g for g in course_genres if g in match.genres]
        return f"goal match {score:.2f}" + (f" ({', '.join(shared)})" if shared else " (outside the goal's genres)")
    words = match.terms[course] if course < len(match.terms) else []
    return f"goal match {score:.2f}" + (f" (words: {', '.join(words)})" if words else " (no shared words)")
