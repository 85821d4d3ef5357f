"""Plotly figures from traces and metrics (no Streamlit): progress charts and the token anatomy.

`upto` is the number of rounds shown so far; every plotted number comes from the trace.
Each figure is built in one constructor call from plain dicts: plotly validates every
incremental update (add_hline, update_layout) separately, which made a step ~5x slower.
"""
import math
from dataclasses import replace

import plotly.graph_objects as go

from ...measure import metrics
from ...trace import Correction, DraftToken, Trace
from ..palette import BLUE, GREEN, GREY, ORANGE, PURPLE, SKY, VERMILLION, tint
from ..tokens import FATES, ratio, show_text
from . import positions
from .look import figure, hline


def _rounds_axis(n: int) -> dict:
    """Whole-number round ticks, about ten of them at most."""
    return dict(title="round", tick0=1, dtick=max(1, math.ceil(n / 10)))


def upto_trace(trace: Trace, upto: int | None) -> Trace:
    """The trace as it stood after `upto` rounds (all of them if None)."""
    return trace if upto is None else replace(trace, rounds=trace.rounds[:upto])


CLOSES = {"resampled": "a rejection (the target's token replaced it)",
          "bonus": "every draft accepted, plus the target's bonus token",
          "target": "nothing drafted: the target's own plain step"}


def tokens_per_pass(trace: Trace, upto: int | None = None) -> go.Figure:
    """Bar per round: tokens produced by that target pass (accepted drafts + 1)."""
    t = upto_trace(trace, upto)
    s = metrics.cumulative(trace, upto)
    bars = dict(type="bar", x=s["round"], y=s["tokens_per_pass"], name="tokens this pass",
                marker_color=[FATES[r.correction.kind][0] for r in t.rounds], showlegend=False,
                customdata=[CLOSES[r.correction.kind] for r in t.rounds],
                hovertemplate="round %{x}: %{y} tokens from one target pass; ended by "
                              "%{customdata}<extra></extra>")
    return figure([bars], "τ: tokens per target pass", xaxis=_rounds_axis(len(t.rounds)),
                yaxis=dict(range=[0, trace.config.gamma + 1.3], dtick=1,
                           title="tokens (dotted: plain = 1)"), shapes=[hline(1)])


def running_alpha(trace: Trace, upto: int | None = None) -> go.Figure:
    """Leviathan's α over the rounds so far: accepted ÷ checked drafted tokens."""
    s = metrics.cumulative(trace, upto)
    if trace.config.tree_nodes:  # Leviathan's α is a chain's; a tree reports accepted ÷ checked nodes
        line = dict(type="scatter", x=s["round"], y=s["node_acceptance"], mode="lines+markers",
                    line_color=BLUE, name="so far",
                    hovertemplate="after round %{x}: accepted ÷ checked nodes = %{y:.2f}<extra></extra>")
        return figure([line], "Running accepted ÷ checked nodes (tree)", xaxis=_rounds_axis(len(s["round"])),
                    yaxis=dict(range=[0, 1.05], title="accepted ÷ checked nodes"))
    line = dict(type="scatter", x=s["round"], y=s["alpha"], mode="lines+markers", line_color=BLUE,
                name="α so far", hovertemplate="after round %{x}: α = %{y:.2f}<extra></extra>")
    return figure([line], "Running α (Leviathan's)", xaxis=_rounds_axis(len(s["round"])),
                yaxis=dict(range=[0, 1.05], title="accepted ÷ checked"))


def position_acceptance(trace: Trace, upto: int | None = None) -> go.Figure:
    """The acceptance per draft position (a tree: per depth) of the rounds so far, both ways."""
    t = upto_trace(trace, upto)
    tree = bool(t.config.tree_nodes)  # a tree: did the walk get past depth d
    return positions.of_counts(metrics.counts(t), t.config.gamma, where="depth" if tree else "position",
                               title="Acceptance by tree depth" if tree else "Acceptance by draft position")


