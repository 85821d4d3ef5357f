"""Presenting runs, without Streamlit: a round's staged cards and token strip, a token tree as SVG,
charts (one figure helper, one palette), the race, the slides, the brief's markdown, the tree
sweep in words. Imports measure, decoding and the foundation; the pages and the CLI show it.
"""
