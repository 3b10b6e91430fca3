"""Course tables for display: the searchable catalogue and recommendation lists with titles and metadata."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import streamlit as st


def model_label(key: str) -> str:
    from recsys.models import REGISTRY

    return REGISTRY[key].label or key


def model_description(key: str) -> str:
    from recsys.models import REGISTRY

    return REGISTRY[key].description


def genre_labels(dataset) -> np.ndarray:
    """'Python, MachineLearning' per course (catalogue order)."""
    if not dataset.genres:
        return np.full(dataset.n_items, "", dtype=object)
    flags = dataset.courses[dataset.genres].to_numpy() > 0
    names = np.asarray(dataset.genres, dtype=object)
    return np.array([", ".join(names[row]) for row in flags], dtype=object)


def has_metadata(dataset, column: str) -> bool:
    """Whether the catalogue has any value in `column` (LEVEL / DURATION_HOURS come from course_meta.csv)."""
    return column in dataset.courses and bool(dataset.courses[column].notna().any())


def course_table(dataset) -> pd.DataFrame:
    """One row per course: COURSE_ID, TITLE, GENRES, LEVEL, DURATION_HOURS (if known), ENROLMENTS.

    Built once per dataset content (the fingerprint), not on every rerun; each call gets its own copy."""
    return _course_table(dataset.fingerprint, dataset)


@st.cache_data(show_spinner=False, max_entries=8)
def _course_table(fingerprint: str, _dataset) -> pd.DataFrame:
    dataset = _dataset
    courses = dataset.courses
    table = pd.DataFrame(
        {
            "COURSE_ID": courses["COURSE_ID"].astype(str).to_numpy(),
            "TITLE": courses["TITLE"].astype(str).to_numpy()
            if "TITLE" in courses
            else courses["COURSE_ID"].astype(str),
            "GENRES": genre_labels(dataset),
        }
    )
    if has_metadata(dataset, "LEVEL"):
        table["LEVEL"] = courses["LEVEL"].where(courses["LEVEL"].notna(), None).to_numpy(dtype=object)
    if has_metadata(dataset, "DURATION_HOURS"):
        table["DURATION_HOURS"] = pd.to_numeric(courses["DURATION_HOURS"], errors="coerce").to_numpy()
    table["ENROLMENTS"] = np.bincount(dataset.matrix.indices, minlength=dataset.n_items)
    return table


def level_options(table: pd.DataFrame) -> list[str]:
    """The levels present in a `course_table`, in the usual order (unknown levels after, sorted)."""
    from recsys.data import LEVELS

    present = set(table["LEVEL"].dropna()) if "LEVEL" in table else set()
    return [lv for lv in LEVELS if lv in present] + sorted(present - set(LEVELS))


def filter_courses(
    table: pd.DataFrame, dataset, text: str = "", genres: Iterable[str] = (), levels: Iterable[str] = ()
) -> pd.DataFrame:
    """Rows of `course_table` whose title/id contains `text` (case-insensitive), with any of `genres` and a level in `levels`."""
    mask = np.ones(len(table), dtype=bool)
    text = (text or "").strip().lower()
    if text:
        hay = (table["TITLE"].str.lower() + " " + table["COURSE_ID"].str.lower()).to_numpy()
        for word in text.split():
            mask &= np.array([word in h for h in hay])
    genres = [g for g in genres if g in dataset.genres]
    if genres:
        mask &= dataset.courses[genres].to_numpy().sum(axis=1) > 0
    levels = list(levels)
    if levels and "LEVEL" in table:
        mask &= table["LEVEL"].isin(levels).to_numpy()
    return table[mask]


def recommendation_table(dataset, recs: pd.DataFrame) -> pd.DataFrame:
    """Recommendations (COURSE_ID, SCORE, REASON) joined with title, genres, level and duration, ranked 1..k."""
    info = course_table(dataset).set_index("COURSE_ID")
    ids = recs["COURSE_ID"].astype(str).to_numpy()
    out = pd.DataFrame({"RANK": np.arange(1, len(recs) + 1), "COURSE_ID": ids})
    for col in ("TITLE", "GENRES", "LEVEL", "DURATION_HOURS"):
        if col in info:
            out[col] = info[col].reindex(ids).to_numpy()
    out["SCORE"] = recs["SCORE"].to_numpy(dtype=float)
    out["REASON"] = recs["REASON"].astype(str).to_numpy() if "REASON" in recs else ""
    return out
