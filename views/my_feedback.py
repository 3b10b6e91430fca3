"""My feedback: this browser session's own thumbs up/down -- see them, export them, delete them. Nobody
else's votes are ever shown here (every session's log is on the admin-only Feedback log page)."""

import streamlit as st

from recsys.ui import feedback_log, frame, navigation, plain, session


def render() -> None:
    st.title("My feedback")
    st.caption(
        "The thumbs up/down you gave on the Recommend page in this browser session, under an anonymous random "
        "id. Only your own votes are here."
    )
    log = feedback_log.feedback_log()
    mine = feedback_log.session_id()
    ss = st.session_state
    if st.button(
        "Delete my feedback",
        key="fb_delete",
        icon=":material/delete:",
        help="Removes every vote and shown list recorded from this browser session",
    ):
        with session.guard("Deleting this session's feedback"):
            ss["fb_deleted"] = log.delete_session(mine)
    if "fb_deleted" in ss:
        st.success(f"Deleted {ss.pop('fb_deleted')} record(s) of this session.", icon=":material/check:")
    votes = log.votes(mine)
    if votes.empty:
        st.info("No votes from this session yet.", icon=":material/inbox:")
        st.page_link(navigation.RECOMMEND, label="Go to Recommend", icon=":material/recommend:")
        return
    st.caption(f"This session has {len(votes)} vote(s) in the log.")
    plain.table(votes[["ts", "model_key", "course_id", "vote", "rank"]], hide_index=True, key="fb_mine")
    st.download_button(
        "Export my votes as CSV",
        log.export_csv(mine),
        file_name="my-feedback.csv",
        mime="text/csv",
        key="fb_export_mine",
        icon=":material/download:",
        help="Only this session's votes. Text cells a spreadsheet could run as a formula are prefixed with '",
    )


frame.page("My feedback", render, needs_dataset=False)
