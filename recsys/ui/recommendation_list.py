"""The Recommend page's list: filters (how many, genres, levels, duration), the ranked courses with their
reasons, and a thumb up / down on each row (kept for the session, logged, and folded in on the next run)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from recsys.ui import catalogue, feedback_log, learner_panel, plain, session
from recsys.ui.learner import LearnerState

# Fixed-width cells: 7 elements a row instead of 17 with st.columns (each element is one message to the
# browser on every rerun a thumb or a filter causes). Level fits "Intermediate".
WIDTHS = {"Course": 500, "Level": 100, "Hours": 50, "Score": 60}


def filters(dataset, table: pd.DataFrame, levels: list[str]) -> tuple[int, dict]:
    """The list settings row: (how many, serving filters {genres, levels[, max_duration]})."""
    r1, r2, r3, r4 = st.columns([1, 2, 1.5, 1.5])
    k = r1.number_input("How many", 1, 50, 10, key="rec_k", persist_state="session")
    genres = r2.multiselect("Only genres", dataset.genres, key="rec_f_genres", persist_state="session")
    chosen_levels = r3.multiselect("Only levels", levels, key="rec_f_levels", persist_state="session") if levels else []
    out = {"genres": genres, "levels": chosen_levels}
    if "DURATION_HOURS" in table and table["DURATION_HOURS"].notna().any():
        longest = int(np.ceil(table["DURATION_HOURS"].max()))
        max_h = r4.slider("Max duration (hours)", 1, longest, longest, key="rec_f_hours", persist_state="session")
        if max_h < longest:
            out["max_duration"] = max_h
    return int(k), out


def show(dataset, learner: LearnerState, table: pd.DataFrame, levels: list[str], active: dict, chosen) -> None:
    """The active model's list for the learner; `chosen` = (key, parameters) picked above, to say when the list
    comes from a model trained with other settings."""
    note = st.container()  # always drawn (see the training slot)
    if (active["key"], active["params"]) != chosen:
        note.caption(
            f":material/info: Showing **{catalogue.model_label(active['key'])}** as last trained; press "
            "**Train model** to use the model settings above."
        )
    k, wanted = filters(dataset, table, levels)
    with session.guard("Recommending", "Train the model again, or pick other courses."):
        model = session.model_store().cached(dataset, active["key"], active["params"])
        if model is None:
            raise RuntimeError("the trained model is no longer available; press Train model again")
        recs = model.recommend(learner.history, k=k, liked=learner.liked(), disliked=learner.disliked(), filters=wanted)
        ranked = catalogue.recommendation_table(dataset, recs)
        st.session_state["rec_last"] = ranked
        feedback_log.record_shown_list(ranked)
        st.caption(
            f"From **{model.label}** ({active['note']}) for {plain.md(learner.origin)} with "
            f"{len(learner.history)} completed, {len(learner.liked())} liked and "
            f"{len(learner.disliked())} not-for-me course(s). Thumbs up/down re-rank the list for this "
            "session."
        )
        if ranked.empty:
            st.info("No course matches these filters -- loosen them.", icon=":material/filter_alt_off:")
            return
        rows(ranked, learner)


def rows(ranked: pd.DataFrame, learner: LearnerState) -> None:
    """One horizontal row per course, the reason under the title, and the two thumbs."""
    with st.container(horizontal=True, gap="small"):
        for name, width in WIDTHS.items():
            st.markdown(f"**{name}**", width=width)
    for row in ranked.itertuples(index=False):
        with st.container(horizontal=True, vertical_alignment="center", gap="small"):
            st.markdown(
                f"**{row.RANK}. {plain.md(row.TITLE)}**  \n"
                f":gray[{plain.md(row.COURSE_ID)} · {plain.md(row.GENRES)}]  \n"
                f":gray[_{plain.md(row.REASON)}_]",
                width=WIDTHS["Course"],
            )
            st.markdown(plain.md(getattr(row, "LEVEL", "") or "-"), width=WIDTHS["Level"])
            hours = getattr(row, "DURATION_HOURS", None)
            st.markdown(f"{hours:g}" if hours is not None and hours == hours else "-", width=WIDTHS["Hours"])
            score = f"{row.SCORE:,.0f}" if abs(row.SCORE) >= 100 else f"{row.SCORE:.3f}"
            st.markdown(score, width=WIDTHS["Score"])
            st.button(
                "",
                key=f"rec_up_{row.COURSE_ID}",
                icon=":material/thumb_up:",
                help="Like: more like this (kept apart from completed courses)",
                on_click=learner_panel.vote,
                args=(learner, row.COURSE_ID, "up"),
            )
            st.button(
                "",
                key=f"rec_down_{row.COURSE_ID}",
                icon=":material/thumb_down:",
                help="Not for me: never recommend it, and show fewer courses like it",
                on_click=learner_panel.vote,
                args=(learner, row.COURSE_ID, "down"),
            )
