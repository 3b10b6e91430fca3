"""The Course insights page's sections: one course across models, the catalogue's long tail, a course before launch."""

from __future__ import annotations

import streamlit as st

from recsys.data import LEVELS
from recsys.stories.insights import ENROLMENT_PRESETS, ExposureStudy, assumed_enrolments
from recsys.ui import catalogue, plain, session, stories


@st.fragment
def course_section(dataset, study: ExposureStudy) -> None:
    """One course across the models: how often it reaches a top list, at which ranks, for which learners."""
    table = catalogue.course_table(dataset)
    titles = dict(zip(table["COURSE_ID"], table["TITLE"]))
    ids = table["COURSE_ID"].tolist()
    most_taken = int(table["ENROLMENTS"].to_numpy().argmax()) if len(table) else 0
    course_id = st.selectbox(
        "Course",
        ids,
        key="ci_course",
        format_func=lambda c: f"{titles.get(c, c)} ({c})",
        **({} if "ci_course" in st.session_state else {"index": most_taken}),
    )
    with session.guard("The course report"):
        report = study.course_report(course_id)
        st.session_state["ci_report"] = report
        facts = [
            ", ".join(report["genres"]) or "no genre",
            report.get("level"),
            f"{report['hours']:g} h" if report.get("hours") else None,
            f"{report['enrolments']:,} enrolments",
        ]
        st.caption(" · ".join(f for f in facts if f))
        plain.table(
            stories.side_by_side_table(report),
            hide_index=True,
            key="ci_side",
        )
        st.caption(
            "Exposure = share of sampled learners with the course in their top-K; learners who already "
            "took it never get it again."
        )
        st.plotly_chart(plain.figure(stories.rank_distribution(report)), key="ci_ranks")
        left, right = st.columns(2)
        left.plotly_chart(plain.figure(stories.segment_bars(report, "activity")), key="ci_seg_activity")
        right.plotly_chart(plain.figure(stories.segment_bars(report, "main_genre")), key="ci_seg_genre")


def catalogue_section(study: ExposureStudy) -> None:
    """The catalogue's long tail: how exposure is spread over the courses, per model."""
    curves = {e.label: study.catalogue_exposure(name) for name, e in study.exposures.items()}
    st.plotly_chart(plain.figure(stories.exposure_long_tail(curves)), key="ci_long_tail")
    summary = [
        {
            "Model": s["label"],
            "Courses ever shown": s["courses_shown"],
            "Coverage": s["coverage"],
            "Gini": s["gini"],
            "Top 10% of courses take": s["top10pct_share"],
        }
        for s in study.catalogue_summary()
    ]
    plain.table(
        summary,
        hide_index=True,
        key="ci_tail_summary",
        column_config={
            "Coverage": st.column_config.NumberColumn(format="percent"),
            "Gini": st.column_config.NumberColumn(format="%.3f"),
            "Top 10% of courses take": st.column_config.NumberColumn(format="percent"),
        },
    )
    st.caption(
        "Coverage = share of the catalogue in at least one sampled list; Gini 0 = every course shown "
        "equally often, 1 = one course takes every slot."
    )


@st.fragment
def new_course_section(dataset, study: ExposureStudy) -> None:
    """A course before launch (genres, level, duration): who each content-aware model would show it to."""
    ss = st.session_state
    placeable = [
        e.label
        for e in study.exposures.values()
        if hasattr(e.model, "score_new_course") and getattr(e.model, "places_new_courses", True)
    ]
    if not placeable:
        st.info(
            "None of the scored models can place a course nobody has taken yet; add a content-aware model "
            "(user profile, course similarity, clustering) above.",
            icon=":material/info:",
        )
    with st.form("ci_new_form"):
        f1, f2 = st.columns([2, 1])
        title = f1.text_input("Title", key="ci_new_title", placeholder="e.g. Deep learning for computer vision")
        description = f1.text_area("Description", key="ci_new_description", height=100)
        genres = f2.multiselect("Genres", dataset.genres, key="ci_new_genres")
        level = f2.selectbox("Level", LEVELS, index=None, key="ci_new_level", placeholder="unknown")
        hours = f2.number_input("Hours", 0.0, 500.0, 0.0, 0.5, key="ci_new_hours", help="0 = unknown")
        preset = st.radio(
            "Enrolments to assume",
            list(ENROLMENT_PRESETS),
            format_func=ENROLMENT_PRESETS.get,
            horizontal=True,
            key="ci_new_enrolments",
            help="Content models blend in popularity. Predicted: the popularity each model's content prior "
            "expects for a course like this (how it ranks a catalogue course nobody took yet); the others are "
            "what-ifs",
        )
        submitted = st.form_submit_button("Place the course", type="primary", icon=":material/rocket_launch:")
    if submitted:
        with session.guard("Placing the new course", "Check the title, genres and level."):
            course = {
                "title": title,
                "description": description,
                "genres": genres,
                "level": level,
                "hours": hours or None,
            }
            enrolments = assumed_enrolments(dataset, preset)
            report = study.new_course_report(course, enrolments)
            report["enrolments_preset"] = preset
            ss["ci_new_previous"] = ss.get("ci_new_report")
            ss["ci_new_report"] = report
    report = ss.get("ci_new_report")
    if not report:
        st.caption(
            "Describe the course and press **Place the course**; edit the genres or description and place "
            "it again to see how the audience changes."
        )
        return
    previous = ss.get("ci_new_previous")
    c = report["course"]
    st.caption(
        f"**{plain.md(c['title'] or '(untitled)')}** · {plain.md(', '.join(c['genres'])) or 'no genre'} · "
        f"{plain.md(c['level'] or 'level unknown')}"
        + (
            " · enrolments predicted from its content"
            if report["enrolments_assumed"] is None
            else f" · assuming {_enrolments_text(report)}"
        )
    )
    plain.table(stories.side_by_side_table(report, previous), hide_index=True, key="ci_new_side")
    if previous:
        st.caption("Change in shown = learners reached now minus with the previous version of the course.")
    if any(m.get("placeable") for m in report["models"].values()):
        st.plotly_chart(plain.figure(stories.rank_distribution(report)), key="ci_new_ranks")
        left, right = st.columns(2)
        left.plotly_chart(plain.figure(stories.segment_bars(report, "activity")), key="ci_new_seg_activity")
        right.plotly_chart(plain.figure(stories.segment_bars(report, "main_genre")), key="ci_new_seg_genre")


def _enrolments_text(report) -> str:
    """'launch day (0 enrolments)', 'a typical course (median enrolments): 412 enrolments', or '250 enrolments'
    (a preset's label already names its number; never 'launch day (0 enrolments)' twice over)."""
    key = report.get("enrolments_preset")
    count = f"{report['enrolments_assumed']:,.0f} enrolments"
    if key == "launch":
        return ENROLMENT_PRESETS[key]
    return f"{ENROLMENT_PRESETS[key]}: {count}" if key in ENROLMENT_PRESETS else count
