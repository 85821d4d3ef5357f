"""The no-model sandbox widget: drag p and q over a handful of tokens and watch β, each token's
accept probability, the residual and many draws through the real verifier converge to p.

    sandbox.sandbox("sb")   # its settings live in the address: ?sb_p=40,25,15,12,8&sb_q=...
"""
import streamlit as st

from ..measure import sandbox as sb
from ..present.charts.sandbox import sandbox_accept, sandbox_convergence, sandbox_dists, sandbox_residual
from . import projector, urlstate

PLOTLY = {"displaylogo": False, "modeBarButtonsToRemove": ["select2d", "lasso2d"]}
WEIGHTS = r"\d{1,3}(,\d{1,3}){1,7}"  # slider weights 0..100, comma separated
DRAWS = [100, 1000, 5000]


def schema(key: str) -> list[urlstate.Param]:
    start = lambda w: ",".join(str(round(100 * x)) for x in w)  # noqa: E731
    return [urlstate.Text(f"{key}_p", start(sb.P_START), WEIGHTS),
            urlstate.Text(f"{key}_q", start(sb.Q_START), WEIGHTS),
            urlstate.Choice(f"{key}_draws", 1000, DRAWS)]


@st.cache_data(max_entries=64, show_spinner="drawing through the verifier…")
def _simulate(p: tuple, q: tuple, n: int, seed: int) -> sb.Simulation:
    return sb.simulate(sb.analyse(sb.TOKENS, list(p), list(q)), n, seed)


def _apply(key: str, values: dict) -> None:
    """Slider positions from the address (a wrong count of weights keeps the sliders as they are)."""
    ss = st.session_state
    for side in "pq":
        w = [min(100, int(x)) for x in values[f"{key}_{side}"].split(",")]
        if len(w) == len(sb.TOKENS):
            for j, x in enumerate(w):
                ss[f"{key}_{side}{j}"] = x
    ss[f"{key}_draws"] = values[f"{key}_draws"]


def _sliders(key: str, side: str, title: str, start: list[float]) -> list[int]:
    st.markdown(f"**{title}**")
    for j in range(len(sb.TOKENS)):  # start values via session state only (the address may set them)
        st.session_state.setdefault(f"{key}_{side}{j}", round(100 * start[j]))
    return [st.slider(tok, 0, 100, key=f"{key}_{side}{j}") for j, tok in enumerate(sb.TOKENS)]


def sandbox(key: str = "sb", seed: int = 0) -> None:
    """The whole sandbox: sliders, three charts, the simulation."""
    sch = schema(key)
    came = urlstate.incoming(key, sch)
    if came is not None:
        _apply(key, came)
    st.caption("Slider values are weights: each side is normalised to sum to 1. No model runs here.")
    left, right = st.columns(2)
    with left:
        q_w = _sliders(key, "q", "draft q", sb.Q_START)
    with right:
        p_w = _sliders(key, "p", "target p", sb.P_START)
    try:
        a = sb.analyse(sb.TOKENS, p_w, q_w)
    except ValueError as e:
        st.error(f"{e}. Drag a slider above 0.")
        return
    st.metric("β = Σ min(p, q)", f"{a.beta:.3f}", help="the chance a drafted token is accepted", border=True)
    c1, c2, c3 = st.columns(3)
    c1.plotly_chart(projector.scaled(sandbox_dists(a), columns=3), key=f"{key}_dists", config=PLOTLY)
    c2.plotly_chart(projector.scaled(sandbox_accept(a), columns=3), key=f"{key}_accept", config=PLOTLY)
    c3.plotly_chart(projector.scaled(sandbox_residual(a), columns=3), key=f"{key}_res", config=PLOTLY)
    st.session_state.setdefault(f"{key}_draws", 1000)
    n = st.segmented_control("draws", DRAWS, key=f"{key}_draws", required=True,
                             format_func=lambda d: f"{d:,} draws")
    sim = _simulate(tuple(p_w), tuple(q_w), n, seed)
    st.plotly_chart(projector.scaled(sandbox_convergence(a, sim)), key=f"{key}_conv", config=PLOTLY)
    st.caption(f"{sim.n:,} rounds of γ = 1 through the engine's own verifier (seed {seed}): "
               f"{sim.accepted / sim.n:.1%} of drafts accepted (β = {a.beta:.1%}); the output "
               f"tokens' distance to p is {sim.tv[-1]:.3f} (total variation).")
    weights = lambda w: ",".join(map(str, w))  # noqa: E731
    urlstate.publish(key, sch, {f"{key}_p": weights(p_w), f"{key}_q": weights(q_w), f"{key}_draws": n})
