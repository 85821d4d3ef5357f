"""What the lesson instruments share: the target, drafter lists, shipped traces, errors, runs.

Every number an instrument shows comes from a real run on this machine (the session's own
measurements or the shipped example traces) or is labelled theory / estimate / published.
"""
import streamlit as st

from ...costs import CostCurve
from ...errors import SpecVizError, first_line
from ...models import load_registry
from ...trace import Trace
from .. import lesson, state, views
from ..run import shared_model

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
    """Run an instrument action; a user error becomes one st.error line, never a traceback."""
    try:
        return fn()
    except SpecVizError as e:
        st.error(str(e))
    except (RuntimeError, MemoryError) as e:
        st.error(f"the measurement failed: {first_line(e, 300)}")
    return None




def cost_of_pass() -> CostCurve | None:
    d = st.session_state.get("sv_cost")
    return CostCurve.from_dict(d) if d else None



def workload_traces() -> dict[str, Trace]:
    """Session measurements if any, else the shipped lookup runs, one per workload."""
    live = st.session_state.get("sv_workload_traces")
    if live:
        return live
    found = {w: shipped(f"{kind.replace(' ', '-')} · lookup · greedy") for w, kind in WORKLOADS.items()}
    return {w: t for w, t in found.items() if t is not None}



def run_prompts(groups: dict[str, list[str]], draft: str, gamma: int, max_new: int,
                 temperature: float = 0.0, target: str = TARGET) -> dict[str, list[Trace]] | None:
    """Run every prompt of every group (speculative + plain baseline) with a progress bar."""
    from ...runner import RunSettings, run

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

