"""Where SpecViz's files are: every folder and file of the checkout it reads, and the user's cache
directory. The one place that looks at __file__."""
import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent  # specviz/
ROOT = PACKAGE.parent  # the checkout
MODELS_YAML = ROOT / "models.yaml"  # targets, drafters, pairs (SPECVIZ_MODELS names another)
DRAFTS_DIR = ROOT / "drafts"  # trained drafts: drafts/NAME/weights.safetensors and card.json
PAGES_DIR = ROOT / "pages"
LESSONS_DIR = PACKAGE / "lessons"  # lesson texts and quizzes as data (*.yaml)
RUN_SHEET = LESSONS_DIR / "runsheet.yaml"  # the workshop's timed agenda
DATA = ROOT / "data"
TRACES_DIR = DATA / "traces"  # the shipped example traces (scripts/record_examples.py)
SERVING_EXAMPLES = DATA / "serving"  # saved /metrics pages and per-request responses
TREE_SWEEP = DATA / "tree_sweep.json"  # `python -m specviz bench --json` of a chain and trees
INSTRUMENT_TIMES = DATA / "instrument_times.json"  # scripts/time_instruments.py


def cache_dir() -> Path:
    """$SPECVIZ_CACHE, else ~/.cache/specviz: converted models, kernel tables, stored traces."""
    return Path(os.environ.get("SPECVIZ_CACHE", Path.home() / ".cache" / "specviz"))
