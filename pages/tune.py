"""Placeholder."""
import streamlit as st

st.title("tune")
st.info("Coming soon.")
