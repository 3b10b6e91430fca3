"""Course insights for creators: how often a course reaches learners' top-K lists, at which rank, for whom.

A seeded sample of learners (default 2,000) is scored once per trained model; every report below is read
off those scores, so switching the course, or comparing models, costs no new scoring and the same seed gives
the same numbers in the app and the CLI.

- exposure of one course: share of sampled learners with it in their top-K (courses a learner already took
  are never recommended to them), its rank distribution, and the learner segments (activity, main genre)
  that receive it -- per model, side by side;
- catalogue exposure: the share of top-K lists each course appears in, sorted (the long tail);
- a new course before launch: content-aware models score it through its content (`score_new_course`, no
  retraining) and it is ranked against the existing courses for every sampled learner; by default its
  popularity part is the one the model's content prior gives a course nobody took yet (as the model ranks
  such a course in the catalogue), or a what-if number of enrolments; models that score from enrolments
  only say they cannot place it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from recsys._progress import Progress
from recsys.data.dataset import LEVELS

DEFAULT_LEARNERS = 2000
DEFAULT_K = 10
ACTIVITY_BANDS = ((1, 2, "1-2 courses"), (3, 5, "3-5 courses"), (6, 10, "6-10 courses"), (11, None, "11+ courses"))
RANK_BINS = ((1, 1), (2, 3), (4, 5), (6, 10), (11, 20), (21, 50), (51, 100), (101, None))
_BATCH = 500


# ----- the learner sample -------------------------------------------------------------------------
def sample_learners(dataset, n_learners: int = DEFAULT_LEARNERS, seed: int = 0) -> np.ndarray:
    """Sorted matrix rows of a seeded sample of learners (all learners when there are fewer)."""
    if int(n_learners) < 1:
        raise ValueError(f"the learner sample needs at least 1 learner, got {n_learners}")
    if dataset.n_users == 0:
        raise ValueError("the dataset has no learners to sample")
    if int(n_learners) >= dataset.n_users:
        return np.arange(dataset.n_users)
    rng = np.random.default_rng(int(seed))
    return np.sort(rng.choice(dataset.n_users, int(n_learners), replace=False))


def activity_band(count: int) -> str:
    for lo, hi, name in ACTIVITY_BANDS:
        if count >= lo and (hi is None or count <= hi):
            return name
    return "no courses"


def learner_segments(dataset, positions: np.ndarray) -> pd.DataFrame:
    """Per sampled learner: id, number of courses, activity band and main genre (most courses; ties by genre order)."""
    rows = dataset.matrix[positions]
    counts = np.diff(rows.indptr)
    taken = rows.copy()
    taken.data = np.ones_like(taken.data)
    per_genre = np.asarray(taken @ np.asarray(dataset.genre_matrix, dtype=np.float64))
    names = np.asarray(list(dataset.genres) + ["no genre"], dtype=object)
    main = (
        np.where(per_genre.max(axis=1) > 0, per_genre.argmax(axis=1), len(dataset.genres))
        if len(dataset.genres)
        else np.zeros(len(positions), dtype=np.int64)
    )
    return pd.DataFrame(
        {
            "user": dataset.user_ids[positions],
            "courses": counts,
            "activity": [activity_band(int(c)) for c in counts],
            "main_genre": names[main],
        }
    )


# ----- scores of the sample under one model ---------------------------------------------------------
@dataclass
class ModelExposure:
    """One model's scores for the sampled learners; taken or never-recommended courses are -inf."""

    key: str
    label: str
    model: Any
    scores: np.ndarray  # n_sample x n_courses
    k: int

    @cached_property
    def ranks(self) -> np.ndarray:
        """1-based rank of every course in every sampled learner's list (ties by catalogue order, as
        `recsys.models.serving.top_k`); 0 where the course is taken or never recommended."""
        order = np.argsort(-self.scores, axis=1, kind="stable")
        ranks = np.empty(self.scores.shape, dtype=np.int32)
        np.put_along_axis(ranks, order, np.arange(1, self.scores.shape[1] + 1, dtype=np.int32)[None, :], axis=1)
        ranks[~np.isfinite(self.scores)] = 0
        return ranks

    @property
    def in_top(self) -> np.ndarray:
        ranks = self.ranks
        return (ranks > 0) & (ranks <= self.k)


