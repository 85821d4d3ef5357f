"""Page setup shared by every page: config and styles."""
import streamlit as st

from .views import css


def setup(title: str) -> None:
    # the default favicon: emoji and material icons would be fetched from a CDN (offline here)
    st.set_page_config(page_title=f"{title} · SpecViz", layout="wide")
    css()
