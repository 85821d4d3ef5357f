"""Lesson 4's instruments: the Medusa diagram with published figures, and measured drafter profiles."""
import streamlit as st

from ... import lesson_charts as charts
from ...brief import pooled_summary
from .. import lesson, state
from ..examples import PROMPTS, shipped_traces
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
    st.dataframe(PUBLISHED, hide_index=True)
    trained = common.trained()
    if trained:
        st.caption(f"This project's own trained draft ({', '.join(trained)}; see models.yaml) reads the "
                   "target's hidden state like Medusa and EAGLE do: it appears in the profiles below "
                   "as a measured point once it has a run (press Measure, or see the shipped runs).")
    else:
        st.caption("No trained Medusa / EAGLE draft is registered in models.yaml yet; when one is "
                   "(`trained:NAME`), it appears in the profiles below as a measured point.")


def facts() -> dict[str, str]:
    """Measured numbers lesson 4's text quotes, from the shipped runs."""
    alpha = lambda sub: common.span([x.alpha for x in common.shipped_summaries(sub).values()])  # noqa: E731
    c = lambda sub: common.span([x.cost_ratio for x in common.shipped_summaries(sub).values()])  # noqa: E731
    return {"alpha_layers4": alpha("layers-4"), "c_layers4": c("layers-4"), "c_lookup": c("lookup"),
            "alpha_lookup_chat": alpha("chat · lookup"), "alpha_lookup_edit": alpha("code-edit · lookup"),
            "alpha_lookup_summarise": alpha("summarise · lookup"), "alpha_trained": alpha("trained"),
            "c_trained": c("trained")}


@st.cache_resource(show_spinner=False, max_entries=8)
def _shipped_points(stamp: tuple) -> list[dict]:
    """One point per shipped drafter (all its runs pooled), computed once per process."""
    groups: dict[str, list] = {}
    for label, path, mtime in stamp:
        t = state.load_shipped(path, mtime)
        if t.config.target == TARGET and t.baseline.output_ids:
            groups.setdefault(f"{t.config.draft} (γ = {t.config.gamma})", []).append((label, t))
    return [_point(name, ts) for name, ts in groups.items()]


def _point(name: str, runs: list) -> dict:
    """One drafter's runs pooled (brief.pooled_summary: counts summed, c from the total times)."""
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
        if t.config.target == TARGET and t.baseline.output_ids:
            own.setdefault(f"{t.config.draft} (γ = {t.config.gamma}), yours", []).append((label, t))
    for spec, ts in st.session_state.get("sv_profiles", {}).items():
        if ts:
            own[f"{spec} (γ = 4), now"] = [(f"{spec}-now-{i}", t) for i, t in enumerate(ts)]
    points += [_point(name, runs) for name, runs in own.items()]
    for p in points:  # stable names: a rerun replaces these entries, it never adds copies
        for label, t in p["runs"]:
            lesson.keep_trace(LESSON, label, t)
    if points:
        st.plotly_chart(charts.profiles([{k: p[k] for k in ("label", "alpha", "c")} for p in points]),
                        config=PLOTLY, key="pf_chart")
        st.caption("Each point pools the real runs of one drafter on SmolLM2-135M-Instruct (CPU): α is "
                   "Leviathan's (accepted ÷ checked), c the draft time per drafted token ÷ one plain step. "
                   "Contours are Leviathan's theoretical speedup at γ = 4 (a verify pass costing one "
                   "step; lesson 2 shows what the measured verify cost does to it).")
