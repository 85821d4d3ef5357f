"""Charts and token-strip HTML from the shipped real traces (pure, no Streamlit), and from
traces with β recorded on the real model when the shipped ones predate β."""
import dataclasses
import json

import pytest

from specviz.measure import metrics
from specviz.measure.prompts import PROMPTS
from specviz.numbers import prob
from specviz.present import round_view, tokens
from specviz.present.charts.run import (accept_test, anatomy, gap, position_acceptance, residual,
                                        running_alpha, speedup, time_chart, time_lanes, tokens_per_pass)
from specviz.present.palette import GREEN, PURPLE
from specviz.services.store import shipped_traces
from specviz.trace import Trace

# chains: Leviathan's α, both theories and γ positions (token-tree runs: tests/test_tree_views.py)
TRACES = {label: t for label, t in ((lb, Trace.load(str(p))) for lb, p in shipped_traces().items())
          if not t.config.tree_nodes}


def has_beta(t: Trace) -> bool:
    return any(d.beta is not None for r in t.rounds for d in r.draft)


@pytest.fixture(scope="module")
def with_beta():
    """{"greedy": trace, "sampled": trace} carrying β: shipped ones if they do, else recorded now
    on the real model (the default pair's target; summarise with prompt lookup, chat with the
    default pair's drafter)."""
    out = {mode: next((t for t in TRACES.values() if has_beta(t) and (t.config.temperature == 0)
                       == (mode == "greedy") and any(r.draft for r in t.rounds)), None)
           for mode in ("greedy", "sampled")}
    if None in out.values():
        import torch

        from specviz.decoding.record import RunSettings, run
        torch.set_num_threads(1)
        if out["greedy"] is None:
            out["greedy"] = run(RunSettings(PROMPTS["summarise"], draft="lookup", gamma=4,
                                            max_new_tokens=24, device="cpu"))
        if out["sampled"] is None:
            out["sampled"] = run(RunSettings(PROMPTS["chat"], gamma=4, temperature=1.0, seed=0,
                                             max_new_tokens=16, device="cpu"))
    assert all(has_beta(t) for t in out.values())
    return out


def _pick(pred) -> Trace:
    for t in TRACES.values():
        if any(pred(r) for r in t.rounds):
            return t
    pytest.skip("no shipped trace has such a round")


def test_examples_are_shipped_and_cover_the_brief():
    assert len(TRACES) >= 6
    configs = {(t.config.draft, t.config.temperature == 0) for t in TRACES.values()}
    assert {("layers:4", True), ("layers:4", False), ("lookup", True), ("lookup", False)} <= configs
    prompts = {t.prompt for t in TRACES.values()}
    assert len(prompts) >= 3
    for t in TRACES.values():
        assert t.rounds and t.baseline.output_ids and t.config.target == "smollm2-135m-instruct"


@pytest.mark.parametrize("label", sorted(TRACES))
def test_progress_charts_plot_the_trace_numbers(label):
    t = TRACES[label]
    s = metrics.cumulative(t)
    tpp = tokens_per_pass(t)
    assert list(tpp.data[0].y) == s["tokens_per_pass"]
    alpha = running_alpha(t)
    assert alpha.data[0].y[-1] == pytest.approx(metrics.alpha(metrics.counts(t)))
    time = time_chart(t)
    assert [d.name for d in time.data] == ["speculative", "plain decoding"]
    # the decode clock: the rounds' draft and verify spans plus the loop's own time between them
    assert time.data[0].y[-1] == pytest.approx(max(t.timing.spec_s, sum(r.draft_s + r.verify_s for r in t.rounds)))
    sp = speedup(t)
    assert [d.name for d in sp.data] == ["measured", "Leviathan (v = 1)", "with measured v"]
    summary = metrics.summarize(t)
    assert sp.data[0].y[-1] == pytest.approx(summary.speedup_measured)  # ends at the card's number
    half = len(t.rounds) // 2  # the chart as it stood mid-run is the start of the whole one
    assert list(speedup(t, half).data[0].y) == pytest.approx(list(sp.data[0].y)[:half])
    assert sp.data[1].y[-1] == pytest.approx(summary.speedup_theoretical)
    assert sp.data[2].y[-1] == pytest.approx(summary.speedup_verify_aware)
    # the two theories look different (colour and dash) and no line is clipped by the y range
    assert {(d.line.color, d.line.dash) for d in sp.data[1:]} == {(PURPLE, "dot"), (GREEN, "dash")}
    top = max(v for d in sp.data for v in d.y if v is not None)
    assert sp.layout.yaxis.range[1] > top and sp.layout.yaxis.tickformat is None
    assert sp.layout.title.text == "Speedup so far: measured vs theory"
    pos = position_acceptance(t)
    cond, uncond = metrics.acceptance_by_position(metrics.counts(t))
    pad = [None] * (t.config.gamma - len(cond))
    assert [d.name for d in pos.data] == ["given the earlier ones accepted", "of all drafted (vLLM)"]
    assert list(pos.data[0].y) == cond + pad and list(pos.data[1].y) == uncond + pad


