"""Feedback log (admin): every session's thumbs up/down per model, most-disliked courses, over time, export."""

import streamlit as st

from recsys.ui import admin, experiment_charts, feedback_log, frame, navigation, plain, session


def render() -> None:
    if not admin.gate("Feedback log"):
        return
    st.title("Feedback log")
    st.caption(
        "Admin view: every session's thumbs up/down on the Recommend page and every list it showed, kept in the "
        "artifacts folder (the dataset files are never touched). Sessions are anonymous random ids."
    )
    log = feedback_log.feedback_log()
    ss = st.session_state

    per_model = log.per_model()
    if per_model.empty:
        st.info("No feedback yet: thumbs up/down on the Recommend page are recorded here.", icon=":material/inbox:")
        st.page_link(navigation.RECOMMEND, label="Go to Recommend", icon=":material/recommend:")
        return

    st.subheader("Per model")
    plain.table(
        per_model,
        hide_index=True,
        key="fb_per_model",
        column_config={
            "model_key": "Model",
            "params_hash": "Parameters (hash)",
            "lists_shown": "Lists shown",
            "courses_shown": "Courses shown",
            "up": "Thumbs up",
            "down": "Thumbs down",
            "up_rate": st.column_config.NumberColumn("Up per course shown", format="percent"),
            "down_rate": st.column_config.NumberColumn("Down per course shown", format="percent"),
            "share_up": st.column_config.NumberColumn("Share of votes up", format="percent"),
        },
    )

    st.subheader("Most disliked courses")
    disliked = log.most_disliked(10)
    dataset = session.current_dataset()
    if dataset is not None and not disliked.empty:
        titles = dict(zip(dataset.courses["COURSE_ID"].astype(str), dataset.courses["TITLE"]))
        disliked.insert(1, "title", disliked["course_id"].map(lambda c: titles.get(c, "")))
    plain.table(disliked, hide_index=True, key="fb_disliked")

    st.subheader("Over time")
    over_time = log.over_time("D")
    if not over_time.empty:
        st.plotly_chart(plain.figure(experiment_charts.feedback_over_time(over_time)), key="fb_over_time_chart")
    plain.table(over_time, hide_index=True, key="fb_over_time")

    st.download_button(
        "Export every session's votes as CSV",
        log.export_csv(),
        file_name="feedback.csv",
        mime="text/csv",
        key="fb_export",
        icon=":material/download:",
        help="Text cells that a spreadsheet could run as a formula are prefixed with '",
    )

    st.subheader("Delete a session's feedback")
    sessions = sorted(set(log.votes()["session_id"]) | set(log.lists()["session_id"]))
    chosen = st.selectbox("Session", sessions, index=None, key="fb_admin_session", placeholder="Pick a session id")
    if st.button("Delete its votes and lists", key="fb_admin_delete", icon=":material/delete:", disabled=not chosen):
        with session.guard("Deleting a session's feedback"):
            ss["fb_admin_deleted"] = log.delete_session(chosen)
            st.rerun()
    if "fb_admin_deleted" in ss:
        st.success(f"Deleted {ss.pop('fb_admin_deleted')} record(s).", icon=":material/check:")


frame.page("Feedback log", render, needs_dataset=False)
