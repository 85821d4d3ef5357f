"""The room's answers to a quiz question (no Streamlit)."""
import html

import plotly.graph_objects as go

from ..palette import BLUE
from .look import figure


def answers(options: list[str], counts: list[int], title: str = "The room's answers") -> go.Figure:
    """One bar per option: how many chose it."""
    answered = sum(counts)
    share = [c / answered if answered else 0 for c in counts]
    labels = [html.escape(o) for o in options]  # plotly renders <a href>, <b>... in labels
    bars = dict(type="bar", orientation="h", y=labels, x=counts, marker_color=BLUE,
                text=[f"{c} ({s:.0%})" for c, s in zip(counts, share)], textposition="auto",
                hovertemplate="%{y}: %{x}<extra></extra>")
    return figure([bars], f"{title} · {answered} answered", height=120 + 44 * len(options),
                  xaxis=dict(title="answers", rangemode="tozero", dtick=max(1, -(-max(counts + [1]) // 8))),
                  yaxis=dict(autorange="reversed", automargin=True, type="category"))  # "0.4" is an option, not a number
