"""Your server: a vLLM, SGLang or TGI deployment's speculative decoding in the app's own numbers."""
import streamlit as st

from specviz.ui import page, server

page.setup("Your server", "8_Your_server")

with st.sidebar:
    st.header("Your server's metrics")
    server.controls()

st.title("Your server")
st.markdown("Serving engines already count what the lessons teach. Point SpecViz at a vLLM, SGLang "
            "or TGI deployment's Prometheus `/metrics` and see its α, τ and per-position acceptance "
            "with the same definitions as this app's own runs.")
server.view()
page.done()
