"""The Recommend page's learner: a sample learner (persona, dataset id, random), the searchable course table
whose ticks are the completed courses, the picks box, and the liked / "not for me" chips.

The learner (`recsys.ui.learner.LearnerState`) lives in the session and is reset when the dataset changes.
The course table and the picks box are redrawn under a new key (a version number) whenever the history
changed elsewhere: a value pushed into a widget while the browser sends another one races and undoes clicks.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import streamlit as st

from recsys.stories.personas import PERSONAS, persona_history
from recsys.ui import catalogue, feedback_log, plain, session
from recsys.ui.learner import LearnerState

LEARNER = "rec_learner"
TABLE_VERSION = "rec_table_version"
BOX_VERSION = "rec_box_version"


def current(dataset) -> LearnerState:
    """This session's learner for `dataset` (a new, empty one when the dataset changed)."""
    ss = st.session_state
    learner: LearnerState = ss.get(LEARNER)
    if learner is None or learner.fingerprint != dataset.fingerprint:
        learner = ss[LEARNER] = LearnerState(dataset.fingerprint)
        ss[TABLE_VERSION] = 0
    return learner


# ----- callbacks (run before the rerun that draws their effect) ---------------------------------------
def _bump_box() -> None:
    st.session_state[BOX_VERSION] = st.session_state.get(BOX_VERSION, 0) + 1


def _bump_table() -> None:
    """Redraw the table and the picks box with the learner's history as their defaults."""
    st.session_state[TABLE_VERSION] = st.session_state.get(TABLE_VERSION, 0) + 1
    _bump_box()


def _box_key() -> str:
    return f"rec_completed_{st.session_state.get(BOX_VERSION, 0)}"


def _apply_picks(learner: LearnerState, box_key: str, top: float) -> None:
    if box_key != _box_key():
        return  # a box replaced since (its value arrives late from the browser): the history is newer
    picks = st.session_state.get(box_key) or []
    if set(picks) != set(learner.history):
        learner.set_picks(picks, top)
        _bump_table()


def _clear(learner: LearnerState) -> None:
    learner.load({}, "your picks")
    _bump_table()


def _load(learner: LearnerState, history: dict[str, float], origin: str) -> None:
    learner.load(history, origin)
    _bump_table()


def vote(learner: LearnerState, course_id: str, vote: str) -> None:
    """A thumb on a listed course: kept for this session and written to the feedback log."""
    learner.vote(course_id, vote)
    feedback_log.record_recommend_vote(course_id, vote)


def _random_learner(learner: LearnerState, dataset) -> None:
    """A seeded random learner with 3+ courses; the id box is emptied (it named another learner)."""
    ss = st.session_state
    ss["rec_random_seed"] = ss.get("rec_random_seed", 0) + 1
    rng = np.random.default_rng(ss["rec_random_seed"])
    counts = np.diff(dataset.matrix.indptr)
    pool = np.flatnonzero(counts >= 3) if (counts >= 3).any() else np.arange(dataset.n_users)
    uid = dataset.user_ids[rng.choice(pool)]
    learner.load(dataset.user_history(uid), f"dataset learner {uid}")
    ss["rec_user_id"] = ""
    _bump_table()


# ----- the panel -------------------------------------------------------------------------------------
def sample_learner(dataset, learner: LearnerState) -> None:
    """Start from a persona, a learner id of the dataset, or a random learner."""
    top = dataset.rating_scale[1]
    with st.expander("Start from a sample learner", icon=":material/person_search:"):
        left, right = st.columns(2)
        with left:
            persona_key = st.selectbox(
                "Persona",
                [p.key for p in PERSONAS],
                format_func=lambda k: next(p.name for p in PERSONAS if p.key == k),
                key="rec_persona",
            )
            persona = next(p for p in PERSONAS if p.key == persona_key)
            st.caption(persona.description)
            if st.button("Use this persona", key="rec_use_persona", icon=":material/person:"):
                with session.guard("Building the persona"):
                    ids = persona_history(dataset, persona)
                    if not ids:
                        st.warning("No course of this catalogue matches the persona's genres.")
                    else:
                        _load(learner, {i: top for i in ids}, f"persona: {persona.name}")
        with right:
            user_text = st.text_input(
                "Learner id from the dataset", key="rec_user_id", placeholder=f"e.g. {dataset.user_ids[0]}"
            )
            b1, b2 = st.columns(2)
            if b1.button("Load this learner", key="rec_load_user", icon=":material/download:"):
                with session.guard("Loading the learner", "Type an id that appears in ratings.csv."):
                    uid = dataset.find_learner(user_text)
                    _load(learner, dataset.user_history(uid), f"dataset learner {uid}")
            b2.button(
                "Random learner",
                key="rec_random_user",
                icon=":material/casino:",
                on_click=_random_learner,
                args=(learner, dataset),
            )


