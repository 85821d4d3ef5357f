"""Plotly figures of a server's speculative-decoding numbers (no Streamlit), in the look of the
trace charts (look.figure): acceptance by draft position, the numbers over time, and per request
their spread and acceptance histogram."""
import math
from datetime import datetime

import plotly.graph_objects as go

from ..palette import BLUE, GREY, ORANGE, SKY, VERMILLION
from .look import figure, hline
from .positions import acceptance_by_position


def _nan(v: float | None) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


def position_acceptance(r) -> go.Figure:
    """A server's acceptance per draft position (r: a serving Readout), with Leviathan's α dotted."""
    title = "Acceptance by draft position" + (f" (dotted: α = {r.alpha:.2f})" if r.alpha is not None else "")
    return acceptance_by_position(r.conditional, r.unconditional, alpha=r.alpha, title=title, height=340)


def over_time(points: list) -> go.Figure:
    """τ per window (left axis), α and the acceptance rate per window (right axis) of a watch's points
    (serving Points: name, at, restarted, readout); saved copies' windows are named by file, live
    ones placed in time."""
    named = all(p.name for p in points)
    x = [p.name for p in points] if named else [datetime.fromtimestamp(p.at) for p in points]
    r = [p.readout for p in points]
    rate_name = r[0].rate_label.split(" (")[0] if r else "accepted ÷ drafted"
    data = [dict(type="scatter", x=x, y=[_nan(v.tau) for v in r], name="τ (tokens per verify pass)",
                 mode="lines+markers", line_color=ORANGE, hovertemplate="%{x}: τ = %{y:.2f}<extra></extra>"),
            dict(type="scatter", x=x, y=[_nan(v.alpha) for v in r], name="α (Leviathan)", yaxis="y2",
                 mode="lines+markers", line_color=BLUE, hovertemplate="%{x}: α = %{y:.2f}<extra></extra>"),
            dict(type="scatter", x=x, y=[_nan(v.rate) for v in r], name=rate_name, yaxis="y2",
                 mode="lines+markers", line=dict(color=GREY, dash="dot"),
                 hovertemplate="%{x}: %{y:.2f}<extra>" + rate_name + "</extra>")]
    restarts = [dict(type="line", xref="x", yref="paper", x0=t, x1=t, y0=0, y1=1,
                     line=dict(color=VERMILLION, dash="dash", width=2))
                for t, p in zip(x, points) if p.restarted]
    kind = "each scrape's latest window (gauges)" if r and r[0].windowed else "each window between scrapes"
    return figure(data, f"Over time ({kind}{'; dashed: a restart' if restarts else ''})", height=380,
                margin=dict(l=10, r=10, b=110), shapes=restarts,
                xaxis=dict(type="category") if named else {},
                yaxis=dict(title="τ", rangemode="tozero"),
                yaxis2=dict(title="α, rate", overlaying="y", side="right", range=[0, 1.05], showgrid=False,
                            tickmode="linear", tick0=0, dtick=0.2))


def request_spread(reading) -> go.Figure:
    """Each request's τ (or rate) of a serving Reading, outliers in vermillion, the fences dashed and
    the median dotted."""
    s = reading.spread
    value = (lambda q: q.readout.tau) if s.by == "τ" else (lambda q: q.readout.rate)
    groups = [(False, "requests", BLUE), (True, "outliers", VERMILLION)]
    data = [dict(type="scatter", mode="markers", name=name, marker=dict(color=color, size=11),
                 x=[q.label for q in reading.requests if bool(q.outlier) == odd],
                 y=[_nan(value(q)) for q in reading.requests if bool(q.outlier) == odd],
                 hovertemplate="%{x}: " + s.by + " = %{y:.2f}<extra></extra>") for odd, name, color in groups]
    shapes = [hline(s.median)] + [dict(type="line", xref="paper", x0=0, x1=1, y0=y, y1=y,
                                               line=dict(color=VERMILLION, dash="dash", width=1))
                                          for y in (s.fences or ())]
    return figure(data, f"{s.by} per request (dotted: the median{'; dashed: the outlier fences' if s.fences else ''})",
                height=360, shapes=shapes, yaxis=dict(title=s.by, rangemode="tozero"),
                xaxis=dict(type="category", title="request", categoryorder="array",  # file order, not by trace
                           categoryarray=[q.label for q in reading.requests]))


def acceptance_histogram(histogram: list[int]) -> go.Figure:
    """Verify steps by how many drafted tokens they accepted (all requests)."""
    total = sum(histogram) or 1
    data = [dict(type="bar", x=list(range(len(histogram))), y=histogram, marker_color=SKY, name="verify steps",
                 customdata=[n / total for n in histogram],
                 hovertemplate="%{y} steps accepted %{x} drafted token(s) (%{customdata:.0%})<extra></extra>")]
    return figure(data, "Verify steps by drafted tokens accepted (vLLM's acceptance histogram, all requests)",
                height=320, showlegend=False, xaxis=dict(title="drafted tokens accepted in the step", dtick=1),
                yaxis=dict(title="verify steps"))
