"""Lesson 1's instruments: the cost of a target pass vs tokens scored, and the cost ratio c."""
import json
import os
import sys

import streamlit as st

from ...lessons import facts
from ...lessons.facts import GAMMA
from ...measure.costcurve import CostCurve
from ...measure.prompts import PROMPTS
from ...present.charts import lessons as charts
from ...services import store
from .. import lesson, projector, urlstate
from ..machine import panel
from . import common
from .common import PLOTLY, cost_of_pass

def cost_curve() -> None:
    """Measure the time of a target pass vs tokens scored, plot it, keep it for later lessons."""
    a, b, t, c = st.columns([3, 3, 2, 3], vertical_alignment="bottom")
    max_tokens = a.slider("tokens scored, up to", 4, 16, 16, key="cost_max")
    repeats = b.slider("repeats (median)", 1, 9, 5, key="cost_repeats")
    default_threads = torch_threads()
    options = sorted({default_threads, 1}, reverse=True)
    busy = os.getloadavg()[0] > (os.cpu_count() or 1) if hasattr(os, "getloadavg") else False
    threads = t.selectbox("CPU threads", options, index=options.index(1) if busy else 0, key="cost_threads",
                          help=f"torch uses {default_threads} by default; on a CPU other processes "
                               "keep busy (preselected when the load is above the core count), one "
                               "thread can be much faster for multi-token passes")
    if c.button("Measure on this device", type="primary", key="cost_go"):
        bar = st.progress(0.0, text="timing target passes ...")

        def measure():
            from ...measure.costs import measure_pass_costs
            from ...decoding.models import encode_prompt

            target = common.target()
            ids = encode_prompt(target.tokenizer, PROMPTS["chat"], True)
            with target.lock:
                return measure_pass_costs(target.model, ids, max_tokens, repeats,
                                          lambda f, m: bar.progress(min(f, 1.0), text=m), int(threads))
        curve = common.errors(measure)
        bar.empty()
        if curve:
            st.session_state["sv_cost"] = curve.to_dict()
            lesson.texts("1_why_it_works")["cost_curve.json"] = json.dumps(curve.to_dict(), indent=1)
    curve = cost_of_pass()
    shipped = curve is None
    if shipped:  # the shipped curve first; "Measure on this device" beside it measures here
        bench = store.shipped_sweep() or {}
        if not bench.get("verify_cost"):
            st.info("Not measured yet in this session: press the button. Other users' work on a shared "
                    "machine makes timings noisy; the median helps.")
            return
        curve = CostCurve.from_dict(bench["verify_cost"])
        st.info(f"Shipped, not this machine: measured on {bench.get('date', 'an unrecorded date')} by "
                f"`python -m specviz bench` on the machine that built this app ({bench.get('env', '')}). "
                "**Measure on this device** times yours. From the shipped runs, a verify pass cost "
                f"{facts.lesson1()['v_by_gamma']}, each relative to a plain decoding step of the same run.",
                icon=":material/inventory_2:")
    n = curve.n_tokens[-1]
    m = st.columns(4)
    m[0].metric("one-token pass", f"{1000 * curve.one_token_s:.1f} ms", border=True,
                help="median time of one cached target pass scoring 1 token: a plain decoding step")
    sizes = [k for k in (2, 5, n) if k <= n]
    for col, k in zip(m[1:], sizes):
        col.metric(f"v({k})" + (": γ = 4 verify" if k == 5 else ""), f"{curve.v(k):.2f}×", border=True,
                   help=f"measured: the median {k}-token pass ÷ the median one-token pass through "
                        f"SpecViz's engine ({k} separate passes: {k}×, an ideal verify pass 1×)"
                        + ("; what verifying a γ = 4 draft costs" if k == 5 else ""))
    if curve.stock_seconds:
        st.caption("transformers' stock forward, timed in the same run: " + ", ".join(
            f"v({k}) = {curve.stock_v(k):.2f}×" for k in sizes) + ". SpecViz's engine runs its own "
            "decoding forward on a CPU; the difference is what that forward buys a verify pass.")
    st.plotly_chart(projector.scaled(charts.cost_curve(curve)), config=PLOTLY, key="cost_chart")
    st.caption("v(k) is read off the measured bars, not off the line: the least-squares line is drawn "
               "to show the trend only. " + ("Measured on this device, lesson 2 uses your v(k) as the real "
                                             "cost of a verify pass." if shipped else
                                             "Lesson 2 uses these v(k) as the real cost of a verify pass."))
    if curve.load is not None and not shipped:
        st.caption(f"Load average while measuring: {curve.load:.1f} on {os.cpu_count()} CPU cores, "
                   f"{curve.threads} torch thread(s). Above the core count, other processes compete "
                   "for the CPU and the times are noisy (compare the whiskers); multi-threaded "
                   "passes suffer most, so try 1 thread.")


