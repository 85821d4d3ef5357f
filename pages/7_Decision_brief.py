"""Lesson: decision brief (text and quiz in specviz/lessons/5_decision_brief.yaml)."""
from specviz.ui import lesson
from specviz.ui.instruments import lesson5 as instruments

lesson.render("5_decision_brief", {
    "brief_inputs": instruments.brief_inputs,
    "brief": instruments.brief,
}, address=instruments.address)
