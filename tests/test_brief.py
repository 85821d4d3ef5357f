"""Decision brief: the interleaved, repeated measurement, the rule on medians and spreads
(including "too noisy to decide"), the markdown, and the workshop pack."""
import io
import zipfile
from dataclasses import replace

import pytest
from test_replay import make_trace

from specviz.measure import brief
from specviz.measure.repeats import measure_prompts, repeats_of
from specviz.present.brief import brief_markdown, evidence_table
from specviz.services import workshop
from specviz.trace import Trace


def fast(speedup: float | None = None, prompt: str = "p") -> Trace:
    """All drafts accepted, cheap draft. speedup sets the measured plain ÷ speculative time
    (the round timings, hence c, v and the theories, stay the same)."""
    t = make_trace([[True] * 4] * 8, gamma=4, n_out=40, base_s=0.03, draft_s=0.001, verify_s=0.035)
    t.prompt = prompt
    if speedup is not None:
        t.timing.spec_s = 0.03 * 40 / speedup
    return t


def slow() -> Trace:
    """Everything rejected: each round pays draft + verify for one token."""
    return make_trace([[False] * 4] * 20, gamma=4, n_out=20, base_s=0.03, draft_s=0.008, verify_s=0.035)


def repeats(*speedups: float, prompt: str = "p") -> list[Trace]:
    """One prompt measured once per speedup: the repeats of a workload."""
    return [fast(s, prompt) for s in speedups]


def test_a_hand_built_pooled_row():
    # A (γ 2): [T T] bonus, [T F], [F F] -> 3 accepted, 2 rejections, 6 tokens
    # B (γ 2): [T F], [T T] bonus       -> 3 accepted, 1 rejection,  5 tokens
    # draft 0.01 s per drafted token, verify 0.04 s per pass, plain step 0.03 s; different prompts: one repeat
    a = make_trace([[True, True], [True, False], [False, False]], gamma=2, n_out=6)
    b = make_trace([[True, False], [True, True]], gamma=2, n_out=5)
    a.prompt, b.prompt = "first", "second"
    r = brief.workload_row("w", [a, b])
    assert (r.runs, r.repeats, r.tokens) == (2, 1, 11)
    assert r.alpha == pytest.approx(6 / (6 + 3))  # accepted ÷ (accepted + rejections) = 2/3
    assert r.draft_acceptance_rate == pytest.approx(6 / 10)  # accepted ÷ drafted (vLLM)
    assert r.mean_acceptance_length == pytest.approx(1 + 6 / 5)  # 5 passes: τ = 2.2
    # E[τ] = 1 + α + α² = 1 + 2/3 + 4/9 = 19/9 (every round drafted 2)
    assert r.expected_acceptance_length == pytest.approx(19 / 9)
    assert r.c == pytest.approx(0.10 / 10 / 0.03)  # draft s per drafted token ÷ step = 1/3
    assert r.verify_cost == pytest.approx(0.20 / 5 / 0.03)  # verify s per pass ÷ step = 4/3
    assert r.speedup == pytest.approx(0.03 * 11 / 0.30)  # plain 0.33 s ÷ speculative 0.30 s = 1.1
    assert r.theory == pytest.approx((19 / 9) / (2 * (1 / 3) + 1))  # 19/15
    assert r.theory_v == pytest.approx((19 / 9) / (2 * (1 / 3) + 4 / 3))  # 19/18
    assert r.alpha_expected is None  # make_trace records no β
    assert r.identical is True


def test_repeats_give_medians_and_a_spread():
    r = brief.workload_row("edit", repeats(1.2, 1.5, 1.3))
    assert (r.runs, r.repeats) == (3, 3)
    assert (r.speedup, r.speedup_lo, r.speedup_hi) == pytest.approx((1.3, 1.2, 1.5))
    assert r.alpha == 1.0 and r.mean_acceptance_length == 5.0 and r.identical is True
    assert r.best_gamma is not None and r.best_gamma >= 4


def test_repeats_of_groups_the_kth_run_of_each_prompt():
    runs = repeats(1.0, 1.1, prompt="x")[:1] + repeats(1.0, prompt="y") + repeats(1.1, prompt="x")
    groups = repeats_of(runs)
    assert [[t.prompt for t in g] for g in groups] == [["x", "y"], ["x"]]


def test_verdict_is_too_noisy_when_the_repeats_straddle_the_threshold():
    noisy = brief.workload_row("edit", repeats(0.95, 1.3, 1.4))
    assert noisy.theory > brief.ENABLE_AT and noisy.theory_v > brief.ENABLE_AT  # theory would enable
    d = brief.decide([noisy])
    assert not d.enable and d.noisy == ["edit"] and d.where == []
    assert d.headline.startswith("Too noisy to decide") and "0.95–1.40×" in d.headline
    assert brief.decide([brief.workload_row("edit", repeats(1.2, 1.3, 1.4))]).enable
    low = brief.decide([brief.workload_row("edit", repeats(0.8, 0.9, 1.0))])
    assert not low.enable and low.noisy == [] and low.headline.startswith("Do not enable")
    mixed = brief.decide([brief.workload_row("edit", repeats(1.2, 1.3, 1.4)),
                          brief.workload_row("chat", repeats(1.0, 1.2, 1.3))])
    assert mixed.where == ["edit"] and mixed.noisy == ["chat"]
    assert "only for: edit" in mixed.headline and "Too noisy to decide for chat" in mixed.headline


