"""Lesson 2's instruments: Leviathan's curves with measured runs, the two acceptance rates and
per-position acceptance, counterfactual replay, workloads, a slower-than-plain run and the gap."""
import streamlit as st

from ...lessons.facts import EXAMPLE
from ...measure import metrics
from ...measure.prompts import PROMPTS
from ...measure.replay import caveat, replay_all
from ...numbers import num
from ...present.charts import lessons as charts, positions, run as run_charts
from ...theory import best_gamma, break_even_alpha, draft_acceptance_rate_expected, speedup_verify_aware
from ...trace import Trace
from .. import lesson, projector, state, urlstate
from . import common
from .common import PLOTLY, WORKLOADS, verify_costs

LESSON = "2_acceptance_rate"
SLOWER = "chat · layers-4 · greedy"  # the shipped run that was slower than plain decoding
def _point(label: str, trace: Trace) -> dict:
    """A measured run as a marker: its τ and speedup, and Leviathan's at its own α and c."""
    s = common.summary(label, trace)
    return {"label": label, "gamma": trace.config.gamma, "alpha": s.alpha or 0.0, "c": s.cost_ratio or 0.0,
            "tau": s.mean_acceptance_length, "tau_expected": s.expected_acceptance_length,
            "speedup": s.speedup_measured, "theory": s.speedup_theoretical}


def _workload_labels() -> dict[str, tuple[str, Trace]]:
    """workload -> (label, trace): this session's measured runs, else the shipped lookup runs."""
    live = bool(st.session_state.get("sv_workload_traces"))
    out = {}
    for w, t in common.workload_traces().items():
        kind = WORKLOADS[w].replace(" ", "-")
        out[w] = (f"{w} ({t.config.draft}, now)" if live else f"{kind} · {t.config.draft} · greedy", t)
    return out


ALPHAS = [0.1, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95]


def address() -> dict:
    """The settings a link to this lesson keeps: the theory chart's α values and c, measured v."""
    return {"alpha": ("th_alphas", urlstate.Many("alpha", [0.3, 0.6, 0.8, 0.9], ALPHAS)),
            "c": ("th_c", urlstate.Float("c", 0.05, 0.0, 1.0)),
            "v": ("th_v", urlstate.Bool("v", False))}


def theory() -> None:
    """Leviathan's curves for chosen α and c, with measured runs at their own α on top."""
    a, b = st.columns([3, 2], vertical_alignment="bottom")
    alphas = a.multiselect("α (Leviathan's acceptance rate)", ALPHAS,
                           default=[0.3, 0.6, 0.8, 0.9], key="th_alphas")
    c = b.slider("c (draft cost ÷ target step)", 0.0, 1.0, 0.05, 0.01, key="th_c")
    v = verify_costs()
    use_v = st.toggle("verify pass costs my measured v(γ + 1) (lesson 1), not one step", value=False,
                      disabled=v is None, key="th_v",
                         help="Leviathan assumes a verify pass over γ + 1 tokens costs one plain step; "
                              "with lesson 1's measured curve the lines become E[τ] / (γc + v(γ+1))"
                              + ("" if v else ". Measure the curve in lesson 1 first."))
    points = [_point(label, t) for w, (label, t) in _workload_labels().items()]
    fig = charts.theory_curves(sorted(alphas) or [0.8], c, points, v if use_v else None)
    st.plotly_chart(projector.scaled(fig), config=PLOTLY, key="th_chart")
    best = {al: best_gamma(al, c, v if use_v else None) for al in sorted(alphas)}
    cost = (lambda g: v(g + 1)) if use_v else (lambda g: 1.0)
    st.caption("Best γ by the formula at this c: " + ", ".join(
        f"α = {al:.2f} → γ = {g} ({speedup_verify_aware(al, g, c, cost(g)):.2f}×)" for al, g in best.items())
        + ". Lines are theory. Each measured run is a filled marker (its measured τ and speedup) next "
        "to an open one: Leviathan's formula at the run's own α (accepted ÷ checked) and c. Where the "
        "filled speedup sits below the open one, the section “Why measured falls short” takes the "
        "difference apart.")