def test_conditional_acceptance_is_not_the_survival_curve():
    """Where later positions were drafted after rejections, the two readings differ."""
    t = max(TRACES.values(), key=lambda t: metrics.counts(t).rejections)
    c = metrics.counts(t)
    pos = position_acceptance(t)
    i = len(c.checked_at) - 1
    assert c.checked_at[i] < c.drafted_at[i]
    if c.accepted_at[i]:
        assert pos.data[0].y[i] > pos.data[1].y[i]


def test_charts_up_to_a_round_show_only_that_many_rounds():
    t = next(iter(TRACES.values()))
    assert len(tokens_per_pass(t, 3).data[0].x) == 3
    assert len(time_chart(t, 0).data[0].x) == 0  # before the first round: empty, no crash
    assert len(speedup(t, 0).data[0].x) == 0


def _drafted(pred):
    for t in TRACES.values():
        for r in t.rounds:
            for d in r.draft:
                if pred(t, d):
                    return t, d
    pytest.skip("no shipped drafted token like that")


def test_sampled_anatomy_shows_p_q_and_overlap_without_inventing_values():
    t, d = _drafted(lambda t, d: t.config.temperature > 0)
    fig = anatomy(d)
    p, q, overlap = fig.data
    drafted = next(i for i, x in enumerate(p.x) if x.startswith("▶"))
    assert p.y[drafted] == pytest.approx(d.p) and q.y[drafted] == pytest.approx(d.q)
    assert overlap.y[drafted] == pytest.approx(min(d.p, d.q)) and overlap.name == "min(p, q): sums to β"
    known_p = {c.prob for c in d.top_p} | {d.p}
    assert all(v is None or v in known_p for v in p.y)  # tokens outside top-k get no bar


def test_greedy_anatomy_explains_the_argmax_test_without_min_p_q():
    t, d = _drafted(lambda t, d: t.config.temperature == 0 and d.top_p)
    fig = anatomy(d, greedy=True)
    assert [tr.name for tr in fig.data] == ["p (target)", "q (draft)"]
    assert fig.layout.title.text == "Greedy: kept iff ▶ is p's top"
    top = max(d.top_p, key=lambda c: c.prob)
    label = ("▶ " if top.token == d.token else "") + tokens.show_text(top.text)
    (mark,) = fig.layout.annotations
    assert mark.text == "p's top" and mark.x == label and mark.y == pytest.approx(top.prob)


def test_anatomy_always_shows_the_judged_token():
    """A rejected draft with small p and q is still on the chart (it used to fall off the top 10)."""
    t, d = _drafted(lambda t, d: len({c.token for c in d.top_p + d.top_q} | {d.token}) > 10)
    tiny = dataclasses.replace(d, p=1e-6, q=1e-6, accepted=False)
    for greedy in (False, True):
        x = list(anatomy(tiny, greedy).data[0].x)
        assert len(x) == 10 and x[-1] == "▶ " + tokens.show_text(d.text)


