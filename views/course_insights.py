"""Course insights: how a course is recommended (exposure, ranks, segments, per model), the catalogue's long
tail, and who a new course would reach before launch."""

import streamlit as st

from recsys.data import LEVELS
from recsys.insights import DEFAULT_K, DEFAULT_LEARNERS, ENROLMENT_PRESETS, ExposureStudy, assumed_enrolments
from recsys.models import MODEL_KEYS
from recsys.ui import catalogue, frame, plain, session, stories

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
    models = list(MODEL_KEYS)
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
        course_section(dataset, study)
    with tail:
        catalogue_section(study)
    with new:
        new_course_section(dataset, study)


@st.fragment
def course_section(dataset, study: ExposureStudy) -> None:
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
            column_config={"Exposure": st.column_config.NumberColumn(format="percent")},
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
            else f" · assuming {report['enrolments_assumed']:g} enrolments "
            f"({ENROLMENT_PRESETS.get(report.get('enrolments_preset'), 'custom')})"
        )
    )
    plain.table(
        stories.side_by_side_table(report, previous),
        hide_index=True,
        key="ci_new_side",
        column_config={"Exposure": st.column_config.NumberColumn(format="percent")},
    )
    if previous:
        st.caption("Change in shown = learners reached now minus with the previous version of the course.")
    if any(m.get("placeable") for m in report["models"].values()):
        st.plotly_chart(plain.figure(stories.rank_distribution(report)), key="ci_new_ranks")
        left, right = st.columns(2)
        left.plotly_chart(plain.figure(stories.segment_bars(report, "activity")), key="ci_new_seg_activity")
        right.plotly_chart(plain.figure(stories.segment_bars(report, "main_genre")), key="ci_new_seg_genre")


frame.page("Course insights", render)
