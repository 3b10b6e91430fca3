"""Figures and small helpers for the story pages (Learning path, Course insights). No model math here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from recsys.ui.charts import tidy


def path_timeline(path: Mapping[str, Any]) -> go.Figure:
    """Gantt-style timeline of a learning path (`LearningPath.to_dict()`): one bar per course, in weeks when a
    weekly budget is known, else in cumulative hours."""
    steps = path["steps"]
    per_week = path.get("hours_per_week")
    unit = "week" if per_week else "hour"
    rows = []
    start = 0.0
    for s in steps:
        hours = s["hours"] or 0.0
        length = hours / per_week if per_week else hours
        rows.append(
            {
                "course": f"{s['step']}. {s['title']}",
                "start": start,
                "length": max(length, 1e-3),
                "level": s["level"] or "level unknown",
                "role": s["role"],
                "hours": hours,
                "finish": s.get("finish_week"),
            }
        )
        start += length
    frame = pd.DataFrame(rows)
    fig = go.Figure()
    colours = {"Beginner": "#4c9be8", "Intermediate": "#f0a030", "Advanced": "#d9534f", "level unknown": "#999999"}
    for level, part in frame.groupby("level", sort=False) if len(frame) else []:
        fig.add_bar(
            y=part["course"],
            x=part["length"],
            base=part["start"],
            orientation="h",
            name=level,
            marker_color=colours.get(level, "#999999"),
            customdata=part[["hours", "finish", "role"]].to_numpy(),
            hovertemplate=(
                "%{y}<br>%{customdata[0]:g} h, "
                + ("done in week %{customdata[1]}" if per_week else "")
                + " (%{customdata[2]})<extra></extra>"
            ),
        )
    weeks = path.get("weeks")
    if per_week and weeks:
        fig.add_vline(x=weeks, line_dash="dash", line_color="grey", annotation_text="budget")
    fig.update_yaxes(autorange="reversed", title=None)
    fig.update_xaxes(title=f"{unit}s from the start", rangemode="tozero")
    fig.update_layout(title="Your path over time", barmode="overlay", legend_title_text="Level")
    return tidy(fig, max(260, 60 + 32 * len(steps)))


def rank_distribution(report: Mapping[str, Any]) -> go.Figure:
    """Learners per rank band of one course, one bar group per model (models that cannot place it left out)."""
    rows = [
        {"model": m["label"], "ranks": b["ranks"], "learners": b["learners"]}
        for m in report["models"].values()
        if m.get("placeable", True)
        for b in m["rank"]["bins"]
    ]
    frame = pd.DataFrame(rows, columns=["model", "ranks", "learners"])
    fig = px.bar(
        frame,
        x="ranks",
        y="learners",
        color="model",
        barmode="group",
        title="Rank of the course in each sampled learner's list",
    )
    fig.update_xaxes(title="rank (1 = top of the list)", type="category")
    return tidy(fig)


def segment_bars(report: Mapping[str, Any], by: str) -> go.Figure:
    """Share of each segment's learners who get the course in their top-K, per model; when no learner gets it,
    the segment's median rank instead (where it lands, for whom)."""
    rows = [
        {
            "model": m["label"],
            "segment": s["segment"],
            "share": s["share"],
            "shown": s["shown"],
            "learners": s["learners"],
            "median rank": s.get("median_rank"),
        }
        for m in report["models"].values()
        if m.get("placeable", True)
        for s in m["segments"][by]
    ]
    frame = pd.DataFrame(rows, columns=["model", "segment", "share", "shown", "learners", "median rank"])
    title = {"activity": "By activity (courses taken)", "main_genre": "By main genre"}.get(by, by)
    if len(frame) and frame["shown"].sum() == 0:
        fig = px.bar(
            frame,
            x="segment",
            y="median rank",
            color="model",
            barmode="group",
            hover_data=["learners"],
            title=f"{title}: median rank (in no top-K)",
        )
        fig.update_yaxes(title="median rank (lower = closer to the top)", rangemode="tozero")
    else:
        fig = px.bar(
            frame,
            x="segment",
            y="share",
            color="model",
            barmode="group",
            title=title,
            hover_data=["shown", "learners", "median rank"],
        )
        fig.update_yaxes(title="share of the segment shown it", tickformat=".0%", rangemode="tozero")
    fig.update_xaxes(title=None)
    return tidy(fig)


