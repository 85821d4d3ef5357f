"""Plotly figures for the lessons (no Streamlit): cost curve, theory, replay, lab, profiles."""
import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .costs import CostCurve
from .lab import LabResult
from .metrics import expected_acceptance_length, speedup_theoretical

# Okabe-Ito: colour-blind safe
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]


def _layout(fig: go.Figure, title: str, height: int = 340, **kw) -> go.Figure:
    fig.update_layout(title=title, height=height, margin=dict(l=50, r=20, t=50, b=45),
                      template="plotly_white", legend=dict(orientation="h", y=-0.22), **kw)
    return fig


def cost_curve(curve: CostCurve) -> go.Figure:
    """Median pass time vs tokens scored (the engine's forward and transformers' stock one), fitted line."""
    ms = [1000 * s for s in curve.seconds]
    intercept, slope = curve.fit()
    spread = None
    if curve.fastest and curve.slowest:  # whiskers: fastest and slowest repeat
        spread = dict(type="data", symmetric=False, color="#555",
                      array=[1000 * s - m for s, m in zip(curve.slowest, ms)],
                      arrayminus=[m - 1000 * f for f, m in zip(curve.fastest, ms)])
    fig = go.Figure(go.Bar(x=curve.n_tokens, y=ms, name="SpecViz engine (median; whiskers: min–max)",
                           marker_color=PALETTE[0], error_y=spread,
                           hovertemplate="%{x} tokens: %{y:.1f} ms<extra></extra>"))
    if curve.stock_seconds:
        fig.add_bar(x=curve.n_tokens, y=[1000 * s for s in curve.stock_seconds], marker_color=PALETTE[5],
                    name="transformers' stock forward (median, same run)",
                    hovertemplate="%{x} tokens: %{y:.1f} ms (stock)<extra></extra>")
    fig.add_scatter(x=curve.n_tokens, y=[1000 * (intercept + slope * n) for n in curve.n_tokens],
                    mode="lines", name=f"fit: +{1000 * slope:.2f} ms per extra token",
                    line=dict(color=PALETTE[3], dash="dash"))
    fig.add_hline(y=ms[0] * curve.n_tokens[-1], line=dict(color="#999", dash="dot"),
                  annotation_text=f"{curve.n_tokens[-1]} separate one-token passes", annotation_position="top left")
    threads = f", {curve.threads} thread{'s' * (curve.threads != 1)}" if curve.threads else ""
    return _layout(fig, f"One target pass vs tokens scored (measured on {curve.device}{threads}, "
                        f"median of {curve.repeats})", xaxis_title="tokens scored in one pass",
                   yaxis_title="ms per pass")


def theory_curves(alphas: list[float], c: float, max_gamma: int = 16,
                  measured: list[dict] | None = None) -> go.Figure:
    """Leviathan's tokens/pass and speedup vs gamma for several alpha (theory) + measured runs."""
    fig = make_subplots(1, 2, subplot_titles=("expected tokens per target pass",
                                              f"expected speedup at c = {c:.2f}"))
    gammas = list(range(1, max_gamma + 1))
    for i, a in enumerate(alphas):
        color = PALETTE[i % len(PALETTE)]
        fig.add_scatter(x=gammas, y=[expected_acceptance_length(a, g) for g in gammas], mode="lines",
                        name=f"α = {a:.2f} (theory)", line=dict(color=color), legendgroup=str(a),
                        row=1, col=1)
        fig.add_scatter(x=gammas, y=[speedup_theoretical(a, g, c) for g in gammas], mode="lines",
                        line=dict(color=color), legendgroup=str(a), showlegend=False, row=1, col=2)
    symbols = ["diamond", "square", "triangle-up", "x", "star", "circle"]
    for i, m in enumerate(measured or []):
        marker = dict(size=12, symbol=symbols[i % len(symbols)], color="#000")
        fig.add_scatter(x=[m["gamma"]], y=[m["tokens_per_pass"]], mode="markers", marker=marker,
                        name=f"{m['label']} (measured α = {m['alpha']:.2f})", legendgroup=m["label"],
                        hovertemplate=f"{m['label']}: measured α = {m['alpha']:.2f}, "
                                      "%{y:.2f} tokens/pass<extra></extra>", row=1, col=1)
        if m.get("speedup"):
            fig.add_scatter(x=[m["gamma"]], y=[m["speedup"]], mode="markers", showlegend=False,
                            marker=marker, legendgroup=m["label"],
                            hovertemplate=f"{m['label']}: measured speedup %{{y:.2f}}×<extra></extra>",
                            row=1, col=2)
    fig.add_hline(y=1, line=dict(color="#999", dash="dot"), row=1, col=2)
    fig.update_xaxes(title_text="γ (drafted tokens per round)")
    _layout(fig, "Theory (Leviathan et al. 2023): lines; measured runs: black markers", height=460)
    fig.update_layout(margin=dict(t=80))
    return fig


def replay_chart(points, measured_alpha: float) -> go.Figure:
    """Replayed alpha, tokens/pass and speedup per gamma; the recorded gamma highlighted."""
    fig = make_subplots(1, 2, subplot_titles=("tokens per target pass (estimate)",
                                              "speedup over plain decoding (estimate)"))
    colors = [PALETTE[3] if p.recorded else PALETTE[0] for p in points]
    gammas = [p.gamma for p in points]
    fig.add_bar(x=gammas, y=[p.tokens_per_pass for p in points], marker_color=colors, showlegend=False,
                customdata=[[p.alpha] for p in points],
                hovertemplate="γ = %{x}: %{y:.2f} tokens/pass, α ≈ %{customdata[0]:.2f}<extra></extra>",
                row=1, col=1)
    fig.add_bar(x=gammas, y=[p.speedup or 0 for p in points], marker_color=colors, showlegend=False,
                hovertemplate="γ = %{x}: %{y:.2f}×<extra></extra>", row=1, col=2)
    fig.add_hline(y=1, line=dict(color="#999", dash="dot"), row=1, col=2)
    fig.update_xaxes(title_text="γ")
    _layout(fig, f"Counterfactual replay of one recorded run (orange = the γ it really "
                 f"used; measured α = {measured_alpha:.2f})", height=360)
    fig.update_layout(margin=dict(t=80))
    return fig