def score_sample(model, dataset, positions: np.ndarray, k: int = DEFAULT_K) -> ModelExposure:
    """Score the sampled learners (training rows of `dataset`) with a model fitted on that dataset."""
    if getattr(model, "fingerprint_", None) != dataset.fingerprint:
        raise ValueError(
            f"model '{getattr(model, 'key', model)}' was not trained on this dataset; train it on it first"
        )
    if int(k) < 1:
        raise ValueError(f"k must be a positive whole number, got {k}")
    blocks = []
    for lo in range(0, len(positions), _BATCH):
        part = positions[lo : lo + _BATCH]
        scores = np.array(model.score_users(part), dtype=np.float64)
        rows = dataset.matrix[part]
        scores[np.repeat(np.arange(len(part)), np.diff(rows.indptr)), rows.indices] = -np.inf
        scores[~np.isfinite(scores)] = -np.inf
        blocks.append(scores)
    scores = np.vstack(blocks) if blocks else np.zeros((0, dataset.n_items))
    return ModelExposure(model.key, model.label, model, scores, int(k))


def _rank_summary(ranks: np.ndarray) -> dict[str, Any]:
    """Quartiles and binned counts of ranks (0 = not ranked, left out)."""
    ranked = ranks[ranks > 0]
    bins = []
    for lo, hi in RANK_BINS:
        inside = (ranked >= lo) & ((ranked <= hi) if hi is not None else True)
        bins.append(
            {"ranks": f"{lo}" if lo == hi else (f"{lo}-{hi}" if hi else f"{lo}+"), "learners": int(inside.sum())}
        )
    if not len(ranked):
        return {"ranked_learners": 0, "best": None, "q1": None, "median": None, "q3": None, "bins": bins}
    q1, med, q3 = np.percentile(ranked, [25, 50, 75])
    return {
        "ranked_learners": int(len(ranked)),
        "best": int(ranked.min()),
        "q1": float(q1),
        "median": float(med),
        "q3": float(q3),
        "bins": bins,
    }


def _segment_table(
    segments: pd.DataFrame, shown: np.ndarray, by: str, eligible: np.ndarray, ranks: np.ndarray
) -> list[dict[str, Any]]:
    """Per segment: sampled learners, learners who could get the course, learners who got it, shares, and the
    median rank where it is ranked at all."""
    frame = pd.DataFrame(
        {by: segments[by].to_numpy(), "shown": shown, "eligible": eligible, "rank": np.where(ranks > 0, ranks, np.nan)}
    )
    grouped = frame.groupby(by, sort=False).agg(
        learners=("shown", "size"), eligible=("eligible", "sum"), shown=("shown", "sum"), median_rank=("rank", "median")
    )
    if by == "activity":
        order = [name for _, _, name in ACTIVITY_BANDS if name in grouped.index]
        grouped = grouped.loc[order]
    else:
        grouped = grouped.sort_values(["shown", "learners"], ascending=False, kind="stable")
    out = []
    for name, row in grouped.iterrows():
        out.append(
            {
                "segment": str(name),
                "learners": int(row["learners"]),
                "eligible": int(row["eligible"]),
                "shown": int(row["shown"]),
                "share": float(row["shown"] / row["learners"]) if row["learners"] else 0.0,
                "share_of_shown": float(row["shown"] / shown.sum()) if shown.sum() else 0.0,
                "median_rank": float(row["median_rank"]) if pd.notna(row["median_rank"]) else None,
            }
        )
    return out


