"""Lesson 2's instruments: Leviathan's curves, counterfactual replay, workloads, a slower-than-plain run."""
import streamlit as st

from ... import lesson_charts as charts
from ... import metrics
from ...brief import workload_row
from ...replay import replay_all
from ...trace import Trace
from .. import lesson, state
from ..examples import PROMPTS
from . import common
from .common import PLOTLY, WORKLOADS, cost_of_pass


def _measured_points(items: dict[str, Trace]) -> list[dict]:
    points = []
    for label, t in items.items():
        s = metrics.summarize(t)
        points.append({"label": label, "gamma": t.config.gamma, "alpha": s.alpha or 0.0, "c": s.cost_ratio or 0.0,
                       "tokens_per_pass": s.mean_acceptance_length, "speedup": s.speedup_measured})
    return points



def theory() -> None:
    """Leviathan's curves for chosen alpha and c, with measured runs on top."""
    a, b = st.columns([3, 2])
    alphas = a.multiselect("α (acceptance rate)", [0.1, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95],
                           default=[0.3, 0.6, 0.8, 0.9], key="th_alphas")
    c = b.slider("c (draft cost ÷ target cost)", 0.0, 1.0, 0.05, 0.01, key="th_c")
    workloads = common.workload_traces()
    points = _measured_points({f"{w} ({t.config.draft})": t for w, t in workloads.items()})
    st.plotly_chart(charts.theory_curves(sorted(alphas) or [0.8], c, 16, points), config=PLOTLY,
                    key="th_chart")
    best = {al: metrics.best_gamma(al, c) for al in sorted(alphas)}
    st.caption("Best γ by the formula at this c: " + ", ".join(
        f"α = {al:.2f} → γ = {g} ({metrics.speedup_theoretical(al, g, c):.2f}×)" for al, g in best.items())
        + ". Lines are theory; black markers are measured runs at their own α and c (not the "
        "slider's). A measured speedup below its theory line means the verify pass cost more than "
        "one plain step (see lesson 1's cost curve).")


def replay() -> None:
    """Counterfactual replay of one recorded trace over gamma = 1..16 (an estimate)."""
    options = state.labels()
    if not options:
        st.info("No recorded traces yet.")
        return
    default = state.default_label("summarise · lookup · greedy")
    label = st.selectbox("recorded run", options, index=options.index(default), key="rp_label")
    trace = state.get(label)
    lesson.keep_trace("2_acceptance_rate", label, trace)
    curve = cost_of_pass()
    use_curve = st.toggle("scale the verify cost with γ using my measured cost curve (lesson 1)",
                          value=curve is not None, disabled=curve is None, key="rp_curve")
    points = replay_all(trace, range(1, 17), curve.ratio if use_curve and curve else None)
    s = metrics.summarize(trace)
    st.plotly_chart(charts.replay_chart(points, s.alpha or 0.0), config=PLOTLY, key="rp_chart")
    rec = next(p for p in points if p.recorded)
    best = max(points, key=lambda p: p.speedup or 0)
    st.markdown(
        f"Recorded at γ = {trace.config.gamma}: measured α = {s.alpha or 0:.2f}, {s.mean_acceptance_length or 0:.2f} "
        f"tokens/pass, speedup {s.speedup_measured or 0:.2f}×; the replay at that γ gives "
        f"α = {rec.alpha:.2f}, {rec.tokens_per_pass:.2f} tokens/pass "
        f"({'it reproduces the run' if abs(rec.tokens_per_pass - (s.mean_acceptance_length or 0)) < 1e-9 else 'close to the run'}). "
        f"**Estimate:** the best γ for this run would have been {best.gamma} "
        f"({best.speedup or 0:.2f}×, α ≈ {best.alpha:.2f}).")
    st.caption("Estimate, not a measurement: positions the draft never saw use the run's mean α; "
               "sampled runs and prompt lookup would differ in a real re-run.")