def machine() -> None:
    """This machine's tuned kernels, v(k), c per drafter and the γ they choose (re-measurable)."""
    panel("lesson1")


def torch_threads() -> int:
    """torch's intra-op thread count, without importing torch just to ask (it is slow to import)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return torch.get_num_threads()
    return int(os.environ.get("OMP_NUM_THREADS") or 0) or os.cpu_count() or 1


def address() -> dict:
    """The settings a link to this lesson keeps: the drafters c is measured for."""
    options = ["layers:4", "layers:8", "layers:16", "lookup", *common.trained()]
    return {"drafters": ("c_drafters", urlstate.Many("drafters", ["layers:4", "lookup", *common.trained()], options))}


def draft_cost() -> None:
    """Measure c (draft seconds per drafted token ÷ one target step) for the drafters this app can run."""
    options = ["layers:4", "layers:8", "layers:16", "lookup", *common.trained()]
    chosen = st.multiselect("drafters", options, default=["layers:4", "lookup", *common.trained()],
                            key="c_drafters")
    if st.button("Measure c", key="c_go", disabled=not chosen):
        def measure():
            from ...measure.costs import draft_memory, measure_draft_cost
            from ...decoding.drafters import build_drafter
            from ...decoding.models import encode_prompt

            target = common.target()
            ids = encode_prompt(target.tokenizer, PROMPTS["chat"], True)
            rows = []
            with target.lock, st.spinner("timing draft proposals and target steps ..."):
                for spec in chosen:
                    drafter = build_drafter(spec, target)
                    cost = measure_draft_cost(target.model, drafter, ids, gamma=GAMMA)
                    mem = draft_memory(target.model, drafter)
                    rows.append({"drafter": spec, "c (measured)": round(cost["c"], 3),
                                 "draft ms per drafted token": round(1000 * cost["draft_step_s"], 2),
                                 "target step ms": round(1000 * cost["target_step_s"], 2),
                                 "extra weights MiB": round(mem["extra_param_bytes"] / 2**20, 1)})
            return rows
        rows = common.errors(measure)
        if rows:
            st.session_state["sv_c"] = rows
            lesson.texts("1_why_it_works")["draft_cost.json"] = json.dumps(rows, indent=1)
    if st.session_state.get("sv_c"):
        projector.table(st.session_state["sv_c"])
        st.caption(f"Measured now on this machine, medians of 7 repeats: the time of one γ = {GAMMA} "
                   "proposal (its per-round fixed cost, such as the trained draft's catch-up, included) "
                   "÷ the tokens it drafted, ÷ one plain target step.")
    else:
        f = facts.lesson1()
        st.caption(f"Not measured yet in this session. The shipped runs measured c = {f['c_layers4']} for "
                   f"layers:4 (γ = {f['gamma_layers4']}), {f['c_lookup']} for lookup (γ = {f['gamma_lookup']}) "
                   f"and {f['c_trained']} for the trained draft (γ = {f['gamma_trained']}), with the same "
                   "definition.")
