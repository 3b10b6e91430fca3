"""Course recommender workbench -- entry point: `streamlit run app.py`.

Pages live in app_pages/ and stay thin: datasets come from recsys.data, models from recsys.models, evaluation
from recsys.evaluation. This file only sets up navigation and shows the dataset in use in the sidebar.
(Not a folder named pages/: with one, Streamlit runs its legacy multipage mode until st.navigation has run once
in the process, so a direct link to /recommend on a fresh server would render without this navigation.)
"""
import streamlit as st

from recsys.ui import session

st.set_page_config(page_title="Course recommender workbench", page_icon=":material/school:", layout="wide")

PAGES = {
    "Workbench": [
        st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("app_pages/data_explorer.py", title="Data explorer", icon=":material/bar_chart:"),
        st.Page("app_pages/recommend.py", title="Recommend", icon=":material/recommend:"),
    ],
    "Evaluate": [
        st.Page("app_pages/compare.py", title="Compare", icon=":material/leaderboard:"),
        st.Page("app_pages/tune.py", title="Tune", icon=":material/tune:"),
        st.Page("app_pages/evaluation.py", title="Evaluation plots", icon=":material/monitoring:"),
    ],
}

page = st.navigation(PAGES)
sidebar_note = st.sidebar.empty()

# Pages never call st.stop(): after it nothing else (e.g. this sidebar note) could be drawn in the run.
if page.title != "Home" and session.current_dataset() is None:
    st.title(page.title)
    session.no_dataset_message()
else:
    with session.guard(f"The {page.title} page", "Reload the page; if this persists, choose another dataset on Home."):
        page.run()

# After the page, so the note reflects a dataset chosen on this run and never delays the page itself.
dataset = session.current_dataset()
sidebar_note.caption(
    f"**Dataset:** {session.source_label()}  \n{dataset.n_users:,} learners · {dataset.n_items:,} courses · "
    f"{len(dataset.ratings):,} ratings" if dataset is not None else "**Dataset:** none loaded")
session.prewarm_models()