def _gini(values: np.ndarray) -> float:
    """Gini coefficient of exposure across courses: 0 = every course equally often, 1 = one course takes all.

    The same formula as `recsys.evaluation.metrics.gini` (which this layer may not import), but 0 for no exposure.
    """
    v = np.sort(np.asarray(values, dtype=np.float64))
    if v.sum() <= 0:
        return 0.0
    n = len(v)
    return float((2 * np.arange(1, n + 1) - n - 1) @ v / (n * v.sum()))


# ----- the study ------------------------------------------------------------------------------------
class ExposureStudy:
    """A seeded learner sample scored by several fitted models; reports for any course are read off it."""

    def __init__(
        self,
        dataset,
        models: Iterable,
        n_learners: int = DEFAULT_LEARNERS,
        seed: int = 0,
        k: int = DEFAULT_K,
        progress: Progress | None = None,
    ):
        self.dataset = dataset
        self.seed = int(seed)
        self.k = int(k)
        if self.k < 1:
            raise ValueError(f"k must be a positive whole number, got {k}")
        self.positions = sample_learners(dataset, n_learners, seed)
        self.segments = learner_segments(dataset, self.positions)
        models = list(models)
        if not models:
            raise ValueError("choose at least one trained model")
        self.exposures: dict[str, ModelExposure] = {}
        for i, model in enumerate(models):
            if progress:
                progress(i / len(models), f"scoring {len(self.positions):,} learners with {model.label}")
            name = model.key if model.key not in self.exposures else f"{model.key}#{i + 1}"
            self.exposures[name] = score_sample(model, dataset, self.positions, self.k)
        if progress:
            progress(1.0, "done")
        self.titles = (
            dataset.courses["TITLE"].astype(str).to_numpy()
            if "TITLE" in dataset.courses
            else dataset.item_ids.astype(str)
        )

    def describe(self) -> dict[str, Any]:
        return {
            "learners": int(len(self.positions)),
            "seed": self.seed,
            "k": self.k,
            "models": {name: e.label for name, e in self.exposures.items()},
        }

    def course_index(self, course_id: str) -> int:
        pos = self.dataset.item_index.get_indexer([str(course_id).strip()])[0]
        if pos < 0:
            raise ValueError(
                f"unknown course id '{course_id}' (not in the catalogue of {self.dataset.n_items} courses)"
            )
        return int(pos)

    # ----- one existing course --------------------------------------------------------------------
    def course_report(self, course_id: str) -> dict[str, Any]:
        """Exposure, rank distribution and segments of one course under every model of the study."""
        c = self.course_index(course_id)
        taken = np.asarray(self.dataset.matrix[self.positions][:, c].todense()).ravel() > 0
        per_model = {}
        for name, e in self.exposures.items():
            ranks = e.ranks[:, c]
            shown = (ranks > 0) & (ranks <= self.k)
            eligible = ~taken
            per_model[name] = {
                "label": e.label,
                "learners": int(len(ranks)),
                "already_taken": int(taken.sum()),
                "shown": int(shown.sum()),
                "exposure": float(shown.mean()) if len(ranks) else 0.0,
                "exposure_among_eligible": float(shown.sum() / eligible.sum()) if eligible.sum() else 0.0,
                "rank": _rank_summary(ranks),
                "segments": {
                    "activity": _segment_table(self.segments, shown, "activity", eligible, ranks),
                    "main_genre": _segment_table(self.segments, shown, "main_genre", eligible, ranks),
                },
            }
        return {**self._course_info(c), "sample": self.describe(), "models": per_model}

    @cached_property
    def _enrolments(self) -> np.ndarray:
        """Learners per course (counted once per study, not once per course report)."""
        return np.bincount(self.dataset.matrix.indices, minlength=self.dataset.n_items)

    def _course_info(self, c: int) -> dict[str, Any]:
        courses = self.dataset.courses
        info = {
            "course_id": str(self.dataset.item_ids[c]),
            "title": str(self.titles[c]),
            "genres": [g for g in self.dataset.genres if courses[g].iloc[c] > 0],
            "enrolments": int(self._enrolments[c]),
        }
        for col, name in (("LEVEL", "level"), ("DURATION_HOURS", "hours")):
            if col in courses and pd.notna(courses[col].iloc[c]):
                value = courses[col].iloc[c]
                info[name] = float(value) if col == "DURATION_HOURS" else str(value)
        return info

    # ----- the whole catalogue --------------------------------------------------------------------
    def catalogue_exposure(self, name: str) -> pd.DataFrame:
        """Share of the sampled top-K lists each course appears in, most exposed first (catalogue order on ties)."""
        e = self.exposures[name]
        share = e.in_top.mean(axis=0) if len(self.positions) else np.zeros(self.dataset.n_items)
        frame = pd.DataFrame({"COURSE_ID": self.dataset.item_ids.astype(str), "TITLE": self.titles, "share": share})
        order = np.argsort(-share, kind="stable")
        frame = frame.iloc[order].reset_index(drop=True)
        frame.insert(0, "position", np.arange(1, len(frame) + 1))
        return frame

    def catalogue_summary(self) -> list[dict[str, Any]]:
        """Per model: catalogue coverage, Gini of exposure, share of impressions taken by the top 10% of courses."""
        out = []
        for name, e in self.exposures.items():
            counts = e.in_top.sum(axis=0).astype(np.float64)
            top = np.sort(counts)[::-1][: max(1, int(np.ceil(0.1 * len(counts))))]
            out.append(
                {
                    "model": name,
                    "label": e.label,
                    "courses_shown": int((counts > 0).sum()),
                    "coverage": float((counts > 0).mean()),
                    "gini": _gini(counts),
                    "top10pct_share": float(top.sum() / counts.sum()) if counts.sum() else 0.0,
                }
            )
        return out

    # ----- a new course, before launch ------------------------------------------------------------
    def new_course_report(self, course: Mapping[str, Any], enrolments: float | None = None) -> dict[str, Any]:
        """Which sampled learners each model would show a not-yet-launched course to, and at what rank.

        Content-aware models score it through `score_new_course` (no retraining) and it is ranked against the
        existing courses (ties go to the existing course). `enrolments` None (default): the popularity each
        model's content prior gives it; a number: a what-if. Other models cannot place a course nobody took.
        """
        course = check_new_course(course, self.dataset)
        histories = self.dataset.matrix[self.positions]
        per_model = {}
        for name, e in self.exposures.items():
            scorer = getattr(e.model, "score_new_course", None)
            if scorer is None or not getattr(e.model, "places_new_courses", True):
                per_model[name] = {
                    "label": e.label,
                    "placeable": False,
                    "note": f"{e.label} cannot place a course without enrolments: it scores courses "
                    f"from who took them; retrain once learners have enrolled",
                }
                continue
            new = np.asarray(scorer(course, histories, enrolments=enrolments), dtype=np.float64)
            finite = np.isfinite(new)
            ranks = np.where(finite, 1 + (e.scores >= new[:, None]).sum(axis=1), 0).astype(np.int64)
            shown = finite & (ranks <= self.k)
            eligible = np.ones(len(ranks), dtype=bool)
            per_model[name] = {
                "label": e.label,
                "placeable": True,
                "learners": int(len(ranks)),
                "shown": int(shown.sum()),
                "exposure": float(shown.mean()) if len(ranks) else 0.0,
                "rank": _rank_summary(ranks),
                "segments": {
                    "activity": _segment_table(self.segments, shown, "activity", eligible, ranks),
                    "main_genre": _segment_table(self.segments, shown, "main_genre", eligible, ranks),
                },
                "note": "" if finite.any() else "never shown: below the model's similarity/score threshold",
            }
            expected = getattr(e.model, "predicted_new_course_enrolments", None)
            if expected is not None:  # what the content prior expects, and what the course is ranked with
                per_model[name]["predicted_enrolments"] = float(expected(course))
                per_model[name]["ranked_with_enrolments"] = (
                    float(e.model.new_course_ranking_enrolments(course)) if enrolments is None else float(enrolments)
                )
        return {
            "course": course,
            "enrolments_assumed": None if enrolments is None else float(enrolments),
            "sample": self.describe(),
            "models": per_model,
        }


