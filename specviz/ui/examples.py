"""Example prompts and the shipped example traces (no Streamlit here: scripts import it too)."""
from pathlib import Path

from ..paths import TRACES_DIR

PROMPTS = {
    "chat": "What is the capital of France, and what is it famous for?",
    "summarise": ("Summarise in one sentence: The city council met on Tuesday to discuss the new "
                  "bike lanes. After a long debate, members voted 7 to 2 to build protected bike "
                  "lanes on Main Street, with construction starting in the spring."),
    "code edit": ("Rewrite this Python function with the variable x renamed to total. Reply with "
                  "only the code.\n\n```python\ndef add_all(items):\n    x = 0\n    for item in items:\n"
                  "        x = x + item\n    return x\n```"),
}


def shipped_traces() -> dict[str, Path]:
    """Label -> path of every example trace in data/traces, sorted by file name."""
    return {_label(p): p for p in sorted(TRACES_DIR.glob("*.json"))}


def _label(path: Path) -> str:
    return path.stem.replace("__", " · ").replace("_", " ")
