"""The measured numbers the lessons' texts quote (`{{name}}` in their yaml), each by the one
definition of its metric: from the shipped traces, the shipped tree sweep and this machine's saved
measurements, never typed in. No Streamlit: a shipped trace is summarised once per file version."""
import functools
from pathlib import Path

from ..decoding.machine import saved_profile
from ..decoding.models import cpu_threads, draft_weights_digest, load_registry
from ..measure import metrics
from ..measure.tree_sweep import draft_note
from ..numbers import num, span
from ..services.store import shipped_sweep, shipped_traces
from ..trace import Trace

GAMMA = 4  # lesson 1: the draft length c is measured at, and whose verify pass (v(5)) the text discusses
EXAMPLE = "summarise · lookup · greedy"  # lesson 2's example run


@functools.lru_cache(maxsize=64)
def _summary(path: str, mtime: float) -> metrics.Summary:
    return metrics.summarize(Trace.load(path))


def shipped_summary(path: Path) -> metrics.Summary:
    """metrics.summarize of a shipped trace, computed once per version of its file."""
    return _summary(str(path), path.stat().st_mtime)


def shipped_summaries(substring: str) -> dict[str, metrics.Summary]:
    """label -> Summary of every shipped trace whose label contains substring."""
    return {label: shipped_summary(p) for label, p in shipped_traces().items() if substring in label}


def gammas(*substrings: str) -> str:
    """The γ (or γs: "1, 4") the shipped chains whose label contains every substring ran at."""
    found = sorted({x.gamma for label, x in shipped_summaries("").items()
                    if not x.tree and all(sub in label for sub in substrings)})
    return ", ".join(map(str, found)) or "n/a"


def machine() -> dict[str, str]:
    """What lesson texts quote of this machine: v(2) and v(5) of the tuned engine, and when."""
    reg = load_registry()
    default, pairs = reg.default_family()
    prof = saved_profile(reg.model(default.target), pairs, cpu_threads())
    if prof is None:
        return {"v_here": "nothing yet (this machine is measured by its first run, or in lesson 1)"}
    t = prof.table
    k = min(5, max(t.sizes))
    return {"v_here": f"v(2) = {t.v(min(2, k)):.2f} and v({k}) = {t.v(k):.2f} (timed {t.measured[:10]}, "
                      f"{t.fingerprint['threads']} thread{'s' * (t.fingerprint['threads'] != 1)})"}


def lesson1() -> dict[str, str]:
    """Measured numbers lesson 1's text quotes, from the shipped runs (each with the γ it ran at)."""
    c = lambda sub: span([x.cost_ratio for x in shipped_summaries(sub).values()])  # noqa: E731
    chains = [x for x in shipped_summaries("").values() if not x.tree]
    by_gamma = {g: [x.verify_cost for x in chains if x.gamma == g] for g in sorted({x.gamma for x in chains}, reverse=True)}
    return {"c_lookup": c("lookup"), "c_layers4": c("layers-4"), "c_trained": c("trained"),
            "gamma_lookup": gammas("lookup"), "gamma_layers4": gammas("layers-4"),
            "gamma_trained": gammas("trained"),
            "v_shipped": span(by_gamma.get(GAMMA, []), unit="×"),  # v(γ + 1) at the γ the text names
            "v_by_gamma": " and ".join(f"{span(v, unit='×')} at γ = {g} ({g + 1} tokens scored)"
                                       for g, v in by_gamma.items()) or "n/a"} | machine()


def lesson2() -> dict[str, str]:
    """Measured numbers lesson 2's text quotes, from the shipped runs."""
    early = shipped_summaries("layers-4").values()
    s = shipped_summaries(EXAMPLE).get(EXAMPLE)
    gamma = next(iter(early)).gamma if early else 4
    cost = [x.cost_ratio * x.gamma + x.verify_cost for x in early
            if x.cost_ratio is not None and x.verify_cost is not None]
    return {"alpha_layers4": span([x.alpha for x in early]),
            "c_layers4": span([x.cost_ratio for x in early]),
            "v_layers4": span([x.verify_cost for x in early]),
            "tau_layers4": span([x.mean_acceptance_length for x in early]),
            "speedup_layers4": span([x.speedup_measured for x in early], unit="×"),
            "round_cost_layers4": span(cost), "gamma_layers4": str(gamma),
            "alpha_example": num(s and s.alpha), "dar_example": num(s and s.draft_acceptance_rate),
            "tau_example": num(s and s.mean_acceptance_length)} | machine()


def lesson4() -> dict[str, str]:
    """Measured numbers lesson 4's text quotes, from the shipped runs."""
    alpha = lambda sub: span([x.alpha for x in shipped_summaries(sub).values()])  # noqa: E731
    c = lambda sub: span([x.cost_ratio for x in shipped_summaries(sub).values()])  # noqa: E731
    greedy = shipped_summaries("greedy")
    tau = lambda keep: span([x.mean_acceptance_length for label, x in greedy.items() if keep(label, x)])  # noqa: E731
    return {"alpha_layers4": alpha("layers-4"), "c_layers4": c("layers-4"), "c_lookup": c("lookup"),
            "alpha_lookup_chat": alpha("chat · lookup"), "alpha_lookup_edit": alpha("code-edit · lookup"),
            "alpha_lookup_summarise": alpha("summarise · lookup"), "alpha_trained": alpha("trained"),
            "c_trained": c("trained"),
            "tau_chain_trained": tau(lambda label, x: "trained" in label and not x.tree),
            "gamma_chain_trained": gammas("trained", "greedy"),
            "sweep_draft": sweep_note(),
            "tau_tree16": tau(lambda label, x: x.tree and "tree16" in label)}


def sweep_note() -> str:
    """Which draft and date the shipped sweep was measured with (from its JSON)."""
    shipped = shipped_sweep()
    return "n/a" if shipped is None else draft_note(shipped, draft_weights_digest)


FACTS = {"1_why_it_works": lesson1, "2_acceptance_rate": lesson2, "4_beyond_draft_models": lesson4}


def of(lesson: str) -> dict[str, str]:
    """Every fact a lesson's text quotes, by name ({} for a lesson that quotes none)."""
    return FACTS[lesson]() if lesson in FACTS else {}
