"""Lesson: decision brief (text and quiz in specviz/lessons/5_decision_brief.yaml)."""
from specviz.ui import instruments, lesson

lesson.render("5_decision_brief", {
    "brief_inputs": instruments.brief_inputs,
    "brief": instruments.brief,
})
