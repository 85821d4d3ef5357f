"""The one look of every chart (no Streamlit): the type sizes, the title at the top
with the legend under it, and projector mode's larger type.

Every chart module builds its figures with `figure`; projector mode shows `projector(fig)`, a
copy at the projector's sizes (ticks, legends and axis titles of at least 24 px: readable from
the back of a room at 1280×720). Both go through `_frame`, so the two looks cannot drift apart.

The legend sits between the title and the plot and pushes the plot down as it grows (below the
plot it collided with the x-axis title). Text a chart puts just above its plot (a panel's title,
a marker's label: annotations at paper y ≥ 1) gets a band of its own inside the plot area.
"""
import math
import textwrap
from dataclasses import dataclass, replace

import plotly.graph_objects as go
from ..palette import GREY

@dataclass(frozen=True)
class Sizes:
    """Type sizes in px; `scale` multiplies every other font size a chart sets and its height."""

    tick: float
    legend: float
    axis: float
    title: float
    text: float  # annotations and bar labels that set no size of their own
    scale: float = 1.0
    wrap: int = 0  # characters per line of a title or legend entry (0: no wrapping)


SCREEN = Sizes(tick=12, legend=12, axis=14, title=18, text=14)
WIDE = 1216  # px a full-width chart gets in projector mode at 1280×720
PROJECTOR = Sizes(tick=24, legend=24, axis=26, title=28, text=22, scale=1.7, wrap=39)  # wrap: in 2 columns
HEIGHT, TALLEST = 1.45, 640  # a projector chart is this much taller (its type is twice the size), up to
# TALLEST px (the screen is 720)


def hline(y: float, xref: str = "paper", yref: str = "y", **line) -> dict:
    """A dotted grey reference line across the plot at y, as a layout shape (line: its overrides)."""
    return dict(type="line", xref=xref, x0=0, x1=1, yref=yref, y0=y, y1=y,
                line=dict(color=GREY, dash="dot", width=2) | line)


def figure(data: list[dict], title: str, height: int = 320, **layout) -> go.Figure:
    """A figure in the shared look. A `legend` passed in keeps its place on screen (the projector
    puts every legend under the title)."""
    band = "legend" not in layout
    layout = dict(margin=dict(l=10, r=10, b=10)) | layout
    d = {"data": data, "layout": dict(title=dict(text=title), height=height, **layout)}
    return go.Figure(_frame(d, SCREEN, band))


def projector(fig: go.Figure, columns: int = 2) -> go.Figure:
    """A copy of fig at the projector's sizes: every font it sets `scale` times larger, the ticks,
    legend and axis titles at least PROJECTOR's, the title wrapped to the width of one of
    `columns` side by side, the figure taller."""
    width = WIDE / columns
    size = replace(PROJECTOR, wrap=round(width / (0.55 * PROJECTOR.title)))
    d = fig.to_dict()  # a deep copy
    _scale_fonts(d, size.scale)
    layout = d.setdefault("layout", {})
    grown = _heading_px(d, size, width) - HEIGHT * _heading_px(d, SCREEN, width)  # the plot keeps its share
    layout["height"] = min(round(layout.get("height", 450) * HEIGHT + max(grown, 0)), TALLEST)
    return go.Figure(_frame(d, size, band=True))


def _heading_px(d: dict, size: Sizes, width: float) -> float:
    """About how tall the title and the legend are at these sizes in a chart `width` px wide."""
    title = _wrap((d["layout"].get("title") or {}).get("text", ""), size.wrap)
    names = [_wrap(t["name"], size.wrap) for t in d.get("data", []) if t.get("name") and t.get("showlegend", True)]
    if d["layout"].get("showlegend") is False or len(names) < 2 and not d["layout"].get("showlegend"):
        names = []
    rows, used, line = 0.0, width, 0
    for name in names:  # entries fill rows left to right, each as tall as its lines
        w = 0.55 * size.legend * max(len(x) for x in name.split("<br>")) + 50
        if used + w > width:
            rows, used, line = rows + line, 0, 0
        used, line = used + w, max(line, name.count("<br>") + 1)
    return (title.count("<br>") + 1) * 1.3 * size.title + (rows + line) * 1.3 * size.legend


