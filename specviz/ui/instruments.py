"""The live instruments inside the lessons: each one is a function a lesson section names.

Every number shown comes from a real run on this machine (the session's own measurements or
the shipped example traces) or is labelled theory / estimate / published.
"""
import json
import os

import streamlit as st

from .. import lesson_charts as charts
from .. import metrics
from ..brief import brief_markdown, workload_row
from ..costs import CostCurve
from ..errors import SpecVizError, first_line
from ..models import load_registry
from ..replay import replay_all
from ..trace import Trace
from . import lesson, state, views
from .examples import PROMPTS
from .run import shared_model

TARGET = "smollm2-135m-instruct"
PLOTLY = views.PLOTLY
WORKLOADS = {"chat": "chat", "summarise / rewrite": "summarise", "code edit": "code edit"}


def _target():
    with st.spinner("loading the target model (about 1 s once converted) ..."):
        return shared_model(TARGET, "auto")


def _trained() -> list[str]:
    return [f"trained:{name}" for name in load_registry().trained]


def _shipped(substring: str, fallback: str | None = None) -> Trace | None:
    """The first trace whose label contains substring (else fallback), or None."""
    for sub in (substring, fallback):
        label = state.default_label(sub) if sub else None
        if label and sub in label:
            return state.get(label)
    return None


def _errors(fn):
    """Run an instrument action; a user error becomes one st.error line, never a traceback."""
    try:
        return fn()
    except SpecVizError as e:
        st.error(str(e))
    except (RuntimeError, MemoryError) as e:
        st.error(f"the measurement failed: {first_line(e, 300)}")
    return None


# ---------------------------------------------------------------- lesson 1: cost of a pass

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
            from ..costs import measure_pass_costs
            from ..runner import encode_prompt

            target = _target()
            ids = encode_prompt(target.tokenizer, PROMPTS["chat"], True)
            with target.lock:
                return measure_pass_costs(target.model, ids, max_tokens, repeats,
                                          lambda f, m: bar.progress(min(f, 1.0), text=m), int(threads))
        curve = _errors(measure)
        bar.empty()
        if curve:
            st.session_state["sv_cost"] = curve.to_dict()
            lesson.texts("1_why_it_works")["cost_curve.json"] = json.dumps(curve.to_dict(), indent=1)
    curve = cost_of_pass()
    if curve is None:
        st.info("Not measured yet in this session: press the button (a few seconds on a quiet CPU). "
                "Other users' work on a shared machine makes timings noisy; the median helps.")
        return
    intercept, slope = curve.fit()
    m = st.columns(4)
    m[0].metric("one-token pass", f"{1000 * curve.one_token_s:.1f} ms", border=True)
    m[1].metric("slope (ms / extra token)", f"{1000 * slope:+.1f}", border=True,
                help="least-squares fit of the medians over all sizes")
    m[2].metric("extra token / one pass", f"{100 * curve.slope_fraction:.0f} %", border=True)
    n = min(5, curve.n_tokens[-1])
    stock = curve.stock_v(n)
    m[3].metric(f"{n}-token pass (γ = {n - 1})", f"{curve.v(n):.2f}×", border=True,
                delta=None if stock is None else f"transformers' stock forward: {stock:.2f}×",
                delta_color="off",
                help=f"measured: the median {n}-token pass ÷ the median one-token pass, through "
                     f"SpecViz's engine; {n} separate passes would cost {n}×, an ideal verify pass 1×")
    st.plotly_chart(charts.cost_curve(curve), config=PLOTLY, key="cost_chart")
    if curve.load is not None:
        st.caption(f"Load average while measuring: {curve.load:.1f} on {os.cpu_count()} CPU cores, "
                   f"{curve.threads} torch thread(s). Above the core count, other processes compete "
                   "for the CPU and the times are noisy (compare the whiskers); multi-threaded "
                   "passes suffer most, so try 1 thread.")


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def cost_of_pass() -> CostCurve | None:
    d = st.session_state.get("sv_cost")
    return CostCurve.from_dict(d) if d else None


