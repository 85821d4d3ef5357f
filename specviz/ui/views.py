"""Views of one trace: header metrics, staged round, token strip, anatomy, progress charts."""
import re
import threading
from collections import OrderedDict

import streamlit as st

from .. import charts, metrics, render
from ..trace import Trace

PLOTLY = {"displaylogo": False, "modeBarButtonsToRemove": ["select2d", "lasso2d"]}
_FIGS: OrderedDict = OrderedDict()  # (id(trace), chart, args) -> (trace, figure), per process
_FIGS_LOCK = threading.Lock()  # sessions run their scripts in parallel threads


def figure(make, trace: Trace, *args):
    """make(*args) memoised per trace: stepping through stages redraws the same charts."""
    key = (id(trace), make.__name__, tuple(a if isinstance(a, (int, str)) else id(a) for a in args))
    with _FIGS_LOCK:
        if key in _FIGS:
            _FIGS.move_to_end(key)
            return _FIGS[key][1]
    fig = make(*args)
    with _FIGS_LOCK:
        # the entry keeps `trace` alive, so its id cannot be reused while the entry exists
        _FIGS[key] = (trace, fig)
        while len(_FIGS) > 512:
            _FIGS.popitem(last=False)
    return fig


def css() -> None:
    """The token/card styles (once per page run)."""
    st.html(render.CSS)


def describe(trace: Trace) -> str:
    c = trace.config
    mode = "greedy" if c.temperature == 0 else f"sampled, T = {c.temperature:g}, top-p = {c.top_p:g}"
    return (f"target **{c.target}** · draft **{c.draft}** · γ = {c.gamma} · {mode} · "
            f"seed {c.seed} · {c.device}/{c.dtype}")


def recorded_with(trace: Trace) -> str:
    """Where a trace came from: library versions, device and platform (a replay says so)."""
    env = {k: str(v) for k, v in trace.env.items()}
    if not env:
        return "Recorded with: unknown (this trace has no environment record)."
    libs = " · ".join(f"{k} {env[k]}" for k in ("specviz", "torch", "transformers", "python") if k in env)
    where = env.get("gpu") or env.get("device", trace.config.device)
    return (f"Recorded with {libs} on {where}" + (f" ({env['platform']})" if "platform" in env else "")
            + ". Same seed, settings and versions on the same device give the same tokens.")


def headline(trace: Trace) -> str:
    """One line of the run's measured numbers."""
    s = metrics.summarize(trace)
    speed = "n/a" if s.speedup_measured is None else f"{s.speedup_measured:.2f}×"
    return (f"Measured in this run: α = {_fmt(s.alpha)} · {_fmt(s.mean_acceptance_length)} tokens per target "
            f"pass · speedup {speed} on a shared CPU. The prompt: “{plain(trace.prompt, 90)}”")


def _fmt(x: float | None, spec: str = ".2f") -> str:
    return "n/a" if x is None else format(x, spec)


def plain(text: str, limit: int) -> str:
    """User text inside markdown: one line, shortened, markdown characters escaped."""
    text = " ".join(text.split())
    text = text if len(text) <= limit else text[:limit - 1] + "…"
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$])", r"\\\1", text)


