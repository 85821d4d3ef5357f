"""Page setup shared by every page: config and styles; links to every page."""
from pathlib import Path

import streamlit as st

from .views import css


def setup(title: str) -> None:
    # the default favicon: emoji and material icons would be fetched from a CDN (offline here)
    st.set_page_config(page_title=f"{title} · SpecViz", layout="wide")
    css()


def page_links() -> None:
    """A link to every page in pages/, in their numbered order, titled from the file name."""
    for path in sorted((Path(__file__).resolve().parents[2] / "pages").glob("*.py")):
        title = path.stem.split("_", 1)[-1].replace("_", " ")
        st.page_link(f"pages/{path.name}", label=title)