def draft_cost() -> None:
    """Measure c = draft step / target step for the drafters this app can run."""
    options = ["layers:4", "layers:8", "layers:16", "lookup", *_trained()]
    chosen = st.multiselect("drafters", options, default=["layers:4", "lookup", *_trained()],
                            key="c_drafters")
    if st.button("Measure c", key="c_go", disabled=not chosen):
        def measure():
            from ..costs import draft_memory, measure_draft_cost
            from ..runner import build_drafter, encode_prompt

            target = _target()
            ids = encode_prompt(target.tokenizer, PROMPTS["chat"], True)
            rows = []
            with target.lock, st.spinner("timing draft and target steps ..."):
                for spec in chosen:
                    drafter = build_drafter(spec, target)
                    cost = measure_draft_cost(target.model, drafter, ids)
                    mem = draft_memory(target.model, drafter)
                    rows.append({"drafter": spec, "c (measured)": round(cost["c"], 3),
                                 "draft step ms": round(1000 * cost["draft_step_s"], 2),
                                 "target step ms": round(1000 * cost["target_step_s"], 2),
                                 "extra weights MiB": round(mem["extra_param_bytes"] / 2**20, 1)})
            return rows
        rows = _errors(measure)
        if rows:
            st.session_state["sv_c"] = rows
            lesson.texts("1_why_it_works")["draft_cost.json"] = json.dumps(rows, indent=1)
    if st.session_state.get("sv_c"):
        st.dataframe(st.session_state["sv_c"], hide_index=True)
        st.caption("Medians of 7 single-token steps each, measured now on this machine.")


# ---------------------------------------------------------------- lesson 2: alpha decides

def _measured_points(items: dict[str, Trace]) -> list[dict]:
    points = []
    for label, t in items.items():
        s = metrics.summarize(t)
        points.append({"label": label, "gamma": t.config.gamma, "alpha": s.alpha or 0.0, "c": s.cost_ratio or 0.0,
                       "tokens_per_pass": s.mean_acceptance_length, "speedup": s.speedup_measured})
    return points


def _workload_traces() -> dict[str, Trace]:
    """Session measurements if any, else the shipped lookup runs, one per workload."""
    live = st.session_state.get("sv_workload_traces")
    if live:
        return live
    found = {w: _shipped(f"{kind.replace(' ', '-')} · lookup · greedy") for w, kind in WORKLOADS.items()}
    return {w: t for w, t in found.items() if t is not None}


def theory() -> None:
    """Leviathan's curves for chosen alpha and c, with measured runs on top."""
    a, b = st.columns([3, 2])
    alphas = a.multiselect("α (acceptance rate)", [0.1, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95],
                           default=[0.3, 0.6, 0.8, 0.9], key="th_alphas")
    c = b.slider("c (draft cost ÷ target cost)", 0.0, 1.0, 0.05, 0.01, key="th_c")
    workloads = _workload_traces()
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
    draft = a.selectbox("drafter", [*_trained(), "lookup", "layers:4"], key="wl_draft")
    gamma = b.number_input("γ", 1, 16, 4, key="wl_gamma")
    max_new = c.number_input("new tokens", 8, 128, 40, key="wl_max")
    if d.button("Measure all three workloads", type="primary", key="wl_go"):
        runs = _run_prompts({w: [PROMPTS[k]] for w, k in WORKLOADS.items()}, draft, int(gamma), int(max_new))
        if runs:
            st.session_state["sv_workload_traces"] = {w: ts[0] for w, ts in runs.items()}
    traces = _workload_traces()
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


def _run_prompts(groups: dict[str, list[str]], draft: str, gamma: int, max_new: int,
                 temperature: float = 0.0, target: str = TARGET) -> dict[str, list[Trace]] | None:
    """Run every prompt of every group (speculative + plain baseline) with a progress bar."""
    from ..runner import RunSettings, run

    total = sum(len(v) for v in groups.values())
    bar, done, out = st.progress(0.0, text="loading the model ..."), 0, {}
    try:
        with st.spinner(f"loading {target} ..."):
            shared_model(target, "auto")
        for name, prompts in groups.items():
            for prompt in prompts:
                bar.progress(done / total, text=f"{name}: run {done + 1} of {total} (speculative, "
                                                f"then plain decoding) ...")
                out.setdefault(name, []).append(run(RunSettings(
                    prompt, target, draft, gamma, temperature, seed=lesson.seed(),
                    max_new_tokens=max_new)))
                done += 1
    except SpecVizError as e:
        st.error(str(e))
        return None
    finally:
        bar.empty()
    return out


