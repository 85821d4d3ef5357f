"""Shared fixtures: the real offline model, loaded once per test session."""
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_CACHE", str(ROOT.parent / "shared" / "hf-cache"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TARGET = "smollm2-135m-instruct"


@pytest.fixture(scope="session")
def target():
    """SmolLM2-135M-Instruct (real weights, from the offline hub cache)."""
    from specviz.runner import load_target

    return load_target(TARGET, "cpu")
