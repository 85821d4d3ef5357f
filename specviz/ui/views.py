"""Views of one trace (Streamlit widgets): header metrics, staged round, token strip, anatomy,
progress charts; the words they show are present/cards.py's, the charts present/charts'."""
import streamlit as st

from ..measure import metrics
from ..numbers import plural, prob
from ..present import tokens
from ..present.cards import (WHAT, beta_line, describe, metric_cards, recorded_with, shape, token_label,
                             tree_node_token)
from ..present.charts import look, run
from ..present.escape import inert, md
from ..present.round_view import CSS, legend_html, n_stages, on_screen, round_html, round_tokens, strip_html
from ..trace import Trace
from . import projector
from .memo import Memo

PLOTLY = {"displaylogo": False, "modeBarButtonsToRemove": ["select2d", "lasso2d"]}
_FIGURES = Memo(512)  # per trace: stepping through stages redraws the same charts


def figure(make, trace: Trace, *args):
    """make(*args), built once per trace and arguments (in a class, one session builds a chart, the
    others wait for it), in projector mode at the projector's sizes (projector.scaled: a copy)."""
    plain = (int, float, str, type(None))  # arguments that are their own key
    key = (make.__name__, tuple(a if isinstance(a, plain) else id(a) for a in args))
    return projector.scaled(_FIGURES.get(trace, key, lambda: make(*args)))


def css() -> None:
    """The token/card styles (once per page run)."""
    st.html(CSS)


def header(trace: Trace) -> None:
    """What was run, and the whole run's measured numbers."""
    st.markdown(describe(trace))
    with st.expander("prompt, full output and where it was recorded", expanded=False):
        st.markdown(f"**Prompt** ({len(trace.prompt_ids)} tokens with the chat template)")
        st.code(trace.prompt, language=None, wrap_lines=True)
        st.markdown(f"**Output** ({len(trace.output_ids)} tokens, stop: {inert(trace.stop_reason)})")
        st.code(trace.text, language=None, wrap_lines=True)
        st.caption(md(recorded_with(trace), 400))
    if trace.env.get("gamma_choice"):
        st.caption("γ chosen by measurement on the machine that ran it: " + md(str(trace.env["gamma_choice"]), 400))
    if not trace.complete:
        st.warning(f"This run did not finish ({inert(trace.stop_reason)}); it shows the rounds "
                   "recorded before it stopped.")
    cards(trace)


def cards(trace: Trace) -> None:
    """Two rows of metric cards: acceptance, then cost and speed (short labels, the rest in help)."""
    for row in metric_cards(trace):
        for col, (label, value, why) in zip(st.columns(len(row)), row):
            col.metric(label, value, help=why, border=True)
    s = metrics.summarize(trace)
    if s.same_as_baseline is not None:
        same = "identical to" if s.same_as_baseline else "DIFFERENT from"
        st.caption(f"Greedy run: the speculative output is {same} plain greedy decoding of the "
                   "same prompt (checked token by token).")


def _gap_chart(trace: Trace):
    return run.gap(metrics.trace_gap(trace))


def gap_panel(trace: Trace, key: str) -> None:
    """The gap chart: from Leviathan's ideal to the measured speedup, cause by cause."""
    g = metrics.trace_gap(trace)
    if g is None:
        why = ("this trace has no plain-decoding baseline" if metrics.baseline_step_s(trace) is None
               else "nothing was drafted in this run")
        st.caption(f"The gap chart (ideal → measured speedup) needs drafts and a baseline: {why}.")
        return
    st.plotly_chart(figure(_gap_chart, trace, trace), key=f"{key}_gap", config=PLOTLY)
    if g.tree:
        st.caption("A tree run has no Leviathan E[τ]: the chart starts from the run's own τ and adds the "
                   "measured costs, the one pass over every node (v) and drafting the tree (N̄c), then "
                   "what remains (the loop's own work and timing noise).")
        return
    st.caption("Each bar adds one cost the paper leaves out, all measured in this run: the verify "
               "pass over γ + 1 tokens (v), drafting (γc), the run's realised τ instead of E[τ], "
               "and what remains (the loop's own work and timing noise).")


