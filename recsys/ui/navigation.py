"""The page list: one place that says which pages exist, in which section, with which title and icon.

app.py hands it to `st.navigation`; page links elsewhere use the paths named here. Admin pages (every
session's data) are listed only when the server has a sign-in configured (`recsys.ui.admin`).
"""

from __future__ import annotations

from typing import NamedTuple


class PageSpec(NamedTuple):
    path: str
    title: str
    icon: str
    default: bool = False
    admin: bool = False


HOME = "views/home.py"
DATA_EXPLORER = "views/data_explorer.py"
RECOMMEND = "views/recommend.py"
COMPARE = "views/compare.py"
TUNE = "views/tune.py"
EVALUATION = "views/evaluation.py"
EXPERIMENTS = "views/experiments.py"
FEEDBACK_ADMIN = "views/feedback_admin.py"
MY_FEEDBACK = "views/my_feedback.py"
RUN_HISTORY_ADMIN = "views/run_history_admin.py"
LEARNING_PATH = "views/learning_path.py"
COURSE_INSIGHTS = "views/course_insights.py"

SECTIONS: dict[str, list[PageSpec]] = {
    "Workbench": [
        PageSpec(HOME, "Home", ":material/home:", default=True),
        PageSpec(DATA_EXPLORER, "Data explorer", ":material/bar_chart:"),
        PageSpec(RECOMMEND, "Recommend", ":material/recommend:"),
    ],
    "Evaluate": [
        PageSpec(COMPARE, "Compare", ":material/leaderboard:"),
        PageSpec(TUNE, "Tune", ":material/tune:"),
        PageSpec(EVALUATION, "Evaluation plots", ":material/monitoring:"),
    ],
    "Experiment": [
        PageSpec(EXPERIMENTS, "Experiments", ":material/science:"),
        PageSpec(MY_FEEDBACK, "My feedback", ":material/thumbs_up_down:"),
    ],
    "Admin": [
        PageSpec(FEEDBACK_ADMIN, "Feedback log", ":material/admin_panel_settings:", admin=True),
        PageSpec(RUN_HISTORY_ADMIN, "Run history", ":material/manage_history:", admin=True),
    ],
    "Stories": [
        PageSpec(LEARNING_PATH, "Learning path", ":material/route:"),
        PageSpec(COURSE_INSIGHTS, "Course insights", ":material/insights:"),
    ],
}


def all_pages() -> list[PageSpec]:
    return [page for pages in SECTIONS.values() for page in pages]


def streamlit_pages() -> dict:
    """Sections of `st.Page` objects for `st.navigation`; admin pages only when a sign-in is configured."""
    import streamlit as st

    from recsys.ui import admin

    show_admin = admin.mode() is not None
    sections = {
        section: [
            st.Page(p.path, title=p.title, icon=p.icon, default=p.default) for p in pages if show_admin or not p.admin
        ]
        for section, pages in SECTIONS.items()
    }
    return {section: pages for section, pages in sections.items() if pages}