def workload_bars(rows: list[dict]) -> go.Figure:
    """Measured alpha and speedup per workload."""
    fig = make_subplots(1, 2, subplot_titles=("acceptance rate α (measured)",
                                              "speedup over plain decoding (measured)"))
    names = [r["workload"] for r in rows]
    fig.add_bar(x=names, y=[r["alpha"] for r in rows], marker_color=PALETTE[2], showlegend=False,
                text=[f"{r['alpha']:.2f}" for r in rows], row=1, col=1)
    fig.add_bar(x=names, y=[r["speedup"] or 0 for r in rows], marker_color=PALETTE[0], showlegend=False,
                text=[f"{(r['speedup'] or 0):.2f}×" for r in rows], row=1, col=2)
    fig.add_hline(y=1, line=dict(color="#999", dash="dot"), row=1, col=2)
    _layout(fig, "Same pair, different workloads", height=340)
    fig.update_layout(margin=dict(t=80))
    return fig


def break_even(c_values: list[float], max_gamma: int = 8) -> go.Figure:
    """The alpha at which theoretical speedup = 1, per gamma, for several c (theory)."""
    fig = go.Figure()
    gammas = list(range(1, max_gamma + 1))
    for i, c in enumerate(c_values):
        ys = [_break_even_alpha(g, c) for g in gammas]
        fig.add_scatter(x=gammas, y=ys, mode="lines+markers", name=f"c = {c:.2f}",
                        line=dict(color=PALETTE[i % len(PALETTE)]))
    return _layout(fig, "Break-even acceptance rate (theory): below the line, speculation is slower",
                   xaxis_title="γ", yaxis_title="α needed for speedup 1", yaxis_range=[0, 1])


def _break_even_alpha(gamma: int, c: float) -> float:
    lo, hi = 0.0, 1.0
    for _ in range(40):  # bisection: speedup grows with alpha
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if speedup_theoretical(mid, gamma, c) < 1 else (lo, mid)
    return hi


def lab_distributions(result: LabResult, texts: list[str], variants: list[str], top: int = 12) -> go.Figure:
    """Empirical next-token frequencies per variant against the target's p, on p's top tokens."""
    order = np.argsort(-result.p)[:top]
    labels = [repr(texts[i])[1:-1] or "∅" for i in order]
    fig = go.Figure(go.Bar(x=labels, y=result.p[order], name="target p (exact)",
                           marker_color="#BBBBBB"))
    for i, name in enumerate(variants):
        v = result.variants[name]
        fig.add_bar(x=labels, y=v.empirical[order], name=f"{name} (TV {v.tv:.3f})",
                    marker_color=PALETTE[i % len(PALETTE)])
    return _layout(fig, f"First emitted token: {result.n} samples per method vs the target's p",
                   height=380, barmode="group", yaxis_title="probability / frequency")


def lab_tv(result: LabResult) -> go.Figure:
    """Total-variation distance to p per variant: empirical and exact, with the noise floor."""
    names = list(result.variants)
    fig = go.Figure()
    fig.add_bar(x=names, y=[result.variants[n].tv for n in names], name=f"measured ({result.n} samples)",
                marker_color=PALETTE[0])
    fig.add_bar(x=names, y=[result.variants[n].tv_exact for n in names], name="exact law (closed form)",
                marker_color=PALETTE[1])
    fig.add_hline(y=result.noise_floor, line=dict(color=PALETTE[3], dash="dash"),
                  annotation_text="sampling noise (plain target)", annotation_position="top left")
    return _layout(fig, "Total-variation distance to the target's p", barmode="group",
                   yaxis_title="TV distance")


def profiles(points: list[dict], gamma: int = 4) -> go.Figure:
    """Measured runs as alpha vs c, over contours of Leviathan's speedup at this gamma."""
    cs, alphas = np.linspace(0, 0.6, 61), np.linspace(0, 0.99, 60)
    z = [[speedup_theoretical(a, gamma, c) for c in cs] for a in alphas]
    fig = go.Figure(go.Contour(x=cs, y=alphas, z=z, colorscale="Blues", showscale=True, opacity=0.55,
                               contours=dict(start=0.5, end=4, size=0.25, showlabels=True),
                               colorbar=dict(title="theory ×"), hoverinfo="skip"))
    for i, p in enumerate(points):
        fig.add_scatter(x=[p["c"]], y=[p["alpha"]], mode="markers+text", text=[p["label"]],
                        textposition="middle right", name=p["label"],
                        marker=dict(size=13, color=PALETTE[(i + 3) % len(PALETTE)],
                                    line=dict(color="#000", width=1)))
    _layout(fig, f"Cost vs acceptance of measured runs (contours: theoretical speedup at γ = {gamma})",
            height=440, xaxis_title="cost ratio c (measured)", yaxis_title="α (measured)",
            xaxis_range=[-0.02, 0.6], yaxis_range=[-0.02, 1])
    fig.update_layout(margin=dict(t=70))
    return fig
