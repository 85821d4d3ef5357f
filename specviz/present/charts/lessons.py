"""Plotly figures for the lessons (no Streamlit): cost curve, theory, acceptance, replay, lab, profiles.

Theory lines come from specviz.measure.metrics (Leviathan et al. 2023); every marker is a measured run
and says so. Figures are built in one constructor call from plain dicts (plotly validates each
incremental update separately, which is slow), so a page load stays cheap.
"""
from typing import TYPE_CHECKING, Callable

import numpy as np
import plotly.graph_objects as go

from ... import theory
from ..palette import GREY, LIGHT_GREY, PALETTE
from .look import figure, hline

if TYPE_CHECKING:  # costs and lab import torch: a lesson page must not pay for it on load
    from ...decoding.kerneltable import KernelTable
    from ...measure.costcurve import CostCurve
    from ...measure.lab import LabResult

SYMBOLS = ["diamond", "square", "triangle-up", "star", "hexagon", "pentagon"]


def _two_panels(left: str, right: str, x_title: str, gap: float = 0.1) -> dict:
    """Layout of two side-by-side plots (xaxis/yaxis left, xaxis2/yaxis2 right) with titles."""
    half = (1 - gap) / 2
    titles = [dict(text=f"<b>{t}</b>", x=x, y=1.0, xref="paper", yref="paper", showarrow=False,
                   xanchor="center", yanchor="bottom", font=dict(size=14))
              for t, x in ((left, half / 2), (right, 1 - half / 2))]
    return dict(xaxis=dict(domain=[0, half], title=x_title, anchor="y"),
                xaxis2=dict(domain=[1 - half, 1], title=x_title, anchor="y2"),
                yaxis=dict(anchor="x", rangemode="tozero"), yaxis2=dict(anchor="x2", rangemode="tozero"),
                annotations=titles)


# ---------------------------------------------------------------- lesson 1: what a pass costs

def cost_curve(curve: "CostCurve") -> go.Figure:
    """Median pass time vs tokens scored through the engine's forward (v(k) on hover) and
    transformers' stock forward timed in the same run; a fit drawn, not quoted."""
    ms = [1000 * s for s in curve.seconds]
    v = [curve.v(n) for n in curve.n_tokens]
    intercept, slope = curve.fit()
    spread = None
    if curve.fastest and curve.slowest:  # whiskers: fastest and slowest repeat
        spread = dict(type="data", symmetric=False, color="#555",
                      array=[1000 * s - m for s, m in zip(curve.slowest, ms)],
                      arrayminus=[m - 1000 * f for f, m in zip(curve.fastest, ms)])
    data = [dict(type="bar", x=curve.n_tokens, y=ms, name="SpecViz engine: median (whiskers: fastest–slowest)",
                 marker_color=PALETTE[0], error_y=spread, customdata=v, hovertemplate="%{x} tokens in one pass: %{y:.1f} ms = %{customdata:.2f}× "
                                             "a one-token pass<extra>engine</extra>")]
    if curve.stock_seconds:
        stock = [curve.stock_v(n) for n in curve.n_tokens]
        data.append(dict(type="bar", x=curve.n_tokens, y=[1000 * s for s in curve.stock_seconds],
                         name="transformers' stock forward (median, same run)", marker_color=PALETTE[5],
                         customdata=stock, hovertemplate="%{x} tokens: %{y:.1f} ms = %{customdata:.2f}× "
                                                         "its one-token pass<extra>stock</extra>"))
    data.append(dict(type="scatter", x=curve.n_tokens, y=[1000 * (intercept + slope * n) for n in curve.n_tokens],
                     mode="lines", name="least-squares line (drawn only; the bars are the result)",
                     line=dict(color=PALETTE[3], dash="dash"), hoverinfo="skip"))
    n = curve.n_tokens[-1]
    data.append(dict(type="scatter", x=[1, n], y=[ms[0], ms[0] * n], mode="lines",
                     name=f"k separate one-token passes (k × {ms[0]:.1f} ms)",
                     line=dict(color=GREY, dash="dot"), hoverinfo="skip"))
    threads = f", {curve.threads} thread{'s' * (curve.threads != 1)}" if curve.threads else ""
    top = max(ms + [1000 * s for s in curve.stock_seconds or []])
    return figure(data, f"One target pass vs tokens scored · {curve.device}{threads}, median of {curve.repeats}",
                height=400, barmode="group",
                xaxis=dict(title="tokens scored in one pass (k) · hover a bar for v(k) = time ÷ one-token pass", dtick=1),
                yaxis=dict(title="ms per pass", range=[0, top * 1.25]))


