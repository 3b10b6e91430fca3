"""Helpers for the Streamlit pages: tables, charts and model listing (no model math here).

`catalogue` and `charts` are plain pandas/plotly; `session` and `widgets` hold the Streamlit-specific glue
shared by the pages (dataset in use, model store, hyperparameter widgets, error display).
"""
