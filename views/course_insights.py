"""Course insights: how a course is recommended (exposure, ranks, segments, per model), the catalogue's long
tail, and who a new course would reach before launch."""

import streamlit as st

from recsys.models import MODEL_KEYS
from recsys.stories.insights import DEFAULT_K, DEFAULT_LEARNERS, ExposureStudy
from recsys.ui import catalogue, frame, insights_report, session, stories, widgets

DEFAULT_MODELS = ("popularity", "user_profile", "course_similarity")


def render() -> None:
    st.title("Course insights")
    st.caption(
        "For course creators: how often each model puts a course in learners' top lists, for whom, and "
        "who a course would reach before it launches."
    )
    dataset = session.require_dataset()
    ss = st.session_state

    # ----- the learner sample and models ------------------------------------------------------------
    c1, c2, c3, c4 = st.columns([3, 1, 1, 1])
    models = widgets.runnable_models(list(MODEL_KEYS))
    chosen = c1.multiselect(
        "Models",
        models,
        format_func=catalogue.model_label,
        key="ci_models",
        **({} if "ci_models" in ss else {"default": [m for m in DEFAULT_MODELS if m in models]}),
    )
    n_learners = c2.number_input(
        "Learners sampled", 50, 50_000, min(DEFAULT_LEARNERS, max(50, dataset.n_users)), step=50, key="ci_learners"
    )
    seed = c3.number_input("Seed", 0, 2**31 - 1, 0, key="ci_seed")
    k = c4.number_input("Top-K", 1, 50, DEFAULT_K, key="ci_k")
    identity = (dataset.fingerprint, tuple(chosen), int(n_learners), int(seed), int(k))
    if st.button("Score the learners", type="primary", key="ci_run", icon=":material/insights:", disabled=not chosen):
        fitted = stories.fitted_models(dataset, chosen, "Preparing models")
        if fitted is not None:
            with session.guard("Scoring the learner sample", "Use fewer learners or other models."):
                with st.spinner(f"Scoring {int(n_learners):,} learners ..."):
                    ss["ci_study"] = {
                        "id": identity,
                        "study": ExposureStudy(dataset, fitted, int(n_learners), int(seed), int(k)),
                    }
    held = ss.get("ci_study")
    if not held or held["id"][0] != dataset.fingerprint:
        st.info(
            "Choose models and press **Score the learners** (models are trained once and reused).",
            icon=":material/insights:",
        )
        return
    study: ExposureStudy = held["study"]
    if held["id"] != identity:
        st.caption(
            ":material/info: Showing the last scored sample; press **Score the learners** to use the settings above."
        )
    info = study.describe()
    st.caption(
        f"{info['learners']:,} learners sampled with seed {info['seed']}, top-{info['k']} lists, models: "
        f"{stories.label_list(info['models'].values())}."
    )

    one, tail, new = st.tabs(["One course", "Catalogue exposure", "New course before launch"])
    with one:
        insights_report.course_section(dataset, study)
    with tail:
        insights_report.catalogue_section(study)
    with new:
        insights_report.new_course_section(dataset, study)


frame.page("Course insights", render)
