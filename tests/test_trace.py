"""Trace JSON round-trip and rejection of malformed files."""
import json
import re
from pathlib import Path

import pytest

from specviz.errors import TraceError
from specviz.trace import (MAX_TRACE_BYTES, TRACE_VERSION, Baseline, Candidate, Config, Correction, DraftToken,
                           Round, Timing, Trace)


def sample_trace() -> Trace:
    top = [Candidate(5, " a", 0.6), Candidate(7, " b", 0.3)]
    rounds = [Round([DraftToken(5, " a", 0.7, 0.6, 0.25, True, 0.1, top, top, 0.8),
                     DraftToken(7, " b", 0.5, 0.1, 0.9, False, 0.4, top, top, 0.35)],
                    Correction(8, " c", "resampled", 0.2, 0.33, top, top), 0.01, 0.03)]
    cfg = Config("t", "layers:4", 2, 1.0, 0.9, 0, 2, "cpu", "float32")
    return Trace(cfg, "hello", [1, 2], [5, 8], " a c", rounds, Baseline([5, 6], 0.03, " a d"),
                 Timing(0.04, 0.06, 0.01), env={"torch": "2.13.0"})


def test_round_trip_is_lossless():
    t = sample_trace()
    again = Trace.from_json(t.to_json())
    assert again == t
    assert json.loads(t.to_json())["version"] == TRACE_VERSION


def test_a_version_1_trace_loads_without_beta_and_with_the_targets_own_step():
    d = json.loads(sample_trace().to_json())
    d["version"] = 1
    for tok in d["rounds"][0]["draft"]:
        del tok["beta"]
    empty = {"draft": [], "correction": {"token": 9, "text": " d", "kind": "bonus", "p": 0.5},
             "draft_s": 0.0, "verify_s": 0.03}
    d["rounds"].append(empty)  # version 1 called a pass with nothing drafted a bonus
    t = Trace.from_json(json.dumps(d))
    assert [tok.beta for tok in t.rounds[0].draft] == [None, None]
    assert t.rounds[1].correction.kind == "target"


def test_required_keys_of_format_v2():
    d = json.loads(sample_trace().to_json())
    assert {"version", "config", "prompt_ids", "output_ids", "text", "rounds", "baseline",
            "timing"} <= d.keys()
    assert set(d["rounds"][0]) >= {"draft", "correction", "draft_s", "verify_s"}
    assert set(d["rounds"][0]["draft"][0]) >= {"token", "text", "q", "p", "r", "accepted", "beta"}
    assert {"target", "draft", "gamma", "temperature", "top_p", "seed", "max_new_tokens",
            "device", "dtype"} <= d["config"].keys()


def corrupt(mutate):
    d = json.loads(sample_trace().to_json())
    mutate(d)
    return json.dumps(d)


@pytest.mark.parametrize("text, message", [
    ("", "not valid JSON"),
    ("{\"version\": 1, ", "not valid JSON"),
    ("[1, 2]", "expected a JSON object"),
    (b"\x80\x81 not utf8", "not valid JSON"),
    (corrupt(lambda d: d.update(version=TRACE_VERSION + 1)), f"unsupported trace version {TRACE_VERSION + 1}"),
    (corrupt(lambda d: d.pop("version")), "not a SpecViz trace: this JSON object has no \"version\""),
    (json.dumps({"name": "x", "items": [1]}), "not a SpecViz trace: this JSON object has no \"version\" field (its keys: items, name)"),
    (corrupt(lambda d: d.pop("rounds")), "missing 'rounds'"),
    (corrupt(lambda d: d["rounds"][0]["draft"][0].update(q="high")), "rounds[0].draft[0].q"),
    (corrupt(lambda d: d["rounds"][0]["draft"][0].update(accepted=1)), "accepted"),
    (corrupt(lambda d: d.update(output_ids=[1, "2"])), "output_ids"),
    (corrupt(lambda d: d["config"].update(gamma=None)), "config.gamma"),
    (corrupt(lambda d: d["rounds"][0].update(correction=[])), "correction should be an object"),
    (corrupt(lambda d: d["rounds"][0]["correction"].update(kind="magic")), "resampled, bonus or target"),
    (corrupt(lambda d: d["rounds"][0]["correction"].update(kind="target")), "closes with the target's own step"),
    (corrupt(lambda d: d["rounds"][0]["draft"][0].update(beta=1.5)), "outside [0, 1]"),
    (corrupt(lambda d: d["rounds"][0]["draft"][0].update(p=1.5)), "outside [0, 1]"),
    (corrupt(lambda d: d["config"].update(gamma=1)), "more tokens than gamma"),
])
def test_malformed_traces_are_rejected_with_a_clear_message(text, message):
    with pytest.raises(TraceError, match=None) as e:
        Trace.from_json(text)
    assert message in str(e.value)


def test_oversized_trace_is_rejected_before_parsing():
    with pytest.raises(TraceError, match="too large"):
        Trace.from_json(" " * (MAX_TRACE_BYTES + 1))


def test_load_missing_file(tmp_path):
    with pytest.raises(TraceError, match="cannot read trace file"):
        Trace.load(str(tmp_path / "nope.json"))


def test_a_json_object_that_is_no_trace_is_not_told_to_re_record():
    with pytest.raises(TraceError) as e:
        Trace.from_json(json.dumps({"model": "gpt", "messages": []}))
    assert str(e.value).startswith("not a SpecViz trace") and "re-record" not in str(e.value)
    assert "version None" not in str(e.value)


def test_the_readme_names_the_trace_version_this_code_writes():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Traces", 1)[1].split("\n## ", 1)[0]
    assert re.search(r"`specviz/trace\.py`, version (\d+)", section).group(1) == str(TRACE_VERSION)