def round_view(trace: Trace, rnd: int, stage: int, focus: int | None = None, blind: bool = False) -> None:
    """The staged round; focus outlines one draft position, blind hides its p and β until checked."""
    last = n_stages(trace.rounds[rnd]) - 1
    st.markdown(f"#### Round {rnd + 1} of {len(trace.rounds)} · step {stage + 1} of {last + 1}")
    show_round(trace, rnd, stage, focus, blind)


def show_round(trace: Trace, rnd: int, stage: int, focus: int | None = None, blind: bool = False) -> None:
    """round_view.round_html on the page. A token tree is SVG, which st.html's sanitizer (DOMPurify's
    HTML profile) strips, so it goes through markdown's raw HTML; every text in it is escaped by
    specviz.present.tree_view, and it holds no blank line (that would end markdown's HTML block)."""
    out = round_html(trace, rnd, stage, focus, blind, look.PROJECTOR.scale if projector.on() else 1.0)
    if trace.rounds[rnd].tree is not None:
        st.markdown(out, unsafe_allow_html=True)
    else:
        st.html(out)


def strip(trace: Trace, done: int) -> None:
    st.markdown(f"#### The text so far · {plural(done, 'round')}, {plural(_kept(trace, done), 'token')}")
    st.html(strip_html(trace, done) + legend_html())


def _kept(trace: Trace, done: int) -> int:
    return sum(r.n_new for r in trace.rounds[:done])


def anatomy_panel(trace: Trace, rnd: int, stage: int, key: str, focus: int | None = None) -> None:
    """Why one token of the current round was accepted, rejected, resampled or the target's own.

    focus: the token to open on (a link's); one chosen other than the panel's own pick is left in
    `{key}_focus` (else None), for the address."""
    st.markdown("#### Anatomy of a token")
    rec = trace.rounds[rnd]
    toks = round_tokens(rec, rnd)
    last = n_stages(rec) - 1
    # only tokens whose decision is already on screen: the panel must not spoil the animation
    shown = list(range(on_screen(rec, stage)))
    if not shown:
        st.caption("Each kept token's anatomy appears here as the walk reaches it (Next ▶); hover "
                   "a node of the tree for its p, q, p/q and r." if rec.tree else
                   "Each drafted token's anatomy appears here as the target checks it (Next ▶).")
        return
    pick = shown[-1]
    if stage == last:
        pick = next((t.pos for t in toks if t.fate in ("rejected", "resampled", "bonus")), pick)
    own, pick = pick, focus if focus in shown else pick
    # a radio wraps onto more lines when a round has many tokens (pills scroll sideways)
    j = st.radio("token", shown, index=shown.index(pick), format_func=token_label(toks),
                 horizontal=True, key=f"{key}_tok_{rnd}_{len(shown)}", label_visibility="collapsed")
    chosen = pick if j is None else j
    tok = toks[chosen]
    st.session_state[f"{key}_focus"] = None if chosen == own else chosen
    st.markdown(f"**{tokens.FATES[tok.fate][2]}** · {tok.decision}")
    if tok.q is None:  # the closing token: the target's own
        c = rec.correction
        if c.kind == "resampled" and c.u is not None and c.top_residual:
            st.plotly_chart(figure(run.residual, trace, c), key=f"{key}_res", config=PLOTLY)
        else:
            st.plotly_chart(figure(run.target_only, trace, c), key=f"{key}_tgt", config=PLOTLY)
        return
    d = rec.draft[tok.pos]
    greedy = trace.config.temperature == 0
    if tok.fate != "discarded":
        st.markdown(beta_line(trace, tok, rec.tree is not None))
    # a tree node's bars: p and q after its parent (its test used p after its earlier siblings)
    shown_d = tree_node_token(rec, tok.pos) if rec.tree else d
    st.plotly_chart(figure(run.anatomy, trace, shown_d, greedy), key=f"{key}_pq", config=PLOTLY)
    if tok.fate == "discarded":
        st.info("This draft came after a rejection, so the target never tested it: it is thrown "
                "away with the rest of the draft.")
        return
    if greedy:  # no draw, no ratio; the test is "is it the target's top token?"
        top = d.top_p[0] if d.top_p else None
        if top is not None:
            st.markdown(f"Greedy decoding draws nothing and min(p, q) plays no role: the draft's token "
                        f"is kept iff it is the target's top token. Here the target's top token is "
                        f"**“{md(tokens.visible(top.text), 24)}”** (p = {prob(top.prob)}); "
                        f"the draft proposed **“{md(tokens.visible(d.text), 24)}”** "
                        f"(p = {prob(d.p)}).")
        return
    st.plotly_chart(figure(run.accept_test, trace, d), key=f"{key}_test", config=PLOTLY)
    c = rec.correction
    if tok.fate == "rejected" and c.top_residual:
        st.markdown(f"So the target draws its own token from the residual: "
                    f"**“{md(tokens.visible(c.text), 24)}”**.")
        st.plotly_chart(figure(run.residual, trace, c), key=f"{key}_res", config=PLOTLY)