# ---------------------------------------------------------------- lesson 2: α decides

def theory_curves(alphas: list[float], c: float, measured: list[dict] | None = None,
                  v: Callable[[int], float] | None = None, max_gamma: int = 16) -> go.Figure:
    """Leviathan's E[τ] and speedup vs γ for several α (lines), and measured runs (markers).

    v(k): the measured cost of a k-token pass in plain steps; with it the speedup lines are
    E[τ] / (γc + v(γ+1)) instead of Leviathan's E[τ] / (γc + 1). Each measured run is a filled
    marker (what it measured) beside an open one (Leviathan at the run's own α, and c).
    """
    gammas = list(range(1, max_gamma + 1))
    data = []
    for i, a in enumerate(alphas):
        color = PALETTE[i % len(PALETTE)]
        speed = [theory.speedup_verify_aware(a, g, c, v(g + 1)) if v else theory.speedup_theoretical(a, g, c)
                 for g in gammas]
        data += [dict(type="scatter", x=gammas, y=[theory.expected_acceptance_length(a, g) for g in gammas],
                      mode="lines", name=f"α = {a:.2f}", line=dict(color=color), legendgroup=str(a),
                      hovertemplate=f"α = {a:.2f}, γ = %{{x}}: E[τ] = %{{y:.2f}} tokens/pass<extra>theory</extra>"),
                 dict(type="scatter", x=gammas, y=speed, mode="lines", line=dict(color=color, dash="dash" if v else None),
                      legendgroup=str(a), showlegend=False, xaxis="x2", yaxis="y2",
                      hovertemplate=f"α = {a:.2f}, γ = %{{x}}: %{{y:.2f}}×<extra>theory</extra>")]
    runs = measured or []
    for i, m in enumerate(runs):
        sym = SYMBOLS[i % len(SYMBOLS)]
        filled, hollow = dict(size=12, symbol=sym, color="#000"), dict(size=14, symbol=f"{sym}-open", color="#000")
        own = f"the run's own α = {m['alpha']:.2f}"
        x = [m["gamma"] + 0.9 * (i - (len(runs) - 1) / 2)]  # side by side when runs share a γ
        data += [dict(type="scatter", x=x, y=[m["tau"]], mode="markers", marker=filled,
                      name=m["label"], legendgroup=m["label"],
                      hovertemplate=f"{m['label']}: measured τ = %{{y:.2f}} tokens/pass<extra>measured</extra>"),
                 dict(type="scatter", x=x, y=[m["tau_expected"]], mode="markers", marker=hollow,
                      showlegend=False, legendgroup=m["label"],
                      hovertemplate=f"{m['label']}: Leviathan's E[τ] at {own} = %{{y:.2f}}<extra>theory</extra>")]
        if m.get("speedup") is not None:
            data.append(dict(type="scatter", x=x, y=[m["speedup"]], mode="markers", marker=filled,
                             showlegend=False, legendgroup=m["label"], xaxis="x2", yaxis="y2",
                             hovertemplate=f"{m['label']}: measured speedup %{{y:.2f}}×<extra>measured</extra>"))
        if m.get("theory") is not None:
            data.append(dict(type="scatter", x=x, y=[m["theory"]], mode="markers", marker=hollow,
                             showlegend=False, legendgroup=m["label"], xaxis="x2", yaxis="y2",
                             hovertemplate=f"{m['label']}: Leviathan's speedup at {own}, c = {m['c']:.2f}: "
                                           "%{y:.2f}×<extra>theory</extra>"))
    right = f"expected speedup at c = {c:.2f}" + (" with my measured v(γ+1)" if v else " (verify = 1 step)")
    layout = _two_panels("expected tokens per target pass E[τ]", right, "γ (tokens drafted per round)")
    layout["shapes"] = [hline(1, xref="x2 domain", yref="y2")]
    layout["yaxis2"]["title"] = "× plain decoding"
    return figure(data, "Theory (lines, Leviathan et al. 2023) · runs: filled = measured, open = theory at their own α",
                height=470, **layout)


