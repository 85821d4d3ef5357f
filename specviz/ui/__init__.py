"""Streamlit widgets shared by the pages: with pages/ and app.py the only code that imports
Streamlit (tests/test_layers.py checks it); what they show comes from present/, services/ and
lessons/, which import no Streamlit.

Embedding in another page, e.g. a lesson:
    shown = state.current("lesson1", preferred="summarise · lookup · greedy")  # (label, Trace)
    player.player(shown[1], "lesson1", shown[0], shortcuts=False, charts=False)
Each widget takes a key prefix, so several players can live on one page; only one of them
should claim the keyboard shortcuts.
"""
