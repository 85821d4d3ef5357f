"""Plotly figures from traces and metrics (no Streamlit): progress charts and the token anatomy.

`upto` is the number of rounds shown so far; every plotted number comes from the trace.
"""
import math
from dataclasses import replace

import plotly.graph_objects as go

from . import metrics
from .render import FATES, ratio, show_text
from .trace import Candidate, Correction, DraftToken, Trace

BLUE, VERMILLION, ORANGE, GREEN, GREY, SKY = "#0072B2", "#D55E00", "#E69F00", "#009E73", "#8C8C8C", "#56B4E9"
FONT = dict(size=16)


def _layout(fig: go.Figure, title: str, height: int = 320, **kw) -> go.Figure:
    kw = dict(margin=dict(l=10, r=10, t=50, b=10), template="plotly_white",
              legend=dict(orientation="h", yanchor="top", y=-0.22, x=0, xanchor="left")) | kw
    fig.update_layout(title=dict(text=title, font=dict(size=18)), font=FONT, height=height, **kw)
    return fig


def upto_trace(trace: Trace, upto: int) -> Trace:
    """The trace as it stood after `upto` rounds (same config, timing of those rounds)."""
    return replace(trace, rounds=trace.rounds[:upto])


def tokens_per_pass(trace: Trace, upto: int | None = None) -> go.Figure:
    """Bar per round: tokens produced by that target pass (accepted drafts + 1)."""
    s = metrics.cumulative(upto_trace(trace, len(trace.rounds) if upto is None else upto))
    colors = [FATES[r.correction.kind][0] for r in trace.rounds[:len(s["round"])]]
    fig = go.Figure(go.Bar(x=s["round"], y=s["tokens_per_pass"], marker_color=colors,
                           name="tokens this pass", showlegend=False,
                           hovertemplate="round %{x}: %{y} tokens from one target pass<extra></extra>"))
    fig.add_hline(y=1, line_dash="dot", line_color=GREY, annotation_text="plain decoding: 1",
                  annotation_position="top left")
    return _layout(fig, "Tokens per target pass (colour: how the round ended)", xaxis=dict(title="round", tickformat="d"),
                   yaxis=dict(range=[0, trace.config.gamma + 1.3], dtick=1))


def running_alpha(trace: Trace, upto: int | None = None) -> go.Figure:
    s = metrics.cumulative(upto_trace(trace, len(trace.rounds) if upto is None else upto))
    fig = go.Figure(go.Scatter(x=s["round"], y=s["alpha"], mode="lines+markers", line_color=BLUE,
                               name="α so far", hovertemplate="after round %{x}: α = %{y:.2f}<extra></extra>"))
    return _layout(fig, "Running acceptance rate α", xaxis=dict(title="round", tickformat="d"),
                   yaxis=dict(range=[0, 1.05], title="accepted / drafted"))


def position_acceptance(trace: Trace, upto: int | None = None) -> go.Figure:
    t = upto_trace(trace, len(trace.rounds) if upto is None else upto)
    rates = metrics.per_position_acceptance(t)
    counts = [sum(len(r.draft) > i for r in t.rounds) for i in range(t.config.gamma)]
    y = [None if math.isnan(v) else v for v in rates]
    fig = go.Figure(go.Bar(x=list(range(1, len(rates) + 1)), y=y, marker_color=SKY,
                           customdata=counts, name="acceptance",
                           hovertemplate="position %{x}: %{y:.2f} of %{customdata} drafted<extra></extra>"))
    return _layout(fig, "Acceptance by draft position", xaxis=dict(title="position in the draft", dtick=1),
                   yaxis=dict(range=[0, 1.05], title="accepted fraction"))


def speedup(trace: Trace, upto: int | None = None) -> go.Figure:
    """Cumulative decode time, speculative vs plain, and the running speedup with its theory."""
    t = upto_trace(trace, len(trace.rounds) if upto is None else upto)
    s = metrics.cumulative(t)
    fig = go.Figure()
    fig.add_scatter(x=s["tokens"], y=s["spec_s"], name="speculative", line_color=BLUE,
                    mode="lines+markers", hovertemplate="%{x} tokens: %{y:.2f} s<extra>speculative</extra>")
    if trace.baseline.output_ids:
        fig.add_scatter(x=s["tokens"], y=s["baseline_s"], name="plain decoding", line_color=GREY,
                        mode="lines", line_dash="dash",
                        hovertemplate="%{x} tokens: %{y:.2f} s<extra>plain (measured s/token)</extra>")
        fig.add_scatter(x=s["tokens"], y=s["speedup"], name="speedup", yaxis="y2", line_color=ORANGE,
                        mode="lines", hovertemplate="%{x} tokens: %{y:.2f}x<extra>measured speedup</extra>")
        theory = theory_series(t)
        if theory:
            fig.add_scatter(x=s["tokens"], y=theory, name="theory (α, γ, c)", yaxis="y2",
                            line=dict(color=ORANGE, dash="dot"),
                            hovertemplate="%{y:.2f}x<extra>Leviathan's formula, measured α and c</extra>")
    return _layout(fig, "Time: speculative vs plain decoding", height=400,
                   margin=dict(l=10, r=10, t=50, b=110),
                   xaxis_title="tokens generated", yaxis=dict(title="seconds", rangemode="tozero"),
                   yaxis2=dict(title="speedup ×", overlaying="y", side="right", rangemode="tozero",
                               showgrid=False, tickformat=".2f", ticksuffix="×"))


