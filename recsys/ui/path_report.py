"""The Learning path page's parts: a sample learner filling the completed courses, and the path shown with its key
figures, notes, timeline, steps with their reasons and a JSON download."""

from __future__ import annotations

import json

import streamlit as st

from recsys.stories.personas import persona_history
from recsys.ui import plain, stories


def fill_persona(dataset, titles: dict[str, str]) -> None:
    """A sample learner picked: their courses fill the completed box (the box is not written while drawn)."""
    key = st.session_state.get("lp_persona")
    if key:
        st.session_state["lp_completed"] = [c for c in persona_history(dataset, key) if c in titles]


def show(path: dict) -> None:
    """A built path (`LearningPath.to_dict()`): key figures, notes, timeline, steps and a JSON download."""
    st.divider()
    steps = path["steps"]
    goal = path["goal"]
    model = path["model"]["label"] if path["model"] else "no model"
    st.subheader(f"Your path: {plain.md(goal['label'])}")
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Courses", len(steps))
    m2.metric(
        "Hours",
        f"{path['total_hours']:g}" if path["total_hours"] is not None else "n/a",
        help=f"budget {path['budget_hours']:g} h" if path["budget_hours"] else None,
    )
    last = steps[-1]["finish_week"] if steps and steps[-1]["finish_week"] else None
    m3.metric("Done in week", last if last else "n/a")
    m4.metric(
        "On topic", f"{path['on_topic_share']:.0%}", help="Steps in the goal's genres: " + ", ".join(goal["genres"])
    )
    st.caption(f"Ranked by {model} and the goal match (goal weight {path['goal_weight']:g}).")
    for note in path["unavailable"]:
        st.caption(f":material/block: Unavailable: {note}")
    for note in path["notes"]:
        st.caption(f":material/info: {note}")
    if not steps:
        st.warning(
            "No course fits: loosen the filters, raise the budget or change the goal.", icon=":material/filter_alt_off:"
        )
        return
    st.plotly_chart(plain.figure(stories.path_timeline(path)), key="lp_timeline")
    shown = [
        {
            "#": s["step"],
            "Course": s["title"],
            "ID": s["course_id"],
            "Level": s["level"] or "-",
            "Hours": s["hours"],
            "Total hours": s["cumulative_hours"],
            "Week": s["finish_week"],
            "Goal match": s["goal_match"],
        }
        for s in steps
    ]
    plain.table(
        shown,
        hide_index=True,
        key="lp_steps",
        column_config={
            "Goal match": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0, format="%.2f"),
        },
    )
    # The reasons are sentences: as a table column they made the table scroll sideways.
    with st.expander("Why each course", expanded=True, icon=":material/help:"):
        st.markdown("\n".join(f"{s['step']}. **{plain.md(s['title'])}**: {plain.md(s['why'])}" for s in steps))
    st.download_button(
        "Download as JSON",
        json.dumps(path, indent=2, default=str),
        file_name="learning_path.json",
        mime="application/json",
        key="lp_download",
        icon=":material/download:",
    )