def time_chart(trace: Trace, upto: int | None = None) -> go.Figure:
    """Cumulative decode seconds against tokens generated: speculative vs plain decoding."""
    s = metrics.cumulative(trace, upto)
    data = [dict(type="scatter", x=s["tokens"], y=s["spec_s"], name="speculative", line_color=BLUE,
                 mode="lines+markers", hovertemplate="%{x} tokens: %{y:.2f} s<extra>speculative</extra>")]
    if trace.baseline.output_ids:
        data.append(dict(type="scatter", x=s["tokens"], y=s["baseline_s"], name="plain decoding",
                         mode="lines", line=dict(color=GREY, dash="dash", width=3),
                         hovertemplate="%{x} tokens: %{y:.2f} s<extra>plain (measured s/token)</extra>"))
    return figure(data, "Seconds so far: speculative vs plain", xaxis=dict(title="tokens generated"),
                yaxis=dict(title="seconds", rangemode="tozero"))


def lane_ends(trace: Trace) -> tuple[float, float | None]:
    """Where the speculative and the plain lane of time_lanes end, in seconds."""
    timed = sum(r.draft_s + r.verify_s for r in trace.rounds)
    return timed + len(trace.rounds) * metrics.loop_overhead_s(trace), metrics.plain_s(trace)


def time_lanes(trace: Trace, upto: int | None = None, span: float | None = None) -> go.Figure:
    """Plain and speculative decoding on one wall-clock axis, as measured in the run: the plain
    lane is its output's tokens at the baseline's measured seconds per step, the speculative lane
    every round's draft | verify | overhead (the loop's time outside those spans, spread evenly as
    metrics.cumulative does), so the lanes end where the measured speedup says. upto: the rounds
    done so far, the rest faded; span: the axis' end (two runs on one scale)."""
    over, done = metrics.loop_overhead_s(trace), len(trace.rounds) if upto is None else upto
    starts, t = [], 0.0
    for r in trace.rounds:
        starts.append(t)
        t += r.draft_s + r.verify_s + over
    shade = [1.0 if i < done else 0.25 for i in range(len(trace.rounds))]
    kinds = [("draft", ORANGE, [r.draft_s for r in trace.rounds], starts,
              [f"drafted {len(r.tree.nodes) if r.tree else len(r.draft)} token(s)" for r in trace.rounds]),
             ("target pass", BLUE, [r.verify_s for r in trace.rounds], [a + r.draft_s for a, r in zip(starts, trace.rounds)],
              [f"one target pass: {sum(d.accepted for d in r.draft) + 1} token(s) out" for r in trace.rounds]),
             ("loop overhead", GREY, [over] * len(trace.rounds),
              [a + r.draft_s + r.verify_s for a, r in zip(starts, trace.rounds)],
              ["the loop's time outside the draft and verify spans, spread evenly"] * len(trace.rounds))]
    data = [_segments("speculative", name, colour, x, base, shade,
                      [[i + 1, 1e3 * w, why] for i, (w, why) in enumerate(zip(x, whys))], "round")
            for name, colour, x, base, whys in kinds]
    spec_end, plain_end = lane_ends(trace)
    ends = [dict(x=spec_end, y="speculative", text=f" {spec_end:.2f} s")]
    if plain_end is not None:
        step, n = metrics.baseline_step_s(trace), len(trace.output_ids)
        kept = min(sum(sum(d.accepted for d in r.draft) + 1 for r in trace.rounds[:done]), n)
        data.insert(0, _segments("plain", "plain step", BLUE, [step] * n, [k * step for k in range(n)],
                                 [1.0 if k < kept else 0.25 for k in range(n)],
                                 [[k + 1, 1e3 * step, "the baseline's measured seconds per step"] for k in range(n)],
                                 "token", legend=False))
        ends.append(dict(x=plain_end, y="plain", text=f" {plain_end:.2f} s"))
    notes = [e | dict(xanchor="left", showarrow=False) for e in ends]
    right = max(span or 0, spec_end, plain_end or 0) * 1.2 or 1
    lanes = ["plain", "speculative"] if plain_end is not None else ["speculative"]
    title = ("Time lanes: speculative at {:.2f}× plain's speed".format(plain_end / spec_end)
             if plain_end and spec_end else "Time lanes: speculative decoding, as measured (no plain baseline)")
    return figure(data, title, height=150 + 60 * len(lanes), barmode="overlay", bargap=0.3, annotations=notes,
                xaxis=dict(title="seconds of decoding (prefill excluded)", range=[0, right], rangemode="tozero"),
                yaxis=dict(categoryorder="array", categoryarray=lanes[::-1]))