def test_accept_test_marks_r_against_p_over_q():
    t = _pick(lambda r: r.draft and r.draft[0].r is not None)
    d = next(d for r in t.rounds for d in r.draft if d.r is not None)
    fig = accept_test(d)
    assert fig.data[0].x[0] == pytest.approx(min(d.p / d.q, 1))
    assert any(f"r = {d.r:.3f}" in a.text for a in fig.layout.annotations)
    assert ("accepted" if d.accepted else "rejected") in fig.layout.title.text


def test_residual_highlights_the_drawn_token():
    t = _pick(lambda r: r.correction.kind == "resampled" and r.correction.u is not None)
    c = next(r.correction for r in t.rounds if r.correction.kind == "resampled" and r.correction.u is not None)
    fig = residual(c)
    assert [y for y in fig.data[0].y] == [x.prob for x in c.top_residual]
    assert any(x.startswith("▶") for x in fig.data[0].x) == any(x.token == c.token for x in c.top_residual)


def test_strip_shows_every_kept_token_in_order_with_fates():
    for t in TRACES.values():
        kept = [tok for tok in round_view.strip_tokens(t.rounds) if tok.fate != "rejected"]
        ids = [d.token for r in t.rounds for d in r.draft if d.accepted]
        assert len(kept) == len(t.output_ids) or t.stop_reason == "eos"
        html = round_view.strip_html(t, len(t.rounds))
        assert html.count('class="tok tok-') == len(round_view.strip_tokens(t.rounds))
        assert len(ids) == metrics.counts(t).accepted


def test_strip_tooltip_has_p_q_ratio_r_and_decision():
    t = _pick(lambda r: r.draft and r.draft[0].r is not None)
    i, r = next((i, r) for i, r in enumerate(t.rounds) if r.draft and r.draft[0].r is not None)
    tok = round_view.round_tokens(r, i)[0]
    tip = round_view.tooltip(tok)
    for part in ("p = ", "q = ", "p/q = ", "r = ", "because"):
        assert part in tip
    assert f"{r.draft[0].r:.3f}" in tip


def test_round_stages_reveal_drafts_then_decisions_then_the_closing_token():
    t = _pick(lambda r: len(r.draft) >= 2)
    i = next(i for i, r in enumerate(t.rounds) if len(r.draft) >= 2)
    r, last = t.rounds[i], round_view.n_stages(t.rounds[i]) - 1
    first = round_view.round_html(t, i, 0)
    assert first.count("card-pending") == len(r.draft) and 'class="num">p ' not in first
    assert "accepted" not in first and "rejected" not in first  # no spoilers, not even on hover
    assert "card-" + r.correction.kind not in first
    final = round_view.round_html(t, i, last)
    assert "card-pending" not in final and f"card-{r.correction.kind}" in final
    assert "ONE forward pass" in round_view.round_html(t, i, 1)


def test_tiny_probabilities_never_print_as_zero():
    assert prob(3.8e-7) == "3.8e-07"
    assert prob(0.5) == "0.500" and prob(None) == "n/a"


def test_token_text_is_escaped():
    assert tokens.show_text("<b>\n") == "&lt;b&gt;↵"


def _tok(text, fate="accepted", **kw):
    return round_view.Tok(text, fate, 0, 0, 0.5, 0.5, 0.3, "accepted because r < p/q", **kw)


def test_trace_text_cannot_inject_html_into_chips_cards_or_tooltips():
    t = TRACES[sorted(TRACES)[0]]
    evil = '<img src=x onerror=alert(1)>"'
    rnd = t.rounds[0]
    rounds = [dataclasses.replace(rnd, draft=[dataclasses.replace(d, text=evil) for d in rnd.draft],
                                  correction=dataclasses.replace(rnd.correction, text=evil))]
    hostile = dataclasses.replace(t, rounds=rounds)
    for html in (round_view.strip_html(hostile, 1), round_view.round_html(hostile, 0, 99)):
        assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
        assert 'onerror=alert(1)>"' not in html  # the quote cannot close a title attribute


def test_whitespace_and_newline_tokens_are_visible_chips():
    assert tokens.visible(" ") == "␣" and tokens.visible("\xa0") == "⍽"
    assert tokens.visible("\n") == "↵" and tokens.visible(" the") == " the"
    chip = round_view.chip(_tok("\n"))
    assert ">↵<sup>" in chip and chip.endswith("<br>")  # the strip keeps the line break too


