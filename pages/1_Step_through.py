"""Step through: run a real model or replay a trace, one draft->verify round at a time."""
import streamlit as st

from specviz.ui import library, page, player, run, state, views

KEY = "step"
page.setup("Step through")
run.collect(KEY)

with st.sidebar:
    st.header("Run a real model")
    run.controls(KEY)
    st.divider()
    st.header("Replay a trace")
    shown = library.picker(KEY, preferred="summarise · lookup · greedy")
    library.uploader(KEY)
    if shown:
        library.download(KEY, *shown)

st.title("Step through speculative decoding")
state.show_error(KEY)
run.live(KEY)
if shown:
    label, trace = shown
    views.header(trace)
    player.player(trace, KEY, label)
