"""Experiments: a simulated A/B test between 2-4 models, Thompson sampling, and offline-vs-online agreement."""

from pathlib import Path

import streamlit as st

from recsys.models import MODEL_KEYS
from recsys.ui import catalogue, experiment_charts, frame, navigation, plain, session, widgets

LETTERS = "ABCD"


def _dataset_folder() -> Path | None:
    source = session.dataset_source()
    if source["kind"] == "builtin":
        return session.builtin_dir()
    if source["kind"] == "folder":
        return Path(source["path"])
    return None  # uploaded files carry no behaviour model


def _simulator(dataset, position_bias: float):
    from recsys.simulation import NoSimulatorError, simulator_for_folder

    folder = _dataset_folder()
    if folder is None:
        raise NoSimulatorError(
            "no simulator for this dataset: uploaded files carry no behaviour model -- use the "
            "built-in dataset or a folder made by `python -m recsys generate`"
        )
    return simulator_for_folder(folder, dataset, position_bias=position_bias)


def render() -> None:
    from recsys.simulation import STOPPING_RULE, NoSimulatorError

    st.title("Experiments")
    st.caption(
        "Simulated learners from the generator's behaviour model (interests x course appeal x level readiness) "
        "react to the lists each model shows -- an online experiment run offline."
    )
    dataset = session.require_dataset()
    ss = st.session_state
    try:
        _simulator(dataset, 0.7)
    except NoSimulatorError as exc:
        st.info(f"{str(exc)[0].upper()}{str(exc)[1:]}.", icon=":material/science_off:")
        st.page_link(
            navigation.MY_FEEDBACK,
            label="The feedback log works with every dataset",
            icon=":material/thumbs_up_down:",
        )
        return

    # ----- set-up ------------------------------------------------------------------------------------
    models = list(MODEL_KEYS)
    n_arms = st.segmented_control(
        "Arms", [2, 3, 4], default=2, required=True, key="exp_n_arms", persist_state="session"
    )
    defaults = ["popularity", "knn", "nmf", "course_similarity"]
    cols = st.columns(int(n_arms))
    arms = []
    for i, col in enumerate(cols):
        with col:
            key = widgets.model_picker(
                f"Arm {LETTERS[i]}" + (" (control)" if i == 0 else ""),
                f"exp_arm_{i}",
                models,
                default=defaults[i] if defaults[i] in models else None,
            )
            share = st.number_input("Traffic share (%)", 1, 100, 100 // int(n_arms), key=f"exp_share_{i}")
            arms.append((key, share))
    params = {}
    with st.expander("Model parameters (defaults unless changed)", icon=":material/tune:"):
        tabs = st.tabs([f"{LETTERS[i]}: {catalogue.model_label(k)}" for i, (k, _) in enumerate(arms)])
        for i, (tab, (key, _)) in enumerate(zip(tabs, arms)):
            with tab:
                params[i] = widgets.hyperparam_inputs(key, f"exp{LETTERS[i]}", columns=3) if key else {}
    c1, c2, c3, c4, c5 = st.columns(5)
    n_learners = c1.number_input(
        "Simulated learners",
        100,
        50_000,
        2000,
        step=100,
        key="exp_learners",
        help="Fresh learners drawn from the generator's population (not the training ones)",
    )
    sessions = c2.number_input("Sessions per learner", 1, 20, 5, key="exp_sessions")
    k = c3.number_input("List length K", 1, 50, 10, key="exp_k")
    seed = c4.number_input("Seed", 0, 2**31 - 1, 0, key="exp_seed")
    bias = c5.number_input(
        "Position bias",
        0.0,
        3.0,
        0.7,
        0.1,
        key="exp_bias",
        help="Rank r is looked at with probability r^-bias (0 = every rank is read)",
    )
    o1, o2 = st.columns(2)
    with_bandit = o1.checkbox("Also run Thompson sampling over the same arms", value=True, key="exp_bandit")
    with_offline = o2.checkbox(
        "Also measure offline NDCG@K (agreement with online)",
        value=False,
        key="exp_offline",
        help="Refits every model on a holdout split: slower",
    )

    if st.button(
        "Run experiment",
        type="primary",
        icon=":material/play_arrow:",
        key="exp_run",
        disabled=not all(key for key, _ in arms),
    ):
        _run(
            dataset,
            arms,
            params,
            int(n_learners),
            int(sessions),
            int(k),
            int(seed),
            float(bias),
            with_bandit,
            with_offline,
        )

    result = ss.get("exp_result")
    if result and result["fp"] == dataset.fingerprint:
        _show(result, STOPPING_RULE)


def _run(dataset, arms, params, n_learners, sessions, k, seed, bias, with_bandit, with_offline) -> None:
    from recsys.simulation import agreement, build_arms, offline_ndcg, run_abtest, run_thompson

    with st.status("Running the experiment ...", expanded=True) as status:
        bar = st.progress(0.0, text="fitting the arms")
        try:
            simulator = _simulator(dataset, bias)
            spec = [(key, params.get(i, {})) for i, (key, _) in enumerate(arms)]
            built = build_arms(
                spec, lambda key, p: session.model_store().get_or_train(dataset, key, {"seed": seed, **p}), seed=seed
            )
            step = lambda lo, width: (lambda f, m: bar.progress(min(1.0, lo + width * f), text=m))  # noqa: E731
            ab = run_abtest(
                simulator,
                built,
                n_learners=n_learners,
                sessions=sessions,
                k=k,
                split=[share for _, share in arms],
                seed=seed,
                progress=step(0.1, 0.4),
            )
            out = {"fp": dataset.fingerprint, "ab": ab, "bandit": None, "agreement": None}
            if with_bandit:
                means = dict(zip(ab.summary["arm"], ab.summary["ctr"]))
                out["bandit"] = run_thompson(
                    simulator,
                    built,
                    n_learners=n_learners,
                    sessions=sessions,
                    k=k,
                    seed=seed,
                    arm_means=means,
                    progress=step(0.5, 0.3),
                )
            if with_offline:
                offline = offline_ndcg(
                    dataset,
                    [(a.name, key, p) for a, (key, p) in zip(built, spec)],
                    k=k,
                    seed=seed,
                    progress=step(0.8, 0.2),
                )
                out["agreement"] = agreement(offline, dict(zip(ab.summary["arm"], ab.summary["ctr"])))
        except Exception as exc:
            status.update(label="The experiment failed", state="error")
            session.show_error("The experiment", exc, "Change the arms or sizes and run again.")
            return
        st.session_state["exp_result"] = out
        status.update(label="Experiment finished", state="complete", expanded=False)


def _show(result, stopping_rule: str) -> None:
    ab = result["ab"]
    s = ab.settings
    st.subheader("A/B test")
    st.caption(
        f"{s['n_learners']:,} fresh simulated learners x {s['sessions']} sessions, top-{s['k']}, split "
        f"{', '.join(f'{p:.0%}' for p in s['split'])}, seed {s['seed']}. Control: **{ab.control}**. "
        "CTR = enrolments per shown list; intervals are 95%, over learners (the randomisation unit)."
    )
    summary = ab.summary
    plain.table(
        summary,
        hide_index=True,
        key="exp_summary",
        column_config={
            "ctr": st.column_config.NumberColumn("CTR", format="%.4f"),
            "ctr_lo": st.column_config.NumberColumn("CTR low", format="%.4f"),
            "ctr_hi": st.column_config.NumberColumn("CTR high", format="%.4f"),
            "completion_rate": st.column_config.NumberColumn("Completion rate", format="%.4f"),
            "enrolments_per_learner": st.column_config.NumberColumn("Enrolments / learner", format="%.3f"),
            "coverage": st.column_config.NumberColumn("Coverage", format="percent"),
        },
    )
    st.markdown("**Difference to control** (treatment minus control, 95% interval, two-sided p)")
    plain.table(
        ab.comparisons,
        hide_index=True,
        key="exp_comparisons",
        column_config={
            c: st.column_config.NumberColumn(format="%.4f") for c in ("control", "treatment", "diff", "lo", "hi")
        }
        | {
            "relative": st.column_config.NumberColumn("relative", format="percent"),
            "p_value": st.column_config.NumberColumn("p-value", format="%.3g"),
        },
    )

    st.subheader("Sequential view")
    st.info(f"**Stopping rule.** {stopping_rule}", icon=":material/rule:")
    treatments = ab.arms[1:]
    arm = st.selectbox("Arm vs control", treatments, key="exp_seq_arm") if len(treatments) > 1 else treatments[0]
    st.plotly_chart(plain.figure(experiment_charts.sequential(ab.sequential, arm, ab.alpha)), key="exp_seq_chart")
    plain.table(ab.stopping(), hide_index=True, key="exp_stopping")

    bandit = result.get("bandit")
    if bandit is not None:
        st.subheader("Thompson sampling")
        st.caption(
            "Each arriving learner gets the arm with the highest draw from its Gamma posterior of enrolments "
            "per list; regret is measured against the best arm in hindsight, using the A/B test's arm means."
        )
        left, right = st.columns(2)
        left.plotly_chart(plain.figure(experiment_charts.allocation(bandit.allocation)), key="exp_alloc_chart")
        right.plotly_chart(plain.figure(experiment_charts.regret(bandit.regret)), key="exp_regret_chart")
        share = bandit.final_share()
        st.caption("Share of the last 20% of learners: " + ", ".join(f"{a} {share[a]:.0%}" for a in bandit.arms))

    agree = result.get("agreement")
    if agree is not None:
        table, tau, p = agree
        st.subheader("Does offline agree with online?")
        tau_text = "n/a (a tie in one order)" if tau != tau else f"{tau:.2f} (p = {p:.2g})"
        st.markdown(
            f"Offline NDCG@{s['k']} (per-learner holdout) rank order next to the simulated CTR order -- "
            f"**Kendall's tau = {tau_text}**"
        )
        plain.table(table, hide_index=True, key="exp_agreement")


frame.page("Experiments", render)
