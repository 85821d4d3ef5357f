"""Views of one trace: header metrics, staged round, token strip, anatomy, progress charts."""
import re
import threading
from collections import OrderedDict
from dataclasses import replace

import streamlit as st

from .. import theory
from ..measure import metrics
from ..numbers import num, prob
from ..present import tokens
from ..present.charts import look, run
from ..present.round_view import CSS, Tok, legend_html, n_stages, on_screen, round_html, round_tokens, strip_html
from ..trace import Trace
from . import projector, safe

PLOTLY = {"displaylogo": False, "modeBarButtonsToRemove": ["select2d", "lasso2d"]}
_FIGS: OrderedDict = OrderedDict()  # (id(trace), chart, args) -> (trace, figure), per process
_FIGS_LOCK = threading.Lock()  # sessions run their scripts in parallel threads
_BUILDING: dict = {}  # key -> threading.Event of a figure being built right now


def figure(make, trace: Trace, *args):
    """_figure, in projector mode with larger type (projector.scaled: a copy)."""
    return projector.scaled(_figure(make, trace, *args))


def _figure(make, trace: Trace, *args):
    """make(*args) memoised per trace: stepping through stages redraws the same charts. When
    many sessions ask at once (a class following its presenter), one builds, the others wait."""
    plain = (int, float, str, type(None))  # arguments that are their own key
    key = (id(trace), make.__name__, tuple(a if isinstance(a, plain) else id(a) for a in args))
    while True:
        with _FIGS_LOCK:
            if key in _FIGS:
                _FIGS.move_to_end(key)
                return _FIGS[key][1]
            building = _BUILDING.get(key)
            if building is None:
                _BUILDING[key] = threading.Event()
                break
        building.wait(30)  # then look again (the builder failed: build it here)
        with _FIGS_LOCK:
            if key not in _FIGS and _BUILDING.get(key) is building:
                _BUILDING.pop(key)
    try:
        fig = make(*args)
        with _FIGS_LOCK:
            # the entry keeps `trace` alive, so its id cannot be reused while the entry exists
            _FIGS[key] = (trace, fig)
            while len(_FIGS) > 512:
                _FIGS.popitem(last=False)
        return fig
    finally:
        with _FIGS_LOCK:
            _BUILDING.pop(key).set()


def css() -> None:
    """The token/card styles (once per page run)."""
    st.html(CSS)


def describe(trace: Trace) -> str:
    """What ran, as markdown (names from the trace are escaped: they are data)."""
    c = trace.config
    mode = "greedy" if c.temperature == 0 else f"sampled, T = {c.temperature:g}, top-p = {c.top_p:g}"
    what = (f"a token tree of up to {c.tree_nodes} nodes (top\\-k {c.tree_top_k}, depth {c.gamma}, "
            f"{plain(c.tree_kind, 10)}) per round" if c.tree_nodes else f"γ = {c.gamma}")
    return (f"target **{plain(c.target, 80)}** · draft **{plain(c.draft, 80)}** · {what} · {mode} · "
            f"seed {c.seed} · {plain(c.device, 20)}/{plain(c.dtype, 20)}")


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
    """One line of the run's measured numbers (markdown, the prompt escaped)."""
    s = metrics.summarize(trace)
    return (f"Measured in this run: α = {num(s.alpha)} · τ = {num(s.mean_acceptance_length)} tokens "
            f"per target pass · speedup {num(s.speedup_measured, '.2f', '×')} on a shared CPU. "
            f"The prompt: “{plain(trace.prompt, 90)}”")


def plain(text: str, limit: int) -> str:
    """Text from a trace inside markdown: one line, shortened, every ASCII punctuation character
    escaped and bare links broken (no links, images, HTML, colour or icon directives, maths or
    autolinks from data): safe.md."""
    return safe.md(text, limit)


def inert(text: str) -> str:
    """A message that may quote data, made inert in markdown with as little escaping as that
    takes (it stays readable and searchable): no links, images, colour directives, HTML, maths
    or autolinks (GFM finds bare links after escapes are resolved: a word joiner breaks them)."""
    text = re.sub(r"([\[<$@])", r"\\\1", safe._AUTOLINK.sub(safe.WJ, text))
    return text.replace("://", ":\\/\\/").replace("www.", "www\\.")


def header(trace: Trace) -> None:
    """What was run, and the whole run's measured numbers."""
    st.markdown(describe(trace))
    with st.expander("prompt, full output and where it was recorded", expanded=False):
        st.markdown(f"**Prompt** ({len(trace.prompt_ids)} tokens with the chat template)")
        st.code(trace.prompt, language=None, wrap_lines=True)
        st.markdown(f"**Output** ({len(trace.output_ids)} tokens, stop: {inert(trace.stop_reason)})")
        st.code(trace.text, language=None, wrap_lines=True)
        st.caption(plain(recorded_with(trace), 400))
    if trace.env.get("gamma_choice"):
        st.caption("γ chosen by measurement on the machine that ran it: " + plain(str(trace.env["gamma_choice"]), 400))
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


