"""Course recommender workbench -- entry point: `streamlit run app.py`.

Pages live in pages/ and stay thin: datasets come from recsys.data, models from recsys.models, evaluation from
recsys.evaluation. This file only sets up navigation and shows the dataset in use in the sidebar.
"""
import streamlit as st

from recsys.ui import session

st.set_page_config(page_title="Course recommender workbench", page_icon=":material/school:", layout="wide")

PAGES = {
    "Workbench": [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("pages/data_explorer.py", title="Data explorer", icon=":material/bar_chart:"),
        st.Page("pages/recommend.py", title="Recommend", icon=":material/recommend:"),
    ],
    "Evaluate": [
        st.Page("pages/compare.py", title="Compare", icon=":material/leaderboard:"),
        st.Page("pages/tune.py", title="Tune", icon=":material/tune:"),
        st.Page("pages/evaluation.py", title="Evaluation plots", icon=":material/monitoring:"),
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
