"""Charts and token-strip HTML from the shipped real traces: pure, no Streamlit, no model."""
import math

import pytest

from specviz import charts, metrics, render
from specviz.trace import Trace
from specviz.ui.examples import shipped_traces

TRACES = {label: Trace.load(str(path)) for label, path in shipped_traces().items()}


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
    tpp = charts.tokens_per_pass(t)
    assert list(tpp.data[0].y) == s["tokens_per_pass"]
    alpha = charts.running_alpha(t)
    assert alpha.data[0].y[-1] == pytest.approx(metrics.alpha(metrics.counts(t)))
    sp = charts.speedup(t)
    names = [d.name for d in sp.data]
    assert names[:3] == ["speculative", "plain decoding", "speedup"]
    assert sp.data[0].y[-1] == pytest.approx(sum(r.draft_s + r.verify_s for r in t.rounds))
    assert "theory (α, γ, c)" in names
    theory = sp.data[names.index("theory (α, γ, c)")].y[-1]
    assert theory == pytest.approx(metrics.summarize(t).speedup_theoretical)
    pos = charts.position_acceptance(t)
    want = metrics.acceptance_by_position(metrics.counts(t))[1]
    want += [None] * (t.config.gamma - len(want))
    assert list(pos.data[0].y) == want


def test_charts_up_to_a_round_show_only_that_many_rounds():
    t = next(iter(TRACES.values()))
    assert len(charts.tokens_per_pass(t, 3).data[0].x) == 3
    assert len(charts.speedup(t, 0).data[0].x) == 0  # before the first round: empty, no crash


def test_anatomy_shows_p_q_and_overlap_without_inventing_values():
    t = _pick(lambda r: r.draft)
    d = next(d for r in t.rounds for d in r.draft)
    fig = charts.anatomy(d)
    p, q, overlap = fig.data
    drafted = next(i for i, x in enumerate(p.x) if x.startswith("▶"))
    assert p.y[drafted] == pytest.approx(d.p) and q.y[drafted] == pytest.approx(d.q)
    assert overlap.y[drafted] == pytest.approx(min(d.p, d.q))
    known_p = {c.prob for c in d.top_p} | {d.p}
    assert all(v is None or v in known_p for v in p.y)  # tokens outside top-k get no bar


def test_accept_test_marks_r_against_p_over_q():
    t = _pick(lambda r: r.draft and r.draft[0].r is not None)
    d = next(d for r in t.rounds for d in r.draft if d.r is not None)
    fig = charts.accept_test(d)
    assert fig.data[0].x[0] == pytest.approx(min(d.p / d.q, 1))
    assert any(f"r = {d.r:.3f}" in a.text for a in fig.layout.annotations)
    assert ("accepted" if d.accepted else "rejected") in fig.layout.title.text


def test_residual_highlights_the_drawn_token():
    t = _pick(lambda r: r.correction.kind == "resampled" and r.correction.u is not None)
    c = next(r.correction for r in t.rounds if r.correction.kind == "resampled" and r.correction.u is not None)
    fig = charts.residual(c)
    assert [y for y in fig.data[0].y] == [x.prob for x in c.top_residual]
    assert any(x.startswith("▶") for x in fig.data[0].x) == any(x.token == c.token for x in c.top_residual)


def test_strip_shows_every_kept_token_in_order_with_fates():
    for t in TRACES.values():
        kept = [tok for tok in render.strip_tokens(t.rounds) if tok.fate != "rejected"]
        ids = [d.token for r in t.rounds for d in r.draft if d.accepted]
        assert len(kept) == len(t.output_ids) or t.stop_reason == "eos"
        html = render.strip_html(t, len(t.rounds))
        assert html.count('class="tok tok-') == len(render.strip_tokens(t.rounds))
        assert len(ids) == metrics.counts(t).accepted


def test_strip_tooltip_has_p_q_ratio_r_and_decision():
    t = _pick(lambda r: r.draft and r.draft[0].r is not None)
    i, r = next((i, r) for i, r in enumerate(t.rounds) if r.draft and r.draft[0].r is not None)
    tok = render.round_tokens(r, i)[0]
    tip = render.tooltip(tok)
    for part in ("p = ", "q = ", "p/q = ", "r = ", "because"):
        assert part in tip
    assert f"{r.draft[0].r:.3f}" in tip


def test_round_stages_reveal_drafts_then_decisions_then_the_closing_token():
    t = _pick(lambda r: len(r.draft) >= 2)
    i = next(i for i, r in enumerate(t.rounds) if len(r.draft) >= 2)
    r, last = t.rounds[i], render.n_stages(t.rounds[i]) - 1
    first = render.round_html(t, i, 0)
    assert first.count("card-pending") == len(r.draft) and 'class="num">p ' not in first
    assert "accepted" not in first and "rejected" not in first  # no spoilers, not even on hover
    assert "card-" + r.correction.kind not in first
    final = render.round_html(t, i, last)
    assert "card-pending" not in final and f"card-{r.correction.kind}" in final
    assert "ONE forward pass" in render.round_html(t, i, 1)


def test_tiny_probabilities_never_print_as_zero():
    assert render.fmt(3.8e-7) == "3.8e-07"
    assert render.fmt(0.5) == "0.500" and render.fmt(None) == "n/a"


def test_token_text_is_escaped():
    assert render.show_text("<b>\n") == "&lt;b&gt;↵"


@pytest.mark.parametrize("label", sorted(TRACES))
def test_gap_chart_walks_from_the_ideal_to_the_measured_speedup(label):
    g = metrics.trace_gap(TRACES[label])
    fig = charts.gap(g)
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