def header(trace: Trace) -> None:
    """What was run, and the whole run's measured numbers."""
    s = metrics.summarize(trace)
    st.markdown(describe(trace))
    with st.expander("prompt and full output", expanded=False):
        st.markdown(f"**Prompt** ({len(trace.prompt_ids)} tokens with the chat template)")
        st.code(trace.prompt, language=None, wrap_lines=True)
        st.markdown(f"**Output** ({len(trace.output_ids)} tokens, stop: {trace.stop_reason})")
        st.code(trace.text, language=None, wrap_lines=True)
    st.caption(plain(recorded_with(trace), 400))
    if not trace.complete:
        st.warning(f"This run did not finish ({trace.stop_reason}); it shows the rounds recorded "
                   "before it stopped.")
    cols = st.columns(5)
    fmt = lambda x, f: "n/a" if x is None else format(x, f)  # noqa: E731
    cols[0].metric("α acceptance", fmt(s.alpha, ".2f"), help="accepted ÷ checked drafted tokens (Leviathan's α)",
                   border=True)
    cols[1].metric("tokens / target pass", fmt(s.mean_acceptance_length, ".2f"),
                   help="1 + accepted / rounds (vLLM's mean acceptance length)", border=True)
    cols[2].metric("measured speedup", fmt(s.speedup_measured, ".2f") + "×",
                   help="plain decoding s/token ÷ speculative s/token, both measured in this run",
                   border=True)
    cols[3].metric("theoretical speedup", fmt(s.speedup_theoretical, ".2f") + "×",
                   help="(1 − α^(γ+1)) / ((1 − α)(γc + 1)) with this run's α, γ and c",
                   border=True)
    cols[4].metric("cost ratio c", fmt(s.cost_ratio, ".2f"),
                   help="draft time per drafted token ÷ one plain target step", border=True)
    if s.same_as_baseline is not None:
        same = "identical to" if s.same_as_baseline else "DIFFERENT from"
        st.caption(f"Greedy run: the speculative output is {same} plain greedy decoding of the "
                   "same prompt (checked token by token).")


def round_view(trace: Trace, rnd: int, stage: int, focus: int | None = None) -> None:
    last = render.n_stages(trace.rounds[rnd]) - 1
    st.markdown(f"#### Round {rnd + 1} of {len(trace.rounds)} · step {stage + 1} of {last + 1}")
    st.html(render.round_html(trace, rnd, stage, focus))


def strip(trace: Trace, done: int) -> None:
    st.markdown(f"#### The text so far · {done} round{'s' * (done != 1)}, "
                f"{_kept(trace, done)} tokens")
    st.html(render.strip_html(trace, done) + render.legend_html())


def _kept(trace: Trace, done: int) -> int:
    return sum(sum(t.accepted for t in r.draft) + 1 for r in trace.rounds[:done])


def _token_label(toks: list[render.Tok]):
    """Pill label: position, the token (escaped, shortened) and its fate glyph."""
    def label(j: int) -> str:
        text = render.visible(toks[j].text)
        text = text if len(text) <= 12 else text[:11] + "…"
        return f"{j + 1} · {text.strip() or '␣'} {render.FATES[toks[j].fate][1]}"
    return label


def anatomy_panel(trace: Trace, rnd: int, stage: int, key: str) -> None:
    """Why one token of the current round was accepted, rejected, resampled or a bonus."""
    st.markdown("#### Anatomy of a token")
    toks = render.round_tokens(trace.rounds[rnd], rnd)
    last = render.n_stages(trace.rounds[rnd]) - 1
    # only tokens whose decision is already on screen: the panel must not spoil the animation
    shown = list(range(len(toks))) if stage == last else list(range(max(0, stage - 1)))
    if not shown:
        st.caption("Each drafted token's anatomy appears here as the target checks it (Next ▶).")
        return
    pick = shown[-1]
    if stage == last:
        pick = next((t.pos for t in toks if t.fate in ("rejected", "resampled", "bonus")), pick)
    # a radio wraps onto more lines when a round has many tokens (pills scroll sideways)
    j = st.radio("token", shown, index=shown.index(pick), format_func=_token_label(toks),
                 horizontal=True, key=f"{key}_tok_{rnd}_{len(shown)}", label_visibility="collapsed")
    tok = toks[pick if j is None else j]
    st.markdown(f"**{render.FATES[tok.fate][2]}** · {tok.decision}")
    rec = trace.rounds[rnd]
    if tok.q is None:  # the closing token: the target's own
        c = rec.correction
        if c.kind == "resampled" and c.u is not None and c.top_residual:
            st.plotly_chart(figure(charts.residual, trace, c), key=f"{key}_res", config=PLOTLY)
        else:
            st.plotly_chart(figure(charts.target_only, trace, c), key=f"{key}_tgt", config=PLOTLY)
        return
    d = rec.draft[tok.pos]
    st.plotly_chart(figure(charts.anatomy, trace, d), key=f"{key}_pq", config=PLOTLY)
    if tok.fate == "discarded":
        st.info("This draft came after a rejection, so the target never tested it: it is thrown "
                "away with the rest of the draft.")
        return
    if d.r is None:  # greedy: no draw, no ratio; the test is "is it the target's top token?"
        top = d.top_p[0] if d.top_p else None
        if top is not None:
            st.markdown(f"Greedy decoding draws nothing: the target's top token here is "
                        f"**“{plain(render.visible(top.text), 24)}”** (p = {render.fmt(top.prob)}); "
                        f"the draft proposed **“{plain(render.visible(d.text), 24)}”** "
                        f"(p = {render.fmt(d.p)}).")
        return
    st.plotly_chart(figure(charts.accept_test, trace, d), key=f"{key}_test", config=PLOTLY)
    c = rec.correction
    if tok.fate == "rejected" and c.top_residual:
        st.markdown(f"So the target draws its own token from the residual: "
                    f"**“{plain(render.visible(c.text), 24)}”**.")
        st.plotly_chart(figure(charts.residual, trace, c), key=f"{key}_res", config=PLOTLY)