def course_table(dataset, learner: LearnerState, table: pd.DataFrame, levels: list[str]) -> None:
    """The searchable course table; its selection is reconciled into the learner's history, so picks survive
    filter changes."""
    ss = st.session_state
    f1, f2, f3 = st.columns([2, 2, 1.4])
    text = f1.text_input(
        "Search titles", key="rec_search", placeholder="e.g. python, cloud, sql", persist_state="session"
    )
    genre_filter = f2.multiselect("Genres", dataset.genres, key="rec_table_genres", persist_state="session")
    level_filter = f3.multiselect("Levels", levels, key="rec_table_levels", persist_state="session") if levels else []
    view = catalogue.filter_courses(table, dataset, text, genre_filter, level_filter)
    state_key = (
        "rec_table_"
        + hashlib.sha1(
            repr((dataset.fingerprint, text, genre_filter, level_filter, ss.get(TABLE_VERSION, 0))).encode()
        ).hexdigest()[:10]
    )
    # Row order and default selection are fixed when this table version is first drawn: picked courses first
    # (a loaded learner's courses are not scattered through hundreds of rows), and an unchanged element is not
    # redrawn by the browser on the rerun a click causes, so a quick second click is not lost in a redraw.
    defaults = ss.get("rec_table_default")
    if not defaults or defaults[0] != state_key or set(defaults[1]) != set(view["COURSE_ID"]):
        picked = view["COURSE_ID"].isin(list(learner.history)).to_numpy()
        order = view["COURSE_ID"][picked].tolist() + view["COURSE_ID"][~picked].tolist()
        defaults = ss["rec_table_default"] = (state_key, order, int(picked.sum()))
    view = view.set_index("COURSE_ID", drop=False).loc[defaults[1]].reset_index(drop=True)
    visible = view["COURSE_ID"].tolist()
    default_rows = list(range(defaults[2]))
    column_config = {
        "COURSE_ID": st.column_config.TextColumn("Id", width=90),
        "TITLE": st.column_config.TextColumn("Title", width=330),
        "GENRES": st.column_config.TextColumn("Genres", width=220),
        "LEVEL": st.column_config.TextColumn("Level", width=100),
        "DURATION_HOURS": st.column_config.NumberColumn("Hours", width=60, format="%d h"),
        "ENROLMENTS": st.column_config.NumberColumn("Learners", width=75, format="localized"),
    }
    st.caption(
        f"Tick the courses the learner completed ({len(view)} of {len(table)} courses shown"
        f"{', picked first' if default_rows else ''})."
    )
    event = plain.table(
        view,
        key=state_key,
        on_select="rerun",
        selection_mode="multi-row",
        hide_index=True,
        selection_default={"selection": {"rows": default_rows}},
        column_config=column_config,
        height=300,
    )
    selected = [visible[i] for i in event.selection.rows if i < len(visible)]
    if learner.reconcile(visible, selected, dataset.rating_scale[1]):
        _bump_box()
        if learner.origin.startswith(("persona", "dataset")) and not learner.origin.endswith("(edited)"):
            learner.origin += " (edited)"


def picks_box(dataset, learner: LearnerState, table: pd.DataFrame, titles: dict[str, str]) -> None:
    """The completed courses as chips, and Clear. Never written from here (see the module note): it is redrawn
    under a new key with the history as default whenever the history changed."""
    box_key = _box_key()
    c1, c2 = st.columns([6, 1], vertical_alignment="bottom")
    c1.multiselect(
        f"Completed courses ({len(learner.history)}) -- {learner.origin}",
        table["COURSE_ID"].tolist(),
        default=list(learner.history),
        format_func=lambda cid: titles.get(cid, cid),
        key=box_key,
        on_change=_apply_picks,
        args=(learner, box_key, dataset.rating_scale[1]),
        placeholder="Tick courses in the table above, or start from a sample learner",
    )
    c2.button("Clear", key="rec_clear", on_click=_clear, args=(learner,), icon=":material/delete:", width="stretch")


def feedback_chips(learner: LearnerState, titles: dict[str, str]) -> None:
    """Liked and "not for me" courses as chips apart from the completed ones; a chip's x undoes the vote."""
    groups = [
        ("Liked", "rec_liked", learner.liked(), ":material/thumb_up:"),
        ("Not for me", "rec_disliked", learner.disliked(), ":material/thumb_down:"),
    ]
    with st.container():  # always drawn, so what follows keeps its place (see the training slot)
        for name, key, ids, icon in groups:
            if not ids:
                continue
            with st.container(horizontal=True, vertical_alignment="center", key=key, gap="small"):
                st.markdown(f"{icon} **{name} ({len(ids)}):**", width="content")
                for cid in ids:
                    st.button(
                        plain.md(titles.get(cid, cid)),
                        key=f"rec_undo_{cid}",
                        icon=":material/close:",
                        on_click=learner.undo,
                        args=(cid,),
                        help="Undo this vote",
                        type="tertiary",
                    )
        if learner.feedback:
            st.button("Clear feedback", key="rec_clear_feedback", on_click=learner.feedback.clear, type="tertiary")
