"""Tune: cross-validate one model over a grid built from its declared parameters; hand the best to Recommend."""

import streamlit as st

from recsys.evaluation import search_space
from recsys.ui import catalogue, charts, frame, long_task, navigation, plain, results, session, tuning_plots, widgets

SAMPLER_LABELS = {"tpe": "TPE (Bayesian)", "random": "Random", "grid": "Grid"}


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


@st.cache_data(show_spinner=False, max_entries=32)
def _measured_fit_seconds(db: str, stamp: float, model_key: str, fingerprint: str) -> list[float]:
    """Fit times already in the run history for this model and dataset (cached until the file changes)."""
    from recsys.evaluation import RunHistory
    from recsys.evaluation.tuning import measured_fit_seconds

    return measured_fit_seconds(RunHistory(db), model_key, fingerprint)


def _fit_seconds(model_key: str, fingerprint: str) -> list[float]:
    path = session.artifacts_dir() / "runs.sqlite"
    if not path.is_file():
        return []
    try:
        return _measured_fit_seconds(str(path), path.stat().st_mtime, model_key, fingerprint)
    except Exception as exc:  # an unreadable history only costs the estimate
        session.log.warning("no fit times for the estimate: %s", session.describe_error(exc))
        return []


def render() -> None:
    st.title("Tune a model")
    dataset = session.require_dataset()
    ss = st.session_state

    from recsys.evaluation.tuning import MAX_COMBINATIONS, estimate_seconds, parse_values  # noqa: E402
    from recsys.models import MODEL_KEYS, REGISTRY  # noqa: E402  (after the title: the page shows while models import)

    models = [m for m in MODEL_KEYS if any(p.role != "seed" for p in REGISTRY[m].hyperparams)]
    with st.columns([1, 2])[0]:
        model_key = widgets.model_picker("Model", "tune_model", models)

    grid, problems, searched = {}, [], []
    if model_key:
        cls = REGISTRY[model_key]
        st.caption(cls.description)
        tunable = [p for p in cls.hyperparams if p.role not in ("seed", "resource") and p.kind != "mapping"]
        s1, s2, s3 = st.columns([2, 1, 1])
        sampler = s1.segmented_control(
            "Search",
            list(SAMPLER_LABELS),
            default="tpe",
            required=True,
            format_func=SAMPLER_LABELS.get,
            key="tune_sampler",
            persist_state="session",
            help="TPE learns from the trials so far where good settings lie (Optuna, seeded); random draws "
            "settings at random; grid tries every combination of the values you list. Trials that fall behind "
            "the median after their first fold (or, for ALS, BPR and the neural network, after an epoch) are "
            "pruned.",
        )
        n_trials = s2.number_input("Trials", 1, 500, 20, key="tune_trials", persist_state="session")
        timeout = s3.number_input(
            "Time limit (s, 0 = none)", 0, 24 * 3600, 0, 30, key="tune_timeout", persist_state="session"
        )
        st.markdown(
            "**Model parameters to search** -- tick a parameter to search it"
            + (" over the values next to it" if sampler == "grid" else " over the range next to it")
            + "; the others stay at their defaults"
        )
        for p in tunable:
            if not widgets.applies(model_key, p.name, grid):
                continue  # e.g. tree settings while the estimator is logistic regression
            c1, c2 = st.columns([1, 4], vertical_alignment="center")
            on = c1.checkbox(
                widgets.pretty(p.name), value=False, key=f"tune_on.{model_key}.{p.name}", help=p.help or None
            )
            if on:
                searched.append(p.name)
            if sampler != "grid" and p.kind not in ("choice", "bool"):
                c2.caption(search_space.describe(p))
                continue
            if p.kind in ("choice", "bool"):
                options = list(p.grid())
                values = c2.multiselect(
                    p.name,
                    options,
                    default=options,
                    key=f"tune_vals.{model_key}.{p.name}",
                    disabled=not on,
                    label_visibility="collapsed",
                )
            else:
                text = c2.text_input(
                    p.name,
                    ", ".join(str(v) for v in p.grid()),
                    key=f"tune_vals.{model_key}.{p.name}",
                    disabled=not on,
                    label_visibility="collapsed",
                    help=f"comma-separated; range {p.low} to {p.high}",
                )
                values = None
                if on:
                    try:
                        values = parse_values(text, p)
                    except ValueError as exc:
                        problems.append(str(exc))
            if on:
                if values:
                    grid[p.name] = values
                elif p.kind in ("choice", "bool"):
                    problems.append(f"pick at least one value for '{p.name}'")

        from recsys.evaluation.metrics import RANKING

        st.markdown("**Evaluation**")
        c1, c2, c3, c4 = st.columns(4)
        k = c2.number_input(
            "Cutoff K (metric@K)",
            1,
            50,
            10,
            key="tune_k",
            persist_state="session",
            help="Length of the top-K lists the metric scores -- an evaluation setting, not a model parameter",
        )
        ranking = ["ndcg"] + [m for m in RANKING if m != "ndcg"]
        metric_options = [f"{m}@{int(k)}" for m in ranking] + (["rmse", "mae"] if cls.predicts_ratings else [])
        metric = c1.selectbox("Metric", metric_options, key="tune_metric")
        folds = c3.number_input("Folds", 2, 10, 3, key="tune_folds", persist_state="session")
        seed = c4.number_input("Seed", 0, 2**31 - 1, 0, key="tune_seed", persist_state="session")
        n_combos = 1
        for values in grid.values():
            n_combos *= len(values)
        categorical = [p.name for p in tunable if p.kind in ("choice", "bool")]
        finite = all(n in categorical for n in searched)
        planned = min(int(n_trials), n_combos) if (sampler == "grid" or finite) else int(n_trials)
        runs_needed = planned * int(folds)
        for problem in problems:
            st.error(problem, icon=":material/error:")
        if not searched and not problems:
            st.info("Tick at least one model parameter to search.", icon=":material/tune:")
        elif sampler == "grid" and n_combos > MAX_COMBINATIONS:
            st.warning(
                f"{n_combos} combinations is over the limit of {MAX_COMBINATIONS}: remove values or use TPE or "
                "random search."
            )
        elif not problems:
            measured = _fit_seconds(model_key, dataset.fingerprint)
            expected = estimate_seconds(measured, runs_needed)
            text = f"Up to {planned} trial(s) x {int(folds)} folds = {runs_needed} fits (pruned trials stop early)."
            if expected is None:
                text += (
                    " No fit of this model on this dataset has been timed yet, so no estimate: train it on "
                    "Recommend or include it in a comparison first, or start with a few trials."
                )
            else:
                text += (
                    f" Estimated run time: about {_duration(expected)} (median of {len(measured)} fit(s) of "
                    f"this model already timed on this dataset; scoring the folds adds a little)."
                )
            st.caption(text, help="Fit times come from the run history (comparisons and tuning runs).")

        too_big = sampler == "grid" and n_combos > MAX_COMBINATIONS
        can_run = bool(searched) and not problems and not too_big
        if st.button("Run tuning", type="primary", icon=":material/play_arrow:", disabled=not can_run, key="tune_run"):
            from recsys.evaluation import tune

            long_task.run_recorded(
                f"Tuning {cls.label} ...",
                lambda progress: tune(
                    dataset,
                    model_key,
                    grid if sampler == "grid" else {n: v for n, v in grid.items() if n in categorical},
                    metric=metric,
                    folds=int(folds),
                    k=int(k),
                    seed=int(seed),
                    sampler=sampler,
                    n_trials=planned,
                    timeout=float(timeout) or None,
                    searched=searched,
                    storage=session.artifacts_dir() / "tuning.sqlite",
                    progress=progress,
                ),
                kind="tune",
                title=lambda result: f"{cls.label}: {metric}, {int(folds)} folds",
                select="tune_selected_run",
                what="Tuning",
                hint="Search fewer parameters or try fewer trials, and run again.",
            )

    # ----- results -----------------------------------------------------------------------------------
    runs = session.session_runs("tune")
    if runs:
        st.divider()
        result = session.pick_run(runs, "tune_selected_run", "Tuning run (run-history id)")
        label = catalogue.model_label(result.model)
        b1, b2 = st.columns([1, 3], vertical_alignment="center")
        b1.metric(f"Best {result.metric}", "n/a" if result.best_score is None else f"{result.best_score:.4f}")
        b2.markdown(f"**Best parameters for {label}:** {results.params_text(result.best_params)}")
        if result.best_params and st.button("Use on Recommend", icon=":material/recommend:", key="tune_use"):
            widgets.set_params("rec", result.model, result.best_params)
            ss["rec_model"] = result.model
            st.switch_page(navigation.RECOMMEND)

        for note in result.notes:
            st.warning(note, icon=":material/info:")
        tuning_plots.study_charts(result)
        varied = [p for p in result.param_names if result.table[p].nunique() > 1]
        if varied:
            cols = st.columns(min(2, len(varied)))
            for i, p in enumerate(varied):
                cols[i % len(cols)].plotly_chart(
                    plain.figure(charts.tune_curve(result.table, p, result.best_params, result.metric)),
                    key=f"tune_curve_{p}",
                )
        plain.table(results.tune_table(result.table, result.param_names, result.metric), hide_index=True)
        st.caption(
            f"{SAMPLER_LABELS.get(result.sampler, result.sampler)} search, {len(result.table)} trials "
            f"({result.n_pruned} pruned), each scored by per-learner {result.split['params']['folds']}-fold "
            f"cross-validation (seed {result.seed}); each fold's test learners keep training history and are scored "
            "as new learners."
        )


frame.page("Tune", render)
