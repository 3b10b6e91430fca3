"""Compare: several models on one split -- leaderboard with intervals and "tied with best", product KPIs,
segments, timings, paired test, one learner's lists."""

import streamlit as st

from recsys.models import MODEL_KEYS
from recsys.ui import catalogue, charts, evaluation_report, frame, long_task, plain, results, session, widgets


def render() -> None:
    st.title("Compare models")
    dataset = session.require_dataset()
    ss = st.session_state
    models = widgets.runnable_models(list(MODEL_KEYS))  # "Select all" = every model that can run here

    # ----- set-up ------------------------------------------------------------------------------------
    default = [m for m in ("popularity", "user_profile") if m in models] or models[:2]
    if "cmp_models" in ss:
        ss["cmp_models"] = [m for m in ss["cmp_models"] if m in models]
    chosen = st.multiselect(
        "Models",
        models,
        format_func=catalogue.model_label,
        key="cmp_models",
        persist_state="session",
        **({} if "cmp_models" in ss else {"default": default}),
    )
    params = {}
    if chosen:
        with st.expander("Model parameters (defaults unless changed)", icon=":material/tune:"):
            tabs = st.tabs([catalogue.model_label(m) for m in chosen])
            for tab, key in zip(tabs, chosen):
                with tab:
                    params[key] = widgets.hyperparam_inputs(key, "cmp", columns=3)

    c1, c4, c5 = st.columns([3, 1, 1])
    c2, c3, c6 = st.columns([1, 1, 2])
    split, split_params = evaluation_report.split_inputs(c1, (c2, c3))
    k = c4.number_input("K", 1, 50, 10, key="cmp_k", persist_state="session", help="Length of the top-K lists")
    seed = c5.number_input("Seed", 0, 2**31 - 1, 0, key="cmp_seed", persist_state="session")
    resamples = c6.select_slider(
        "Bootstrap resamples for the intervals",
        [0, 200, 500, 1000, 2000],
        value=1000,
        key="cmp_resamples",
        persist_state="session",
        help="0 = no intervals (fastest); intervals are 95% percentile bootstrap over learners",
    )
    options = evaluation_report.report_options()
    budget = evaluation_report.tuning_inputs()

    if st.button("Run comparison", type="primary", icon=":material/play_arrow:", disabled=not chosen, key="cmp_run"):
        from recsys.evaluation import Experiment

        long_task.run_recorded(
            f"Comparing {len(chosen)} model(s) ...",
            lambda progress: Experiment(
                dataset,
                split,
                [(m, widgets.changed_params(m, params.get(m, {}))) for m in chosen],
                k=int(k),
                seed=int(seed),
                split_params=split_params,
                n_resamples=int(resamples),
                tune=budget,
                **options,
            ).run(progress=progress),
            kind="compare",
            title=lambda result: f"{', '.join(d.label for d in result.details.values())} ({split}, K={k}, seed {seed})",
            select="cmp_selected_run",
            what="The comparison",
            line_of=evaluation_report.tuning_line if budget is not None else None,
        )

    # ----- results -----------------------------------------------------------------------------------
    runs = session.session_runs("compare")
    if not runs:
        st.info("Choose models and press **Run comparison**.", icon=":material/leaderboard:")
    else:
        st.divider()
        result = session.pick_run(runs, "cmp_selected_run", "Run")
        info = result.split
        split_text = results.split_words(info["name"], {k: v for k, v in info["params"].items() if k != "seed"})
        st.caption(
            f"Split: {split_text}; K = {result.k}, seed {result.seed}: "
            f"{info['evaluated_learners']:,} test learners, {info['test_ratings']:,} held-out ratings"
            + (
                f"; {info['skipped_test_learners']:,} test learners without training history skipped"
                if info.get("skipped_test_learners")
                else ""
            )
            + "."
        )
        results.failed_models_note(result)

        if info.get("tuning"):
            evaluation_report.tuning_caption(result)
        table = result.table
        metrics = result.metric_names
        primary = f"ndcg@{result.k}"
        st.subheader("Leaderboard")
        tied = results.tied_labels(result.vs_best(), primary)
        board = results.leaderboard_frame(table, metrics, primary, tied)
        # The main metrics fit a 1400 px window; every metric, timing and parameter is one click away.
        main = [
            c
            for c in ["Model", "Tied with best", primary, f"precision@{result.k}", f"recall@{result.k}", "Fit (s)"]
            if c in board
        ]
        model_width = int(min(360, max(150, 7.5 * board["Model"].astype(str).str.len().max() + 30)))
        with st.container(key="cmp_leaderboard"):  # a stable test id for the leaderboard (browser test waits on it)
            plain.table(
                board[main], hide_index=True, column_config={"Model": st.column_config.TextColumn(width=model_width)}
            )
        with st.expander("All metrics, timings and parameters", icon=":material/table_view:"):
            plain.table(
                board,
                hide_index=True,
                key="cmp_leaderboard_all",
                column_config={
                    "Model": st.column_config.TextColumn(width=model_width),
                    "Parameters": st.column_config.TextColumn(width="medium"),
                },
            )
        st.caption(
            "Metrics are means over test learners with 95% bootstrap intervals; RMSE/MAE only for models that "
            "predict ratings on known learners (n/a otherwise). Tied with best: " + primary + " not "
            "significantly below the best model (Wilcoxon, Holm-adjusted p >= 0.05). Fit time on the training "
            "split; recommend time per learner."
        )
        st.subheader("Product KPIs")
        evaluation_report.kpis(result)
        evaluation_report.new_courses(result)

        available = [m for m in metrics if table[m].notna().any()]
        shown = st.columns([1, 2])[0].selectbox(
            "Metric", available, key="cmp_chart_metric", index=available.index(primary) if primary in available else 0
        )
        # One under the other at full width: side by side, the taller timing panels left a blank gap under the
        # metric chart and their subplot titles were cut in the narrow column.
        st.plotly_chart(
            plain.figure(charts.metric_bars(table, shown, f"{shown}_lo", f"{shown}_hi", label="label")), key="cmp_bars"
        )
        st.plotly_chart(plain.figure(charts.timing_bars(table)), key="cmp_times")

        per_learner_metrics = [m for m in result.per_learner_metrics if table[m].notna().any()]
        st.subheader("Each model against the best")
        versus = st.columns([1, 2])[0].selectbox(
            "Metric", per_learner_metrics, key="cmp_best_metric", index=per_learner_metrics.index(primary)
        )
        evaluation_report.corrected_comparison(result, versus)

        st.subheader("By segment")
        seg_metric = st.columns([1, 2])[0].selectbox(
            "Metric", per_learner_metrics, key="cmp_segment_metric", index=per_learner_metrics.index(primary)
        )
        evaluation_report.segments(result, seg_metric)

        st.subheader("Paired test")
        names = list(result.details)
        if len(names) < 2:
            st.caption("Run at least two models to compare them pairwise.")
        else:
            labels = {n: result.details[n].label for n in names}
            p1, p2, p3 = st.columns(3)
            a = p1.selectbox("Model A", names, index=0, format_func=labels.get, key="cmp_pair_a")
            b = p2.selectbox("Model B", names, index=1, format_func=labels.get, key="cmp_pair_b")
            per_learner = [m for m in metrics if m in result.details[a].per_learner]
            metric = p3.selectbox(
                "Per-learner metric",
                per_learner,
                key="cmp_pair_metric",
                index=per_learner.index(primary) if primary in per_learner else 0,
            )
            if a == b:
                st.caption("Pick two different models.")
            else:
                with session.guard("The paired test"):
                    test = result.paired_test(a, b, metric)
                    st.markdown(results.paired_summary(test, a, b, labels[a], labels[b], metric))

        st.subheader("One learner, every model")
        with session.guard("Building the side-by-side lists", "Pick another learner."):
            with st.columns([2, 1])[0]:
                history, who = widgets.learner_picker(dataset, "cmp_learner")
            if history:
                titles = dict(zip(dataset.item_ids.astype(str), dataset.courses["TITLE"].astype(str)))
                fitted = {d.label: d.model for d in result.details.values()}
                side, lists = results.top_lists(fitted, history, result.k, titles)
                st.caption(
                    f"Top {result.k} for {plain.md(who)} (courses: {'; '.join(plain.md(titles.get(c, c)) for c in history)}). "
                    "Models as fitted on the run's training split."
                )
                width = max(150, 880 // max(1, len(side.columns)))
                plain.table(
                    side,
                    height=38 + 35 * result.k,
                    column_config={c: st.column_config.TextColumn(c, width=width) for c in side.columns},
                )
                (st.container() if len(lists) > 6 else st.columns([3, 2])[0]).plotly_chart(
                    plain.figure(charts.overlap_heatmap(charts.jaccard_matrix(lists))), key="cmp_jaccard"
                )


frame.page("Compare", render)
