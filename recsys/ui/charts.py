"""Plotly figures for the pages (dataset exploration, leaderboards, evaluation plots). Pure functions."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

RATING_NAMES = {2.0: "audited (2)", 3.0: "completed (3)"}
_STOP = set(
    """a an and the of for to in on with from by at as is are be your you our into using use
introduction intro part course courses fundamentals basics i ii iii 101 beginners beginner advanced
intermediate its it how what why getting started first steps hands on""".split()
)


def tidy(fig: go.Figure, height: int = 360) -> go.Figure:
    """The shared figure frame of every page: fixed height, tight margins."""
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10))
    return fig


def rating_split(dataset) -> go.Figure:
    counts = dataset.ratings["rating"].value_counts().sort_index()
    frame = pd.DataFrame(
        {"rating": [RATING_NAMES.get(float(k), f"{float(k):g}") for k in counts.index], "ratings": counts.to_numpy()}
    )
    fig = px.bar(frame, x="rating", y="ratings", text="ratings", title="Ratings by value")
    fig.update_traces(texttemplate="%{text:,}", textposition="outside", cliponaxis=False)
    fig.update_xaxes(type="category", title=None)
    return tidy(fig, 320)


def courses_per_genre(dataset) -> go.Figure:
    counts = (
        dataset.courses[dataset.genres].sum().sort_values(ascending=True) if dataset.genres else pd.Series(dtype=int)
    )
    fig = px.bar(
        x=counts.to_numpy(),
        y=counts.index,
        orientation="h",
        title="Courses per genre",
        labels={"x": "courses", "y": ""},
    )
    return tidy(fig, 420)


def enrolments_per_learner(dataset) -> go.Figure:
    per_user = np.diff(dataset.matrix.indptr)
    counts = pd.Series(per_user).value_counts().sort_index()
    fig = px.bar(
        x=counts.index,
        y=counts.to_numpy(),
        log_y=True,
        title="Learners by number of courses taken (log scale)",
        labels={"x": "courses taken", "y": "learners"},
    )
    return tidy(fig)


def top_courses(dataset, n: int = 20) -> go.Figure:
    enrol = np.bincount(dataset.matrix.indices, minlength=dataset.n_items)
    top = np.argsort(-enrol, kind="stable")[:n][::-1]
    titles = (
        dataset.courses["TITLE"].astype(str).to_numpy()[top] if "TITLE" in dataset.courses else dataset.item_ids[top]
    )
    labels = [t if len(t) <= 48 else t[:45] + "..." for t in titles]
    fig = px.bar(
        x=enrol[top],
        y=labels,
        orientation="h",
        title=f"Top {len(top)} courses by enrolments",
        labels={"x": "learners enrolled", "y": ""},
        hover_name=[str(i) for i in dataset.item_ids[top]],
    )
    return tidy(fig, max(360, 24 * len(top) + 80))


def genre_cooccurrence(dataset) -> go.Figure:
    g = dataset.genre_matrix
    co = (g.T @ g).astype(int)
    fig = px.imshow(
        co,
        x=dataset.genres,
        y=dataset.genres,
        text_auto=True,
        color_continuous_scale="Blues",
        title="Courses sharing two genres (diagonal: courses in the genre)",
        aspect="auto",
    )
    return tidy(fig, 520)


def title_words(dataset, n: int = 25) -> go.Figure:
    titles = dataset.courses["TITLE"].astype(str) if "TITLE" in dataset.courses else pd.Series([], dtype=str)
    words = Counter(
        w
        for t in titles
        for w in re.findall(r"[a-z][a-z+#.]*[a-z+#]|[a-z]", t.lower())
        if w not in _STOP and len(w) > 1
    )
    common = words.most_common(n)[::-1]
    fig = px.bar(
        x=[c for _, c in common],
        y=[w for w, _ in common],
        orientation="h",
        title=f"Most frequent title words (top {len(common)})",
        labels={"x": "titles", "y": ""},
    )
    return tidy(fig, max(360, 20 * len(common) + 80))


# ----- comparison / evaluation -----------------------------------------------------------------
def metric_bars(
    frame: pd.DataFrame, metric: str, low: str | None = None, high: str | None = None, label: str = "model"
) -> go.Figure:
    """Bar per row of `frame` for `metric`, with asymmetric error bars from interval columns if given."""
    kwargs = {}
    if low in frame and high in frame:
        kwargs = dict(
            error_y=(frame[high] - frame[metric]).clip(lower=0),
            error_y_minus=(frame[metric] - frame[low]).clip(lower=0),
        )
    fig = px.bar(
        frame,
        x=label,
        y=metric,
        title=f"{metric} (95% interval)" if kwargs else metric,
        text=frame[metric].map(lambda v: f"{v:.3f}"),
        **kwargs,
    )
    fig.update_traces(textposition="inside", insidetextanchor="middle")
    fig.update_xaxes(title=None)
    return tidy(fig, 320)


def overlap_heatmap(matrix: pd.DataFrame, title: str = "Overlap of top-N lists (Jaccard)") -> go.Figure:
    """Jaccard overlap of every pair of lists; cells large enough to read their numbers (one decimal place
    beyond a few models)."""
    n = len(matrix)
    fig = px.imshow(
        matrix.to_numpy(),
        x=list(matrix.columns),
        y=list(matrix.index),
        zmin=0,
        zmax=1,
        text_auto=".2f" if n <= 6 else ".1f",
        color_continuous_scale="Blues",
        title=title,
        aspect="auto",
    )
    fig.update_traces(textfont_size=13 if n <= 6 else 12)
    fig.update_xaxes(tickangle=-45)
    return tidy(fig, 160 + 38 * max(3, n))


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


def timing_bars(table: pd.DataFrame) -> go.Figure:
    """Fit seconds and recommend milliseconds per learner: two stacked horizontal bar panels.

    The gap between the panels is fixed in pixels (a share of the height grew into a blank band with many
    models) and the numbers sit level beside their bars (inside a thin bar plotly turned them 90 degrees)."""
    from plotly.subplots import make_subplots

    n = max(3, len(table))
    panel, gap, frame = 24 * n, 60, 90
    height = 2 * panel + gap + frame
    fig = make_subplots(
        rows=2,
        cols=1,
        vertical_spacing=gap / (height - frame),
        subplot_titles=("Fit time (s)", "Recommend time (ms per learner)"),
    )
    for row, col in ((1, "fit_seconds"), (2, "recommend_ms")):
        values = pd.to_numeric(table[col], errors="coerce")
        fig.add_bar(
            y=table["label"],
            x=values,
            orientation="h",
            row=row,
            col=1,
            showlegend=False,
            text=values.map(lambda v: f"{v:.2g}" if v == v else "n/a"),
            textposition="outside",
            textangle=0,
            cliponaxis=False,
        )
        top = float(values.max()) if values.notna().any() else 1.0
        fig.update_xaxes(range=[0, 1.15 * top if top > 0 else 1.0], row=row, col=1)
    fig.update_yaxes(autorange="reversed")
    return tidy(fig, height)


def tune_curve(table: pd.DataFrame, param: str, best: dict, metric: str) -> go.Figure:
    """Mean +- std of `metric` across folds vs one parameter, the other parameters held at their best values (a grid);
    for a TPE or random search, where no two trials share the other values, every completed trial."""
    complete = table[table["state"] == "complete"] if "state" in table else table
    rows = complete
    for other, value in best.items():
        if other != param and other in rows:
            rows = rows[rows[other].astype(str) == str(value)]
    held = len(rows) >= 2 and len(best) > 1
    rows = (rows if held or len(best) <= 1 else complete).copy()
    numeric = pd.api.types.is_numeric_dtype(rows[param]) and not pd.api.types.is_bool_dtype(rows[param])
    if numeric:
        rows = rows.sort_values(param)
        fig = px.line(rows, x=param, y="mean", error_y="std", markers=True)
    else:
        rows[param] = rows[param].astype(str)
        fig = px.bar(rows, x=param, y="mean", error_y="std")
    fig.add_hline(
        y=float(rows["mean"].max() if metric.split("@")[0] not in ("rmse", "mae") else rows["mean"].min()),
        line_dash="dot",
        line_color="gray",
    )
    fig.update_layout(title=f"{metric} vs {param}" + (" (others at their best)" if held else ""))
    fig.update_yaxes(title=f"{metric} (mean ± std over folds)")
    return tidy(fig, 340)


# ----- evaluation plots --------------------------------------------------------------------------
def per_learner_distribution(details: dict, metric: str) -> go.Figure:
    """Share of test learners per value band of a per-learner metric, one bar colour per model.

    A histogram rather than a box plot: with one or two held-out courses per learner the values are a few
    discrete levels (0 = miss), which boxes hide.
    """
    frames = [
        pd.DataFrame({"model": d.label, metric: d.per_learner[metric].to_numpy()})
        for d in details.values()
        if metric in d.per_learner
    ]
    data = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({"model": [], metric: []})
    data = data.dropna()
    fig = px.histogram(
        data,
        x=metric,
        color="model",
        barmode="group",
        histnorm="percent",
        title=f"Distribution of per-learner {metric}",
    )
    fig.update_traces(xbins=dict(start=-0.05, end=1.05, size=0.1))
    fig.update_yaxes(title="% of test learners")
    fig.update_layout(legend=dict(orientation="h", y=-0.25, title=None))
    return tidy(fig, 400)


def predicted_vs_actual(predictions: pd.DataFrame, max_points: int = 20_000, seed: int = 0) -> go.Figure:
    """Predicted ratings for each actual rating value (box per value; x labels give how many ratings)."""
    data = predictions
    counts = data["actual"].value_counts()
    if len(data) > max_points:  # sample within each actual value, so rare values keep enough points
        rng = np.random.default_rng(seed)
        keep = [
            rng.choice(idx, min(len(idx), max(200, max_points * len(idx) // len(data))), replace=False)
            for idx in data.groupby("actual").indices.values()
        ]
        data = data.iloc[np.sort(np.concatenate(keep))]
    names = {v: f"{v:g} (n={counts[v]:,})" for v in counts.index}
    data = data.assign(actual=data["actual"].map(names))
    order = [names[v] for v in sorted(counts.index)]
    fig = px.box(
        data,
        x="actual",
        y="predicted",
        points="outliers",
        category_orders={"actual": order},
        title="Predicted rating by actual rating",
    )
    fig.update_xaxes(title="actual rating (test ratings)")
    fig.update_yaxes(title="predicted rating")
    return tidy(fig, 380)


def error_histogram(errors: np.ndarray) -> go.Figure:
    fig = px.histogram(
        x=np.asarray(errors, dtype=float),
        nbins=60,
        log_y=True,
        title="Prediction error (predicted - actual), log scale",
        labels={"x": "error"},
    )
    fig.update_yaxes(title="test ratings")
    return tidy(fig, 380)


def learning_curve(curve: pd.DataFrame) -> go.Figure:
    value_cols = [c for c in curve.columns if c != "epoch"]
    long = curve.melt(id_vars="epoch", value_vars=value_cols, var_name="series", value_name="value").dropna()
    fig = px.line(long, x="epoch", y="value", color="series", markers=True, title="Learning curve")
    return tidy(fig, 360)


def cluster_sizes(sizes) -> go.Figure:
    sizes = np.asarray(sizes)
    fig = px.bar(
        x=[str(i) for i in range(len(sizes))],
        y=sizes,
        title=f"Learners per cluster ({len(sizes)} clusters)",
        labels={"x": "cluster", "y": "learners"},
    )
    fig.update_xaxes(type="category")
    return tidy(fig, 340)


def learner_scatter(features: np.ndarray, labels: np.ndarray, seed: int = 0) -> go.Figure:
    """Learners projected on the first two principal components of their feature vectors, coloured by cluster."""
    from sklearn.decomposition import PCA

    features = np.asarray(features, dtype=float)
    n_comp = min(2, features.shape[1], len(features))
    pca = PCA(n_components=n_comp, random_state=seed).fit(features)
    points = pca.transform(features)
    if points.shape[1] < 2:
        points = np.column_stack([points, np.zeros(len(points))])
    ratio = list(pca.explained_variance_ratio_) + [0.0]
    frame = pd.DataFrame({"PC1": points[:, 0], "PC2": points[:, 1], "cluster": [str(c) for c in labels]})
    order = sorted(frame["cluster"].unique(), key=lambda c: int(c) if c.isdigit() else c)
    fig = px.scatter(
        frame,
        x="PC1",
        y="PC2",
        color="cluster",
        opacity=0.6,
        category_orders={"cluster": order},
        title=f"Learners by cluster: 2-D PCA of their profiles ({len(frame):,} learners)",
    )
    fig.update_traces(marker=dict(size=4))
    fig.update_xaxes(title=f"PC1 ({ratio[0]:.0%} of variance)")
    fig.update_yaxes(title=f"PC2 ({ratio[1]:.0%} of variance)")
    return tidy(fig, 460)


def variance_ratio(ratio) -> go.Figure:
    ratio = np.asarray(ratio, dtype=float)
    frame = pd.DataFrame(
        {"component": [f"PC{i + 1}" for i in range(len(ratio))], "share": ratio, "cumulative": np.cumsum(ratio)}
    )
    fig = px.bar(frame, x="component", y="share", title="Explained variance per principal component")
    fig.add_scatter(x=frame["component"], y=frame["cumulative"], mode="lines+markers", name="cumulative")
    fig.update_yaxes(tickformat=".0%")
    return tidy(fig, 340)


def similarity_heatmap(similarity: np.ndarray, labels: list[str], title: str) -> go.Figure:
    short = [t if len(t) <= 34 else t[:31] + "..." for t in labels]
    fig = px.imshow(
        np.asarray(similarity, dtype=float),
        x=short,
        y=short,
        color_continuous_scale="Blues",
        zmin=0,
        zmax=1,
        aspect="auto",
        title=title,
    )
    return tidy(fig, 640)


def runs_metric_chart(frame: pd.DataFrame, metric: str) -> go.Figure:
    """Metric per run (x: run id) and model (colour) from the run history."""
    frame = frame.sort_values("run")
    fig = px.line(
        frame,
        x="run",
        y="value",
        color="model",
        markers=True,
        hover_data=["created_at", "split", "params"],
        title=f"{metric} across runs",
    )
    fig.update_xaxes(type="category", title="run id")
    fig.update_yaxes(title=metric)
    # the legend below the plot, in rows: a side legend of 16 models scrolled
    n_models = frame["model"].nunique()
    fig.update_layout(legend=dict(orientation="h", y=-0.2, yanchor="top", title=None))
    return tidy(fig, 380 + 22 * ((n_models + 2) // 3))


# ----- segments and product KPIs (issue 13) -------------------------------------------------------
def segment_small_multiples(segment_table: pd.DataFrame, metric: str) -> go.Figure:
    """One small panel per segment (learner activity, then held-out course popularity), a bar per model."""
    data = segment_table.copy()
    data["panel"] = [f"{k}: {s} (n={n:,})" for k, s, n in zip(data["kind"], data["segment"], data["n_learners"])]
    order = list(dict.fromkeys(data["panel"]))
    fig = px.bar(
        data,
        x="label",
        y=metric,
        color="label",
        facet_col="panel",
        facet_col_wrap=3,
        category_orders={"panel": order},
        title=f"{metric} by segment",
        labels={"label": "model", "panel": ""},
    )
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=", 1)[-1]))
    fig.update_xaxes(showticklabels=False, title=None)
    fig.update_layout(legend=dict(orientation="h", y=-0.12, title=None))
    return tidy(fig, 200 * ((len(order) + 2) // 3) + 140)


def kpi_small_multiples(kpi_table: pd.DataFrame, k: int, targets: dict | None = None) -> go.Figure:
    """One panel per product KPI (level shares aside), a bar per model; dotted lines mark product targets."""
    from plotly.subplots import make_subplots

    names = [
        c for c in kpi_table.columns[2:] if not c.startswith(("level_beginner", "level_intermediate", "level_advanced"))
    ]
    targets = (
        targets
        if targets is not None
        else {f"niche_share@{k}": 0.25, f"distinct_genres@{k}": 6.0, f"level_distance@{k}": 0.0}
    )
    cols = 3
    fig = make_subplots(
        rows=(len(names) + cols - 1) // cols,
        cols=cols,
        subplot_titles=names,
        vertical_spacing=0.18,
        horizontal_spacing=0.06,
    )
    palette = px.colors.qualitative.Plotly
    for i, name in enumerate(names):
        row, col = i // cols + 1, i % cols + 1
        for j, (label, value) in enumerate(zip(kpi_table["label"], kpi_table[name])):
            fig.add_bar(
                x=[label],
                y=[value],
                name=label,
                marker_color=palette[j % len(palette)],
                showlegend=i == 0,
                legendgroup=label,
                row=row,
                col=col,
            )
        if name in targets:
            fig.add_hline(y=targets[name], line_dash="dot", line_color="gray", row=row, col=col)
    fig.update_xaxes(showticklabels=False)
    rows = (len(names) + cols - 1) // cols
    height = 230 * rows + 120 + 22 * ((len(kpi_table) + 3) // 4)
    fig.update_layout(
        title="Product KPIs of the top-K lists (dotted: product target)",
        legend=dict(orientation="h", yanchor="top", y=-0.04, title=None),
    )
    tidy(fig, height)
    fig.update_layout(margin=dict(t=90))  # room between the figure title and the first row's panel titles
    return fig


def level_mix_bars(kpi_table: pd.DataFrame, k: int, target: dict[str, float]) -> go.Figure:
    """Stacked share of Beginner / Intermediate / Advanced slots per model, next to the target mix."""
    rows = [{"model": "target", "level": lv, "share": share} for lv, share in target.items()]
    for label, (_, r) in zip(kpi_table["label"], kpi_table.iterrows()):
        rows += [{"model": label, "level": lv, "share": r.get(f"level_{lv.lower()}@{k}", np.nan)} for lv in target]
    fig = px.bar(
        pd.DataFrame(rows),
        y="model",
        x="share",
        color="level",
        orientation="h",
        title="Level mix of the recommended courses vs the target",
        category_orders={"level": list(target)},
    )
    fig.update_xaxes(tickformat=".0%", range=[0, 1])
    fig.update_yaxes(autorange="reversed", title=None)
    return tidy(fig, 120 + 32 * (len(kpi_table) + 1))


def exposure_lorenz(exposure: dict[str, np.ndarray]) -> go.Figure:
    """Lorenz curve of exposure per model: share of list slots taken by the least-shown share of courses."""
    fig = go.Figure()
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", name="equal exposure", line=dict(dash="dot", color="gray"))
    for label, counts in exposure.items():
        x = np.sort(np.asarray(counts, dtype=float))
        if x.sum() <= 0:
            continue
        fig.add_scatter(
            x=np.linspace(0, 1, len(x) + 1), y=np.concatenate(([0.0], np.cumsum(x) / x.sum())), mode="lines", name=label
        )
    fig.update_layout(
        title="Exposure over courses (Lorenz curve)",
        legend=dict(orientation="h", yanchor="top", y=-0.22, title=None),
    )
    fig.update_xaxes(title="share of courses (least shown first)", tickformat=".0%")
    fig.update_yaxes(title="share of list slots", tickformat=".0%")
    return tidy(fig, 420 + 22 * ((len(exposure) + 1) // 2))


def new_course_reach(table: pd.DataFrame) -> go.Figure:
    """Per new course (most taken first), the share of its takers who got it in their top-K, a bar per model."""
    data = table.copy()
    order = data.drop_duplicates("course").sort_values("takers", ascending=False, kind="stable")
    data["course_label"] = [f"{c} ({t:,})" for c, t in zip(data["course"], data["takers"])]
    fig = px.bar(
        data,
        x="course_label",
        y="reached_share",
        color="label",
        barmode="group",
        category_orders={"course_label": [f"{c} ({t:,})" for c, t in zip(order["course"], order["takers"])]},
        title="New courses: share of their takers who got them in the top-K",
        labels={"course_label": "new course (takers)", "reached_share": "takers reached", "label": "model"},
        hover_data={"title": True, "takers": True, "reached": True},
    )
    fig.update_yaxes(tickformat=".0%", range=[0, 1])
    fig.update_layout(legend=dict(orientation="h", y=-0.45, title=None))
    return tidy(fig, 460)
