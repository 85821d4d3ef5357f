"""The shipped example traces (no Streamlit here: scripts import it too)."""
from pathlib import Path

from ..paths import TRACES_DIR


def shipped_traces() -> dict[str, Path]:
    """Label -> path of every example trace in data/traces, sorted by file name."""
    return {_label(p): p for p in sorted(TRACES_DIR.glob("*.json"))}


def _label(path: Path) -> str:
    return path.stem.replace("__", " · ").replace("_", " ")