def metric_cards(trace: Trace) -> list[list[tuple[str, str, str]]]:
    """(label, value, help) of every card, from the one definition in specviz.metrics."""
    s = metrics.summarize(trace)
    if s.tree:
        return tree_cards(trace, s)
    plain_steps = sum(r.correction.kind == "target" for r in trace.rounds)
    beta = ("β = Σ min(p, q) of each checked draft position, from the full distributions; its mean "
            "is the paper's α itself (E[β] = α), a check on the estimate beside it. Greedy: β is 1 "
            "or 0 (p and q are one-hot at their top tokens).")
    if s.alpha_expected is None:
        beta = "not recorded: this trace predates β (trace version 1). " + beta
    acceptance = [
        ("α (Leviathan)", num(s.alpha),
         f"Leviathan's α: the chance that a checked drafted token is accepted. accepted ÷ checked "
         f"= {s.accepted} ÷ {s.checked} (tokens after a rejection are never checked). Feeds both theories."),
        ("mean β", num(s.alpha_expected), beta),
        ("τ per pass", num(s.mean_acceptance_length),
         f"τ, the mean acceptance length: output tokens per target pass = {s.tokens} ÷ {s.rounds} "
         f"(vLLM, EAGLE, Spec-Bench). {_tau_parts(s)} Passes in which the drafter proposed nothing "
         f"count too ({plain_steps} here: the target's own plain steps)."),
        ("E[τ] at α", num(s.expected_acceptance_length),
         "Leviathan's expected tokens per pass at this α over the drafts made: (1 − α^(γ+1)) / (1 − α) "
         "when every round drafts γ. Beside the measured τ it checks the paper's model: "
         f"τ {num(s.mean_acceptance_length)} vs E[τ] {num(s.expected_acceptance_length)}."),
        ("vLLM rate", num(s.draft_acceptance_rate),
         f"vLLM's draft acceptance rate: accepted ÷ drafted = {s.accepted} ÷ {s.drafted}, counting the "
         "tokens after a rejection that were never checked. Not Leviathan's α (equal only at γ = 1); "
         "never fed to the formulas.")]
    speed = [
        ("c draft cost", num(s.cost_ratio),
         "c: draft seconds per drafted token ÷ one plain target step of this run (Leviathan's c). A "
         "per-round fixed draft cost (EAGLE's catch-up) is spread over the round's drafted tokens."),
        ("v verify cost", num(s.verify_cost),
         "v: seconds of one verify pass over γ + 1 tokens ÷ one plain target step, measured in this "
         "run. Leviathan's formula assumes v = 1."),
        _measured_card(s),
        ("theory", num(s.speedup_theoretical, ".2f", "×"), _theory_help(s)),
        ("theory with v", num(s.speedup_verify_aware, ".2f", "×"),
         f"Verify-aware theory: E[τ] ÷ (γ̄c + v), the theory card's formula (the drafts this run made, "
         f"γ̄ = {s.nodes_per_pass:.2f} per pass) with the measured verify cost v instead of 1. The gap "
         "chart shows the rest of the way to the measured speedup.")]
    return [acceptance, speed]


def _theory_help(s: metrics.Summary) -> str:
    """The theory card's help: Leviathan's formula at the drafts the run made (what it computes).

    Leviathan's (1 − α^(γ+1)) / ((1 − α)(γc + 1)) assumes every round drafts γ; a run that drafted
    fewer (lookup without a match, the last rounds before max_new_tokens) would be credited with
    drafts it never made, so the card takes E[τ] and γc over the drafts actually made."""
    text = (f"Leviathan's theory for the drafts this run made, at its α and c: E[τ] ÷ (γ̄c + 1), E[τ] = "
            f"1 + Σᵢ (passes drafting position i) · α^(i+1) ÷ passes, γ̄ = {s.drafted} ÷ {s.rounds} = "
            f"{s.nodes_per_pass:.2f} drafted per pass. With every round drafting γ this is "
            "(1 − α^(γ+1)) / ((1 − α)(γc + 1)). Assumes a verify pass costs one plain step.")
    if s.alpha is None or s.cost_ratio is None or f"{s.nodes_per_pass:.2f}" == f"{s.gamma:.2f}":
        return text
    at_gamma = theory.speedup_theoretical(s.alpha, s.gamma, s.cost_ratio)
    return text + (f" This run drafted fewer than its γ = {s.gamma} per pass; at γ = {s.gamma} in every "
                   f"round the formula would give {at_gamma:.2f}×, crediting drafts that were never made.")


