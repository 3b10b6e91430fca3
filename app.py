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

with st.sidebar:
    dataset = session.current_dataset()
    if dataset is not None:
        st.caption(f"**Dataset:** {session.source_label()}  \n"
                   f"{dataset.n_users:,} learners · {dataset.n_items:,} courses · {len(dataset.ratings):,} ratings")
    else:
        st.caption("**Dataset:** none loaded")

with session.guard(f"The {page.title} page", "Reload the page; if this persists, choose another dataset on Home."):
    page.run()
