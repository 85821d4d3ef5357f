"""Lesson: beyond draft models (text and quiz in specviz/lessons/4_beyond_draft_models.yaml)."""
from specviz.ui import instruments, lesson

lesson.render("4_beyond_draft_models", {
    "medusa": instruments.medusa,
    "profiles": instruments.profiles,
})