def replay_chart(points) -> go.Figure:
    """Replayed tokens/pass and speedup per γ (estimates); the recorded γ highlighted."""
    colors = [PALETTE[3] if p.recorded else PALETTE[0] for p in points]
    gammas = [p.gamma for p in points]
    data = [dict(type="bar", x=gammas, y=[p.mean_acceptance_length for p in points], marker_color=colors, showlegend=False,
                 hovertemplate="γ = %{x}: %{y:.2f} tokens/pass<extra>estimate</extra>"),
            dict(type="bar", x=gammas, y=[p.speedup or 0 for p in points], marker_color=colors, showlegend=False,
                 xaxis="x2", yaxis="y2", hovertemplate="γ = %{x}: %{y:.2f}×<extra>estimate</extra>")]
    layout = _two_panels("tokens per target pass (estimate)", "speedup over plain decoding (estimate)", "γ")
    layout["shapes"] = [hline(1, xref="x2 domain", yref="y2")]
    return figure(data, "Counterfactual replay of one recorded run: estimates (orange = the γ it really used)",
                height=360, **layout)


def break_even(c_values: list[float], run: dict | None = None, v: Callable[[int], float] | None = None,
               max_gamma: int = 8) -> go.Figure:
    """The α at which the speedup is 1, per γ (theory): Leviathan's for several c; with the
    measured v(γ+1) too when given; the run's own (γ, α) as a measured marker."""
    gammas = list(range(1, max_gamma + 1))
    data = [dict(type="scatter", x=gammas, y=[theory.break_even_alpha(g, c) for g in gammas], mode="lines+markers",
                 name=f"c = {c:.2f}, verify = 1 step", line=dict(color=PALETTE[i % len(PALETTE)]),
                 hovertemplate=f"c = {c:.2f}, γ = %{{x}}: break-even α = %{{y:.2f}}<extra>theory</extra>")
            for i, c in enumerate(c_values)]
    if run is not None and v is not None:
        data.append(dict(type="scatter", x=gammas, y=[theory.break_even_alpha(g, run["c"], v(g + 1)) for g in gammas],
                         mode="lines+markers", name=f"c = {run['c']:.2f} with my measured v(γ+1)",
                         line=dict(color="#000", dash="dash"),
                         hovertemplate="γ = %{x}: break-even α = %{y:.2f}<extra>theory, measured v</extra>"))
    if run is not None:
        data.append(dict(type="scatter", x=[run["gamma"]], y=[run["alpha"]], mode="markers+text",
                         marker=dict(size=14, symbol="x", color=PALETTE[3]), text=[f" {run['label']}: α = {run['alpha']:.2f}"],
                         textposition="middle right", name=f"{run['label']} (measured α)",
                         hovertemplate="measured α = %{y:.2f} at γ = %{x}<extra>measured</extra>"))
        if run.get("break_even_v") is not None:
            data.append(dict(type="scatter", x=[run["gamma"]], y=[run["break_even_v"]], mode="markers",
                             marker=dict(size=12, symbol="circle-open", color="#000", line=dict(width=2)),
                             name=f"break-even with the run's own v = {run['v']:.2f}",
                             hovertemplate="break-even α with v = %{customdata:.2f}: %{y:.2f}<extra>theory</extra>",
                             customdata=[run["v"]]))
    return figure(data, "Break-even α (theory): below its line, speculation is slower than plain decoding",
                height=400, xaxis=dict(title="γ", dtick=1), yaxis=dict(title="α needed for speedup 1", range=[0, 1.02]))


# ---------------------------------------------------------------- lesson 3: the distribution lab

def lab_distributions(result: "LabResult", texts: list[str], variants: list[str], top: int = 12) -> go.Figure:
    """Empirical next-token frequencies per variant against the target's p, on p's top tokens."""
    order = np.argsort(-result.p)[:top]
    labels = [repr(texts[i])[1:-1] or "∅" for i in order]
    data = [dict(type="bar", x=labels, y=result.p[order], name="target p (exact)", marker_color=LIGHT_GREY)]
    data += [dict(type="bar", x=labels, y=result.variants[name].empirical[order],
                  name=f"{name} (TV {result.variants[name].tv:.3f})", marker_color=PALETTE[i % len(PALETTE)])
             for i, name in enumerate(variants)]
    return figure(data, f"First emitted token: {result.n} samples per method vs the target's p",
                height=380, barmode="group", yaxis=dict(title="probability / frequency"))


