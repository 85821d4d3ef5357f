"""Lesson 4's instruments: the Medusa diagram with published figures, a real token-tree round
with its mask, a chain beside trees of growing node budgets measured on this machine, and
measured drafter profiles."""
import json

import streamlit as st

from ...decoding.models import load_registry
from ...lessons.facts import sweep_note
from ...measure.prompts import PROMPTS
from ...measure.repeats import pooled_summary
from ...measure.tree_sweep import GAMMA, from_bench, from_runs, measure
from ...numbers import num
from ...present import round_view
from ...present.charts import lessons as charts
from ...present.tree_sweep import explain
from ...services import store
from ...services.store import shipped_traces
from .. import lesson, projector, state, urlstate, views
from . import common
from .common import PLOTLY, TARGET

LESSON = "4_beyond_draft_models"


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
    projector.table(PUBLISHED)
    trained = common.trained()
    if trained:
        st.caption(f"This project's own trained draft ({', '.join(trained)}; see models.yaml) reads the "
                   "target's hidden state like Medusa and EAGLE do: it appears in the profiles below "
                   "as a measured point once it has a run (press Measure, or see the shipped runs).")
    else:
        st.caption("No trained Medusa / EAGLE draft is registered in models.yaml yet; when one is "
                   "(`trained:NAME`), it appears in the profiles below as a measured point.")


# ---------------------------------------------------------------- token trees

BUDGETS = (8, 16, 32, 64)


def tree_round() -> None:
    """A real round of a token-tree run (shipped, or your own from Step through), stage by stage:
    the tree, its attention mask, the walk."""
    options = [lb for lb in state.labels() if state.get(lb).config.tree_nodes]
    if not options:
        st.info("No token-tree run is available: run one on Step through (token tree > 0).")
        return
    a, b, c = st.columns([4, 2, 3], vertical_alignment="bottom")
    label = a.selectbox("token-tree run", options, key="tr_label")
    trace = state.get(label)
    rounds = [i for i, r in enumerate(trace.rounds) if r.tree is not None and r.tree.nodes]
    if not rounds:
        st.info("This run drafted no tree (every round was the target's own step).")
        return
    opening = round_view.opening_round(trace)
    i = b.selectbox("round", rounds, index=rounds.index(opening) if opening in rounds else 0,
                    format_func=lambda j: f"{j + 1} of {len(trace.rounds)}", key=f"tr_round_{label}")
    last = round_view.n_stages(trace.rounds[i]) - 1
    stage = c.slider("stage (① draft … ④ the target's token)", 0, last, last, key=f"tr_stage_{label}_{i}")
    views.show_round(trace, i, stage)
    st.caption("A real round, recorded on this app's CPU with SmolLM2-135M-Instruct and the trained "
               "EAGLE draft. Hover a node for its q, p, p/q and (sampled) r; the mask's rows are the "
               "root and the nodes, a filled cell what that row may attend to. Step through plays every "
               "round of the run stage by stage.")


def _tree_drafters() -> list[str]:
    """Drafters that can branch, by their spec (no torch): trained drafts, early exits."""
    return [*common.trained(), "layers:4", "layers:8"]


def address() -> dict:
    """The settings a link to this lesson keeps: the tree sweep's drafter, node budgets and length."""
    drafters = _tree_drafters()
    return {"drafter": ("ts_draft", urlstate.Choice("drafter", drafters[0], drafters)),
            "budgets": ("ts_budgets", urlstate.Many("budgets", [8, 16, 32], BUDGETS)),
            "tokens": ("ts_tokens", urlstate.Choice("tokens", 32, [24, 32, 48]))}