def slower() -> None:
    """A real run that was slower than plain decoding, and the break-even alpha."""
    trace = _shipped("chat · layers-4 · greedy", "layers-4")
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


# ---------------------------------------------------------------- lesson 3: distribution lab

LAB_PROMPT, LAB_PREFIX = "Write a short poem about the sea.", "The waves of the ocean,"


def lab() -> None:
    """Sample many next tokens with strict and loose verification on the real model."""
    from ..lab import LOOSE, VARIANTS

    with st.form("lab_form"):
        a, b = st.columns(2)
        prompt = a.text_input("prompt", LAB_PROMPT, key="lab_prompt")
        prefix = b.text_input("answer so far (the fixed prefix)", LAB_PREFIX, key="lab_prefix")
        c1, c2, c3, c4 = st.columns(4)
        draft = c1.selectbox("draft", [*_trained(), "layers:28", "layers:24", "layers:16"], key="lab_draft",
                             help="a draft that agrees with the target often (the trained EAGLE draft, "
                                  "or a deep early exit) makes loose rules visibly wrong; cost does "
                                  "not matter here")
        temperature = c2.slider("temperature", 0.3, 1.5, 1.0, 0.1, key="lab_t")
        top_k = c3.number_input("top-k (0 = off)", 0, 1000, 50, key="lab_topk",
                                help="applied to p and q alike, as the engine does; 0 samples over "
                                     "all 49,152 tokens, which is slower")
        n = c4.select_slider("samples per method", [500, 1000, 2000, 4000, 8000, 16000], 4000, key="lab_n")
        d1, d2 = st.columns(2)
        k = d1.slider("loose top-k match: k", 1, 50, 10, key="lab_k")
        threshold = d2.slider("loose ratio rule: accept if p/q >", 0.05, 1.0, 0.5, 0.05, key="lab_thr")
        go = st.form_submit_button("Run the lab on the real model", type="primary", key="lab_go")
    if go:
        bar = st.progress(0.0, text="computing p and q ...")

        def work():
            from ..errors import RunError
            from ..lab import next_token_distributions, run_lab
            from ..runner import MAX_PROMPT_CHARS, build_drafter, encode_prompt
            from ..sampling import SamplingParams

            if len(prompt) + len(prefix) > MAX_PROMPT_CHARS:
                raise RunError(f"the prompt and prefix are {len(prompt) + len(prefix)} characters; "
                               f"the limit is {MAX_PROMPT_CHARS}: shorten them")
            target = _target()
            tok = target.tokenizer
            ids = encode_prompt(tok, prompt, True) + tok(prefix, add_special_tokens=False).input_ids
            with target.lock:
                p, q = next_token_distributions(target.model, build_drafter(draft, target), ids,
                                                SamplingParams(temperature, int(top_k)), lesson.seed())
            res = run_lab(p, q, int(n), lesson.seed(), k=int(k), threshold=float(threshold),
                          progress=lambda f, m: bar.progress(min(f, 1.0), text=m))
            return res, _texts(tok, p, q)
        out = _errors(work)
        bar.empty()
        if out:
            st.session_state["sv_lab"] = {"result": out[0], "texts": out[1],
                                          "setup": f"{prompt!r} + {prefix!r}, draft {draft}, T = "
                                                   f"{temperature:g}, top-k {top_k}, seed {lesson.seed()}"}
    saved = st.session_state.get("sv_lab")
    if not saved:
        st.info("Press Run: about a second per thousand samples on a quiet CPU with top-k 50.")
        return
    res = saved["result"]
    st.caption(f"Setup: {saved['setup']} · β = Σ min(p, q) = {float((res.p.clip(max=res.q)).sum()):.3f} "
               "(the acceptance probability of one drafted token)")
    rows = [{"method": name, "verdict": "matches p" if v.chi2_p >= 0.01 else "DRIFTS from p",
             "TV measured": round(v.tv, 4), "TV exact law": round(v.tv_exact, 4),
             "chi-square p-value": f"{v.chi2_p:.2g}", "what it does": VARIANTS[name]}
            for name, v in res.variants.items()]
    st.dataframe(rows, hide_index=True)
    lesson.texts("3_lossless")["distribution_lab.json"] = json.dumps(
        {"setup": saved["setup"], "n": res.n, "results": rows}, indent=1)
    st.plotly_chart(charts.lab_tv(res), config=PLOTLY, key="lab_tv")
    shown = st.multiselect("methods on the distribution chart", list(res.variants)[1:],
                           default=["strict", *LOOSE[:2]], key="lab_shown")
    st.plotly_chart(charts.lab_distributions(res, saved["texts"], shown), config=PLOTLY, key="lab_dist")
    st.caption(f"Noise floor: plain target sampling itself is TV {res.noise_floor:.3f} from p at "
               f"n = {res.n}. A chi-square p-value below 0.01 means the counts are very unlikely "
               "under p.")