def test_one_run_per_prompt_says_no_spread_was_measured():
    d = brief.decide([brief.workload_row("edit", [fast(1.5)])])
    assert d.enable and "no spread was measured" in d.headline


def test_decisions():
    assert brief.decide([brief.workload_row("a", [fast()])]).enable
    d = brief.decide([brief.workload_row("a", [slow()])])
    assert not d.enable and "Do not enable" in d.headline and d.where == []
    mixed = brief.decide([brief.workload_row("edit", [fast()]), brief.workload_row("chat", [slow()])])
    assert not mixed.enable and mixed.where == ["edit"] and "only for: edit" in mixed.headline
    # a fast timing with α = 0 is noise, not a win: even Leviathan's theory is below the bar
    lucky = slow()
    lucky.timing.spec_s = lucky.baseline.s_per_token * 20 / 1.5
    d = brief.decide([brief.workload_row("lucky", [lucky])])
    assert not d.enable and "even Leviathan's theory" in d.headline
    broken = fast()
    broken.baseline.output_ids = broken.baseline.output_ids[::-1]  # greedy output differs
    assert "differed" in brief.decide([brief.workload_row("x", [broken])]).headline


def test_evidence_shows_leviathans_alpha_not_the_draft_acceptance_rate():
    # every round: first drafted token accepted, second rejected, 2 more never checked
    t = make_trace([[True, False, False, False]] * 10, gamma=4, n_out=20)
    table = evidence_table([brief.workload_row("chat", [t])])
    row = table.splitlines()[2].split(" | ")
    assert row[4] == "0.50"  # α: 10 accepted ÷ (10 + 10 rejections)
    assert row[8] == "0.25"  # draft acceptance rate: 10 accepted ÷ 40 drafted
    assert row[5] == "not recorded"  # no β in this trace


def test_measure_interleaves_methods_and_repeats_every_workload():
    calls = []

    def run(settings):
        calls.append((settings.prompt, settings.baseline_first))
        return replace(fast(1.2, settings.prompt), config=replace(fast().config, draft=settings.draft))

    seen = []
    out = measure_prompts({"edit": ["e1", "e2"], "chat": ["c1"], "empty": []}, "lookup", 4, repeats=3,
                        run=run, progress=lambda done, total, what: seen.append((done, total)))
    assert calls == [("e1", False), ("e2", False), ("c1", False),
                     ("e1", True), ("e2", True), ("c1", True),
                     ("e1", False), ("e2", False), ("c1", False)]
    assert seen[0] == (0, 9) and seen[-1] == (8, 9)
    assert list(out) == ["edit", "chat"] and len(out["edit"]) == 6 and len(out["chat"]) == 3
    assert brief.workload_row("edit", out["edit"]).repeats == 3
    stopped = measure_prompts({"edit": ["e1"]}, "lookup", 4, repeats=3, run=run, should_stop=lambda: len(calls) >= 10)
    assert len(stopped["edit"]) == 1  # what was measured before the stop is kept


def test_measure_on_the_real_model_times_both_methods_in_either_order(target):
    """Repeat 1 runs speculative first, repeat 2 plain first (RunSettings.baseline_first)."""
    out = measure_prompts({"edit": ["Fix the typo: 'teh cat'"]}, "lookup", 3, max_new_tokens=8, repeats=2,
                        target="smollm2-135m-instruct", device="cpu")
    a, b = out["edit"]
    for t in (a, b):  # both methods timed in every run, and greedy output is plain greedy output
        assert t.baseline.output_ids == t.output_ids and t.timing.spec_s > 0 and t.baseline.s_per_token > 0
    assert a.output_ids == b.output_ids
    assert brief.workload_row("edit", out["edit"]).repeats == 2


def test_brief_markdown_has_every_part():
    md = brief_markdown({"code edit": [fast()], "chat": [slow()]},
                              memory={"extra_param_bytes": 2**20, "kv_bytes_per_token": 6144},
                              cost={"one_token_ms": 31.0, "slope_fraction": 0.02}, notes="1x L4, vLLM")
    for part in ("## Recommendation", "Enable it only for: code edit", "## Evidence (measured)",
                 "| code edit | 1 | 1 | 40 | 1.00 |", "too noisy to decide", "## Risks",
                 "continuous batching", "paged attention", "Memory", "## Measurement plan",
                 "vllm:spec_decode_num_accepted_tokens_total", "τ = 1 + accepted ÷ drafts",
                 "not Leviathan's α", "accepted at position k − 1",
                 "1.0 MiB", "31.0 ms", "estimate", "1x L4, vLLM"):
        assert part in md, part


def test_brief_from_real_shipped_runs():
    from specviz.services.store import shipped_traces

    traces = [Trace.load(str(p)) for p in shipped_traces().values()]
    if not traces:
        pytest.skip("no shipped traces in data/traces")
    md = brief_markdown({"examples": traces})
    assert "## Evidence (measured)" in md and f"| examples | {len(traces)} |" in md


def test_workshop_pack_round_trips():
    t = fast()
    data = workshop.workshop_pack({"edit run": t}, {"decision_brief.md": "# brief"})
    z = zipfile.ZipFile(io.BytesIO(data))
    assert set(z.namelist()) == {"traces/edit_run.json", "decision_brief.md", "README.txt"}
    assert Trace.from_json(z.read("traces/edit_run.json")).output_ids == t.output_ids