def tree_sweep() -> None:
    """A chain (γ = 4) beside trees of growing node budgets: τ, measured cost per round and pass,
    measured speedup; shipped numbers until you measure on this machine."""
    reg = load_registry()
    medusa = [n for n, t in reg.trained.items() if (t or {}).get("kind") == "medusa"]
    a, b, c = st.columns([3, 3, 2], vertical_alignment="bottom")
    draft = a.selectbox("drafter", _tree_drafters(), key="ts_draft",
                        help="drafters that can branch: the trained EAGLE draft (EAGLE-2's dynamic tree), "
                             "a trained Medusa draft (top-k of each head) when one is registered, or the "
                             "target's first K layers as a separate draft (top-k expansion)")
    budgets = b.multiselect("tree node budgets", BUDGETS, default=[8, 16, 32], key="ts_budgets")
    tokens = c.select_slider("new tokens", [24, 32, 48], 32, key="ts_tokens")
    if st.button("Measure the chain and these trees on this machine", type="primary", key="ts_go",
                 disabled=not budgets):
        result = common.errors(lambda: _measure(draft, tuple(sorted(budgets)), tokens))
        if result:
            st.session_state["sv_tree_sweep"] = result
            lesson.texts(LESSON)["tree_sweep.json"] = json.dumps(
                {"rows": [r.__dict__ for r in result["rows"]], "curve": result["curve"], "what": result["what"]}, indent=1)
    if not medusa:
        st.caption("No trained Medusa draft is registered in models.yaml, so Medusa's sparse tree (top-k of "
                   "each head) cannot run here yet; the engine drafts one from any `trained:NAME` of kind "
                   "medusa.")
    result = st.session_state.get("sv_tree_sweep")
    if result is None:
        shipped = store.shipped_sweep()
        if shipped is None:
            st.info("Not measured yet: press the button (a few minutes on a busy 2-core CPU).")
            return
        rows = from_bench(shipped)
        result = {"rows": rows, "curve": shipped.get("verify_cost"),
                  "what": f"Shipped: {sweep_note()}, with `python -m specviz bench` (greedy, "
                          f"{len(shipped.get('prompts', []))} held-out prompts, medians over repeats); {shipped.get('env', '')}. "
                          "Press Measure for this machine's numbers with the draft shipped now."}
    rows, curve = result["rows"], result["curve"]
    v_of = _curve_v(curve)
    projector.table([{"shape": r.name, "τ / pass": num(r.tau),
                   "speedup": num(r.speedup, unit="×"),
                   "repeats": f"{r.lo:.2f}–{r.hi:.2f}×" if r.lo is not None else "n/a",
                   "τ ÷ (N̄c + v)": num(r.predicted, unit="×"), "steps / round": num(r.round_cost),
                   "v in runs": num(r.v), "pass tokens": r.pass_tokens, "v(k) curve": num(v_of(r.pass_tokens)),
                   "drafted / pass": f"{r.drafted:.1f}", "c per node": num(r.c, ".3f")}
                     for r in rows])
    st.caption("speedup: measured against plain decoding, each prompt's median over repeats; repeats: the "
               "lowest and highest whole repeat, every prompt timed side by side with plain decoding (the "
               "median per prompt can sit outside it); τ ÷ (N̄c + v): "
               "what τ and the measured costs predict; steps / round: drafting (N̄c) + the one target pass (v), "
               "in plain decoding steps; v(k) curve: one pass over k tokens ÷ a one-token pass, timed apart "
               "from the runs.")
    st.plotly_chart(projector.scaled(charts.tree_sweep(rows, curve)), config=PLOTLY, key="ts_chart")
    st.markdown(explain(rows, v_of))
    st.caption(result["what"] + " Everything here is measured: τ and c from the runs, v from the runs and "
               "from the pass-cost curve (one pass over k tokens ÷ a one-token pass, median of repeats), the "
               "speedup against plain decoding timed side by side.")


def _curve_v(curve: dict | None):
    """k -> v(k) on the measured points of a CostCurve dict (None off them)."""
    if not curve or not curve.get("seconds"):
        return lambda k: None
    one, at = curve["seconds"][0], dict(zip(curve["n_tokens"], curve["seconds"]))
    return lambda k: at[k] / one if k in at else None


