"""Lesson 4's instruments: the Medusa diagram with published figures, and measured drafter profiles."""
import streamlit as st

from ... import lesson_charts as charts
from ...brief import workload_row
from .. import lesson, state
from ..examples import PROMPTS
from . import common
from .common import PLOTLY, TARGET


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


def profiles() -> None:
    """Measured alpha vs c of every available drafter (shipped runs + this session's)."""
    items = {}
    for label in state.labels():
        t = state.get(label)
        if t.config.target == TARGET and t.baseline.output_ids:
            items.setdefault(t.config.draft, []).append(t)
    if st.button("Measure each drafter now on the code-edit prompt", key="pf_go"):
        specs = ["layers:4", "layers:16", "lookup", *common.trained()]
        runs = {s: (common.run_prompts({s: [PROMPTS["code edit"]]}, s, 4, 40) or {}).get(s, []) for s in specs}
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