def exposure_long_tail(curves: Mapping[str, pd.DataFrame]) -> go.Figure:
    """Catalogue exposure per model: share of top-K lists each course appears in, courses sorted by it."""
    fig = go.Figure()
    for label, frame in curves.items():
        fig.add_scatter(
            x=frame["position"],
            y=frame["share"],
            mode="lines",
            name=label,
            customdata=frame[["COURSE_ID", "TITLE"]].to_numpy(),
            hovertemplate="%{customdata[1]} (%{customdata[0]}): %{y:.1%}<extra>" + label + "</extra>",
        )
    fig.update_xaxes(title="courses, most exposed first")
    fig.update_yaxes(title="share of top-K lists", tickformat=".0%")
    fig.update_layout(title="Catalogue exposure: the long tail")
    return tidy(fig, 380)


def side_by_side_table(report: Mapping[str, Any], previous: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """One row per model: learners shown the course, exposure, median/best rank (and, given an earlier report of
    the same kind, the change since then). Cells are text as they should read: a model that cannot place the
    course shows a dash and says why in Note (never a literal "None")."""
    dash = "–"
    rows = []
    for key, m in report["models"].items():
        row = {"Model": m["label"]}
        if not m.get("placeable", True):
            row.update(
                {
                    "Shown in top-K": dash,
                    "Exposure": dash,
                    "Median rank": dash,
                    "Best rank": dash,
                    "Enrolments ranked with": dash,
                }
            )
        else:
            rank = m["rank"]
            row.update(
                {
                    "Shown in top-K": f"{int(m['shown']):,}",
                    "Exposure": f"{float(m['exposure']):.1%}",
                    "Median rank": dash if rank["median"] is None else f"{float(rank['median']):g}",
                    "Best rank": dash if rank["best"] is None else f"{int(rank['best']):,}",
                    "Enrolments ranked with": (
                        f"{round(m['ranked_with_enrolments']):,}"
                        if m.get("ranked_with_enrolments") is not None
                        else dash
                    ),
                }
            )
        row["Note"] = m.get("note") or ""
        if previous is not None:
            before = (previous or {}).get("models", {}).get(key)
            both = m.get("placeable", True) and before and before.get("placeable", True)
            row["Change in shown"] = f"{int(m['shown']) - int(before['shown']):+,}" if both else dash
        rows.append(row)
    return pd.DataFrame(rows)


def label_list(labels: Iterable[str]) -> str:
    labels = list(labels)
    return ", ".join(labels[:-1]) + f" and {labels[-1]}" if len(labels) > 1 else "".join(labels)


def fitted_models(dataset, keys: Iterable[str], what: str = "Preparing models") -> list | None:
    """Default-parameter models from the shared store (trained once, then reused), with a progress status.

    Returns None (after one st.error) when a model cannot be trained.
    """
    import streamlit as st

    from recsys.ui import catalogue, session

    keys = list(keys)
    models = []
    with st.status(f"{what} ...", expanded=False) as status:
        for key in keys:
            label = catalogue.model_label(key)
            bar = st.progress(0.0, text=label)
            try:
                model, source = session.model_store().fetch(
                    dataset,
                    key,
                    {},
                    progress=lambda f, msg, bar=bar, label=label: bar.progress(
                        float(min(max(f, 0.0), 1.0)), text=f"{label}: {msg}"
                    ),
                )
            except Exception as exc:
                status.update(label=f"Training {label} failed", state="error")
                session.show_error(f"Training {label}", exc, "Pick another model.")
                return None
            bar.progress(1.0, text=f"{label}: {'trained' if source == 'trained' else 'ready'}")
            models.append(model)
        status.update(label=f"{what}: {len(models)} model(s) ready", state="complete")
    return models