def acceptance() -> None:
    """One run's counts: Leviathan's α vs vLLM's accepted ÷ drafted, and acceptance by position."""
    options = state.chain_labels()  # α and its positions are a chain's: token-tree runs are left out
    if not options:
        st.info("No recorded traces yet.")
        return
    label = st.selectbox("recorded run", options, index=options.index(state.default_label(EXAMPLE)),
                         key="ac_label")
    trace = state.get(label)
    c, s = metrics.counts(trace), common.summary(label, trace)
    gamma = trace.config.gamma
    left, right = st.columns([2, 3])
    projector.table([{"count": k, "this run": n} for k, n in (
        ("target passes (rounds)", c.passes), ("drafted tokens", c.drafted), ("accepted", c.accepted),
        ("rounds ending in a rejection", c.rejections), ("checked = accepted + rejections", c.checked),
        ("never checked (after a rejection)", c.drafted - c.checked))], left)
    expected = draft_acceptance_rate_expected(s.alpha, gamma) if s.alpha is not None else None
    beta_why = ("mean over checked positions of β = Σ min(p, q), computed by the engine from the full "
                "distributions; E[β] is α itself, a check on the estimate. Greedy: β is 1 or 0")
    if s.alpha_expected is None:
        beta_why = "not recorded: this trace predates β (trace version 1). " + beta_why
    cards = [("α (Leviathan)", num(s.alpha), "accepted ÷ checked = accepted ÷ (accepted + rounds ending in a "
              "rejection): the probability that a drafted token the target checked is accepted"),
             ("accepted ÷ drafted", num(s.draft_acceptance_rate), "vLLM's draft acceptance rate: it counts the "
              "never-checked tokens too. Not α; never feed it to Leviathan's formulas"),
             ("i.i.d. value at α", num(expected), f"what accepted ÷ drafted should be at γ = {gamma} if every "
              "checked token were accepted with probability α: (α − α^(γ+1)) / (γ(1 − α))"),
             ("mean β", num(s.alpha_expected), beta_why),
             ("τ measured", num(s.mean_acceptance_length), "output tokens per target pass (vLLM's mean "
              "acceptance length): 1 + accepted ÷ passes, less drafts accepted after the output's EOS"),
             ("E[τ] at α", num(s.expected_acceptance_length), "Leviathan's (1 − α^(γ+1)) / (1 − α) over the "
              "drafts the run made: the model check")]
    with right:
        for row in (cards[:2], cards[2:4], cards[4:]):
            for col, (name, value, why) in zip(st.columns(2), row):
                col.metric(name, value, help=why, border=True)
    fig = positions.of_counts(c, alpha=s.alpha, iid=True, title=f"Acceptance by draft position · {label}", height=400)
    st.plotly_chart(projector.scaled(fig), config=PLOTLY, key="ac_pos")
    st.caption("Both per-position rates are measured. The unconditional rate (vLLM's per-position "
               "counter) falls along the draft even when every checked position has the same α: "
               "position i is only reached when 1..i−1 were accepted (dashed: α^i). The conditional "
               "rate (EAGLE's n-α) asks the question the formulas assume: given the target got that "
               "far, how often does it accept?")


def replay() -> None:
    """Counterfactual replay of one recorded trace over γ = 1..16 (an estimate)."""
    options = state.chain_labels()  # replay re-cuts a chain at another γ: not a token tree
    if not options:
        st.info("No recorded traces yet.")
        return
    label = st.selectbox("recorded run", options, index=options.index(state.default_label(EXAMPLE)), key="rp_label")
    trace = state.get(label)
    lesson.keep_trace(LESSON, "replayed", trace)
    v = verify_costs()
    use_curve = st.toggle("scale the verify cost with γ using my measured v(k) (lesson 1)",
                          value=v is not None, disabled=v is None, key="rp_curve")
    points = replay_all(trace, range(1, 17), v if use_curve else None)
    s = common.summary(label, trace)
    st.plotly_chart(projector.scaled(charts.replay_chart(points)), config=PLOTLY, key="rp_chart")
    rec = next(p for p in points if p.recorded)
    best = max(points, key=lambda p: p.speedup or 0)
    same = abs(rec.mean_acceptance_length - (s.mean_acceptance_length or 0)) < 1e-9
    st.markdown(
        f"Recorded at γ = {trace.config.gamma}: measured α = {num(s.alpha)}, τ = {num(s.mean_acceptance_length)} "
        f"tokens per pass, speedup {num(s.speedup_measured, unit='×')}; the replay at that γ gives "
        f"τ = {rec.mean_acceptance_length:.2f} ({'it reproduces the run' if same else 'close to the run'}). "
        f"**Estimate:** the best γ for this run would have been {best.gamma} ({num(best.speedup, unit='×')}).")
    why = "; ".join(w for w in ("positions the draft never saw are filled with the run's α (Leviathan's)",
                                caveat(trace)) if w)
    st.caption(f"Estimate, not a measurement: {why}. Verify cost per "
               + ("pass scaled by my measured v(k)." if use_curve and v else "pass as measured in the run, at every γ."))


