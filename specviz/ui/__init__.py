"""Streamlit widgets shared by the pages: player, token strip, anatomy, run controls."""
