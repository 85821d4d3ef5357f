"""Concurrency and determinism on the real model (SmolLM2-135M-Instruct, CPU).

Sessions: scripts/load_test.py, bounded (6 sessions, 2 of them running the model, <= 60 s).
Determinism: the same seed, pair and settings give byte-identical traces once the wall-clock
fields are zeroed (trace.without_timings); a different seed gives a different trace.
"""
import importlib.util
import json
from pathlib import Path

import pytest
import torch

from specviz.decoding.record import RunSettings, run
from specviz.trace import without_timings

ROOT = Path(__file__).resolve().parent.parent


def _load_test_module():
    spec = importlib.util.spec_from_file_location("load_test", ROOT / "scripts" / "load_test.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_concurrent_sessions_share_the_model_safely(target):
    """6 sessions at once: 4 step through different shipped traces, 2 run the model with their
    own seeds. No errors, every heading is the session's own, and each live run equals the same
    run made alone afterwards."""
    result = _load_test_module().load_test(sessions=6, live_sessions=2, steps=12, max_new=10,
                                           max_seconds=60)
    print(f"p50 {result['p50_ms']:.0f} ms, p95 {result['p95_ms']:.0f} ms over {result['steps']} steps")
    assert not result["errors"], result["errors"]
    assert result["steps"] >= 4 * 12  # every stepping session got through all its clicks
    assert result["live_equals_sequential"] == [True, True]
    a, b = result["live_traces"]
    assert a.config.seed != b.config.seed and a.config.temperature > 0
    assert json.dumps(without_timings(a)) != json.dumps(without_timings(b))  # seeds do matter


@pytest.mark.parametrize("draft, temperature", [("layers:4", 0.9), ("lookup", 0.0)])
def test_same_seed_same_settings_give_byte_identical_traces(draft, temperature, target, one_thread):
    settings = RunSettings("Name three colours of the rainbow.", "smollm2-135m-instruct", draft,
                           gamma=3, temperature=temperature, top_p=0.95, seed=11, max_new_tokens=12,
                           device="cpu")
    first, second = run(settings), run(settings)
    assert first.rounds and first.complete
    assert json.dumps(without_timings(first)) == json.dumps(without_timings(second))
    assert first.timing != second.timing or first.rounds[0].verify_s != second.rounds[0].verify_s
    assert {"specviz", "torch", "transformers", "python", "platform", "device"} <= first.env.keys()
    assert first.env["device"] == "cpu" and first.env["torch"] == torch.__version__
    if temperature > 0:  # the seed is what makes a sampled run repeat
        from dataclasses import replace

        other = run(replace(settings, seed=12))
        assert without_timings(other) != without_timings(first)