def workloads() -> None:
    """α and speedup of one pair on chat, summarise/rewrite and code-edit prompts."""
    a, b, c, d = st.columns([2, 1, 1, 2], vertical_alignment="bottom")
    draft = a.selectbox("drafter", [*common.trained(), "lookup", "layers:4"], key="wl_draft")
    gamma = b.number_input("γ", 1, 16, 4, key="wl_gamma")
    max_new = c.number_input("new tokens", 8, 128, 40, key="wl_max")
    if d.button("Measure all three workloads", type="primary", key="wl_go"):
        runs = common.run_prompts({w: [PROMPTS[k]] for w, k in WORKLOADS.items()}, draft, int(gamma), int(max_new))
        if runs:
            st.session_state["sv_workload_traces"] = {w: ts[0] for w, ts in runs.items()}
    items = _workload_labels()
    if not items:
        st.info("No runs yet: press Measure.")
        return
    sums = {}
    for w, (label, t) in items.items():
        lesson.keep_trace(LESSON, f"workload-{w}", t)
        sums[w] = common.summary(label, t)
    rows = [("α (Leviathan: accepted ÷ checked)", "alpha"), ("accepted ÷ drafted (vLLM)", "draft_acceptance_rate"),
            ("τ (tokens per pass)", "mean_acceptance_length"), ("E[τ] at α", "expected_acceptance_length"),
            ("c (draft ÷ plain step)", "cost_ratio"), ("v (verify pass ÷ plain step)", "verify_cost"),
            ("measured speedup", "speedup_measured"), ("theory (Leviathan)", "speedup_theoretical"),
            ("theory with the measured v", "speedup_verify_aware")]
    table = [{"": name, **{w: num(getattr(s, attr)) for w, s in sums.items()}} for name, attr in rows]
    table.append({"": "greedy output identical to plain",
                  **{w: {True: "yes", False: "NO", None: "n/a"}[s.same_as_baseline] for w, s in sums.items()}})
    projector.table(table)
    live = bool(st.session_state.get("sv_workload_traces"))
    st.caption(("Measured now in this session" if live else "Shipped example runs (real, recorded on "
                "CPU with `scripts/record_examples.py`)") + f" · drafter {next(iter(items.values()))[1].config.draft}. "
               "One run per workload: the speedup of a single run on a shared CPU is noisy. The same runs "
               "are the markers on the theory chart at the top of this lesson.")


def slower() -> None:
    """A real run that was slower than plain decoding, and its break-even α."""
    trace = common.shipped(SLOWER, "layers-4")
    if trace is None:
        st.info("The shipped early-exit example is missing.")
        return
    lesson.keep_trace(LESSON, "slower-than-plain", trace)
    s = common.summary(SLOWER, trace)
    gamma, c, v = trace.config.gamma, s.cost_ratio, s.verify_cost
    m = st.columns(5)
    m[0].metric("α", num(s.alpha), border=True, help="measured: Leviathan's α, accepted ÷ checked")
    m[1].metric("c", num(c), border=True, help="measured: draft seconds per drafted token ÷ one plain step")
    m[2].metric("v", num(v), border=True, help=f"measured: one verify pass over {gamma + 1} tokens ÷ one plain step")
    m[3].metric("τ", num(s.mean_acceptance_length), border=True, help="measured: tokens per target pass")
    m[4].metric("speedup", num(s.speedup_measured, unit="×"), border=True,
                help="measured: plain ÷ speculative time; below 1 is slower than plain decoding")
    if c is None or s.alpha is None:
        st.info("This run has no baseline or no drafts: the break-even α needs its measured c and α.")
        return
    leviathan, aware = break_even_alpha(gamma, c), break_even_alpha(gamma, c, v or 1.0)
    be = lambda x: "above 1: even α = 1 would not pay" if x is None else f"{x:.2f}"  # noqa: E731
    verdict = ("below both: speculation cannot pay at this c" if s.alpha < (aware or 1)
               else "between them" if s.alpha < (leviathan or 1) else "above both")
    drafted = metrics.counts(trace).mean_gamma  # below γ where the token limit cut the last rounds
    st.markdown(f"Early exit `{trace.config.draft}`, γ = {gamma}: a round drafted {drafted:.2f} tokens on "
                f"average ({drafted * c:.2f} plain steps of drafting), paid a verify pass (v = {num(v)} steps) and yielded "
                f"τ = {num(s.mean_acceptance_length)} tokens. Break-even α (speedup 1) at this γ and c: "
                f"**{be(leviathan)}** by Leviathan's formula (verify = 1 step), **{be(aware)}** with the "
                f"run's measured v. The run's α = **{s.alpha:.2f}**, the same kind of number, is {verdict}.")
    run = {"label": "this run", "gamma": gamma, "alpha": s.alpha, "c": c, "v": v or 1.0, "break_even_v": aware}
    st.plotly_chart(projector.scaled(charts.break_even(sorted({round(c, 2), 0.05, 0.5}), run, verify_costs())),
                    config=PLOTLY, key="be_chart")


def gap() -> None:
    """The gap from Leviathan's ideal to the measured speedup, for any run (yours first)."""
    options = state.labels()
    if not options:
        st.info("No recorded traces yet.")
        return
    own = [lb for lb in options if lb in state.library()]
    default = own[0] if own else state.default_label(SLOWER)  # yours, else the slower-than-plain run
    label = st.selectbox("run (your own runs from Step through come first)", options,
                         index=options.index(default), key="gap_label")
    trace = state.get(label)
    g = metrics.trace_gap(trace)
    if g is None:
        st.info("n/a for this run: the decomposition needs a plain-decoding baseline and drafted tokens.")
        return
    st.plotly_chart(projector.scaled(run_charts.gap(g)), config=PLOTLY, key="gap_chart")
    st.caption(" → ".join(f"{name}: {x:.2f}×" for name, x in g.steps()) + ". Every step uses a cost "
               "measured in this run (specviz.measure.metrics.gap); what is left at the end is the loop's own "
               "work and timing noise.")
