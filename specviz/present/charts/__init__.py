"""Plotly figures, without Streamlit, all in one look (look.py: one figure helper, the palette's
colours, projector mode's type) and built in one constructor call from plain dicts.

run.py        a run's progress, time lanes, speedup, gap and token anatomy (from a Trace)
positions.py  the one acceptance-by-position chart (a trace's, a lesson's counts, a server's)
lessons.py    the lessons' instruments (cost curve, theory, replay, break-even, lab, trees, machine)
sandbox.py    the no-model sandbox;  classroom.py  the room's answers
server.py     a serving engine's metrics over time, per request, and its acceptance histogram
"""
