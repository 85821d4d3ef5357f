"""Lesson 5's instruments: the workload inputs and the decision brief."""
import streamlit as st

from ...decoding.models import load_registry
from ...measure.prompts import PROMPTS
from ...present.brief import brief_markdown
from .. import lesson, urlstate
from ..run import shared_model
from . import common
from .common import WORKLOADS, verify_costs


SOURCES = ["shipped example runs (instant)", "measure my workload now"]


def address() -> dict:
    """The settings a link to this lesson keeps: the evidence, pair, γ, length and repeats."""
    reg = load_registry()
    pairs = _pairs(reg)
    return {"evidence": ("br_source", urlstate.Choice("evidence", SOURCES[0], SOURCES)),
            "pair": ("br_pair", urlstate.Choice("pair", pairs[0], pairs)),
            "gamma": ("br_gamma", urlstate.Int("gamma", reg.pairs[pairs[0]].gamma, 1, 16)),
            "tokens": ("br_max", urlstate.Int("tokens", 40, 8, 256)),
            "repeats": ("br_repeats", urlstate.Int("repeats", 3, 1, 9))}


def _pairs(reg) -> list[str]:
    """models.yaml's pairs, the ones that run offline first."""
    return [k for k, p in reg.pairs.items() if p.offline] + [k for k, p in reg.pairs.items() if not p.offline]


def brief_inputs() -> None:
    """Workload prompts (separated by lines of ---), pair, gamma; measure or use shipped runs."""
    source = st.radio("evidence", SOURCES, horizontal=True, key="br_source")
    if source.startswith("shipped"):
        st.session_state["sv_brief_runs"] = {w: [t] for w, t in common.workload_traces().items()}
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
    pairs = _pairs(reg)
    a, b, c, d, e = st.columns([3, 3, 1, 2, 2], vertical_alignment="bottom")
    pair_key = a.selectbox("model pair (models.yaml)", pairs, key="br_pair",
                           format_func=lambda k: k + ("" if reg.pairs[k].offline else "  (needs internet)"))
    pair = reg.pairs[pair_key]
    draft = b.selectbox("drafter", list(dict.fromkeys([*common.trained(), pair.draft, "lookup", "layers:4"])),
                        key=f"br_draft_{pair_key}")
    gamma = c.number_input("γ", 1, 16, pair.gamma, key="br_gamma")
    max_new = d.number_input("new tokens per prompt", 8, 256, 40, key="br_max")
    repeats = e.number_input("repeats", 1, 9, 3, key="br_repeats",
                             help="each prompt is measured this many times, plain and speculative back to "
                                  "back with their order alternating; the brief reports the median and "
                                  "the spread, and says when the spread is too wide to decide")
    st.text_input("hardware / deployment notes for the brief (optional)", key="br_notes",
                  placeholder="e.g. production: 1× L4 GPU, vLLM, 20 concurrent requests")
    if st.button("Measure and write the brief", type="primary", key="br_go"):
        runs = common.run_prompts({w: ps for w, ps in groups.items() if ps}, draft, int(gamma), int(max_new),
                                  target=pair.target, repeats=int(repeats))
        if runs:
            from ...measure.costs import draft_memory
            from ...decoding.drafters import build_drafter

            target = shared_model(pair.target, "auto")
            st.session_state["sv_brief_runs"] = runs
            st.session_state["sv_brief_memory"] = common.errors(
                lambda: draft_memory(target.model, build_drafter(draft, target)))


def brief() -> None:
    """The markdown brief, shown and downloadable; it also goes into the workshop pack."""
    runs = st.session_state.get("sv_brief_runs")
    if not runs:
        st.info("Choose the evidence above first.")
        return
    first = next(t for ts in runs.values() for t in ts)
    cost = _pass_cost(first.config.gamma)
    md = brief_markdown(runs, f"speculative decoding for {first.config.target}",
                        st.session_state.get("sv_brief_memory"), cost,
                        st.session_state.get("br_notes", ""))
    production = st.session_state.get("sv_production_section")
    if production and st.checkbox("Add the production section from the Your server page's last reading",
                                  value=True, key="br_production"):
        md = md.rstrip() + "\n\n" + production
    elif not production:
        st.caption("Read a vLLM, SGLang or TGI server's metrics on the Your server page to add a "
                   "production section to this brief.")
    lesson.texts("5_decision_brief")["decision_brief.md"] = md
    for w, ts in runs.items():
        for i, t in enumerate(ts):
            lesson.keep_trace("5_decision_brief", f"{w}-{i + 1}", t)
    # no rerun on download (as every download here): a rerun renews the workshop pack's file id,
    # and a pack clicked while the page reran asked for the forgotten one (workshop.pack_button)
    st.download_button("Download the brief (markdown)", md, file_name="decision_brief.md",
                       mime="text/markdown", key="br_download", type="primary", on_click="ignore")
    # the evidence table has a column per metric: let it scroll sideways instead of spilling out
    st.html("<style>.st-key-sv-brief table{display:block;overflow-x:auto;font-size:.85rem}</style>")
    with st.container(border=True, key="sv-brief"):  # headings two levels down: it sits inside a lesson
        st.markdown(md.replace("\n## ", "\n#### ").replace("# Decision brief", "### Decision brief", 1))


def _pass_cost(gamma: int) -> dict | None:
    """Lesson 1's measured pass costs for the brief's setup line (measured points, not the fit):
    the extra cost per scored token over a γ-token verify pass, (v(γ + 1) − 1) ÷ γ."""
    d, v = st.session_state.get("sv_cost"), verify_costs()
    if not d or gamma + 1 > len(d["seconds"]):
        return None
    return {"one_token_ms": 1000 * d["seconds"][0], "slope_fraction": (v(gamma + 1) - 1) / gamma}
