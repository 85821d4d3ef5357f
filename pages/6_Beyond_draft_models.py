"""Lesson: beyond draft models (text and quiz in specviz/lessons/4_beyond_draft_models.yaml)."""
from specviz.ui import lesson
from specviz.ui.instruments import lesson4 as instruments

lesson.render("4_beyond_draft_models", {
    "medusa": instruments.medusa,
    "tree_round": instruments.tree_round,
    "tree_sweep": instruments.tree_sweep,
    "profiles": instruments.profiles,
}, instruments.facts, instruments.address)