def _measure(draft: str, budgets: tuple[int, ...], tokens: int) -> dict:
    """Run the chain and each tree beside plain decoding (interleaved, two repeats) and time the
    passes they need; imports torch only now."""
    from ...measure.costs import measure_pass_costs
    from ...decoding.models import encode_prompt

    target = common.target()
    bar = st.progress(0.0, text="loading the model ...")
    try:
        runs = measure([PROMPTS["chat"]], draft, (0, *budgets), repeats=2, max_new_tokens=tokens,
                                 target=TARGET, seed=lesson.seed(),
                                 progress=lambda done, total, what: bar.progress(done / total, text=what))
        bar.progress(1.0, text="timing target passes of each size ...")
        ids = encode_prompt(target.tokenizer, PROMPTS["chat"], True)
        with target.lock:
            curve = measure_pass_costs(target.model, ids, 1, 5, stock=False,
                                       sizes=[1, GAMMA + 1, *(n + 1 for n in budgets)])
    finally:
        bar.empty()
    for nodes, ts in runs.items():
        for k, t in enumerate(ts):
            lesson.keep_trace(LESSON, f"tree-{nodes}-{k}" if nodes else f"chain-{k}", t)
    return {"rows": from_runs(runs), "curve": curve.to_dict(),
            "what": f"Measured now on this machine: {draft}, the chat prompt, {tokens} new tokens, greedy, two "
                    "interleaved repeats of each shape."}


@st.cache_resource(show_spinner=False, max_entries=8)
def _shipped_points(stamp: tuple) -> list[dict]:
    """One point per shipped drafter (all its runs pooled), computed once per process."""
    groups: dict[str, list] = {}
    for label, path, mtime in stamp:
        t = state.load_shipped(path, mtime)
        if t.config.target == TARGET and t.baseline.output_ids and not t.config.tree_nodes:  # α: chains
            groups.setdefault(f"{t.config.draft} (γ = {t.config.gamma})", []).append((label, t))
    return [_point(name, ts) for name, ts in groups.items()]


def _point(name: str, runs: list) -> dict:
    """One drafter's runs pooled (repeats.pooled_summary: counts summed, c from the total times)."""
    s = pooled_summary([t for _, t in runs])
    return {"label": f"{name}, {len(runs)} runs", "alpha": s.alpha or 0.0, "c": s.cost_ratio or 0.0,
            "runs": runs}


def profiles() -> None:
    """Measured α (Leviathan's) vs c of every available drafter: shipped runs and this session's."""
    if st.button("Measure each drafter now on the code-edit prompt", key="pf_go"):
        specs = ["layers:4", "layers:16", "lookup", *common.trained()]
        runs = {s: (common.run_prompts({s: [PROMPTS["code edit"]]}, s, 4, 40) or {}).get(s, []) for s in specs}
        st.session_state["sv_profiles"] = runs  # replaces the last measurement: reruns never add
    shipped = shipped_traces()
    stamp = tuple((label, str(p), p.stat().st_mtime) for label, p in shipped.items())
    points = list(_shipped_points(stamp))
    own: dict[str, list] = {}
    for label, t in reversed(state.library().items()):  # this session's runs (Step through, uploads)
        if t.config.target == TARGET and t.baseline.output_ids and not t.config.tree_nodes:
            own.setdefault(f"{t.config.draft} (γ = {t.config.gamma}), yours", []).append((label, t))
    for spec, ts in st.session_state.get("sv_profiles", {}).items():
        if ts:
            own[f"{spec} (γ = 4), now"] = [(f"{spec}-now-{i}", t) for i, t in enumerate(ts)]
    points += [_point(name, runs) for name, runs in own.items()]
    for p in points:  # stable names: a rerun replaces these entries, it never adds copies
        for label, t in p["runs"]:
            lesson.keep_trace(LESSON, label, t)
    if points:
        st.plotly_chart(projector.scaled(charts.profiles([{k: p[k] for k in ("label", "alpha", "c")} for p in points])),
                        config=PLOTLY, key="pf_chart")
        st.caption("Each point pools the real runs of one drafter on SmolLM2-135M-Instruct (CPU): α is "
                   "Leviathan's (accepted ÷ checked), c the draft time per drafted token ÷ one plain step. "
                   "Contours are Leviathan's theoretical speedup at γ = 4 (a verify pass costing one "
                   "step; lesson 2 shows what the measured verify cost does to it).")
