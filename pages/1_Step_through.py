"""Step through: run a real model or replay a trace, one draft->verify round at a time."""
import streamlit as st

from specviz.present import cards
from specviz.ui import library, machine, page, player, projector, run, slides, state, views

KEY = "step"
page.setup("Step through", "1_Step_through",
           hideable={"step_runbox": "Run a real model", "step_replaybox": "Replay a trace",
                     "step_controls": "the player's buttons", "step_slider": "the round slider"})
run.collect(KEY)

with st.sidebar:
    with st.container(key="step_runbox"):
        st.header("Run a real model")
        run.controls(KEY)
        st.divider()
    with st.container(key="step_replaybox"):
        st.header("Replay a trace")
        shown = library.picker(KEY, preferred="summarise · lookup · greedy", param="trace")
        library.uploader(KEY)
        if shown:
            library.download(KEY, *shown)
            slides.downloads(KEY, *shown)

if not projector.on():  # the projector keeps its first screen for the round
    st.title("Step through speculative decoding")
    with st.expander("This machine: what a step, a verify pass and a draft cost here, and the γ they choose"):
        machine.panel(KEY)
state.show_error(KEY)
run.live(KEY)
if shown:
    label, trace = shown
    if projector.on():  # the round and the player on the first screen, the run's numbers folded
        st.markdown(cards.describe(trace))
        with st.expander("the run's measured numbers: α, τ, costs, speedup"):
            views.cards(trace)
    else:
        views.header(trace)
    player.player(trace, KEY, label, address=True)
page.done()
