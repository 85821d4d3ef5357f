"""Lesson: acceptance rate (text and quiz in specviz/lessons/2_acceptance_rate.yaml)."""
from specviz.ui import lesson
from specviz.ui.instruments import lesson2

lesson.render("2_acceptance_rate", {
    "theory": lesson2.theory,
    "acceptance": lesson2.acceptance,
    "replay": lesson2.replay,
    "workloads": lesson2.workloads,
    "slower": lesson2.slower,
    "gap": lesson2.gap,
}, lesson2.address)
