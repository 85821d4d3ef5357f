"""Services: the shared trace store, live classes, a serving engine's metrics, the workshop pack.
State and I/O that pages and commands share; no Streamlit. Imports present and below.
"""
