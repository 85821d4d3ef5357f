"""Your server: a serving engine's speculative decoding in the app's own numbers, with health alarms."""
import streamlit as st

from specviz.ui import page, server

page.setup("Your server", "8_Your_server")

with st.sidebar:
    st.header("Your server's numbers")
    server.controls()

st.title("Your server")
st.markdown("Serving engines already count what the lessons teach. Point SpecViz at a vLLM, llama.cpp, "
            "TensorRT-LLM or SGLang deployment's Prometheus `/metrics` (TGI, archived, still reads), or "
            "paste the responses that carry per-request numbers, and see α, τ and per-position acceptance "
            "with the same definitions as this app's own runs, each engine's own “acceptance rate” named "
            "beside them, and an alarm when acceptance collapses, decays or jumps.")
server.view()
page.done()