def _tau_parts(s: metrics.Summary) -> str:
    """Where τ's output tokens came from, and the accepted drafts that never became output."""
    past = s.rounds + s.accepted - s.tokens
    return (f"{_n(s.accepted, 'accepted draft')} + {_n(s.rounds, 'target token')}"
            + (f", less {past} accepted after the output ended (EOS), which are not output." if past > 0 else "."))


def _measured_card(s: metrics.Summary) -> tuple[str, str, str]:
    return ("measured", num(s.speedup_measured, ".2f", "×"),
            f"Measured speedup: plain decoding s/token ÷ speculative s/token, both in this run "
            f"({s.baseline_s_per_token * 1e3:.1f} ms vs {s.spec_s_per_token * 1e3:.1f} ms per token)."
            if s.speedup_measured is not None else
            "Measured speedup: n/a, this trace has no plain-decoding baseline to compare with.")


def tree_cards(trace: Trace, s: metrics.Summary) -> list[list[tuple[str, str, str]]]:
    """The cards of a run that drafted token trees: Leviathan's α and the chain theories do not
    apply, so the cards say what a tree reports instead (specviz.metrics, "Token trees")."""
    c = trace.config
    acceptance = [
        ("accepted ÷ checked", num(s.node_acceptance),
         f"Of the tree nodes the walk tested, the share it accepted: {s.accepted} ÷ {s.checked}. A chain's "
         "is Leviathan's α; a tree also tests siblings a chain never drafts, so its share is lower "
         "while τ is higher. Leviathan's α, E[τ] and both theories describe chains: n/a for trees."),
        ("mean β", num(s.alpha_expected),
         "Mean β over the tested nodes, β = Σ min(p, q_j) at each test (p after the earlier siblings' "
         "residual updates, q_j what the node was drawn from; greedy: 1 if it is the target's top "
         "token). Its expectation is the share beside it."),
        ("τ per pass", num(s.mean_acceptance_length),
         f"τ: output tokens per target pass = {s.tokens} ÷ {s.rounds}: each pass gives its accepted path "
         f"plus the target's own token. {_tau_parts(s)}"),
        ("nodes / pass", f"{s.nodes_per_pass:.1f}",
         f"Tree nodes drafted and scored per pass (budget {c.tree_nodes}, top-k {c.tree_top_k}, depth "
         f"{c.gamma}): the target's pass reads all of them, plus the root."),
        ("vLLM rate", num(s.draft_acceptance_rate),
         f"accepted ÷ drafted nodes = {s.accepted} ÷ {s.drafted}: most nodes of a tree are alternatives "
         "that can never all be kept.")]
    speed = [
        ("c draft cost", num(s.cost_ratio),
         "c: draft seconds per drafted node ÷ one plain target step of this run (EAGLE-2 drafts a whole "
         "depth of the tree in one batched draft call)."),
        ("v verify cost", num(s.verify_cost),
         "v: seconds of the one target pass over the root and every node (tree mask) ÷ one plain target "
         "step, measured in this run. On a GPU a pass of 60 nodes costs about one step; on a small CPU "
         "it costs more, and that is what decides the best tree size."),
        _measured_card(s),
        ("τ ÷ (N̄c + v)", num(s.speedup_from_costs, ".2f", "×"),
         "What this run's τ and measured costs predict: τ ÷ (nodes per pass × c + v). The gap to the "
         "measured speedup is the loop's own work and timing noise."),
        ("α (Leviathan)", "n/a",
         "Leviathan's α and his E[τ] and speedup formulas model a chain of γ i.i.d. guesses; a tree's "
         "tokens per pass depend on its shape. This run reports τ and accepted ÷ checked nodes instead.")]
    return [acceptance, speed]


WHAT = {"α (Leviathan)": "accepted ÷ checked drafted tokens",
        "accepted ÷ checked": "a tree: accepted ÷ tested nodes (a chain's α)",
        "nodes / pass": "tree nodes scored per target pass",
        "τ ÷ (N̄c + v)": "τ at the measured costs",
        "mean β": "mean Σ min(p, q) per checked position",
        "τ per pass": "tokens per target pass (mean acceptance length)",
        "E[τ] at α": "Leviathan's expected τ at this α",
        "vLLM rate": "vLLM's accepted ÷ drafted (not α)",
        "c draft cost": "draft s per token ÷ plain step",
        "v verify cost": "verify pass ÷ plain step (paper: 1)",
        "measured": "plain s/token ÷ speculative s/token",
        "theory": "Leviathan: E[τ] / (γ̄c + 1), drafts made",
        "theory with v": "E[τ] / (γ̄c + v), drafts made"}


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
    """render.round_html on the page. A token tree is SVG, which st.html's sanitizer (DOMPurify's
    HTML profile) strips, so it goes through markdown's raw HTML; every text in it is escaped by
    specviz.treeview, and it holds no blank line (that would end markdown's HTML block)."""
    out = round_html(trace, rnd, stage, focus, blind, look.PROJECTOR.scale if projector.on() else 1.0)
    if trace.rounds[rnd].tree is not None:
        st.markdown(out, unsafe_allow_html=True)
    else:
        st.html(out)