def _segments(lane: str, name: str, colour: str, widths: list[float], bases: list[float], shade: list[float],
              custom: list, unit: str, legend: bool = True) -> dict:
    """One kind of span along a lane: a bar segment per round (or plain step) at its start."""
    return dict(type="bar", orientation="h", y=[lane] * len(widths), x=widths, base=bases, name=name,
                showlegend=legend, marker=dict(color=colour, opacity=shade, line=dict(color="#fff", width=1)),
                customdata=custom, hovertemplate=f"{unit} %{{customdata[0]}} · {name}: %{{customdata[1]:.1f}} ms "
                                                 "(%{customdata[2]})<extra></extra>")


def speedup(trace: Trace, upto: int | None = None) -> go.Figure:
    """Running measured speedup beside both theories at the running α and the run's c (and v)."""
    s = metrics.cumulative(trace, upto)
    data, top = [], 1.0
    if trace.baseline.output_ids:
        lines = [("speedup", "measured", dict(color=ORANGE, width=4), "plain s ÷ speculative s"),
                 ("theory", "Leviathan (v = 1)", dict(color=PURPLE, dash="dot", width=3),
                  "Leviathan: E[τ] / (γc + 1), running α"),
                 ("theory_v", "with measured v", dict(color=GREEN, dash="dash", width=3),
                  "E[τ] / (γc + v), running α, measured v")]
        if trace.config.tree_nodes:  # Leviathan's theories describe chains
            lines[1:] = [("from_costs", "τ ÷ (N̄c + v)", dict(color=GREEN, dash="dash", width=3),
                          "the running τ at the measured draft and tree-pass costs")]
        for key, name, line, what in lines:
            y = [None if v is None or math.isnan(v) else v for v in s[key]]
            top = max([top, *(v for v in y if v is not None)])
            data.append(dict(type="scatter", x=s["tokens"], y=y, name=name, mode="lines", line=line,
                             hovertemplate=f"%{{x}} tokens: %{{y:.2f}}×<extra>{what}</extra>"))
    title = "Speedup so far: measured vs τ at the costs" if trace.config.tree_nodes else \
        "Speedup so far: measured vs theory"
    return figure(data, title, xaxis=dict(title="tokens generated"),
                yaxis=dict(title="× plain decoding", range=[0, top * 1.12], ticksuffix="×"),
                shapes=[hline(1)])


def anatomy(tok: DraftToken, greedy: bool = False) -> go.Figure:
    """Target p vs draft q over their top tokens; the judged token (▶) is always one of them.

    Sampled: min(p, q) is shaded (its sum over all tokens is β, the acceptance chance). Greedy:
    no shading (min(p, q) plays no role); the test is whether ▶ is p's top token.
    A token outside one model's top-k has no bar for that model: its value is not in the trace.
    """
    p = {c.token: c.prob for c in tok.top_p} | {tok.token: tok.p}
    q = {c.token: c.prob for c in tok.top_q} | {tok.token: tok.q}
    text = {c.token: c.text for c in tok.top_p + tok.top_q} | {tok.token: tok.text}
    order = sorted(text, key=lambda t: -max(p.get(t, 0), q.get(t, 0)))[:10]
    if tok.token not in order:  # a rejected draft with small p and q: still the one being judged
        order = order[:9] + [tok.token]
    x = [("▶ " if t == tok.token else "") + show_text(text[t]) for t in order]
    data = [dict(type="bar", x=x, y=[p.get(t) for t in order], name="p (target)", marker_color=BLUE,
                 offset=-0.4, width=0.4, hovertemplate="%{x}: p = %{y:.3f}<extra></extra>"),
            dict(type="bar", x=x, y=[q.get(t) for t in order], name="q (draft)", marker_color=ORANGE,
                 offset=0, width=0.4, hovertemplate="%{x}: q = %{y:.3f}<extra></extra>")]
    marks = {}
    if greedy:
        top = max(p, key=p.get)
        if top in order:
            marks = dict(annotations=[dict(x=x[order.index(top)], y=p[top], text="p's top", showarrow=True,
                                           arrowhead=2, ax=0, ay=-28, xshift=-10)])
        title = "Greedy: kept iff ▶ is p's top"
    else:
        data.append(dict(type="bar", x=x, y=[min(p[t], q[t]) if t in p and t in q else None for t in order],
                         name="min(p, q): sums to β", offset=-0.4, width=0.8,
                         marker=dict(color=tint(GREEN, .25), line=dict(color=GREEN, width=2),
                                     pattern=dict(shape="/", fgcolor=GREEN, solidity=0.3)),
                         hovertemplate="%{x}: min(p, q) = %{y:.3f}<extra></extra>"))
        title = "p vs q (▶ = drafted)"
    # the bars fall from left to right (sorted), so the legend fits in the top-right corner
    legend = dict(orientation="v", x=1, xanchor="right", y=1, yanchor="top", bgcolor="rgba(255,255,255,.7)")
    return figure(data, title, height=360, barmode="overlay", xaxis=dict(tickangle=-35), legend=legend,
                yaxis=dict(title="probability", range=[0, 1.15]),
                **marks)


