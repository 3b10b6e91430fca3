"""What every page shares inside the router (app.py): the dataset check, the error guard and the sidebar note.

Page config and the sectioned navigation are app.py's (`st.navigation`, pages listed in recsys.ui.navigation).
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from recsys.ui import navigation, session
from recsys.ui.plain import md


def page(title: str, render: Callable[[], None], *, needs_dataset: bool = True) -> None:
    """Draw one page: `render` runs inside the error guard, and only once a dataset is loaded if it needs one."""
    with st.sidebar:
        note = st.empty()
    # Pages never call st.stop(): after it nothing else (e.g. the sidebar note) could be drawn in the run.
    if needs_dataset and session.current_dataset() is None:
        st.title(title)
        no_dataset_message()
    else:
        with session.guard(f"The {title} page", "Reload the page; if this persists, choose another dataset on Home."):
            render()
    # After the page, so the note reflects a dataset chosen on this run and never delays the page itself.
    dataset = session.current_dataset()
    note.caption(
        f"**Dataset:** {md(session.source_label())}  \n{dataset.n_users:,} learners · {dataset.n_items:,} courses · "
        f"{len(dataset.ratings):,} ratings"
        if dataset is not None
        else "**Dataset:** none loaded"
    )
    session.prewarm_models()


def no_dataset_message() -> None:
    """Why no dataset is in use, and the way to Home to choose one."""
    st.warning(f"No dataset is loaded: {md(session.dataset_problem())}", icon=":material/database:")
    st.page_link(navigation.HOME, label="Choose a dataset on the Home page", icon=":material/home:")
