"""The page list: one place that says which pages exist, in which section, with which title and icon.

app.py hands it to `st.navigation`; page links elsewhere use the paths named here.
"""

from __future__ import annotations

from typing import NamedTuple


class PageSpec(NamedTuple):
    path: str
    title: str
    icon: str
    default: bool = False


HOME = "views/home.py"
DATA_EXPLORER = "views/data_explorer.py"
RECOMMEND = "views/recommend.py"
COMPARE = "views/compare.py"
TUNE = "views/tune.py"
EVALUATION = "views/evaluation.py"
EXPERIMENTS = "views/experiments.py"
FEEDBACK_ADMIN = "views/feedback_admin.py"
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
        PageSpec(FEEDBACK_ADMIN, "Feedback log", ":material/thumbs_up_down:"),
    ],
    "Stories": [
        PageSpec(LEARNING_PATH, "Learning path", ":material/route:"),
        PageSpec(COURSE_INSIGHTS, "Course insights", ":material/insights:"),
    ],
}


def all_pages() -> list[PageSpec]:
    return [page for pages in SECTIONS.values() for page in pages]


def streamlit_pages() -> dict:
    """Sections of `st.Page` objects for `st.navigation`."""
    import streamlit as st

    return {
        section: [st.Page(p.path, title=p.title, icon=p.icon, default=p.default) for p in pages]
        for section, pages in SECTIONS.items()
    }
