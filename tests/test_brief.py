"""Decision brief: the rule on measured numbers, the markdown, and the workshop pack."""
import io
import zipfile

import pytest
from test_replay import make_trace

from specviz import brief
from specviz.trace import Trace


def fast() -> Trace:
    """All drafts accepted, cheap draft: speculative time well under the baseline's."""
    return make_trace([[True] * 4] * 8, gamma=4, n_out=40, base_s=0.03, draft_s=0.001, verify_s=0.035)


def slow() -> Trace:
    """Everything rejected: each round pays draft + verify for one token."""
    return make_trace([[False] * 4] * 20, gamma=4, n_out=20, base_s=0.03, draft_s=0.008, verify_s=0.035)


def test_rows_pool_measured_numbers():
    row = brief.workload_row("edit", [fast()])
    assert row.alpha == 1.0 and row.tokens_per_pass == 5.0 and row.identical is True
    assert row.speedup == pytest.approx(0.03 * 40 / (8 * (0.004 + 0.035)))
    assert row.best_gamma is not None and row.best_gamma >= 4


def test_decisions():
    assert brief.decide([brief.workload_row("a", [fast()])]).enable
    d = brief.decide([brief.workload_row("a", [slow()])])
    assert not d.enable and "Do not enable" in d.headline and d.where == []
    mixed = brief.decide([brief.workload_row("edit", [fast()]), brief.workload_row("chat", [slow()])])
    assert not mixed.enable and mixed.where == ["edit"] and "only for: edit" in mixed.headline
    # a fast timing with a low alpha is noise, not a win: theory must agree
    lucky = slow()
    lucky.timing.spec_s = lucky.baseline.s_per_token * 20 / 1.5
    assert not brief.decide([brief.workload_row("lucky", [lucky])]).enable
    broken = fast()
    broken.baseline.output_ids = broken.baseline.output_ids[::-1]  # greedy output differs
    assert "differed" in brief.decide([brief.workload_row("x", [broken])]).headline


def test_brief_markdown_has_every_part():
    md = brief.brief_markdown({"code edit": [fast()], "chat": [slow()]},
                              memory={"extra_param_bytes": 2**20, "kv_bytes_per_token": 6144},
                              cost={"one_token_ms": 31.0, "slope_fraction": 0.02}, notes="1x L4, vLLM")
    for part in ("## Recommendation", "Enable it only for: code edit", "## Evidence (measured)",
                 "| code edit | 1 | 40 | 1.00 |", "## Risks", "continuous batching", "paged attention",
                 "Memory", "## Measurement plan", "vllm:spec_decode_num_accepted_tokens_total",
                 "1.0 MiB", "31.0 ms", "estimate", "1x L4, vLLM"):
        assert part in md, part


def test_brief_from_real_shipped_runs():
    from specviz.ui.examples import shipped_traces

    traces = [Trace.load(str(p)) for p in shipped_traces().values()]
    if not traces:
        pytest.skip("no shipped traces in data/traces")
    md = brief.brief_markdown({"examples": traces})
    assert "## Evidence (measured)" in md and f"| examples | {len(traces)} |" in md


def test_workshop_pack_round_trips():
    t = fast()
    data = brief.workshop_pack({"edit run": t}, {"decision_brief.md": "# brief"})
    z = zipfile.ZipFile(io.BytesIO(data))
    assert set(z.namelist()) == {"traces/edit_run.json", "decision_brief.md", "README.txt"}
    assert Trace.from_json(z.read("traces/edit_run.json")).output_ids == t.output_ids
