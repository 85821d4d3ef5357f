"""The one acceptance-by-position chart (no Streamlit): of a trace, of a lesson's pooled runs and
of a serving engine's per-position counters alike."""
import math

import plotly.graph_objects as go

from ...counts import Counts
from ...measure import metrics
from ..palette import BLUE, SKY, VERMILLION
from .look import figure, hline

CONDITIONAL, UNCONDITIONAL = "given the earlier ones accepted", "of all drafted (vLLM)"


def acceptance_by_position(conditional: list, unconditional: list, accepted=(), checked=(), drafted=(),
                           alpha: float | None = None, iid: bool = False, where: str = "position",
                           title: str = "Acceptance by draft position", height: int = 320) -> go.Figure:
    """Acceptance per draft position (a tree: per depth) both ways: given the earlier positions were
    accepted (conditional: flat when α is) and of all drafted (vLLM's unconditional rate: a survival
    curve that falls even then). With the counts, the hover says "a accepted ÷ b"; with alpha, α
    dotted across, and with iid also α^i, the unconditional rate the i.i.d. model predicts."""
    x = list(range(1, max(len(conditional), len(unconditional)) + 1))

    def bars(values, name, colour, counts, of):
        counted = bool(counts)
        hover = (f"{where} %{{x}}: %{{y:.2f}} = %{{customdata[0]}} accepted ÷ %{{customdata[1]}} {of}" if counted
                 else f"{where} %{{x}}: %{{y:.3f}}")
        return dict(type="bar", x=x, y=[None if v is None or math.isnan(v) else v for v in values], name=name,
                    marker_color=colour, customdata=list(zip(accepted, counts)) if counted else None,
                    hovertemplate=f"{hover}<extra>{name}</extra>")

    data = [bars(conditional, CONDITIONAL, BLUE, checked, "checked"),
            bars(unconditional, UNCONDITIONAL, SKY, drafted, "drafted")]
    shapes, notes = [], []
    if alpha is not None:
        shapes = [hline(alpha)]
        notes = [dict(text=f"α = {alpha:.2f} (every position)", x=0, xref="paper", xanchor="left", y=alpha,
                      yref="y", yanchor="bottom", showarrow=False, bgcolor="rgba(255,255,255,0.85)")]
        if iid:
            data.append(dict(type="scatter", x=x, y=[alpha ** i for i in x], mode="lines+markers",
                             line=dict(color=VERMILLION, dash="dash"),
                             name=f"α^i: the unconditional rate if every checked position had α = {alpha:.2f}",
                             hovertemplate="α^%{x} = %{y:.2f}<extra>i.i.d. model</extra>"))
    return figure(data, title, height=height, barmode="group", shapes=shapes, annotations=notes,
                  xaxis=dict(title="depth in the tree" if where == "depth" else "position in the draft", dtick=1),
                  yaxis=dict(range=[0, 1.05], title="accepted fraction"))


def of_counts(c: Counts, positions: int | None = None, **chart) -> go.Figure:
    """The chart of a run's (or pooled runs') counts, padded to `positions` (the run's γ)."""
    cond, uncond = metrics.acceptance_by_position(c)
    n = max(positions or 0, len(cond))
    pad = lambda xs, fill: list(xs) + [fill] * (n - len(xs))  # noqa: E731
    return acceptance_by_position(pad(cond, None), pad(uncond, None), pad(c.accepted_at, 0), pad(c.checked_at, 0),
                                  pad(c.drafted_at, 0), **chart)
