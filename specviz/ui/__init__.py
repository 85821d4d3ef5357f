"""Streamlit widgets shared by the pages (everything below `ui/` is Streamlit-free).

Embedding in another page, e.g. a lesson:
    shown = state.current("lesson1", preferred="summarise · lookup · greedy")  # (label, Trace)
    player.player(shown[1], "lesson1", shown[0], shortcuts=False, charts=False)
Each widget takes a key prefix, so several players can live on one page; only one of them
should claim the keyboard shortcuts.
"""