def test_byte_pieces_of_a_character_are_joined_from_the_output_text():
    toks = [_tok("caf"), _tok("\ufffd"), _tok("\ufffd"), _tok("x", "rejected"), _tok(" au"), _tok(" lait")]
    round_view.join_pieces(toks, "café au lait")
    assert toks[1].shown == "é" and toks[2].shown == "‹…›"
    assert "byte piece 1 of 2 of “é”" in round_view.tooltip(toks[1])
    assert "é" in round_view.chip(toks[1]) and "\ufffd" not in round_view.chip(toks[2])
    alone = _tok("\ufffd", "rejected")  # a rejected piece is not in the output: say what it is
    assert tokens.visible(alone.text) == "‹byte›" and "multi-byte character" in round_view.tooltip(alone)
    unaligned = [_tok("ab"), _tok("\ufffd"), _tok("zz")]
    round_view.join_pieces(unaligned, "something else")
    assert unaligned[1].shown is None


def test_a_round_without_drafts_is_the_targets_own_step_not_a_bonus():
    t = next(t for t in TRACES.values() if any(not r.draft for r in t.rounds))
    i = next(i for i, r in enumerate(t.rounds) if not r.draft)
    assert t.rounds[i].correction.kind == "target"  # version-1 "bonus" upgraded on load
    tok = round_view.round_tokens(t.rounds[i], i)[-1]
    assert tok.fate == "target" and "nothing" in tok.decision and "bonus" not in round_view.tooltip(tok)
    assert "tok-target" in round_view.strip_html(t, i + 1) and "tok-target" in round_view.legend_html()
    assert "card-target" in round_view.round_html(t, i, 99)
    assert "nothing drafted" in tokens_per_pass(t).data[0].customdata[i]
    assert "plain step" in round_view.stage_caption(t.rounds[i], 1, t.config.gamma)


@pytest.mark.parametrize("label", sorted(TRACES))
def test_a_trace_opens_on_a_round_that_shows_the_idea(label):
    t = TRACES[label]
    r = t.rounds[round_view.opening_round(t)]
    fates = {d.accepted for d in r.draft}
    idea = any(len({d.accepted for d in x.draft}) == 2 for x in t.rounds)
    assert fates == {True, False} if idea else r.draft or not any(x.draft for x in t.rounds)


def as_version_1(t: Trace) -> Trace:
    """A chain trace as version 1 wrote it: no β, and a pass with nothing drafted called a bonus."""
    d = json.loads(t.to_json())
    d["version"] = 1
    for r in d["rounds"]:
        for tok in r["draft"]:
            tok.pop("beta", None)
        if r["correction"]["kind"] == "target":
            r["correction"]["kind"] = "bonus"
    return Trace.from_json(json.dumps(d))


def test_version_1_traces_say_beta_is_not_recorded():
    chain = next(t for t in TRACES.values() if has_beta(t) and t.config.tree_nodes == 0
                 and any(r.draft for r in t.rounds))
    t = as_version_1(chain)
    assert not has_beta(t)
    i = next(i for i, r in enumerate(t.rounds) if r.draft)
    tok = round_view.round_tokens(t.rounds[i], i)[0]
    assert "β not recorded" in round_view.tooltip(tok)
    scored = round_view.round_html(t, i, 1)
    assert 'class="num beta"' not in scored and "β not recorded" in scored  # in the card's title


