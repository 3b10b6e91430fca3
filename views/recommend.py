"""Recommend: pick completed courses (or a sample learner), train a model, get ranked courses with reasons."""

import hashlib

import numpy as np
import streamlit as st

from recsys.data import LEVELS
from recsys.models import MODEL_KEYS
from recsys.personas import PERSONAS, persona_history
from recsys.ui import catalogue, feedback_log, frame, long_task, plain, session, widgets
from recsys.ui.learner import LearnerState


def render() -> None:
    st.title("Recommend courses")
    dataset = session.require_dataset()
    ss = st.session_state
    lo, top = dataset.rating_scale

    # ----- the learner (per session, reset when the dataset changes) ------------------------------
    learner: LearnerState = ss.get("rec_learner")
    if learner is None or learner.fingerprint != dataset.fingerprint:
        learner = ss["rec_learner"] = LearnerState(dataset.fingerprint)
        ss["rec_table_version"] = 0

    def _bump_box():
        ss["rec_box_version"] = ss.get("rec_box_version", 0) + 1

    def _bump_table():
        """Redraw the table and the picks box with the learner's history as their defaults."""
        ss["rec_table_version"] = ss.get("rec_table_version", 0) + 1
        _bump_box()

    def _apply_picks(box_key: str):
        if box_key != f"rec_completed_{ss.get('rec_box_version', 0)}":
            return  # a box replaced since (its value arrives late from the browser): the history is newer
        picks = ss.get(box_key) or []
        if set(picks) != set(learner.history):
            learner.set_picks(picks, top)
            _bump_table()

    def _clear_learner():
        learner.load({}, "your picks")
        _bump_table()

    def _vote(course_id: str, vote: str):
        learner.vote(course_id, vote)
        feedback_log.record_recommend_vote(course_id, vote)

    def _clear_feedback():
        learner.feedback.clear()

    def _undo(course_id: str):
        learner.undo(course_id)

    def _random_learner():
        """A seeded random learner with 3+ courses; the id box is emptied (it named another learner)."""
        ss["rec_random_seed"] = ss.get("rec_random_seed", 0) + 1
        rng = np.random.default_rng(ss["rec_random_seed"])
        counts = np.diff(dataset.matrix.indptr)
        pool = np.flatnonzero(counts >= 3) if (counts >= 3).any() else np.arange(dataset.n_users)
        uid = dataset.user_ids[rng.choice(pool)]
        learner.load(dataset.user_history(uid), f"dataset learner {uid}")
        ss["rec_user_id"] = ""
        _bump_table()

    table = catalogue.course_table(dataset)
    titles = dict(zip(table["COURSE_ID"], table["TITLE"]))

    def feedback_chips() -> None:
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
                            on_click=_undo,
                            args=(cid,),
                            help="Undo this vote",
                            type="tertiary",
                        )
            if learner.feedback:
                st.button("Clear feedback", key="rec_clear_feedback", on_click=_clear_feedback, type="tertiary")

    st.subheader("1. The learner")
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
                        learner.load({i: top for i in ids}, f"persona: {persona.name}")
                        _bump_table()
        with right:
            user_text = st.text_input(
                "Learner id from the dataset", key="rec_user_id", placeholder=f"e.g. {dataset.user_ids[0]}"
            )
            b1, b2 = st.columns(2)
            if b1.button("Load this learner", key="rec_load_user", icon=":material/download:"):
                with session.guard("Loading the learner", "Type an id that appears in ratings.csv."):
                    uid = dataset.find_learner(user_text)
                    learner.load(dataset.user_history(uid), f"dataset learner {uid}")
                    _bump_table()
            b2.button("Random learner", key="rec_random_user", icon=":material/casino:", on_click=_random_learner)

    # Searchable table; its selection is reconciled into learner.history, so picks survive filter changes.
    f1, f2, f3 = st.columns([2, 2, 1.4])
    text = f1.text_input(
        "Search titles", key="rec_search", placeholder="e.g. python, cloud, sql", persist_state="session"
    )
    genre_filter = f2.multiselect("Genres", dataset.genres, key="rec_table_genres", persist_state="session")
    present = set(table["LEVEL"].dropna()) if "LEVEL" in table else set()
    levels = [lv for lv in LEVELS if lv in present] + sorted(present - set(LEVELS))
    level_filter = f3.multiselect("Levels", levels, key="rec_table_levels", persist_state="session") if levels else []
    view = catalogue.filter_courses(table, dataset, text, genre_filter, level_filter)
    state_key = (
        "rec_table_"
        + hashlib.sha1(
            repr((dataset.fingerprint, text, genre_filter, level_filter, ss.get("rec_table_version", 0))).encode()
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
    if learner.reconcile(visible, selected, top):
        _bump_box()
        if learner.origin.startswith(("persona", "dataset")) and not learner.origin.endswith("(edited)"):
            learner.origin += " (edited)"

    # The picks box is never written from here (a value pushed while the browser sends another one races and
    # undoes clicks); it is redrawn under a new key with the history as default whenever the history changed.
    box_key = f"rec_completed_{ss.get('rec_box_version', 0)}"
    c1, c2 = st.columns([6, 1], vertical_alignment="bottom")
    c1.multiselect(
        f"Completed courses ({len(learner.history)}) -- {learner.origin}",
        table["COURSE_ID"].tolist(),
        default=list(learner.history),
        format_func=lambda cid: titles.get(cid, cid),
        key=box_key,
        on_change=_apply_picks,
        args=(box_key,),
        placeholder="Tick courses in the table above, or start from a sample learner",
    )
    c2.button("Clear", key="rec_clear", on_click=_clear_learner, icon=":material/delete:", width="stretch")

    # Everything below the picks box is one fragment: a thumb, an undo, a list filter, the model picker or
    # Train model reruns only this part (the course table and the picks box above stay as they are); ticking
    # a course reruns the whole page, which redraws this part with the new history.
    @st.fragment
    def model_and_recommendations() -> None:
        feedback_chips()

        # ----- model ------------------------------------------------------------------------------------
        st.subheader("2. The model")
        models = list(MODEL_KEYS)
        m1, m2 = st.columns([1, 2])
        with m1:
            model_key = widgets.model_picker("Model", "rec_model", models)
            if model_key:
                st.caption(catalogue.model_description(model_key))
        with m2:
            params = widgets.hyperparam_inputs(model_key, "rec") if model_key else {}

        active = ss.get("rec_active")
        train_clicked = st.button(
            "Train model", type="primary", key="rec_train", icon=":material/model_training:", disabled=not model_key
        )
        chosen_is_shown = active and (active["key"], active["params"], active["fp"]) == (
            model_key,
            params,
            dataset.fingerprint,
        )
        if model_key and not train_clicked and not chosen_is_shown:
            # Picking a model (or settings) this server has already trained shows it at once: no Train click.
            if session.model_store().in_memory(dataset, model_key, params, quiet=True) is not None:
                active = ss["rec_active"] = {
                    "key": model_key,
                    "params": dict(params),
                    "fp": dataset.fingerprint,
                    "note": "already trained in this server",
                }
        # Always drawn, even empty: elements below keep their place in the page between reruns, so the browser
        # does not remount them (a remounted slider loses keyboard focus after each change).
        with st.container():
            if train_clicked:
                label = catalogue.model_label(model_key)

                def trained(fetched) -> str:
                    model, source = fetched
                    took = getattr(model, "fit_seconds_", 0.0)
                    ss["rec_active"] = {
                        "key": model_key,
                        "params": dict(params),
                        "fp": dataset.fingerprint,
                        "note": {
                            "trained": f"trained in {took:.1f} s",
                            "disk": "loaded a saved model (same data and parameters)",
                            "memory": "already trained in this server",
                        }[source],
                    }
                    return f"{label}: {ss['rec_active']['note']}"

                if long_task.run(
                    f"Training {label} ...",
                    lambda progress: session.model_store().fetch(
                        dataset,
                        model_key,
                        params,
                        notify=lambda note: st.warning(note, icon=":material/gpp_maybe:"),
                        progress=progress,
                    ),
                    what=f"Training {label}",
                    hint="Check the parameters, or pick another model.",
                    done=trained,
                ):
                    active = ss["rec_active"]

        # ----- recommendations --------------------------------------------------------------------------
        def show_recommendations(active: dict) -> None:
            note = st.container()  # always drawn (see the training slot above)
            if (active["key"], active["params"]) != (model_key, params):
                note.caption(
                    f":material/info: Showing **{catalogue.model_label(active['key'])}** as last trained; press "
                    "**Train model** to use the model settings above."
                )
            r1, r2, r3, r4 = st.columns([1, 2, 1.5, 1.5])
            k = r1.number_input("How many", 1, 50, 10, key="rec_k", persist_state="session")
            rec_genres = r2.multiselect("Only genres", dataset.genres, key="rec_f_genres", persist_state="session")
            rec_levels = (
                r3.multiselect("Only levels", levels, key="rec_f_levels", persist_state="session") if levels else []
            )
            filters = {"genres": rec_genres, "levels": rec_levels}
            if "DURATION_HOURS" in table and table["DURATION_HOURS"].notna().any():
                longest = int(np.ceil(table["DURATION_HOURS"].max()))
                max_h = r4.slider(
                    "Max duration (hours)", 1, longest, longest, key="rec_f_hours", persist_state="session"
                )
                if max_h < longest:
                    filters["max_duration"] = max_h

            with session.guard("Recommending", "Train the model again, or pick other courses."):
                model = session.model_store().cached(dataset, active["key"], active["params"])
                if model is None:
                    raise RuntimeError("the trained model is no longer available; press Train model again")
                recs = model.recommend(
                    learner.history, k=int(k), liked=learner.liked(), disliked=learner.disliked(), filters=filters
                )
                ranked = catalogue.recommendation_table(dataset, recs)
                ss["rec_last"] = ranked
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
                show_rows(ranked)

        def show_rows(ranked) -> None:
            """One horizontal row per course with fixed-width cells and the reason under the title: 7 elements a
            row instead of 17 with st.columns (each element is one message to the browser on every rerun a thumb
            or a filter causes)."""
            widths = {"Course": 500, "Level": 100, "Hours": 50, "Score": 60}  # Level fits "Intermediate"
            with st.container(horizontal=True, gap="small"):
                for name, width in widths.items():
                    st.markdown(f"**{name}**", width=width)
            for row in ranked.itertuples(index=False):
                with st.container(horizontal=True, vertical_alignment="center", gap="small"):
                    st.markdown(
                        f"**{row.RANK}. {plain.md(row.TITLE)}**  \n"
                        f":gray[{plain.md(row.COURSE_ID)} · {plain.md(row.GENRES)}]  \n"
                        f":gray[_{plain.md(row.REASON)}_]",
                        width=widths["Course"],
                    )
                    st.markdown(plain.md(getattr(row, "LEVEL", "") or "-"), width=widths["Level"])
                    hours = getattr(row, "DURATION_HOURS", None)
                    st.markdown(f"{hours:g}" if hours is not None and hours == hours else "-", width=widths["Hours"])
                    score = f"{row.SCORE:,.0f}" if abs(row.SCORE) >= 100 else f"{row.SCORE:.3f}"
                    st.markdown(score, width=widths["Score"])
                    st.button(
                        "",
                        key=f"rec_up_{row.COURSE_ID}",
                        icon=":material/thumb_up:",
                        help="Like: more like this (kept apart from completed courses)",
                        on_click=_vote,
                        args=(row.COURSE_ID, "up"),
                    )
                    st.button(
                        "",
                        key=f"rec_down_{row.COURSE_ID}",
                        icon=":material/thumb_down:",
                        help="Not for me: never recommend it, and show fewer courses like it",
                        on_click=_vote,
                        args=(row.COURSE_ID, "down"),
                    )

        st.subheader("3. Recommendations")
        if not active or active["fp"] != dataset.fingerprint:
            st.info("Pick a model and press **Train model** to get recommendations.", icon=":material/arrow_upward:")
        else:
            show_recommendations(active)

    model_and_recommendations()


frame.page("Recommend", render)