def theory_series(trace: Trace) -> list[float]:
    """Running theoretical speedup from the running α and the run's measured cost ratio c."""
    c = metrics.cost_ratio(trace)
    if c is None:
        return []
    s = metrics.cumulative(trace)
    return [metrics.theoretical_speedup(0 if math.isnan(a) else a, trace.config.gamma, c)
            for a in s["alpha"]]


def anatomy(tok: DraftToken) -> go.Figure:
    """Target p vs draft q over their top-k tokens, with min(p, q) shaded (the acceptance mass).

    A token outside one model's top-k has no bar for that model: its value is not in the trace.
    """
    p = {c.token: c.prob for c in tok.top_p} | {tok.token: tok.p}
    q = {c.token: c.prob for c in tok.top_q} | {tok.token: tok.q}
    text = {c.token: c.text for c in tok.top_p + tok.top_q} | {tok.token: tok.text}
    order = sorted(text, key=lambda t: -max(p.get(t, 0), q.get(t, 0)))[:10]
    x = [("▶ " if t == tok.token else "") + show_text(text[t]) for t in order]
    fig = go.Figure()
    fig.add_bar(x=x, y=[p.get(t) for t in order], name="p (target)", marker_color=BLUE,
                offset=-0.4, width=0.4, hovertemplate="%{x}: p = %{y:.3f}<extra></extra>")
    fig.add_bar(x=x, y=[q.get(t) for t in order], name="q (draft)", marker_color=ORANGE,
                offset=0, width=0.4, hovertemplate="%{x}: q = %{y:.3f}<extra></extra>")
    fig.add_bar(x=x, y=[min(p[t], q[t]) if t in p and t in q else None for t in order],
                name="min(p, q)", offset=-0.4, width=0.8,
                marker=dict(color="rgba(0,158,115,.25)", line=dict(color=GREEN, width=2),
                            pattern=dict(shape="/", fgcolor=GREEN, solidity=0.3)),
                hovertemplate="%{x}: min(p, q) = %{y:.3f}<extra></extra>")
    return _layout(fig, "p vs q over the top tokens (▶ = drafted)", height=330, barmode="overlay",
                   yaxis=dict(title="probability", rangemode="tozero"))


def accept_test(tok: DraftToken) -> go.Figure:
    """The accept test on a 0..1 scale: min(1, p/q) against the uniform draw r."""
    pq = min(ratio(tok.p, tok.q), 1.0)
    color = FATES["accepted" if tok.accepted else "rejected"][0]
    fig = go.Figure(go.Bar(x=[pq], y=["p/q"], orientation="h", marker_color=color, width=0.5,
                           hovertemplate=f"min(1, p/q) = {pq:.3f}<extra></extra>"))
    if tok.r is not None:
        fig.add_vline(x=tok.r, line_width=4, line_color="#222",
                      annotation_text=f"r = {tok.r:.3f}", annotation_position="top")
    verdict = (f"accepted because r < p/q" if tok.accepted else "rejected because r ≥ p/q")
    if tok.r is None:
        verdict = "greedy: accepted iff it is the target's top token"
    return _layout(fig, verdict, height=170, showlegend=False,
                   xaxis=dict(range=[0, 1.0001], title="0 … 1", dtick=0.1),
                   margin=dict(l=10, r=10, t=60, b=10))


def residual(corr: Correction) -> go.Figure:
    """norm(max(0, p − q)) at the rejected position, and the token drawn from it."""
    cands: list[Candidate] = corr.top_residual
    x = [("▶ " if c.token == corr.token else "") + show_text(c.text) for c in cands]
    colors = [ORANGE if c.token == corr.token else GREY for c in cands]
    fig = go.Figure(go.Bar(x=x, y=[c.prob for c in cands], marker_color=colors,
                           hovertemplate="%{x}: %{y:.3f}<extra>norm(max(0, p − q))</extra>"))
    return _layout(fig, "Residual norm(max(0, p − q)) (▶ = drawn)", height=300, showlegend=False,
                   yaxis=dict(title="probability", rangemode="tozero"))


def target_only(corr: Correction) -> go.Figure:
    """The target's p at the closing position, and the token it produced there."""
    x = [("▶ " if c.token == corr.token else "") + show_text(c.text) for c in corr.top_p]
    colors = [FATES[corr.kind][0] if c.token == corr.token else GREY for c in corr.top_p]
    fig = go.Figure(go.Bar(x=x, y=[c.prob for c in corr.top_p], marker_color=colors,
                           hovertemplate="%{x}: p = %{y:.3f}<extra></extra>"))
    return _layout(fig, "Target p at this position (▶ = produced)", height=300, showlegend=False,
                   yaxis=dict(title="probability", rangemode="tozero"))


def compare_bars(traces: dict[str, Trace]) -> go.Figure:
    """Side-by-side α, tokens per pass and measured speedup for several traces."""
    fig = go.Figure()
    for (name, t), color in zip(traces.items(), [BLUE, ORANGE, GREEN, VERMILLION, SKY]):
        s = metrics.summarize(t)
        fig.add_bar(x=["α", "tokens / pass", "speedup ×"], name=name, marker_color=color,
                    y=[s.alpha, s.mean_accepted, s.speedup_measured],
                    texttemplate="%{y:.2f}", textposition="outside")
    return _layout(fig, "Side by side", height=360, barmode="group",
                   yaxis=dict(rangemode="tozero"))