def _n(k: int, word: str) -> str:
    return f"{k} {word}{'s' * (k != 1)}"


def strip(trace: Trace, done: int) -> None:
    st.markdown(f"#### The text so far · {_n(done, 'round')}, {_n(_kept(trace, done), 'token')}")
    st.html(strip_html(trace, done) + legend_html())


def _kept(trace: Trace, done: int) -> int:
    return sum(sum(t.accepted for t in r.draft) + 1 for r in trace.rounds[:done])


def _token_label(toks: list[Tok]):
    """Radio label (markdown, so escaped): position, the token shortened, its fate glyph."""
    def label(j: int) -> str:
        text = tokens.visible(toks[j].text)
        text = text if len(text) <= 12 else text[:11] + "…"
        return f"{j + 1} · {plain(text.strip() or '␣', 14)} {tokens.FATES[toks[j].fate][1]}"
    return label


_NODE_TOKENS: dict = {}


def tree_node_token(rec, pos: int):
    """The path token at pos with the p and q of its node after its parent (for the bars)."""
    key = (id(rec), pos)
    if key not in _NODE_TOKENS:
        node = [n for n in rec.tree.nodes if n.fate == "accepted"][pos]
        _NODE_TOKENS[key] = (rec, replace(rec.draft[pos], p=node.p, q=node.q))
        while len(_NODE_TOKENS) > 512:
            _NODE_TOKENS.pop(next(iter(_NODE_TOKENS)))
    return _NODE_TOKENS[key][1]


def beta_line(trace: Trace, tok: Tok, tree: bool = False) -> str:
    """β beside the realised decision of one checked drafted token (markdown)."""
    if tok.beta is None:
        return "**β: not recorded.** This trace predates β (trace version 1)."
    if tree and trace.config.temperature != 0:
        return (f"**β = {prob(tok.beta, 2)}**, realised: **{tok.fate}**. At its test the walk "
                f"accepts this node with probability β = Σ min(p, q_j), p after its earlier siblings' "
                f"residual updates and q_j what it was drawn from (top-k children: one-hot, so β = p(x)); "
                f"here p/q = {prob(tokens.ratio(tok.p, tok.q))} against r = {prob(tok.r)}.")
    if trace.config.temperature == 0:
        return (f"**β = {tok.beta:.0f}**, realised: **{tok.fate}**. Greedy: p and q are one-hot at "
                "their top tokens, so the target accepts with probability 1 when both models' top "
                "token is the same and 0 when it is not: β is the decision itself.")
    return (f"**β = {prob(tok.beta, 2)}**, realised: **{tok.fate}**. The target accepts the "
            f"draft's token at this position with probability β = Σ min(p, q) (over the draft's own "
            f"draw); for the token it drew, min(1, p/q) = {prob(min(tokens.ratio(tok.p, tok.q), 1.0))}.")


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
    j = st.radio("token", shown, index=shown.index(pick), format_func=_token_label(toks),
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
                        f"**“{plain(tokens.visible(top.text), 24)}”** (p = {prob(top.prob)}); "
                        f"the draft proposed **“{plain(tokens.visible(d.text), 24)}”** "
                        f"(p = {prob(d.p)}).")
        return
    st.plotly_chart(figure(run.accept_test, trace, d), key=f"{key}_test", config=PLOTLY)
    c = rec.correction
    if tok.fate == "rejected" and c.top_residual:
        st.markdown(f"So the target draws its own token from the residual: "
                    f"**“{plain(tokens.visible(c.text), 24)}”**.")
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


def shape(trace: Trace) -> str:
    """γ = k, or a token tree's budget."""
    c = trace.config
    return f"tree of {c.tree_nodes}" if c.tree_nodes else f"γ = {c.gamma}"


def side(trace: Trace, key: str, span: float | None = None) -> None:
    """One trace of a comparison: what ran, where, its text, its time lanes (on the axis `span`
    seconds long that both sides share), its speedup and where it went."""
    st.markdown(describe(trace))
    st.caption(plain(recorded_with(trace), 400))
    st.html(strip_html(trace, len(trace.rounds)))
    lanes(trace, None, key, span)
    st.plotly_chart(projector.scaled(run.speedup(trace)), key=f"{key}_speedup", config=PLOTLY)
    gap_panel(trace, key)
    st.plotly_chart(projector.scaled(run.tokens_per_pass(trace)), key=f"{key}_tpp", config=PLOTLY)
    st.plotly_chart(projector.scaled(run.position_acceptance(trace)), key=f"{key}_pos", config=PLOTLY)
