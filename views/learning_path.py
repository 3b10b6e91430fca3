"""Learning path: a career goal (built-in or in your own words) -> an ordered, time-boxed path of courses."""

import streamlit as st

from recsys.models import MODEL_KEYS
from recsys.stories.paths import DEFAULT_MIN_GOAL_MATCH, career_goals, learning_path
from recsys.stories.personas import PERSONAS
from recsys.ui import catalogue, frame, path_report, session, stories, widgets

NO_MODEL = "none"


def render() -> None:
    st.title("Learning path")
    st.caption(
        "Set a career goal and what you have done; get an ordered path of courses that fits your time, "
        "Beginner before Intermediate before Advanced within each genre."
    )
    dataset = session.require_dataset()
    ss = st.session_state
    goals = career_goals()
    table = catalogue.course_table(dataset)
    titles = dict(zip(table["COURSE_ID"], table["TITLE"]))
    has_levels = catalogue.has_metadata(dataset, "LEVEL")
    has_hours = catalogue.has_metadata(dataset, "DURATION_HOURS")

    # ----- goal -------------------------------------------------------------------------------------
    st.subheader("1. Your goal")
    g1, g2 = st.columns([1, 2])
    kind = g1.segmented_control(
        "Goal",
        ["career", "text"],
        default="career",
        required=True,
        key="lp_goal_kind",
        format_func={"career": "Career goal", "text": "In my own words"}.get,
    )
    if kind == "career":
        goal_key = g2.selectbox("Career goal", list(goals), format_func=lambda k: goals[k].name, key="lp_goal")
        chosen = goals[goal_key]
        g2.caption(
            f"{chosen.description}  \nGenres: "
            + ", ".join(f"{g} ({w:g})" for g, w in chosen.genres.items() if g in dataset.genres)
        )
        goal = chosen
    else:
        goal = g2.text_input(
            "Describe your goal", key="lp_goal_text", placeholder="e.g. build chatbots and deploy them to the cloud"
        ).strip()
        g2.caption("Matched to course titles and descriptions (TF-IDF, as the course-similarity model).")

    # ----- the learner ------------------------------------------------------------------------------
    st.subheader("2. What you have done")

    p1, p2 = st.columns([1, 2])
    p1.selectbox(
        "Start from a sample learner",
        [p.key for p in PERSONAS],
        index=None,
        key="lp_persona",
        format_func=lambda k: next(p.name for p in PERSONAS if p.key == k),
        on_change=path_report.fill_persona,
        args=(dataset, titles),
        placeholder="optional",
    )
    completed = p2.multiselect(
        "Courses you completed",
        table["COURSE_ID"].tolist(),
        key="lp_completed",
        format_func=lambda c: f"{titles.get(c, c)} ({c})",
        placeholder="none yet",
    )

    # ----- options ----------------------------------------------------------------------------------
    st.subheader("3. Options")
    o1, o2, o3 = st.columns(3)
    models = [NO_MODEL] + widgets.runnable_models(list(MODEL_KEYS), note=False)
    model_key = o1.selectbox(
        "Model",
        models,
        index=models.index("user_profile") if "user_profile" in models else 0,
        key="lp_model",
        format_func=lambda k: "None (goal match only)" if k == NO_MODEL else catalogue.model_label(k),
    )
    goal_weight = o1.slider(
        "Goal weight",
        0.0,
        1.0,
        0.5,
        0.05,
        key="lp_goal_weight",
        help="Share of the goal match in the ranking; the rest is the model's score for you",
        disabled=model_key == NO_MODEL,
    )
    budget = o2.toggle(
        "Time budget",
        value=has_hours,
        key="lp_budget",
        disabled=not has_hours,
        help=None if has_hours else "Needs DURATION_HOURS (course_meta.csv)",
    )
    hours_per_week = o2.number_input(
        "Hours per week", 1.0, 60.0, 5.0, 1.0, key="lp_hours", disabled=not (budget and has_hours)
    )
    weeks = o2.number_input("Weeks", 1, 104, 12, key="lp_weeks", disabled=not (budget and has_hours))
    levels = o3.multiselect(
        "Only levels",
        ["Beginner", "Intermediate", "Advanced"],
        key="lp_levels",
        disabled=not has_levels,
        help=None if has_levels else "Needs LEVEL (course_meta.csv)",
    )
    longest = int(table["DURATION_HOURS"].max()) + 1 if has_hours else 1
    max_course = o3.slider(
        "Longest course (hours)", 1, max(longest, 2), max(longest, 2), key="lp_max_course", disabled=not has_hours
    )
    max_courses = o3.number_input(
        "At most this many courses",
        0,
        50,
        0,
        key="lp_max_courses",
        help="0 = no cap with a time budget, 10 courses without one",
    )
    missing = [what for what, ok in (("levels", has_levels), ("durations", has_hours)) if not ok]
    if missing:
        st.info(
            f"This catalogue has no course {' or '.join(missing)} (course_meta.csv): level progression and "
            "the time budget are unavailable; the path is ranked by goal and model only.",
            icon=":material/info:",
        )

    ready = bool(goal) if kind == "text" else True
    if st.button("Build my path", type="primary", key="lp_build", icon=":material/route:", disabled=not ready):
        model = None
        if model_key != NO_MODEL:
            fitted = stories.fitted_models(dataset, [model_key], f"Preparing {catalogue.model_label(model_key)}")
            if fitted is None:
                return
            model = fitted[0]
        with session.guard("Building the path", "Change the goal or the options."):
            path = learning_path(
                dataset,
                goal,
                completed,
                model,
                goal_weight=goal_weight,
                hours_per_week=hours_per_week if budget and has_hours else None,
                weeks=int(weeks) if budget and has_hours else None,
                max_courses=int(max_courses) or None,
                levels=levels or None,
                max_course_hours=max_course if has_hours and max_course < longest else None,
                min_goal_match=DEFAULT_MIN_GOAL_MATCH,
            )
            ss["lp_result"] = {"fp": dataset.fingerprint, "path": path.to_dict()}

    result = ss.get("lp_result")
    if not result or result["fp"] != dataset.fingerprint:
        st.info("Choose a goal and press **Build my path**.", icon=":material/route:")
        return
    path_report.show(result["path"])


frame.page("Learning path", render)