def check_new_course(course: Mapping[str, Any], dataset) -> dict[str, Any]:
    """A new course's metadata, cleaned: title, description, genres (known names), level, hours."""
    title = str(course.get("title") or "").strip()
    description = str(course.get("description") or "").strip()
    if not title and not description:
        raise ValueError("the new course needs a title or a description")
    genres = [str(g).strip() for g in (course.get("genres") or []) if str(g).strip()]
    unknown = [g for g in genres if g not in dataset.genres]
    if unknown:
        raise ValueError(f"unknown genre(s) {', '.join(unknown)} (known: {', '.join(dataset.genres)})")
    level = course.get("level")
    level = str(level).strip() if level is not None and str(level).strip() else None
    if level is not None and level not in LEVELS:
        raise ValueError(f"unknown level '{level}' (use {', '.join(LEVELS)})")
    hours = course.get("hours")
    if hours is not None and str(hours).strip() != "":
        try:
            hours = float(hours)
        except (TypeError, ValueError):
            raise ValueError(f"hours must be a number, got {course.get('hours')!r}") from None
        if not np.isfinite(hours) or hours <= 0:
            raise ValueError(f"hours must be > 0, got {hours}")
    else:
        hours = None
    return {"title": title, "description": description, "genres": genres, "level": level, "hours": hours}


