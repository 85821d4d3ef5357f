"""Where SpecViz's files are: the checkout's root and the user's cache directory."""
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    """$SPECVIZ_CACHE, else ~/.cache/specviz: converted models, kernel tables, stored traces."""
    return Path(os.environ.get("SPECVIZ_CACHE", Path.home() / ".cache" / "specviz"))
