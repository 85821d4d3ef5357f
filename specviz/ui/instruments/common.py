"""What the lesson instruments share: the target, drafter lists, shipped traces, errors, runs.

Every number an instrument shows comes from a real run on this machine (the session's own
measurements or the shipped example traces) or is labelled theory / estimate / published.
Nothing here imports torch: a lesson page loads without it, and a measurement imports it.
"""

import streamlit as st

from ...decoding.models import load_registry
from ...errors import SpecVizError, first_line
from ...lessons.facts import shipped_summary
from ...measure import metrics
from ...measure.costcurve import CostCurve
from ...measure.repeats import measure_prompts
from ...services.store import shipped_traces
from ...trace import Trace
from .. import lesson, state, views
from ..run import shared_model, timed_work

TARGET = "smollm2-135m-instruct"
PLOTLY = views.PLOTLY
WORKLOADS = {"chat": "chat", "summarise / rewrite": "summarise", "code edit": "code edit"}


def target():
    with st.spinner("loading the target model (about 1 s once converted) ..."):
        return shared_model(TARGET, "auto")


def trained() -> list[str]:
    return [f"trained:{name}" for name in load_registry().trained]


def shipped(substring: str, fallback: str | None = None) -> Trace | None:
    """The first trace whose label contains substring (else fallback), or None."""
    for sub in (substring, fallback):
        label = state.default_label(sub) if sub else None
        if label and sub in label:
            return state.get(label)
    return None


def errors(fn):
    """Run an instrument action (its timings fairly: run.timed_work); a user error becomes one
    st.error line, never a traceback."""
    try:
        with timed_work():
            return fn()
    except SpecVizError as e:
        st.error(str(e))
    except (RuntimeError, MemoryError) as e:
        st.error(f"the measurement failed: {first_line(e, 300)}")
    return None


def cost_of_pass() -> CostCurve | None:
    """This session's measured cost curve (lesson 1), or None."""
    d = st.session_state.get("sv_cost")
    return CostCurve.from_dict(d) if d else None




def verify_costs():
    """k -> v(k), the measured cost of a k-token pass ÷ a 1-token pass from lesson 1's curve
    (measured points; past the last measured size, the last point's slope carries on), or None."""
    d = st.session_state.get("sv_cost")
    if not d:
        return None
    s = d["seconds"]
    v = [x / s[0] for x in s]
    step = v[-1] - v[-2] if len(v) > 1 else 0.0

    def cost(k: int) -> float:
        return v[k - 1] if k <= len(v) else v[-1] + step * (k - len(v))
    return cost


# ---------------------------------------------------------------- summaries of shipped traces

def summary(label: str, trace: Trace) -> metrics.Summary:
    """metrics.summarize, computed once per process for a shipped trace."""
    path = shipped_traces().get(label)
    if path is not None and label not in state.library():
        return shipped_summary(path)
    return metrics.summarize(trace)


def workload_traces() -> dict[str, Trace]:
    """Session measurements if any, else the shipped lookup runs, one per workload."""
    live = st.session_state.get("sv_workload_traces")
    if live:
        return live
    found = {w: shipped(f"{kind.replace(' ', '-')} · lookup · greedy") for w, kind in WORKLOADS.items()}
    return {w: t for w, t in found.items() if t is not None}


def run_prompts(groups: dict[str, list[str]], draft: str, gamma: int, max_new: int, temperature: float = 0.0,
                target: str = TARGET, repeats: int = 1) -> dict[str, list[Trace]] | None:
    """Run every prompt of every group `repeats` times (speculative + plain baseline, interleaved:
    repeats.measure_prompts) with a progress bar on the real model."""
    bar = st.progress(0.0, text="loading the model ...")
    try:
        with st.spinner(f"loading {target} ..."):
            shared_model(target, "auto")
        return measure_prompts(groups, draft, gamma, max_new, repeats, target, temperature, seed=lesson.seed(),
                               progress=lambda done, total, what: bar.progress(done / total, text=what))
    except SpecVizError as e:
        st.error(str(e))
        return None
    finally:
        bar.empty()
