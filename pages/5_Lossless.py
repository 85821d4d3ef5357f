"""Lesson: Lossless (text and quiz in specviz/lessons/3_lossless.yaml)."""
from specviz.ui import instruments, lesson

lesson.render("3_lossless", {
    "lab": instruments.lab,
})