def _texts(tok, p, q) -> dict[int, str]:
    """Decoded text of every token with mass under p or q (the charts only need those)."""
    ids = set((p > 0).nonzero().flatten().tolist()) | set((q > 0).nonzero().flatten().tolist())
    return _TextMap({i: tok.decode([i]) for i in ids})


class _TextMap(dict):
    def __getitem__(self, i):
        return self.get(int(i), f"#{int(i)}")


# ---------------------------------------------------------------- lesson 4: beyond drafts

MEDUSA = """flowchart LR
    X["tokens so far"] --> T["target model<br/>(one forward pass)"]
    T --> H0["LM head: token t+1"]
    T --> H1["Medusa head 1: token t+2"]
    T --> H2["Medusa head 2: token t+3"]
    T --> H3["Medusa head 3: token t+4"]
    H0 & H1 & H2 & H3 --> TREE["candidate tree<br/>top-k per head"]
    TREE --> V["next target pass verifies the whole tree<br/>with a tree-attention mask"]
    V --> A["keep the longest accepted path + 1 token"]
"""

PUBLISHED = [
    {"method": "Medusa (heads on the target)", "published speedup": "2.2–3.6×", "source": "Cai et al. 2024"},
    {"method": "EAGLE (feature-level draft)", "published speedup": "2.7–3.5×", "source": "Li et al. 2024"},
    {"method": "EAGLE-3", "published speedup": "up to 6.5×", "source": "Li et al. 2025"},
    {"method": "Separate draft, T5-XXL 11B target", "published speedup": "up to 3.4×",
     "source": "Leviathan et al. 2023"},
    {"method": "Separate draft, Chinchilla 70B + 4B draft", "published speedup": "1.92–2.46×",
     "source": "Chen et al. 2023"},
]


def medusa() -> None:
    st.mermaid_chart(MEDUSA, alt="Medusa heads: one target pass proposes several future tokens, "
                                 "the next pass verifies a candidate tree")
    st.markdown("**Published figures** (from the papers, on large GPU models; *not measured by "
                "this app*):")
    st.dataframe(PUBLISHED, hide_index=True)
    trained = _trained()
    if trained:
        st.caption(f"This project's own trained draft ({', '.join(trained)}; see models.yaml) reads the "
                   "target's hidden state like Medusa and EAGLE do: it appears in the profiles below "
                   "as a measured point once it has a run (press Measure, or see the shipped runs).")
    else:
        st.caption("No trained Medusa / EAGLE draft is registered in models.yaml yet; when one is "
                   "(`trained:NAME`), it appears in the profiles below as a measured point.")


def profiles() -> None:
    """Measured alpha vs c of every available drafter (shipped runs + this session's)."""
    items = {}
    for label in state.labels():
        t = state.get(label)
        if t.config.target == TARGET and t.baseline.output_ids:
            items.setdefault(t.config.draft, []).append(t)
    if st.button("Measure each drafter now on the code-edit prompt", key="pf_go"):
        specs = ["layers:4", "layers:16", "lookup", *_trained()]
        runs = {s: (_run_prompts({s: [PROMPTS["code edit"]]}, s, 4, 40) or {}).get(s, []) for s in specs}
        st.session_state["sv_profiles"] = runs
    for spec, ts in st.session_state.get("sv_profiles", {}).items():
        items[f"{spec} (now)"] = ts
    points = []
    for spec, ts in items.items():
        row = workload_row(spec, ts)
        points.append({"label": f"{spec} ({row.runs} runs)", "alpha": row.alpha, "c": row.c or 0.0})
        for t in ts:
            lesson.keep_trace("4_beyond_draft_models", f"{spec}-{len(lesson.traces('4_beyond_draft_models'))}", t)
    if points:
        st.plotly_chart(charts.profiles(points), config=PLOTLY, key="pf_chart")
        st.caption("Each point pools the real runs of one drafter on SmolLM2-135M-Instruct (CPU). "
                   "Contours are Leviathan's theoretical speedup at γ = 4.")


