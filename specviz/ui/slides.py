"""Take it to the slides: download the shown trace as one offline HTML file that steps through its
rounds with ← / →, or as an animated GIF of chosen rounds (specviz.present.slides builds both).

    slides.downloads("step", label, trace)
"""
import re

import streamlit as st

from ..present import round_view, slides
from ..trace import Trace
from .memo import Memo

_HTML = Memo(16)  # every page run offers the download: made once per trace


def _html(trace: Trace) -> bytes:
    return _HTML.get(trace, "html", lambda: slides.to_html(trace).encode("utf-8"))


def downloads(key: str, label: str, trace: Trace) -> None:
    """The slides' download buttons (made before the click: no deferred file to go missing)."""
    if not trace.rounds:
        return
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_")[:60] or "trace"
    with st.popover("Take it to the slides", icon=":material/slideshow:", width="stretch"):
        st.caption("One HTML file that steps through every round with ← / → (no server, no internet: "
                   "open it from a USB stick), or an animated GIF of the rounds you choose.")
        st.download_button("slides (.html)", _html(trace), file_name=f"{name}.html", mime="text/html",
                           key=f"{key}_slides_html", on_click="ignore", width="stretch",
                           icon=":material/download:")
        n = len(trace.rounds)
        start = round_view.opening_round(trace) + 1
        chosen = (start, min(n, start + 4))
        if n > 1:
            chosen = st.slider("GIF rounds", 1, n, chosen, key=f"{key}_gif_rounds")
        made, which = st.session_state.get(f"{key}_gif"), (label, id(trace), chosen)
        if made is None or made[0] != which:
            slot = st.empty()
            if not slot.button(f"Make a GIF of rounds {chosen[0]}–{chosen[1]}", key=f"{key}_gif_go", width="stretch"):
                return
            with st.spinner("drawing the rounds"):
                made = (which, slides.to_gif(trace, slides.parse_rounds(f"{chosen[0]}-{chosen[1]}", n)))
            st.session_state[f"{key}_gif"] = made
            slot.empty()  # made: the download replaces the button
        st.download_button(f"GIF of rounds {chosen[0]}–{chosen[1]} (.gif)", made[1],
                           file_name=f"{name}_rounds_{chosen[0]}-{chosen[1]}.gif", mime="image/gif",
                           key=f"{key}_slides_gif", on_click="ignore", width="stretch", icon=":material/download:")
