"""Data explorer: the shape of the dataset in use (genres, activity, popular courses, ratings, titles)."""

import streamlit as st

from recsys.ui import charts, frame, plain, session


def render() -> None:
    st.title("Data explorer")
    dataset = session.require_dataset()
    st.caption(
        f"{plain.md(session.source_label())}: {dataset.n_users:,} learners, {dataset.n_items:,} courses, "
        f"{len(dataset.ratings):,} ratings."
    )

    left, right = st.columns(2)
    left.plotly_chart(plain.figure(charts.courses_per_genre(dataset)), key="dx_genres")
    right.plotly_chart(plain.figure(charts.enrolments_per_learner(dataset)), key="dx_activity")

    left, right = st.columns([3, 2])
    left.plotly_chart(plain.figure(charts.top_courses(dataset, 20)), key="dx_top")
    with right:
        st.plotly_chart(plain.figure(charts.rating_split(dataset)), key="dx_ratings")
        st.plotly_chart(plain.figure(charts.title_words(dataset, 20)), key="dx_words")

    st.plotly_chart(plain.figure(charts.genre_cooccurrence(dataset)), key="dx_cooc")


frame.page("Data explorer", render)
