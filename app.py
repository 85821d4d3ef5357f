"""SpecViz landing page: what speculative decoding is, a live mini-demo, and the pages."""
import streamlit as st

from specviz.present import cards
from specviz.ui import page, player, state

page.setup("Home", "app")

st.title("SpecViz: watch speculative decoding think")
st.markdown(
    "A large **target** model writes text one token per forward pass, which is slow. In "
    "**speculative decoding** a cheap **draft** proposes the next γ tokens and the target checks "
    "all of them in **one** pass, keeping every token it agrees with and replacing the first one "
    "it does not. The strict accept test (accept with probability min(1, p/q)) makes the output "
    "exactly what the target alone would write: only the speed changes, never the quality.")

left, right = st.columns([3, 1], gap="large")
with right:
    st.markdown("#### Explore")
    page.page_links()
    st.caption("Every token and number here comes from a real run of SmolLM2-135M-Instruct "
               "recorded on CPU; the Step through page can run it live.")
with left:
    shown = state.current("home", preferred="summarise · lookup · greedy")
    if shown:
        label, trace = shown
        st.markdown(f"#### Live demo · {cards.describe(trace)}")
        st.caption(cards.headline(trace))
        player.player(trace, "home", label, anatomy=False, charts=False, autoplay=True)
page.done()