def lab_tv(result: "LabResult") -> go.Figure:
    """Total-variation distance to p per variant: empirical and exact, with the noise floor."""
    names = list(result.variants)
    data = [dict(type="bar", x=names, y=[result.variants[n].tv for n in names],
                 name=f"measured ({result.n} samples)", marker_color=PALETTE[0]),
            dict(type="bar", x=names, y=[result.variants[n].tv_exact for n in names],
                 name="exact law (closed form)", marker_color=PALETTE[1])]
    floor = hline(result.noise_floor, color=PALETTE[3], dash="dash")
    note = dict(text="sampling noise (plain target)", x=0, xref="paper", y=result.noise_floor, yref="y",
                showarrow=False, xanchor="left", yanchor="bottom", font=dict(color=PALETTE[3]))
    return figure(data, "Total-variation distance to the target's p", barmode="group", shapes=[floor],
                annotations=[note], yaxis=dict(title="TV distance"))


# ---------------------------------------------------------------- lesson 4: profiles

def profiles(points: list[dict], gamma: int = 4) -> go.Figure:
    """Measured runs as Leviathan's α vs c, over contours of Leviathan's speedup at this γ."""
    # a 25 × 25 grid: the surface is smooth, and a finer one made this chart the slowest thing on
    # its page to draw (plotly places the contour labels by measuring text)
    cs, alphas = np.linspace(0, 0.6, 25), np.linspace(0, 0.99, 25)
    z = [[theory.speedup_theoretical(a, gamma, c) for c in cs] for a in alphas]
    data = [dict(type="contour", x=cs, y=alphas, z=z, colorscale="Blues", showscale=True, opacity=0.55,
                 contours=dict(start=0.5, end=4, size=0.25, showlabels=True),
                 colorbar=dict(title=dict(text="theory ×")), hoverinfo="skip")]
    data += [dict(type="scatter", x=[p["c"]], y=[p["alpha"]], mode="markers+text", text=[p["label"]],
                  textposition="middle right", name=p["label"],
                  marker=dict(size=13, color=PALETTE[(i + 3) % len(PALETTE)], line=dict(color="#000", width=1)),
                  hovertemplate=f"{p['label']}: α = %{{y:.2f}}, c = %{{x:.2f}}<extra>measured</extra>")
             for i, p in enumerate(points)]
    return figure(data, f"Cost vs acceptance of measured runs (contours: Leviathan's speedup at γ = {gamma})",
                height=460, xaxis=dict(title="cost ratio c (measured)", range=[-0.02, 0.6]),
                yaxis=dict(title="α measured (accepted ÷ checked)", range=[-0.02, 1]))


# ---------------------------------------------------------------- lesson 4: token trees

