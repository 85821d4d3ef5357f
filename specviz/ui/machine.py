"""This machine: what a plain step and a verify pass cost here, each drafter's c, and the γ
the default pair gets — read from the cache without loading a model; measured on demand."""
import streamlit as st

from ..decoding import kerneltable, machine
from ..decoding.models import cpu_threads
from ..present.charts import lessons
from . import projector, run
from .instruments.common import PLOTLY, errors

TEMPERATURES = (0.0, 0.7)  # the two the pairs' α was measured at


def panel(key: str) -> None:
    """The machine's numbers (plain step, v(k) of the chosen kernels beside the stock forward,
    c per drafter, the default pair's γ and expected speedup, when measured) and a button
    that measures them again (in a container keyed sv_machine_<key>)."""
    with st.container(key=f"sv_machine_{key}"):
        _panel(key)


def _panel(key: str) -> None:
    reg = run.registry()
    default, pairs = reg.default_family()
    threads = cpu_threads()
    profiles = machine.saved_profiles(reg.model(default.target), pairs, threads, TEMPERATURES)
    prof = profiles.get(0.0)
    measure = st.button("Measure this machine again" if prof else "Measure this machine (about 30 s)",
                        key=f"{key}_machine_go", help="times the kernels for passes of 1-9 tokens, "
                        "transformers' own forward beside them, and each offline pair's draft cost c; "
                        "the results are kept for every page and run on this machine")
    if measure:
        prof = _measure(default, pairs, retune=prof is not None)
        profiles = machine.saved_profiles(reg.model(default.target), pairs, threads, TEMPERATURES)
    if prof is None:
        st.info(f"Not measured on this machine yet ({threads} CPU thread{'s' * (threads != 1)}). "
                "The first run on the real model measures it (a few seconds), or press the button.")
        return
    _show(prof, profiles, default.key)


def _measure(default, pairs, retune: bool):
    from ..decoding.drafters import build_drafter  # noqa: PLC0415 - imports torch: only when asked

    def go():
        target = run.shared_model(default.target, "auto")
        with target.lock, st.status("measuring this machine ...", expanded=True) as status:
            prof = machine.profile(target, pairs, build_drafter, 0.0, compare=True, retune=retune,
                                   progress=status.write)
            status.update(label="measured", state="complete", expanded=False)
        return prof
    return errors(go)


def _show(prof: machine.Profile, profiles: dict, default: str) -> None:
    t = prof.table
    m = st.columns(4)
    m[0].metric("plain step", f"{1000 * t.step_s:.1f} ms", border=True,
                help=f"one token through the tuned kernels ({t.describe(1)}): the baseline every speedup divides")
    for col, k in zip(m[1:3], (min(2, max(t.sizes)), min(5, max(t.sizes)))):
        col.metric(f"verify pass v({k})", f"{t.v(k):.2f}×", border=True,
                   help=f"{k} tokens in one pass ÷ a plain step ({t.describe(k)})")
    choice = profiles[0.0].choices.get(default) if 0.0 in profiles else None
    if choice:
        shape = f"tree of {choice.tree.nodes}" if choice.tree else f"γ = {choice.gamma}"
        m[3].metric("chosen γ", shape, f"expected {choice.speedup:.2f}×", border=True,
                    delta_color="normal" if choice.speedup > 1 else "inverse",
                    help=f"for the default pair {default} at T = 0: the draft length with the highest "
                         "expected speedup E[τ] / (γc + v(γ+1)) from the pair's measured α, this "
                         "machine's c and v(k)")
    st.plotly_chart(projector.scaled(lessons.machine_costs(t)), config=PLOTLY, key=f"machine_chart_{id(t)}")
    fp = t.fingerprint
    st.caption(f"{fp['cpu']}, {fp['threads']} thread{'s' * (fp['threads'] != 1)}, torch {fp['torch']}; "
               f"kernels timed {t.measured} in {t.tune_s:.1f} s (load average {t.load or 0:.1f}), "
               f"each candidate's fastest of {t.repeats} interleaved sweeps (other work only adds time). "
               f"Chosen per pass size: {_kernels(t)}.")
    rows = [{"drafter": spec, "c here": round(cost.c, 3), "measured": cost.measured}
            for spec, cost in prof.costs.items()]
    if rows:
        st.dataframe(rows, hide_index=True)
    for temp, p in profiles.items():
        for key, ch in p.choices.items():
            st.markdown(f"- **{key}** at T = {temp:g}: {ch.reason()}")


def _kernels(t) -> str:
    return kerneltable.summary(t).split("; ", 1)[1]  # the CLI's words, without the plain step
