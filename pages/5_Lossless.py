"""Lesson: Lossless (text and quiz in specviz/lessons/3_lossless.yaml)."""
from specviz.ui import lesson
from specviz.ui.instruments import lesson3 as instruments

lesson.render("3_lossless", {
    "sandbox": instruments.sandbox,
    "lab": instruments.lab,
})
