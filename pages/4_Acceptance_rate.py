"""Lesson: acceptance rate (text and quiz in specviz/lessons/2_acceptance_rate.yaml)."""
from specviz.ui import instruments, lesson

lesson.render("2_acceptance_rate", {
    "theory": instruments.theory,
    "replay": instruments.replay,
    "workloads": instruments.workloads,
    "slower": instruments.slower,
})