@pytest.mark.parametrize("mode", ["greedy", "sampled"])
def test_beta_is_shown_beside_the_realised_decision(with_beta, mode):
    t = with_beta[mode]
    i = next(i for i, r in enumerate(t.rounds) if r.draft)
    rnd = t.rounds[i]
    toks = round_view.round_tokens(rnd, i)
    checked = [(tok, d) for tok, d in zip(toks, rnd.draft) if tok.fate != "discarded"]
    for tok, d in checked:
        assert tok.beta == d.beta and 0 <= tok.beta <= 1
        tip = round_view.tooltip(tok)
        assert "β = " in tip and "probability" in tip and tok.decision in tip
        if mode == "greedy":  # one-hot p and q: β is the decision itself
            assert tok.beta == float(d.accepted)
    scored = round_view.round_html(t, i, 1)
    assert scored.count('class="num beta"') == len(rnd.draft)
    assert f"β {prob(rnd.draft[0].beta, 2)}" in scored
    assert 'class="num beta"' not in round_view.round_html(t, i, 0)  # not before the target scored
    blind = round_view.round_html(t, i, 1, focus=0, blind=True)  # a quiz hides its token's p and β
    assert blind.count('class="num beta"') == len(rnd.draft) - 1


@pytest.mark.parametrize("label", sorted(TRACES))
def test_gap_chart_walks_from_the_ideal_to_the_measured_speedup(label):
    g = metrics.trace_gap(TRACES[label])
    fig = gap(g)
    bars = fig.data[0]
    levels = [v for _, v in g.steps()]
    running = [sum(bars.x[:i + 1]) for i in range(5)]  # where each bar ends
    assert running == pytest.approx(levels)
    assert list(bars.measure) == ["absolute"] + ["relative"] * 4 + ["total"]
    assert bars.text[0] == f"{g.ideal:.2f}×" and bars.text[-1] == f"{g.measured:.2f}×"
    v = g.ideal / g.with_verify
    s = metrics.summarize(TRACES[label])
    assert v == pytest.approx(s.verify_cost) and f"v = {s.verify_cost:.2f}" in bars.y[1]
    assert f"τ = {s.mean_acceptance_length:.2f}" in bars.y[3]


@pytest.mark.parametrize("label", sorted(TRACES))
def test_time_lanes_are_the_trace_s_measured_times(label):
    t = TRACES[label]
    fig = time_lanes(t)
    lanes = {b.name: b for b in fig.data}
    plain, draft, verify, over = (lanes[k] for k in ("plain step", "draft", "target pass", "loop overhead"))
    step = t.baseline.s_per_token
    assert len(plain.x) == len(t.output_ids) and set(plain.x) == {step}
    assert plain.base[-1] + plain.x[-1] == pytest.approx(len(t.output_ids) * step)  # plain: N measured steps
    assert list(draft.x) == [r.draft_s for r in t.rounds] and list(verify.x) == [r.verify_s for r in t.rounds]
    timed = sum(r.draft_s + r.verify_s for r in t.rounds)
    assert t.timing.spec_s >= timed  # the shipped runs: the loop's own time is what is left over
    assert sum(over.x) == pytest.approx(t.timing.spec_s - timed)
    spec_end = over.base[-1] + over.x[-1]
    assert spec_end == pytest.approx(t.timing.spec_s)  # the speculative lane ends at the measured time
    assert (plain.base[-1] + plain.x[-1]) / spec_end == pytest.approx(metrics.measured_speedup(t))
    assert spec_end == pytest.approx(metrics.cumulative(t)["spec_s"][-1])  # the running charts' rule
    for i in range(1, len(t.rounds)):  # each round starts where the one before ended: draft | verify | overhead
        assert draft.base[i] == pytest.approx(over.base[i - 1] + over.x[i - 1])
        assert verify.base[i] == pytest.approx(draft.base[i] + draft.x[i])
    assert f"{metrics.measured_speedup(t):.2f}×" in fig.layout.title.text


def test_time_lanes_fade_what_is_still_to_come():
    t = TRACES["chat · layers-4 · greedy"]
    fig = time_lanes(t, upto=3)
    lanes = {b.name: b for b in fig.data}
    assert list(lanes["draft"].marker.opacity) == [1.0] * 3 + [0.25] * (len(t.rounds) - 3)
    made = sum(sum(d.accepted for d in r.draft) + 1 for r in t.rounds[:3])  # the same tokens, plain
    assert list(lanes["plain step"].marker.opacity).count(1.0) == made
    wide = time_lanes(t, span=100.0)  # the other run of a comparison is slower
    assert wide.layout.xaxis.range[1] >= 100
