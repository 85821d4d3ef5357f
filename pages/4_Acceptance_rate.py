"""Lesson: acceptance rate (text and quiz in specviz/lessons/2_acceptance_rate.yaml)."""
from specviz.ui import lesson
from specviz.ui.instruments import lesson2 as instruments

lesson.render("2_acceptance_rate", {
    "theory": instruments.theory,
    "acceptance": instruments.acceptance,
    "replay": instruments.replay,
    "workloads": instruments.workloads,
    "slower": instruments.slower,
    "gap": instruments.gap,
}, instruments.facts, instruments.address)
