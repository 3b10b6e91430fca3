"""Run history (admin): every recorded comparison and tuning run, from every visitor and the CLI; delete runs."""

import streamlit as st

from recsys.ui import admin, frame, plain, session


def render() -> None:
    if not admin.gate("Run history"):
        return
    st.title("Run history")
    st.caption(
        "Admin view: every comparison and tuning run recorded by the app and the CLI (one SQLite file in the "
        "artifacts folder). Deleting a run removes it for everyone."
    )
    history = session.run_history()
    runs = history.list_runs(limit=1000)
    ss = st.session_state
    if "rh_deleted" in ss:
        st.success(f"Deleted {ss.pop('rh_deleted')} run(s).", icon=":material/check:")
    if runs.empty:
        st.info("No runs recorded yet.", icon=":material/inbox:")
        return
    shown = runs[["id", "created_at", "kind", "dataset", "split", "models", "summary"]]
    plain.table(shown, hide_index=True, key="rh_runs")
    chosen = st.multiselect("Runs to delete", shown["id"].tolist(), key="rh_chosen", placeholder="Pick run ids")
    if st.button("Delete the chosen runs", key="rh_delete", icon=":material/delete:", disabled=not chosen):
        with session.guard("Deleting runs"):
            ss["rh_deleted"] = history.delete_runs(chosen)
            ss.pop("rh_chosen", None)
            st.rerun()


frame.page("Run history", render, needs_dataset=False)
