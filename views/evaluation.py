"""Evaluation plots for reviewers: a finished run's product KPIs and per-model diagnostics, and the stored run
history (filterable by protocol)."""

import numpy as np
import streamlit as st

from recsys.evaluation.history import PROTOCOLS
from recsys.ui import charts, diagnostics, frame, navigation, plain, results, session


def render() -> None:
    st.title("Evaluation plots")
    dataset = session.require_dataset()

    runs = session.session_runs("compare")
    st.subheader("A run of this session")
    if not runs:
        st.info("Run a comparison first; its models' diagnostics appear here.", icon=":material/leaderboard:")
        st.page_link(navigation.COMPARE, label="Go to Compare", icon=":material/leaderboard:")
    else:
        c1, c2 = st.columns([2, 1])
        result = session.pick_run(runs, "ev_run", "Run", prefer="cmp_selected_run", container=c1)
        names = list(result.details)
        name = c2.selectbox("Model", names, format_func=lambda n: result.details[n].label, key="ev_model")
        d = result.details[name]
        model = d.model
        primary = f"ndcg@{result.k}"

        with session.guard("Drawing the product KPIs"):
            kpi_charts(result)

        with session.guard("Drawing the per-learner distribution"):
            st.plotly_chart(plain.figure(charts.per_learner_distribution(result.details, primary)), key="ev_ndcg")
            st.caption(
                f"Each test learner's {primary} on their held-out courses: 0 means none of them was in the top "
                f"{result.k}; with one held-out course a hit at rank r scores 1/log2(r+1)."
            )

        shown = 0
        if d.predictions is not None and d.errors is not None:
            shown += 1
            with session.guard("Drawing the rating plots"):
                left, right = st.columns(2)
                left.plotly_chart(
                    plain.figure(charts.predicted_vs_actual(d.predictions, seed=result.seed)), key="ev_pred"
                )
                right.plotly_chart(plain.figure(charts.error_histogram(d.errors)), key="ev_err")
                st.caption(
                    f"RMSE {d.metrics.get('rmse'):.4f}, MAE {d.metrics.get('mae'):.4f} over "
                    f"{len(d.errors):,} test ratings."
                )
        if d.learning_curve is not None and len(d.learning_curve):
            shown += 1
            with session.guard("Drawing the learning curve"):
                st.plotly_chart(plain.figure(charts.learning_curve(d.learning_curve)), key="ev_curve")
        shown += diagnostics.draw(model, result.seed)
        if not shown:
            st.caption(
                f"{d.label} has no model-specific plots (rating, learning-curve, cluster or similarity plots "
                "appear for models that have them)."
            )

    # ----- run history -------------------------------------------------------------------------------
    st.divider()
    st.subheader("Run history")
    with session.guard("Reading the run history", "The history file may be locked or damaged; try again."):
        history = session.run_history()
        f1, f4, f2, f3 = st.columns([1, 2, 1, 2])
        kind = f1.segmented_control("Kind", ["compare", "tune"], default="compare", key="ev_kind")
        protocol = f4.selectbox(
            "Protocol",
            ["any", *PROTOCOLS],
            key="ev_protocol",
            format_func=lambda p: "any protocol" if p == "any" else results.protocol_label(p),
        )
        only_here = f2.toggle("This dataset only", value=True, key="ev_only_dataset")
        text = f3.text_input("Model name contains", key="ev_text", placeholder="e.g. knn")
        runs_df = history.list_runs(limit=200, kind=kind or None, protocol=None if protocol == "any" else protocol)
        if only_here:
            runs_df = runs_df[runs_df["fingerprint"] == dataset.fingerprint]
        if text.strip():
            runs_df = runs_df[runs_df["models"].fillna("").str.contains(text.strip(), case=False, regex=False)]
        if runs_df.empty:
            st.caption("No stored runs match these filters.")
        else:
            plain.table(
                results.runs_frame(runs_df),
                hide_index=True,
                column_config={
                    "Run": st.column_config.NumberColumn(width="small"),
                    "Summary": st.column_config.TextColumn(width="large"),
                },
            )
            if (kind or "compare") == "compare":
                recent = runs_df["id"].tolist()[:50]
                metric_names = results.history_metric_names(history, recent)
                if metric_names:
                    default = next((m for m in metric_names if m.startswith("ndcg@")), metric_names[0])
                    metric = st.selectbox(
                        "Metric across runs", metric_names, index=metric_names.index(default), key="ev_hist_metric"
                    )
                    long = results.history_metrics(history, recent, metric)
                    if long.empty:
                        st.caption(f"No stored run has {metric}.")
                    else:
                        st.plotly_chart(plain.figure(charts.runs_metric_chart(long, metric)), key="ev_hist_chart")


def kpi_charts(result) -> None:
    """Product KPIs of every model in the run: small multiples, level mix vs target, exposure Lorenz curves."""
    table = result.kpi_table
    if table.empty or table.drop(columns=["name", "label"]).isna().all().all():
        return
    st.subheader("Product KPIs")
    st.plotly_chart(plain.figure(charts.kpi_small_multiples(table, result.k)), key="ev_kpis")
    left, right = st.columns(2)
    left.plotly_chart(
        plain.figure(charts.level_mix_bars(table, result.k, result.split["level_target"])), key="ev_levels"
    )
    n_items = result.dataset["counts"]["courses"]
    exposure = {d.label: np.bincount(d.top[d.top >= 0], minlength=n_items) for d in result.details.values()}
    right.plotly_chart(plain.figure(charts.exposure_lorenz(exposure)), key="ev_lorenz")
    st.caption(
        "Niche = outside the head courses holding the top "
        f"{result.split['head_share']:.0%} of enrolments (target >= 25%); about 6 distinct genres per list "
        "is the product target; the level mix is compared with the target set on Compare. Lorenz curve: the further "
        "a model's curve lies from the diagonal, the more its lists concentrate on a few courses (higher Gini)."
    )


frame.page("Evaluation plots", render)