def tree_sweep(rows: list, curve: dict | None = None) -> go.Figure:
    """A chain and trees of growing node budgets (treesweep.Row, measured): left, τ and the
    measured speedup (and its lowest and highest whole repeat) per shape; right, per round what a shape
    brings (τ tokens) and costs (N̄c + v plain steps) against the tokens in its pass, over the
    measured pass-cost curve v(k) (curve: a costs.CostCurve dict)."""
    names = [r.name for r in rows]
    speed = [r.speedup for r in rows]
    data = [dict(type="bar", x=names, y=[r.tau for r in rows], name="τ: tokens per target pass", marker_color=PALETTE[2],
                 offsetgroup="tau",
                 texttemplate="%{y:.2f}", textposition="outside", xaxis="x", yaxis="y",
                 hovertemplate="%{x}: τ = %{y:.2f} tokens per pass<extra>measured</extra>"),
            dict(type="bar", x=names, y=speed, name="measured speedup × (median)", offsetgroup="speed",
                 marker_color=PALETTE[0], texttemplate="%{y:.2f}×", textposition="inside", textangle=0,
                 insidetextanchor="start", textfont=dict(color="#fff", size=12),
                 xaxis="x", yaxis="y", hovertemplate="%{x}: %{y:.2f}× plain decoding<extra>measured</extra>"),
            dict(type="scatter", x=[n for r, n in zip(rows, names) for x in (r.lo, r.hi) if x is not None],
                 y=[x for r in rows for x in (r.lo, r.hi) if x is not None], mode="markers", xaxis="x", yaxis="y",
                 name="lowest and highest whole repeat", offsetgroup="speed",
                 marker=dict(symbol="line-ew-open", size=22, color="#000", line=dict(width=2)),
                 hovertemplate="%{x}: a repeat at %{y:.2f}×<extra>measured</extra>")]
    ks = [r.pass_tokens for r in rows]
    data += [dict(type="scatter", x=ks, y=[r.tau for r in rows], mode="lines+markers+text", text=names,
                  textposition="top center", name="brings: τ tokens per round", line=dict(color=PALETTE[2], width=3),
                  marker=dict(size=10), xaxis="x2", yaxis="y2",
                  hovertemplate="%{text}: τ = %{y:.2f} tokens per round<extra>measured</extra>"),
             dict(type="scatter", x=ks, y=[r.round_cost for r in rows], mode="lines+markers",
                  name="costs: N̄c + v plain steps per round", line=dict(color=PALETTE[3], width=3),
                  marker=dict(size=10, symbol="square"), xaxis="x2", yaxis="y2", customdata=names,
                  hovertemplate="%{customdata}: drafting + a pass over %{x} tokens = %{y:.2f} plain steps"
                                "<extra>measured</extra>")]
    if curve and curve.get("seconds"):
        one = curve["seconds"][0]
        data.append(dict(type="scatter", x=curve["n_tokens"], y=[s / one for s in curve["seconds"]],
                         mode="lines+markers", name="v(k): one pass over k tokens ÷ one-token pass",
                         line=dict(color=GREY, dash="dot"), marker=dict(size=6), xaxis="x2", yaxis="y2",
                         hovertemplate="a pass over %{x} tokens: v = %{y:.2f}<extra>measured curve</extra>"))
    layout = _two_panels("τ and measured speedup", "per round: tokens it brings vs steps it costs", "")
    layout["xaxis"]["title"] = "shape (chain γ, or tree node budget N)"
    layout["xaxis2"]["title"] = "tokens in the target's pass (γ + 1, or N + 1)"
    layout["xaxis2"]["range"] = [0, max(ks + (curve or {}).get("n_tokens", [])) * 1.15]  # room for the labels
    layout["yaxis"]["title"] = "tokens per pass · × plain"
    layout["yaxis2"]["title"] = "tokens · plain steps"
    top = max([r.tau or 0 for r in rows] + [max(r.hi or 0, r.speedup or 0) for r in rows]) * 1.25
    layout["yaxis"]["range"] = [0, top or 1]
    return figure(data, "Chain vs token trees on this machine", height=440, barmode="group", scattermode="group",
                **layout)


# ---------------------------------------------------------------- this machine

def machine_costs(table: "KernelTable") -> go.Figure:
    """v(k) of the kernels the tuner chose (what runs) beside each kernel alone, and
    transformers' own forward when it was timed beside them."""
    ks = table.sizes
    data = [dict(type="scatter", x=ks, y=[table.v(k) for k in ks], mode="lines+markers", name="SpecViz, tuned (what runs)",
                 line=dict(color=PALETTE[0], width=4), customdata=[table.describe(k) for k in ks],
                 hovertemplate="%{x} tokens: v = %{y:.2f} (%{customdata})<extra></extra>")]
    for i, kernel in enumerate(table.seconds):
        data.append(dict(type="scatter", x=ks, y=[table.kernel_v(kernel, k) for k in ks], mode="lines",
                         name=f"{table.label(kernel)} alone", line=dict(color=PALETTE[1 + i], dash="dot"),
                         hovertemplate="%{x} tokens: %{y:.2f}<extra>" + kernel + "</extra>"))
    ref = table.reference or {}
    if "transformers" in ref:
        data.append(dict(type="scatter", x=ref["sizes"], y=[s / ref["transformers"][0] for s in ref["transformers"]],
                         mode="lines+markers", name="transformers' forward (its own 1-token step = 1)",
                         line=dict(color=PALETTE[5], dash="dash"),
                         hovertemplate="%{x} tokens: %{y:.2f}<extra>transformers</extra>"))
    top = max(y for d in data for y in d["y"] if y is not None)
    return figure(data, f"What a pass over k tokens costs here, in plain steps ({1000 * table.step_s:.1f} ms)",
                height=360, xaxis=dict(title="tokens in one target pass (k = γ + 1)", dtick=1),
                yaxis=dict(title="v(k) = pass ÷ plain step", range=[0, top * 1.15]),
                shapes=[hline(1.0)])