def accept_test(tok: DraftToken) -> go.Figure:
    """The accept test on a 0..1 scale: min(1, p/q) against the uniform draw r."""
    pq = min(ratio(tok.p, tok.q), 1.0)
    bar = dict(type="bar", x=[pq], y=["p/q"], orientation="h", width=0.5,
               marker_color=FATES["accepted" if tok.accepted else "rejected"][0],
               hovertemplate=f"min(1, p/q) = {pq:.3f}<extra></extra>")
    marks = {}
    if tok.r is not None:
        marks = dict(shapes=[dict(type="line", yref="paper", x0=tok.r, x1=tok.r, y0=0, y1=1,
                                  line=dict(color="#222", width=4))],
                     annotations=[dict(yref="paper", x=tok.r, y=1, text=f"r = {tok.r:.3f}",
                                       showarrow=False, yanchor="bottom")])
    verdict = "accepted because r < p/q" if tok.accepted else "rejected because r ≥ p/q"
    if tok.r is None:
        verdict = "greedy: accepted iff it is the target's top token"
    return figure([bar], verdict, height=170, showlegend=False,
                xaxis=dict(range=[0, 1.0001], title="0 … 1", dtick=0.1), **marks)


def _produced(cands, token: int, color: str, name: str, title: str) -> go.Figure:
    x = [("▶ " if c.token == token else "") + show_text(c.text) for c in cands]
    bar = dict(type="bar", x=x, y=[c.prob for c in cands],
               marker_color=[color if c.token == token else GREY for c in cands],
               hovertemplate=f"%{{x}}: %{{y:.3f}}<extra>{name}</extra>")
    return figure([bar], title, height=300, showlegend=False,
                yaxis=dict(title="probability", rangemode="tozero"))


def residual(corr: Correction) -> go.Figure:
    """norm(max(0, p − q)) at the rejected position, and the token drawn from it."""
    return _produced(corr.top_residual, corr.token, ORANGE, "norm(max(0, p − q))",
                     "Residual max(0, p − q) (▶ = drawn)")


def target_only(corr: Correction) -> go.Figure:
    """The target's p at the closing position, and the token it produced there."""
    return _produced(corr.top_p, corr.token, FATES[corr.kind][0], "p (target)",
                     "Target p here (▶ = produced)")


def compare_bars(traces: dict[str, Trace]) -> go.Figure:
    """Side-by-side α, tokens per pass and measured speedup for several traces."""
    data = []
    for (name, t), color in zip(traces.items(), [BLUE, ORANGE, GREEN, VERMILLION, SKY]):
        s = metrics.summarize(t)
        data.append(dict(type="bar", x=["accepted ÷ checked (a chain's: α)", "τ tokens / pass",
                                        "measured speedup ×"], name=name,
                         y=[s.node_acceptance, s.mean_acceptance_length, s.speedup_measured], marker_color=color,
                         texttemplate="%{y:.2f}", textposition="outside"))
    return figure(data, "Side by side", height=360, barmode="group", yaxis=dict(rangemode="tozero"))


