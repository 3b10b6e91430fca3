"""Recommend: pick completed courses (or a sample learner), train a model, get ranked courses with reasons."""

import streamlit as st

from recsys.ui import catalogue, frame, learner_panel, recommendation_list, session, training


def render() -> None:
    st.title("Recommend courses")
    dataset = session.require_dataset()
    learner = learner_panel.current(dataset)
    table = catalogue.course_table(dataset)
    titles = dict(zip(table["COURSE_ID"], table["TITLE"]))
    levels = catalogue.level_options(table)

    st.subheader("1. The learner")
    learner_panel.sample_learner(dataset, learner)
    learner_panel.course_table(dataset, learner, table, levels)
    learner_panel.picks_box(dataset, learner, table, titles)
    model_and_recommendations(dataset, learner, table, titles, levels)


@st.fragment
def model_and_recommendations(dataset, learner, table, titles, levels) -> None:
    """Everything below the picks box: a thumb, an undo, a list filter, the model picker or Train model reruns
    only this part (the course table and the picks box above stay as they are); ticking a course reruns the
    whole page, which redraws this part with the new history."""
    learner_panel.feedback_chips(learner, titles)
    st.subheader("2. The model")
    model_key, params, active = training.model_panel(dataset)
    st.subheader("3. Recommendations")
    if not active or active["fp"] != dataset.fingerprint:
        st.info("Pick a model and press **Train model** to get recommendations.", icon=":material/arrow_upward:")
    else:
        recommendation_list.show(dataset, learner, table, levels, active, (model_key, params))


frame.page("Recommend", render)