# ---------------------------------------------------------------- lesson 5: decision brief

def brief_inputs() -> None:
    """Workload prompts (separated by lines of ---), pair, gamma; measure or use shipped runs."""
    source = st.radio("evidence", ["shipped example runs (instant)", "measure my workload now"],
                      horizontal=True, key="br_source")
    if source.startswith("shipped"):
        st.session_state["sv_brief_runs"] = {w: [t] for w, t in _workload_traces().items()}
        st.session_state["sv_brief_memory"] = None
        return
    cols = st.columns(3)
    groups = {}
    for col, (w, kind) in zip(cols, WORKLOADS.items()):
        text = col.text_area(f"{w} prompts (separate with a line ---)", PROMPTS[kind], height=180,
                             key=f"br_{kind}")
        groups[w] = [p.strip() for p in text.split("\n---\n") if p.strip()]
    upload = st.file_uploader("or a prompts file (.txt, prompts separated by lines of ---): adds a "
                              "workload named after the file", type=["txt"], key="br_file")
    if upload is not None:
        text = upload.getvalue().decode("utf-8", errors="replace")
        groups[upload.name] = [p.strip() for p in text.split("\n---\n") if p.strip()][:20]
    reg = load_registry()
    pairs = [k for k, p in reg.pairs.items() if p.offline] + [k for k, p in reg.pairs.items() if not p.offline]
    a, b, c, d = st.columns([3, 3, 1, 2], vertical_alignment="bottom")
    pair_key = a.selectbox("model pair (models.yaml)", pairs, key="br_pair",
                           format_func=lambda k: k + ("" if reg.pairs[k].offline else "  (needs internet)"))
    pair = reg.pairs[pair_key]
    draft = b.selectbox("drafter", list(dict.fromkeys([*_trained(), pair.draft, "lookup", "layers:4"])),
                        key=f"br_draft_{pair_key}")
    gamma = c.number_input("γ", 1, 16, pair.gamma, key="br_gamma")
    max_new = d.number_input("new tokens per prompt", 8, 256, 40, key="br_max")
    st.text_input("hardware / deployment notes for the brief (optional)", key="br_notes",
                  placeholder="e.g. production: 1× L4 GPU, vLLM, 20 concurrent requests")
    if st.button("Measure and write the brief", type="primary", key="br_go"):
        runs = _run_prompts({w: ps for w, ps in groups.items() if ps}, draft, int(gamma), int(max_new),
                            target=pair.target)
        if runs:
            from ..costs import draft_memory
            from ..runner import build_drafter

            target = shared_model(pair.target, "auto")
            st.session_state["sv_brief_runs"] = runs
            st.session_state["sv_brief_memory"] = _errors(
                lambda: draft_memory(target.model, build_drafter(draft, target)))


def brief() -> None:
    """The markdown brief, shown and downloadable; it also goes into the workshop pack."""
    runs = st.session_state.get("sv_brief_runs")
    if not runs:
        st.info("Choose the evidence above first.")
        return
    curve = cost_of_pass()
    cost = {"one_token_ms": 1000 * curve.one_token_s, "slope_fraction": curve.slope_fraction} if curve else None
    first = next(t for ts in runs.values() for t in ts)
    md = brief_markdown(runs, f"speculative decoding for {first.config.target}",
                        st.session_state.get("sv_brief_memory"), cost,
                        st.session_state.get("br_notes", ""))
    lesson.texts("5_decision_brief")["decision_brief.md"] = md
    for w, ts in runs.items():
        for i, t in enumerate(ts):
            lesson.keep_trace("5_decision_brief", f"{w}-{i + 1}", t)
    st.download_button("Download the brief (markdown)", md, file_name="decision_brief.md",
                       mime="text/markdown", key="br_download", type="primary")
    with st.container(border=True):  # headings two levels down: the brief sits inside a lesson
        st.markdown(md.replace("\n## ", "\n#### ").replace("# Decision brief", "### Decision brief", 1))
