"""Page setup shared by every page: config, styles and the sidebar's page links."""
from pathlib import Path

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from .views import css


def setup(title: str) -> None:
    # the default favicon: emoji and material icons would be fetched from a CDN (offline here)
    st.set_page_config(page_title=f"{title} · SpecViz", layout="wide")
    css()
    with st.sidebar:  # our own links: Streamlit's automatic menu would call the landing page "app"
        try:
            page_links(home=True)
        except StreamlitPageNotFoundError:
            pass  # a page run as its own entrypoint (AppTest.from_file) has no app.py to link to


def page_links(home: bool = False) -> None:
    """A link to every page in pages/, in their numbered order, titled from the file name."""
    if home:
        st.page_link("app.py", label="Home")
    for path in sorted((Path(__file__).resolve().parents[2] / "pages").glob("*.py")):
        title = path.stem.split("_", 1)[-1].replace("_", " ")
        st.page_link(f"pages/{path.name}", label=title)
