"""The Recommend page's link to the feedback log: an anonymous session id and the two things it records.

Logging never gets in the way of the learner: a failure (read-only disk, locked file) is only logged.
"""

from __future__ import annotations

import logging

import streamlit as st

from recsys.ui import session

log = logging.getLogger("recsys.ui")
SESSION_KEY = "feedback_session_id"
_LAST_LIST = "feedback_last_list"


def session_id() -> str:
    """This browser session's anonymous feedback id (random, created on first use)."""
    from recsys.serving.feedback import new_session_id

    if not st.session_state.get(SESSION_KEY):
        st.session_state[SESSION_KEY] = new_session_id()
    return st.session_state[SESSION_KEY]


def feedback_log():
    from recsys.serving.feedback import FeedbackLog

    return FeedbackLog(session.artifacts_dir() / "feedback.sqlite")


def _active_model() -> tuple[str, str, str] | None:
    """(model key, parameter hash, dataset fingerprint) of the model the Recommend page is showing."""
    from recsys.serving.store import canonical_params, params_digest

    active = st.session_state.get("rec_active")
    if not active:
        return None
    return active["key"], params_digest(canonical_params(active["key"], active["params"])), active.get("fp", "")


def record_recommend_vote(course_id: str, vote: str) -> None:
    """Append a thumbs up/down on the Recommend page, with the rank the course was shown at."""
    try:
        model = _active_model()
        if model is None:
            return
        rank = None
        last = st.session_state.get("rec_last")
        if last is not None and "RANK" in last:
            hit = last.loc[last["COURSE_ID"] == course_id, "RANK"]
            rank = int(hit.iloc[0]) if len(hit) else None
        feedback_log().record_vote(session_id(), model[0], model[1], course_id, vote, rank, dataset=model[2])
    except Exception as exc:  # the vote itself already counted for the session; only the log entry is lost
        log.warning("could not log feedback", exc_info=exc)


def record_shown_list(ranked) -> None:
    """Append the shown list once per distinct list (reruns that redraw the same list are not new impressions)."""
    try:
        model = _active_model()
        if model is None or ranked is None or ranked.empty:
            return
        courses = ranked["COURSE_ID"].astype(str).tolist()
        signature = (model, tuple(courses))
        if st.session_state.get(_LAST_LIST) == signature:
            return
        feedback_log().record_list(session_id(), model[0], model[1], courses, dataset=model[2])
        st.session_state[_LAST_LIST] = signature
    except Exception as exc:
        log.warning("could not log a shown list", exc_info=exc)
