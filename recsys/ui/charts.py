"""Plotly figures for the pages (dataset exploration, leaderboards, evaluation plots). Pure functions."""
from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

RATING_NAMES = {2.0: "audited (2)", 3.0: "completed (3)"}
_STOP = set("""a an and the of for to in on with from by at as is are be your you our into using use
introduction intro part course courses fundamentals basics i ii iii 101 beginners beginner advanced
intermediate its it how what why getting started first steps hands on""".split())


def _tidy(fig: go.Figure, height: int = 360) -> go.Figure:
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10))
    return fig


def rating_split(dataset) -> go.Figure:
    counts = dataset.ratings["rating"].value_counts().sort_index()
    frame = pd.DataFrame({"rating": [RATING_NAMES.get(float(k), f"{float(k):g}") for k in counts.index],
                          "ratings": counts.to_numpy()})
    fig = px.bar(frame, x="rating", y="ratings", text="ratings", title="Ratings by value")
    fig.update_traces(texttemplate="%{text:,}", textposition="outside", cliponaxis=False)
    fig.update_xaxes(type="category", title=None)
    return _tidy(fig, 320)


def courses_per_genre(dataset) -> go.Figure:
    counts = dataset.courses[dataset.genres].sum().sort_values(ascending=True) if dataset.genres else pd.Series(dtype=int)
    fig = px.bar(x=counts.to_numpy(), y=counts.index, orientation="h", title="Courses per genre",
                 labels={"x": "courses", "y": ""})
    return _tidy(fig, 420)


def enrolments_per_learner(dataset) -> go.Figure:
    per_user = np.diff(dataset.matrix.indptr)
    counts = pd.Series(per_user).value_counts().sort_index()
    fig = px.bar(x=counts.index, y=counts.to_numpy(), log_y=True, title="Learners by number of courses taken (log scale)",
                 labels={"x": "courses taken", "y": "learners"})
    return _tidy(fig)


def top_courses(dataset, n: int = 20) -> go.Figure:
    enrol = np.bincount(dataset.matrix.indices, minlength=dataset.n_items)
    top = np.argsort(-enrol, kind="stable")[:n][::-1]
    titles = dataset.courses["TITLE"].astype(str).to_numpy()[top] if "TITLE" in dataset.courses else dataset.item_ids[top]
    labels = [t if len(t) <= 48 else t[:45] + "..." for t in titles]
    fig = px.bar(x=enrol[top], y=labels, orientation="h", title=f"Top {len(top)} courses by enrolments",
                 labels={"x": "learners enrolled", "y": ""},
                 hover_name=[str(i) for i in dataset.item_ids[top]])
    return _tidy(fig, max(360, 24 * len(top) + 80))


def genre_cooccurrence(dataset) -> go.Figure:
    g = dataset.genre_matrix
    co = (g.T @ g).astype(int)
    fig = px.imshow(co, x=dataset.genres, y=dataset.genres, text_auto=True, color_continuous_scale="Blues",
                    title="Courses sharing two genres (diagonal: courses in the genre)", aspect="auto")
    return _tidy(fig, 520)


def title_words(dataset, n: int = 25) -> go.Figure:
    titles = dataset.courses["TITLE"].astype(str) if "TITLE" in dataset.courses else pd.Series([], dtype=str)
    words = Counter(w for t in titles for w in re.findall(r"[a-z][a-z+#.]*[a-z+#]|[a-z]", t.lower())
                    if w not in _STOP and len(w) > 1)
    common = words.most_common(n)[::-1]
    fig = px.bar(x=[c for _, c in common], y=[w for w, _ in common], orientation="h",
                 title=f"Most frequent title words (top {len(common)})", labels={"x": "titles", "y": ""})
    return _tidy(fig, max(360, 20 * len(common) + 80))


# ----- comparison / evaluation -----------------------------------------------------------------
def metric_bars(frame: pd.DataFrame, metric: str, low: str | None = None, high: str | None = None,
                label: str = "model") -> go.Figure:
    """Bar per row of `frame` for `metric`, with asymmetric error bars from interval columns if given."""
    kwargs = {}
    if low in frame and high in frame:
        kwargs = dict(error_y=(frame[high] - frame[metric]).clip(lower=0),
                      error_y_minus=(frame[metric] - frame[low]).clip(lower=0))
    fig = px.bar(frame, x=label, y=metric, title=metric, text=frame[metric].map(lambda v: f"{v:.3f}"), **kwargs)
    fig.update_traces(textposition="inside")
    fig.update_xaxes(title=None)
    return _tidy(fig, 320)


def overlap_heatmap(matrix: pd.DataFrame, title: str = "Overlap of top-N lists (Jaccard)") -> go.Figure:
    fig = px.imshow(matrix.to_numpy(), x=list(matrix.columns), y=list(matrix.index), zmin=0, zmax=1,
                    text_auto=".2f", color_continuous_scale="Blues", title=title, aspect="auto")
    return _tidy(fig, 80 + 48 * max(3, len(matrix)))


def jaccard_matrix(lists: dict[str, list[str]]) -> pd.DataFrame:
    """Pairwise Jaccard overlap of recommendation lists (1 on the diagonal, 0 for two empty lists)."""
    names = list(lists)
    sets = [set(lists[n]) for n in names]
    m = np.zeros((len(names), len(names)))
    for i, a in enumerate(sets):
        for j, b in enumerate(sets):
            union = len(a | b)
            m[i, j] = len(a & b) / union if union else (1.0 if i == j else 0.0)
    return pd.DataFrame(m, index=names, columns=names)
