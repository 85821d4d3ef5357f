"""Compare: two traces (two drafters, two gammas, ...) side by side with their metrics."""
import streamlit as st

from specviz.ui import library, page, race, state, views

page.setup("Compare", "2_Compare")

with st.sidebar:
    st.header("Load a trace")
    library.uploader("cmp_a")

st.title("Compare two runs")
state.show_error("cmp_a")
left, right = st.columns(2, gap="large")
with left:
    a = library.picker("cmp_a", "left", preferred="code-edit · lookup · greedy", param="a")
with right:
    b = library.picker("cmp_b", "right", preferred="code-edit · layers-4 · greedy", param="b")
if a and b:
    views.compare_table({"left": a[1], "right": b[1]})
    span = views.lanes_span(a[1], b[1])
    for col, (label, trace), key in zip(st.columns(2, gap="large"), (a, b), ("cmp_a", "cmp_b")):
        with col:
            views.side(trace, key, span)
    st.subheader("Race: plain and speculative decoding of the left run")
    race.race_view(a[1], "cmp_race")
page.done()