ENROLMENT_PRESETS = {
    "predicted": "predicted from its content (each model's prior for a course nobody took yet)",
    "launch": "launch day (0 enrolments)",
    "median": "a typical course (median enrolments)",
    "p90": "a well-attended course (90th percentile of enrolments)",
}


def assumed_enrolments(dataset, spec: str | float | None = "predicted") -> float | None:
    """Enrolments to assume for a new course: a number >= 0, or a preset of ENROLMENT_PRESETS (catalogue-based);
    None for "predicted" (each content model uses its content prior, as for a catalogue course nobody took)."""
    if spec is None or (isinstance(spec, str) and spec.strip().lower() == "predicted"):
        return None
    if isinstance(spec, str) and spec.strip().lower() in ENROLMENT_PRESETS:
        counts = np.bincount(dataset.matrix.indices, minlength=dataset.n_items)
        return {"launch": 0.0, "median": float(np.median(counts)), "p90": float(np.percentile(counts, 90))}[
            spec.strip().lower()
        ]
    try:
        value = float(spec)
    except (TypeError, ValueError):
        raise ValueError(
            f"enrolments must be a number >= 0 or one of {', '.join(ENROLMENT_PRESETS)}, got {spec!r}"
        ) from None
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"enrolments must be a number >= 0, got {spec!r}")
    return value


def course_report(
    dataset,
    models: Iterable,
    course_id: str,
    n_learners: int = DEFAULT_LEARNERS,
    seed: int = 0,
    k: int = DEFAULT_K,
    catalogue_top: int = 0,
) -> dict[str, Any]:
    """The course report as JSON-ready data (what `python -m recsys course-report` prints)."""
    study = ExposureStudy(dataset, models, n_learners, seed, k)
    report = study.course_report(course_id)
    report["catalogue"] = study.catalogue_summary()
    if catalogue_top:
        report["catalogue_exposure"] = {
            name: study.catalogue_exposure(name).head(int(catalogue_top)).to_dict("records") for name in study.exposures
        }
    return report


def new_course_report(
    dataset,
    models: Iterable,
    course: Mapping[str, Any],
    n_learners: int = DEFAULT_LEARNERS,
    seed: int = 0,
    k: int = DEFAULT_K,
    enrolments: float | None = None,
) -> dict[str, Any]:
    """The new-course report as JSON-ready data (what `python -m recsys new-course` prints); `enrolments` None
    = each model's content prior."""
    return ExposureStudy(dataset, models, n_learners, seed, k).new_course_report(course, enrolments)