def speed_panel(trace: Trace, done: int, key: str) -> None:
    """The running speedup with both theories, then the whole run's gap chart."""
    if done:
        st.plotly_chart(figure(run.speedup, trace, trace, done), key=f"{key}_speedup", config=PLOTLY)
    gap_panel(trace, key)


def lanes(trace: Trace, done: int | None, key: str, span: float | None = None) -> None:
    """Plain and speculative decoding on one wall-clock axis (charts.time_lanes), rounds to come faded."""
    st.plotly_chart(figure(run.time_lanes, trace, trace, done, span), key=f"{key}_lanes", config=PLOTLY)


def lanes_span(*traces: Trace) -> float:
    """The longest lane of these runs: their time lanes on one scale."""
    return max(x or 0.0 for t in traces for x in run.lane_ends(t))


def progress_charts(trace: Trace, done: int, key: str) -> None:
    """The time lanes, then the cumulative charts up to the rounds completed so far, two to a row."""
    lanes(trace, done, key)
    if done == 0:
        st.caption("Time, tokens per pass and acceptance charts fill in as rounds complete.")
        return
    a, b = st.columns(2, gap="large")
    # charts with a legend side by side, so that their titles line up
    a.plotly_chart(figure(run.time_chart, trace, trace, done), key=f"{key}_time", config=PLOTLY)
    b.plotly_chart(figure(run.position_acceptance, trace, trace, done), key=f"{key}_pos",
                   config=PLOTLY)
    a.plotly_chart(figure(run.tokens_per_pass, trace, trace, done), key=f"{key}_tpp", config=PLOTLY)
    b.plotly_chart(figure(run.running_alpha, trace, trace, done), key=f"{key}_alpha", config=PLOTLY)


def compare_table(traces: dict[str, Trace]) -> None:
    """The metrics of several traces as one table (a row per metric, a column per trace) and
    one grouped bar chart."""
    values = {name: {label: v for row in metric_cards(t) for label, v, _ in row} for name, t in traces.items()}
    labels = list(dict.fromkeys(label for v in values.values() for label in v))  # a chain's and a tree's
    rows = [{"": "draft · shape · T", **{n: f"{t.config.draft} · {shape(t)} · {t.config.temperature:g}"
                                        for n, t in traces.items()}, "what it is": "the drafter and settings"}]
    for name, v in values.items():  # a chain's accepted ÷ checked is its α
        v.setdefault("accepted ÷ checked", v.get("α (Leviathan)", "n/a"))
    for label in labels:
        rows.append({"": label, **{n: v.get(label, "n/a") for n, v in values.items()}, "what it is": WHAT[label]})
    projector.table(rows, width="stretch", height="content")
    st.plotly_chart(projector.scaled(run.compare_bars(traces)), key="cmp_bars", config=PLOTLY)


def side(trace: Trace, key: str, span: float | None = None) -> None:
    """One trace of a comparison: what ran, where, its text, its time lanes (on the axis `span`
    seconds long that both sides share), its speedup and where it went."""
    st.markdown(describe(trace))
    st.caption(md(recorded_with(trace), 400))
    st.html(strip_html(trace, len(trace.rounds)))
    lanes(trace, None, key, span)
    st.plotly_chart(projector.scaled(run.speedup(trace)), key=f"{key}_speedup", config=PLOTLY)
    gap_panel(trace, key)
    st.plotly_chart(projector.scaled(run.tokens_per_pass(trace)), key=f"{key}_tpp", config=PLOTLY)
    st.plotly_chart(projector.scaled(run.position_acceptance(trace)), key=f"{key}_pos", config=PLOTLY)