def progress_charts(trace: Trace, done: int, key: str) -> None:
    """The cumulative charts up to the rounds completed so far."""
    if done == 0:
        st.markdown("#### Progress")
        st.caption("Speedup, tokens per pass and acceptance charts fill in as rounds complete.")
        return
    a, b = st.columns(2)
    a.plotly_chart(figure(charts.speedup, trace, trace, done), key=f"{key}_speedup", config=PLOTLY)
    b.plotly_chart(figure(charts.tokens_per_pass, trace, trace, done), key=f"{key}_tpp", config=PLOTLY)
    a.plotly_chart(figure(charts.running_alpha, trace, trace, done), key=f"{key}_alpha", config=PLOTLY)
    b.plotly_chart(figure(charts.position_acceptance, trace, trace, done), key=f"{key}_pos",
                   config=PLOTLY)


def compare_table(traces: dict[str, Trace]) -> None:
    """The headline numbers of several traces as one table and one grouped bar chart."""
    rows = []
    for name, t in traces.items():
        s = metrics.summarize(t)
        rows.append({"trace": name, "draft": t.config.draft, "γ": t.config.gamma, "T": t.config.temperature,
                      "α": s.alpha, "tokens / pass": s.mean_acceptance_length, "rounds": s.rounds,
                      "tokens": s.tokens, "c": s.cost_ratio, "speedup": s.speedup_measured,
                      "theory": s.speedup_theoretical,
                      "ms / token": s.spec_s_per_token * 1e3,
                      "plain ms / token": s.baseline_s_per_token * 1e3})
    st.dataframe(rows, width="stretch", hide_index=True,
                 column_config={k: st.column_config.NumberColumn(format="%.2f")
                                for k in ("α", "tokens / pass", "c", "speedup", "theory",
                                          "ms / token", "plain ms / token")})
    st.plotly_chart(charts.compare_bars(traces), key="cmp_bars", config=PLOTLY)


def side(trace: Trace, key: str) -> None:
    """One trace of a comparison: what ran, where, its text and its progress charts."""
    st.markdown(describe(trace))
    st.caption(plain(recorded_with(trace), 400))
    st.html(render.strip_html(trace, len(trace.rounds)))
    st.plotly_chart(charts.speedup(trace), key=f"{key}_speedup", config=PLOTLY)
    st.plotly_chart(charts.tokens_per_pass(trace), key=f"{key}_tpp", config=PLOTLY)
    st.plotly_chart(charts.position_acceptance(trace), key=f"{key}_pos", config=PLOTLY)
