"""Lesson: why it works (text and quiz in specviz/lessons/1_why_it_works.yaml)."""
from specviz.ui import lesson
from specviz.ui.instruments import lesson1 as instruments

lesson.render("1_why_it_works", {
    "cost_curve": instruments.cost_curve,
    "draft_cost": instruments.draft_cost,
    "this_machine": instruments.machine,
}, instruments.facts, instruments.address)
