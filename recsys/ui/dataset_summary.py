"""The summary of the dataset in use: learners, courses, ratings, density, the rating split, course metadata."""

from __future__ import annotations

import streamlit as st

from recsys.ui import catalogue, charts, plain, session


def show(dataset) -> None:
    """Key figures, the rating split and what the catalogue holds (Home, under the dataset choice)."""
    summary = dataset.summary()
    st.markdown(f"**In use:** {plain.md(session.source_label())} -- fingerprint `{summary['fingerprint']}`")
    m = st.columns(6)
    m[0].metric("Learners", f"{summary['learners']:,}")
    m[1].metric("Courses", f"{summary['courses']:,}")
    m[2].metric("Ratings", f"{summary['ratings']:,}")
    m[3].metric("Genres", summary["genres"])
    m[4].metric("Took one course", f"{summary['learners_with_one_course'] / max(1, summary['learners']):.0%}")
    m[5].metric("Density", f"{summary['density']:.2%}")
    left, right = st.columns([1, 1])
    left.plotly_chart(plain.figure(charts.rating_split(dataset)), key="home_rating_split")
    with right:
        st.markdown(
            f"- Rating scale: **{dataset.rating_scale[0]:g} - {dataset.rating_scale[1]:g}** "
            "(in the IBM data 3 = completed, 2 = audited)\n"
            f"- Learners with more than 10 courses: **{summary['learners_with_over_10']:,}**\n"
            f"- Course metadata: {'level and duration' if catalogue.has_metadata(dataset, 'LEVEL') else 'genres only (no course_meta.csv)'}\n"
            f"- Course text: {'descriptions / bag of words available' if dataset.bows is not None else 'not available'}"
        )
