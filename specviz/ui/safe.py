"""Text from a trace file is data: `text()` shows it on its own as plain text (st.text: never
parsed); inside markdown or HTML it goes through present/escape.py (md, inert, html)."""
import streamlit as st


def text(value: object) -> None:
    """Show a value on its own as plain text (st.text: never parsed)."""
    st.text(str(value))
