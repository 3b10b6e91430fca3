"""The frame every page shares: page config, sidebar navigation, the dataset check and the error guard.

Pages live in `pages/` (Streamlit's multipage folder; `app.py` is Home). Streamlit's own sidebar list is turned
off (`client.showSidebarNavigation = false`) because it would label Home "app" and cannot group pages; this
sidebar draws the same links with proper titles, icons and sections.
"""
from __future__ import annotations

from typing import Callable

import streamlit as st

from recsys.ui import session

HOME = "app.py"
SECTIONS = {
    "Workbench": [
        (HOME, "Home", ":material/home:"),
        ("pages/1_data_explorer.py", "Data explorer", ":material/bar_chart:"),
        ("pages/2_recommend.py", "Recommend", ":material/recommend:"),
    ],
    "Evaluate": [
        ("pages/3_compare.py", "Compare", ":material/leaderboard:"),
        ("pages/4_tune.py", "Tune", ":material/tune:"),
        ("pages/5_evaluation.py", "Evaluation plots", ":material/monitoring:"),
    ],
}
PAGE_PATHS = {title: path for items in SECTIONS.values() for path, title, _ in items}


def page(title: str, render: Callable[[], None], *, needs_dataset: bool = True) -> None:
    """Draw one page: `render` runs inside the error guard, and only once a dataset is loaded if it needs one."""
    st.set_page_config(page_title=f"{title} · Course recommender workbench", page_icon=":material/school:",
                       layout="wide")
    with st.sidebar:
        for section, items in SECTIONS.items():
            st.caption(section)
            for path, label, icon in items:
                st.page_link(path, label=label, icon=icon)
        note = st.empty()
    # Pages never call st.stop(): after it nothing else (e.g. the sidebar note) could be drawn in the run.
    if needs_dataset and session.current_dataset() is None:
        st.title(title)
        session.no_dataset_message()
    else:
        with session.guard(f"The {title} page", "Reload the page; if this persists, choose another dataset on Home."):
            render()
    # After the page, so the note reflects a dataset chosen on this run and never delays the page itself.
    dataset = session.current_dataset()
    note.caption(
        f"**Dataset:** {session.source_label()}  \n{dataset.n_users:,} learners · {dataset.n_items:,} courses · "
        f"{len(dataset.ratings):,} ratings" if dataset is not None else "**Dataset:** none loaded")
    session.prewarm_models()
