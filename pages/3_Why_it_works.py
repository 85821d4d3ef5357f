"""Lesson: why it works (text and quiz in specviz/lessons/1_why_it_works.yaml)."""
from specviz.ui import lesson
from specviz.ui.instruments import lesson1

lesson.render("1_why_it_works", {
    "cost_curve": lesson1.cost_curve,
    "draft_cost": lesson1.draft_cost,
    "this_machine": lesson1.machine,
}, lesson1.address)