def gap(g: metrics.Gap, height: int = 380) -> go.Figure:
    """Why the measured speedup is below Leviathan's: a waterfall from the paper's ideal to the
    measured speedup, one bar per measured cost (metrics.Gap: v, c, the realised τ, overhead)."""
    v = g.ideal / g.with_verify  # the Gap's levels give back the costs they were built from
    gc = g.ideal / g.with_draft - v
    tau = g.with_realised_tau * (gc + v)
    labels = ["ideal (paper)", f"verify pass v = {v:.2f}", f"drafting γc = {gc:.2f}",
              f"realised τ = {tau:.2f}", "overhead, noise", "measured"]
    why = ["Leviathan's E[τ] at the run's α: drafting is free and a verify pass costs one step",
           f"a verify pass over γ + 1 tokens costs v = {v:.2f} plain steps, not 1",
           f"drafting a round costs γc = {gc:.2f} plain steps, not 0",
           f"the run produced τ = {tau:.2f} tokens per pass; the model predicts E[τ] = {g.ideal:.2f}",
           "what is left: the loop's own work (sampling, bookkeeping) and timing noise",
           "plain decoding time ÷ speculative time, both measured in this run"]
    levels = [g.ideal, g.with_verify, g.with_draft, g.with_realised_tau, g.measured]
    if g.tree:  # no E[τ] for a tree: start from the run's τ, no realised-τ step
        labels = [f"τ = {tau:.2f} (1 pass = 1 step)", f"tree pass v = {v:.2f}", f"drafting N̄c = {gc:.2f}",
                  "overhead, noise", "measured"]
        why = [f"the run's τ = {tau:.2f} tokens per pass if drafting were free and the tree pass cost one step",
               f"the one pass over the root and every node costs v = {v:.2f} plain steps",
               f"drafting the tree costs N̄c = {gc:.2f} plain steps per round",
               why[4], why[5]]
        levels = [g.ideal, g.with_verify, g.with_draft, g.measured]
    deltas = [b - a for a, b in zip(levels, levels[1:])]
    text = [f"{g.ideal:.2f}×"] + [_delta(d) for d in deltas] + [f"{g.measured:.2f}×"]
    after = [[lvl, w] for lvl, w in zip(levels + [g.measured], why)]  # the level each bar ends at
    bars = dict(type="waterfall", orientation="h", y=labels, x=[g.ideal, *deltas, 0],
                measure=["absolute"] + ["relative"] * len(deltas) + ["total"], text=text, textposition="outside",
                customdata=after, cliponaxis=False,
                hovertemplate="%{customdata[1]}<br>%{text} → %{customdata[0]:.2f}×<extra></extra>",
                decreasing=dict(marker=dict(color=VERMILLION)), increasing=dict(marker=dict(color=GREEN)),
                totals=dict(marker=dict(color=BLUE)), connector=dict(line=dict(color=GREY, dash="dot")))
    top = max(levels) * 1.18
    plain = dict(shapes=[dict(type="line", yref="paper", x0=1, x1=1, y0=0, y1=1,
                              line=dict(color=GREY, dash="dash", width=2))],
                 annotations=[dict(yref="paper", x=1, y=1.0, text="plain = 1×", showarrow=False,
                                   yanchor="bottom", font=dict(color=GREY, size=14))])
    return figure([bars], "Why the speedup is below theory", height=height,
                showlegend=False, margin=dict(l=10, r=30, b=10),
                xaxis=dict(title="speedup over plain decoding (×)", range=[0, max(top, 1.15)],
                           ticksuffix="×"),
                yaxis=dict(autorange="reversed", automargin=True), **plain)


def _delta(d: float) -> str:
    """A signed change of speedup; changes too small to print as a number say so."""
    return "≈ 0" if abs(d) < 0.005 else f"{'+' if d > 0 else '−'}{abs(d):.2f}"
