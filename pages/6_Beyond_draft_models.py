"""Lesson: beyond draft models (text and quiz in specviz/lessons/4_beyond_draft_models.yaml)."""
from specviz.ui import lesson
from specviz.ui.instruments import lesson4

lesson.render("4_beyond_draft_models", {
    "medusa": lesson4.medusa,
    "tree_round": lesson4.tree_round,
    "tree_sweep": lesson4.tree_sweep,
    "profiles": lesson4.profiles,
}, lesson4.address)
