"""Course recommender workbench -- `streamlit run app.py`. The router: page config and the sectioned
navigation (recsys.ui.navigation); each page is a thin view in views/."""

import streamlit as st

from recsys.ui import navigation

st.set_page_config(page_title="Course recommender workbench", page_icon=":material/school:", layout="wide")
st.navigation(navigation.streamlit_pages()).run()
