"""Plotly figures of the no-model sandbox (lesson 3): p and q, the accept test, the residual, convergence."""
from __future__ import annotations

from typing import TYPE_CHECKING

import plotly.graph_objects as go

from ..palette import BLUE, GREEN, ORANGE, PALETTE, VERMILLION
from .look import figure

if TYPE_CHECKING:  # the sandbox needs torch: every page draws the class panel, few the sandbox
    from ...measure.sandbox import Analysis, Simulation

def sandbox_dists(a: Analysis) -> go.Figure:
    """p and q per token, and their overlap min(p, q) whose sum is β."""
    overlap = [min(p, q) for p, q in zip(a.p, a.q)]
    data = [dict(type="bar", x=a.tokens, y=a.q, name="q (draft)", marker_color=ORANGE),
            dict(type="bar", x=a.tokens, y=a.p, name="p (target)", marker_color=BLUE),
            dict(type="bar", x=a.tokens, y=overlap, name="min(p, q)", marker_color=GREEN)]
    return figure(data, f"β = Σ min(p, q) = {a.beta:.3f}: the chance a draft is accepted",
                barmode="group", yaxis=dict(title="probability", range=[0, 1]))


def sandbox_accept(a: Analysis) -> go.Figure:
    """min(1, p/q) per token: how likely each drafted token survives the check."""
    y = [0 if x is None else x for x in a.accept]
    text = ["never drafted (q = 0)" if x is None else f"{x:.2f}" for x in a.accept]
    bar = dict(type="bar", x=a.tokens, y=y, text=text, textposition="auto", marker_color=BLUE,
               name="min(1, p/q)", hovertemplate="%{x}: accepted with probability %{y:.3f}<extra></extra>")
    return figure([bar], "If drafted, accepted with probability min(1, p/q)",
                yaxis=dict(title="probability", range=[0, 1.05]))


def sandbox_residual(a: Analysis) -> go.Figure:
    """norm(max(0, p − q)): where the target resamples after a rejection."""
    y = a.residual or [0] * len(a.tokens)
    title = ("After a rejection the target samples norm(max(0, p − q))" if a.residual
             else "p = q: a draft is never rejected, so there is no residual")
    bar = dict(type="bar", x=a.tokens, y=y, marker_color=VERMILLION, name="residual")
    return figure([bar], title, yaxis=dict(title="probability", range=[0, 1]))


def sandbox_convergence(a: Analysis, sim: Simulation) -> go.Figure:
    """The output token's frequency after n draws, per token, against p (dotted)."""
    data = []
    for j, tok in enumerate(a.tokens):
        colour = PALETTE[j % len(PALETTE)]
        data.append(dict(type="scatter", x=sim.draws, y=[f[j] for f in sim.freq], mode="lines+markers",
                         name=tok, line_color=colour, legendgroup=tok))
        data.append(dict(type="scatter", x=[sim.draws[0], sim.draws[-1]], y=[a.p[j]] * 2, mode="lines",
                         line=dict(color=colour, dash="dot"), showlegend=False, legendgroup=tok,
                         hovertemplate=f"p({tok}) = {a.p[j]:.3f}<extra></extra>"))
    return figure(data, f"Output frequencies converge to p (dotted) · TV distance {sim.tv[-1]:.3f} "
                      f"after {sim.n} draws", height=340,
                xaxis=dict(title="draws (log scale)", type="log", dtick=1),  # decades: full-size labels
                yaxis=dict(title="frequency", range=[0, 1]))
