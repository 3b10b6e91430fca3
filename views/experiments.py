"""Experiments: a simulated A/B test between 2-4 models, Thompson sampling, and offline-vs-online agreement."""

import streamlit as st

from recsys.models import MODEL_KEYS
from recsys.ui import abtest_report, catalogue, frame, navigation, session, widgets

LETTERS = "ABCD"


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
        abtest_report.simulator_for(dataset, 0.7)
    except NoSimulatorError as exc:
        st.info(f"{str(exc)[0].upper()}{str(exc)[1:]}.", icon=":material/science_off:")
        st.page_link(
            navigation.MY_FEEDBACK,
            label="The feedback log works with every dataset",
            icon=":material/thumbs_up_down:",
        )
        return

    # ----- set-up ------------------------------------------------------------------------------------
    models = widgets.runnable_models(list(MODEL_KEYS))
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
        abtest_report.run(
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
        abtest_report.show(result, STOPPING_RULE)


frame.page("Experiments", render)