def workloads() -> None:
    """Alpha and speedup of one pair on chat, summarise/rewrite and code-edit prompts."""
    a, b, c, d = st.columns([2, 1, 1, 2], vertical_alignment="bottom")
    draft = a.selectbox("drafter", [*common.trained(), "lookup", "layers:4"], key="wl_draft")
    gamma = b.number_input("γ", 1, 16, 4, key="wl_gamma")
    max_new = c.number_input("new tokens", 8, 128, 40, key="wl_max")
    if d.button("Measure all three workloads", type="primary", key="wl_go"):
        runs = common.run_prompts({w: [PROMPTS[k]] for w, k in WORKLOADS.items()}, draft, int(gamma), int(max_new))
        if runs:
            st.session_state["sv_workload_traces"] = {w: ts[0] for w, ts in runs.items()}
    traces = common.workload_traces()
    if not traces:
        st.info("No runs yet: press Measure.")
        return
    live = bool(st.session_state.get("sv_workload_traces"))
    rows = [vars(workload_row(w, [t])) for w, t in traces.items()]
    for w, t in traces.items():
        lesson.keep_trace("2_acceptance_rate", f"workload-{w}", t)
    st.plotly_chart(charts.workload_bars(rows), config=PLOTLY, key="wl_chart")
    st.dataframe([{"workload": r["workload"], "α": round(r["alpha"], 3),
                   "tokens / pass": round(r["tokens_per_pass"], 2), "c": r["c"] and round(r["c"], 3),
                   "verify pass ÷ plain step": r["verify_cost"] and round(r["verify_cost"], 2),
                   "measured speedup": r["speedup"] and round(r["speedup"], 2),
                   "greedy output identical": r["identical"]} for r in rows], hide_index=True)
    st.caption(("Measured now in this session" if live else "Shipped example runs (real, recorded on "
                "CPU with `scripts/record_examples.py`)") + f" · drafter {next(iter(traces.values())).config.draft}.")



def slower() -> None:
    """A real run that was slower than plain decoding, and the break-even alpha."""
    trace = common.shipped("chat · layers-4 · greedy", "layers-4")
    if trace is None:
        st.info("The shipped early-exit example is missing.")
        return
    lesson.keep_trace("2_acceptance_rate", "slower-than-plain", trace)
    s = metrics.summarize(trace)
    m = st.columns(4)
    m[0].metric("α (measured)", f"{s.alpha or 0:.3f}", border=True)
    m[1].metric("c (measured)", f"{s.cost_ratio or 0:.2f}", border=True)
    m[2].metric("tokens / pass", f"{s.mean_acceptance_length or 0:.2f}", border=True)
    m[3].metric("measured speedup", f"{s.speedup_measured or 0:.2f}×", border=True,
                help="below 1: slower than plain decoding of the same prompt")
    c = s.cost_ratio or 0.2
    st.markdown(f"Early exit `{trace.config.draft}`, γ = {trace.config.gamma}: each round pays for "
                f"{trace.config.gamma} draft steps (≈ {trace.config.gamma * c:.2f} target steps) plus "
                f"a verify pass, and yields {s.mean_acceptance_length or 0:.2f} tokens. The theory predicts "
                f"{s.speedup_theoretical or 0:.2f}× at this α and c; {_versus_theory(s, trace.config.gamma)}")
    st.plotly_chart(charts.break_even(sorted({round(c, 2), 0.05, 0.5})), config=PLOTLY, key="be_chart")


def _versus_theory(s, gamma: int) -> str:
    """Why the measured speedup sits where it does relative to Leviathan's prediction."""
    measured, theory = s.speedup_measured or 0, s.speedup_theoretical or 0
    if measured < 0.9 * theory:
        return (f"the measured {measured:.2f}× is lower still because the verify pass over "
                f"{gamma + 1} tokens costs more than one plain step on this CPU.")
    if measured <= 1.1 * theory:
        return f"the measured {measured:.2f}× is close to it: the formula's assumptions held in this run."
    return (f"the measured {measured:.2f}× beats it: the plain baseline of this run was slowed by "
            "other work on the machine (timings on a shared CPU are noisy).")
