"""Plotly figures of a server's speculative-decoding metrics (no Streamlit), in the look of the
trace charts (look.figure): acceptance by draft position and the numbers over time."""
import math
from datetime import datetime

import plotly.graph_objects as go

from .charts import _hline
from .look import BLUE, GREY, ORANGE, SKY
from .look import figure as _fig
from .serving import Point, Readout


def _nan(v: float | None) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


def position_acceptance(r: Readout) -> go.Figure:
    """Per draft position: of all drafts (vLLM's survival curve) and given the earlier ones were
    accepted (conditional), with Leviathan's α dotted."""
    x = list(range(1, len(r.unconditional) + 1))
    data = [dict(type="bar", x=x, y=[_nan(v) for v in r.unconditional], name="of all drafts (vLLM's rate)",
                 marker_color=SKY, hovertemplate="position %{x}: %{y:.3f} of all drafts<extra></extra>"),
            dict(type="bar", x=x, y=[_nan(v) for v in r.conditional], name="given the earlier ones were accepted",
                 marker_color=BLUE, hovertemplate="position %{x}: %{y:.3f} of the drafts that reached it"
                                                  "<extra></extra>")]
    layout = _hline(r.alpha) if r.alpha is not None else {}
    title = "Acceptance by draft position" + (f" (dotted: α = {r.alpha:.2f})" if r.alpha is not None else "")
    return _fig(data, title, height=340, barmode="group",
                xaxis=dict(title="position in the draft", dtick=1),
                yaxis=dict(range=[0, 1.05], title="accepted fraction"), **layout)


def over_time(points: list[Point]) -> go.Figure:
    """τ per window (left axis), α and the acceptance rate per window (right axis)."""
    x = [datetime.fromtimestamp(p.at) for p in points]
    r = [p.readout for p in points]
    rate_name = "SGLang's acceptance rate" if r and r[0].engine == "sglang" else "vLLM's draft acceptance rate"
    data = [dict(type="scatter", x=x, y=[_nan(v.tau) for v in r], name="τ (tokens per verify pass)",
                 mode="lines+markers", line_color=ORANGE, hovertemplate="%{x}: τ = %{y:.2f}<extra></extra>"),
            dict(type="scatter", x=x, y=[_nan(v.alpha) for v in r], name="α (Leviathan)", yaxis="y2",
                 mode="lines+markers", line_color=BLUE, hovertemplate="%{x}: α = %{y:.2f}<extra></extra>"),
            dict(type="scatter", x=x, y=[_nan(v.rate) for v in r], name=rate_name, yaxis="y2",
                 mode="lines+markers", line=dict(color=GREY, dash="dot"),
                 hovertemplate="%{x}: %{y:.2f}<extra>" + rate_name + "</extra>")]
    restarts = [dict(type="line", xref="x", yref="paper", x0=t, x1=t, y0=0, y1=1,
                     line=dict(color="#D55E00", dash="dash", width=2))
                for t, p in zip(x, points) if p.restarted]
    kind = "each scrape's latest window" if r and r[0].counts is None else "each window between scrapes"
    return _fig(data, f"Over time ({kind}{'; dashed: a restart' if restarts else ''})", height=380,
                margin=dict(l=10, r=10, b=110), shapes=restarts,
                yaxis=dict(title="τ", rangemode="tozero"),
                yaxis2=dict(title="α, rate", overlaying="y", side="right", range=[0, 1.05], showgrid=False))
