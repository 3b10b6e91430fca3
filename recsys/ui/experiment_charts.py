"""Plotly figures for the Experiments and Feedback log pages (pure functions of result tables)."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from recsys.ui.charts import tidy


def sequential(seq: pd.DataFrame, arm: str, alpha: float) -> go.Figure:
    """CTR difference vs control over learners: fixed-horizon 95% band and the wider always-valid mSPRT band."""
    s = seq[seq["arm"] == arm]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=s["learners"], y=s["av_hi"], line=dict(width=0), showlegend=False, hoverinfo="skip"))
    fig.add_trace(
        go.Scatter(
            x=s["learners"],
            y=s["av_lo"],
            fill="tonexty",
            line=dict(width=0),
            fillcolor="rgba(99,110,250,0.15)",
            name="always-valid interval (mSPRT)",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=s["learners"],
            y=s["hi"],
            line=dict(width=1, dash="dot", color="#EF553B"),
            name="fixed-horizon 95% (valid only at the end)",
        )
    )
    fig.add_trace(
        go.Scatter(x=s["learners"], y=s["lo"], line=dict(width=1, dash="dot", color="#EF553B"), showlegend=False)
    )
    fig.add_trace(
        go.Scatter(
            x=s["learners"], y=s["diff"], mode="lines+markers", name="CTR difference", line=dict(color="#636EFA")
        )
    )
    fig.add_hline(y=0, line_color="gray")
    stop = s[s["av_p_value"] < alpha]
    if len(stop):
        fig.add_vline(
            x=float(stop["learners"].iloc[0]), line_dash="dash", line_color="green", annotation_text="mSPRT stops here"
        )
    fig.update_layout(
        title=f"{arm} minus control: CTR difference as learners arrive",
        xaxis_title="learners so far",
        yaxis_title="CTR difference",
        legend=dict(orientation="h", yanchor="top", y=-0.25),  # below the x-axis title, not over it
    )
    tidy(fig, 440)
    fig.update_layout(margin=dict(b=20))
    return fig


def allocation(table: pd.DataFrame) -> go.Figure:
    fig = px.area(table, x="learners", y="share", color="arm", title="Thompson sampling: share of each batch per arm")
    fig.update_layout(yaxis_tickformat=".0%", xaxis_title="learners so far", yaxis_title="share of the batch")
    return tidy(fig, 340)


def regret(table: pd.DataFrame) -> go.Figure:
    long = table.melt("learners", ["thompson", "equal_split"], var_name="policy", value_name="regret")
    long["policy"] = long["policy"].map({"thompson": "Thompson sampling", "equal_split": "fixed equal split"})
    fig = px.line(
        long,
        x="learners",
        y="regret",
        color="policy",
        title="Cumulative regret vs the best arm in hindsight (enrolments lost)",
    )
    fig.update_layout(xaxis_title="learners so far", yaxis_title="cumulative regret")
    return tidy(fig, 340)


def feedback_over_time(table: pd.DataFrame) -> go.Figure:
    long = table.melt(["period", "model_key"], ["up", "down"], var_name="vote", value_name="votes")
    fig = px.bar(
        long,
        x="period",
        y="votes",
        color="vote",
        facet_row=None,
        pattern_shape="model_key",
        color_discrete_map={"up": "#00CC96", "down": "#EF553B"},
        title="Thumbs over time",
    )
    return tidy(fig, 340)