def _frame(d: dict, size: Sizes, band: bool) -> dict:
    """Explicit sizes for every axis, colour bar and legend (the app's chart theme would draw
    unset ones small), the title at the top, the legend under it, room for text above the plot."""
    layout, data = d["layout"], d.get("data", [])
    for name in _axes(layout):
        axis = layout.setdefault(name, {})
        axis["tickfont"] = _at_least(axis.get("tickfont"), size.tick)
        if name.startswith("xaxis") and "tickangle" not in axis:  # long labels slant before they stand up
            axis["autotickangles"] = [0, -35, -60, -90]
        title = axis.get("title")
        if isinstance(title, str):
            title = {"text": title}
        axis["title"] = (title or {}) | {"font": _at_least((title or {}).get("font"), size.axis)}
    for trace in data:
        if isinstance(trace.get("colorbar"), dict):
            bar = trace["colorbar"]
            bar["tickfont"] = _at_least(bar.get("tickfont"), size.tick)
            bar.setdefault("title", {})["font"] = _at_least(bar["title"].get("font"), size.axis)
        if "text" in trace or "texttemplate" in trace:
            trace["textfont"] = {"size": size.text} | (trace.get("textfont") or {})
        if size.wrap and trace.get("name"):
            trace["name"] = _wrap(trace["name"], size.wrap)
    for note in layout.get("annotations", []):
        note.setdefault("font", {}).setdefault("size", size.text)
    title = layout.get("title") or {}
    text = _wrap(title.get("text", ""), size.wrap)
    lines, pad = text.count("<br>") + 1, 0.5 * size.title
    top = pad + 1.3 * lines * size.title + 0.5 * size.tick  # px above the legend (or the top tick label)
    # plotly draws a title of several lines 0.7 em higher than its pad says (measured in Chromium)
    layout["title"] = title | dict(text=text, font=(title.get("font") or {}) | {"size": size.title},
                                  yref="container", y=1, yanchor="top",
                                  pad=dict(t=pad + 0.7 * size.title * (lines > 1)))
    height = layout.get("height", 450)
    if band:  # under the title; plotly pushes the plot down as far as the legend reaches
        layout["legend"] = (layout.get("legend") or {}) | dict(orientation="h", x=0, xanchor="left", yref="container",
                                                              y=1 - top / height, yanchor="top")
    layout["legend"] = layout.get("legend") or {}
    layout["legend"]["font"] = _at_least(layout["legend"].get("font"), size.legend)
    layout["margin"] = (layout.get("margin") or {}) | {"t": math.ceil(top)}
    _room_above(layout, size)
    return d


def _room_above(layout: dict, size: Sizes) -> None:
    """Annotations just above the plot (paper y >= 1) get a band at the top of the plot area:
    the y domains end below it, so the legend, which pushes the plot down, never covers them."""
    above = [a for a in layout.get("annotations", []) if a.get("yref") == "paper" and a.get("y", 0) >= 1]
    if not above:
        return
    band = max(a["font"]["size"] for a in above) * 1.5
    legend_rows = 1 if layout.get("showlegend") is not False else 0
    plot = layout.get("height", 450) - layout["margin"]["t"] - legend_rows * 1.5 * size.legend - \
        layout["margin"].get("b", 80) - 2 * size.tick - 1.5 * size.axis
    top = 1 - band / max(plot, 3 * band)
    for name in _axes(layout, "yaxis"):
        axis = layout.setdefault(name, {})
        if "overlaying" not in axis:
            axis["domain"] = [axis.get("domain", [0, 1])[0], top]
    for a in above:
        a.update(y=1, yanchor="top")


def _axes(layout: dict, prefix: tuple[str, ...] | str = ("xaxis", "yaxis")) -> list[str]:
    """The layout's axes of this kind (xaxis, yaxis2, ...); the first ones even when unset."""
    prefix = (prefix,) if isinstance(prefix, str) else prefix
    return sorted({k for k in layout if k.startswith(prefix)} | set(prefix))


def _at_least(font: dict | None, px: float) -> dict:
    font = dict(font or {})
    font["size"] = max(font.get("size", 0), px)
    return font


def _wrap(text: str, width: int) -> str:
    """Text broken into lines of about width characters (plotly's <br>); short text as it is."""
    if not width or len(text) <= width or "<br>" in text:
        return text
    return "<br>".join(textwrap.wrap(text, width, break_long_words=False))


def _scale_fonts(node, factor: float, in_font: bool = False) -> None:
    """Every explicit font size in a figure dict, times factor."""
    if isinstance(node, dict):
        for k, v in node.items():
            if in_font and k == "size" and isinstance(v, (int, float)):
                node[k] = v * factor
            elif isinstance(v, (dict, list)):
                _scale_fonts(v, factor, k.endswith("font"))
    elif isinstance(node, list):
        for x in node:
            _scale_fonts(x, factor, in_font)
