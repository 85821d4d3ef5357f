"""Run controls and live runs: a run decodes in a background thread and streams its rounds.

The page polls the job in a fragment, so the view updates while the model works and Cancel
stays clickable. Models are shared by every session of the server process (st.cache_resource);
decoding.record.run holds the model's lock, so concurrent runs queue up instead of clashing.
"""
import contextlib
import os
import sys
import threading
import time
from dataclasses import dataclass, field

import streamlit as st

from ..decoding.models import Registry, load_registry
from ..errors import SpecVizError, first_line
from ..measure.prompts import PROMPTS
from ..paths import MODELS_YAML
from ..present import round_view
from ..trace import Round, Trace
from . import state

DRAFTERS = ["layers:4", "layers:8", "layers:16", "lookup", "lookup:2"]
def registry() -> Registry:
    """models.yaml, parsed once per version of the file (every run of a page with the run
    controls reads it: in a class, every follower's too)."""
    path = os.environ.get("SPECVIZ_MODELS") or str(MODELS_YAML)
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError:
        return load_registry()  # says what is wrong in one line
    return _registry(path, mtime)


@st.cache_resource(max_entries=4, show_spinner=False)
def _registry(path: str, mtime: int) -> Registry:
    return load_registry(path)


MAX_NEW_TOKENS = 512  # record.MAX_NEW_TOKENS; the run checks it again (imported lazily: torch is slow)


@dataclass
class Job:
    settings: object  # a record.RunSettings, already resolved and checked
    rounds: list[Round] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    stop: bool = False
    trace: Trace | None = None
    error: str | None = None
    done: bool = False
    started: float = field(default_factory=time.monotonic)

    def add_round(self, rnd: Round) -> None:
        """Called by the run (in the worker thread) as each round finishes."""
        self.rounds.append(rnd)


@st.cache_resource(show_spinner=False)
def shared_model(name: str, device: str):
    """Load a target once per server process; every session shares it."""
    from ..decoding.record import load_target

    return load_target(name, device)


SWITCH_S = 0.0005  # GIL hand-over while a model is timed here (Python's default: 0.005)
_timed = {"jobs": 0, "interval": None}
_timed_lock = threading.Lock()


@contextlib.contextmanager
def timed_work():
    """While a model is timed in this server, threads hand the GIL over every 0.5 ms instead of
    every 5 ms. A forward releases the GIL at each of its ~500 ops; a page rerun's Python in
    another thread (this run's live view, other sessions) would otherwise keep it up to 5 ms at
    each of those hand-overs and inflate the measured passes (docs/performance.md: a busy
    thread with 0.2 s of Python every 0.5 s took a run from 1.17x to 0.97x; at 0.5 ms, 1.16x)."""
    with _timed_lock:
        if _timed["jobs"] == 0:
            _timed["interval"] = sys.getswitchinterval()
            sys.setswitchinterval(SWITCH_S)
        _timed["jobs"] += 1
    try:
        yield
    finally:
        with _timed_lock:
            _timed["jobs"] -= 1
            if _timed["jobs"] == 0:
                sys.setswitchinterval(_timed["interval"])


def _work(job: Job) -> None:
    """The background thread: load, decode, record; errors become one-line messages."""
    from ..decoding.models import use_cpu_threads
    from ..decoding.record import run

    s = job.settings
    try:
        use_cpu_threads()  # the cores the load leaves free: busy-machine runs stay on one thread
        job.messages.append("loading the model (about 1 s once converted; the first GGUF "
                            "load de-quantises for 15-30 s) ...")
        shared_model(s.target, s.device)
        with timed_work():
            job.trace = run(s, progress=job.messages.append, on_round=job.add_round,
                            should_stop=lambda: job.stop)
    except SpecVizError as e:
        job.error = str(e)
    except MemoryError:
        job.error = "out of memory: try fewer new tokens, a smaller γ or a smaller model"
    except Exception as e:  # noqa: BLE001 - the app shows every failure as one line, never a traceback
        first = first_line(e, 300)
        job.error = (f"out of memory: {first}" if "out of memory" in first.lower()
                     else f"the run failed: {type(e).__name__}: {first}")
    finally:
        job.done = True


def start(key: str, prompt: str, **settings) -> None:
    """Check settings (errors show at once, no model loaded) and start a background run."""
    from ..decoding.record import RunSettings

    try:
        s = RunSettings(prompt, **settings).resolved()
        s.check()
        registry().model(s.target)
    except SpecVizError as e:
        state.set_error(key, str(e))
        return
    job = Job(s)
    st.session_state[f"{key}_job"] = job
    state.clear_error(key)
    threading.Thread(target=_work, args=(job,), daemon=True, name="specviz-run").start()


def _drafters(pair_draft: str) -> list[str]:
    trained = [f"{kind}:{name}" for name in registry().trained for kind in ("trained", "hybrid")]
    return list(dict.fromkeys([pair_draft, *DRAFTERS, *trained]))


def _fill_prompt(key: str) -> None:
    example = st.session_state[f"{key}_example"]
    if example in PROMPTS:
        st.session_state[f"{key}_prompt"] = PROMPTS[example]


def controls(key: str) -> None:
    """The run form: pair, drafter, γ, sampling, seed, length, prompt, Run."""
    reg = registry()
    pairs = reg.pairs
    pair_key = st.selectbox(
        "model pair", list(pairs), index=list(pairs).index(reg.default_pair), key=f"{key}_pair",
        format_func=lambda k: k + ("" if pairs[k].offline else "  (needs internet)"),
        help="from models.yaml; only the offline pairs work without a network")
    pair = pairs[pair_key]
    if pair.alpha:
        st.caption(f"Leviathan's {pair.measured_line()}; γ is chosen from it with this machine's costs.")
    draft = st.selectbox("drafter", _drafters(pair.draft), key=f"{key}_draft_{pair_key}",
                         accept_new_options=True,
                         help="layers:K = the target's first K layers (early exit); lookup[:N] = "
                              "prompt lookup; trained:NAME = a draft trained on the target; "
                              "hybrid:NAME = prompt lookup where the text repeats, else trained:NAME; "
                              "or type a models.yaml key / hub id of a draft model")
    measured = bool(pair.alpha) and draft == pair.draft
    auto = st.toggle("γ by measurement", value=measured, key=f"{key}_auto_{pair_key}_{draft}",
                     disabled=not measured,
                     help="picks the γ (or, for a drafter that branches, a token tree) with the highest "
                          "expected speedup E[τ] / (γc + v(γ+1)) from this pair's measured α and what "
                          "a drafted token (c) and a target pass over k tokens (v) cost on this machine "
                          "(measured once per machine, then kept)" if measured else
                          "needs a pair with a measured α in models.yaml (its own drafter)")
    gamma = st.slider("γ (tokens drafted per round)", 1, 16, pair.gamma, key=f"{key}_gamma",
                      disabled=auto and measured)
    if auto and measured and st.session_state.get(f"{key}_gamma_reason"):
        st.caption(f"Last run: {st.session_state[f'{key}_gamma_reason']}")
    tree = st.select_slider("token tree (nodes per round; 0 = a chain of γ)", [0, 8, 16, 32, 64], 0,
                            key=f"{key}_tree",
                            help="draft a tree of up to N nodes (EAGLE-2's dynamic tree: top-8 children, "
                                 "depth 6) and score all of it in one target pass; drafters that can branch: "
                                 "trained drafts, layers:K and draft models (not prompt lookup)")
    temperature = st.slider("temperature (0 = greedy)", 0.0, 2.0, 0.0, 0.1, key=f"{key}_temp")
    top_p = st.slider("top-p", 0.05, 1.0, 1.0, 0.05, key=f"{key}_top_p",
                      disabled=temperature == 0)
    a, b = st.columns(2)
    seed = a.number_input("seed", 0, 2**31 - 1, 0, key=f"{key}_seed")
    max_new = b.number_input("max new tokens", 1, MAX_NEW_TOKENS, 48, key=f"{key}_max_new")
    st.selectbox("example prompt", [*PROMPTS, "(your own)"], key=f"{key}_example",
                 on_change=_fill_prompt, args=(key,))
    if f"{key}_prompt" not in st.session_state:
        st.session_state[f"{key}_prompt"] = PROMPTS["chat"]
    prompt = st.text_area("prompt", key=f"{key}_prompt", height=120)
    job = st.session_state.get(f"{key}_job")
    busy = job is not None and not job.done
    if st.button("Run on the real model", type="primary", key=f"{key}_run", disabled=busy,
                 width="stretch"):
        start(key, prompt, target=pair.target, draft=draft,
              gamma="auto" if auto and measured else int(gamma), tree=int(tree),
              temperature=float(temperature), top_p=float(top_p), seed=int(seed),
              max_new_tokens=int(max_new))
        st.rerun()


def collect(key: str) -> None:
    """Take in a finished job (call before the trace picker is drawn)."""
    job: Job | None = st.session_state.get(f"{key}_job")
    if job is not None and job.done:
        _finish(key, job)


def live(key: str) -> None:
    """The running job, polled every half second."""
    job: Job | None = st.session_state.get(f"{key}_job")
    if job is not None and not job.done:
        st.fragment(run_every=0.5)(_live_body)(key, job)


def _live_body(key: str, job: Job) -> None:
    if job.done:
        st.rerun()  # the result replaces the live view
    s = job.settings
    tokens = sum(r.n_new for r in job.rounds)
    with st.container(border=True):
        shape = f"a tree of {s.tree} nodes" if s.tree else f"γ = {s.gamma}"
        st.markdown(f"#### Live run · {s.target} · draft {s.draft} · {shape}")
        st.progress(min(tokens / s.max_new_tokens, 1.0),
                    text=f"{len(job.rounds)} round{'s' * (len(job.rounds) != 1)} · {tokens} of {s.max_new_tokens} tokens · "
                         f"{time.monotonic() - job.started:.0f} s · {job.messages[-1] if job.messages else ''}")
        if job.rounds:
            st.html(round_view.rounds_strip_html(job.rounds))
        st.button("Cancel", key=f"{key}_cancel", on_click=setattr, args=(job, "stop", True),
                  disabled=job.stop)


def _finish(key: str, job: Job) -> None:
    """Show the finished run as the current trace, or its error above the old one."""
    del st.session_state[f"{key}_job"]
    reason = next((m.removeprefix("auto ") for m in job.messages if m.startswith(("auto γ = ", "auto a token tree"))), None)
    if reason:
        st.session_state[f"{key}_gamma_reason"] = reason
    if job.error:
        state.set_error(key, job.error)
        return
    t = job.trace
    prompt = " ".join(t.prompt.split())
    shape = f"tree={t.config.tree_nodes}" if t.config.tree_nodes else f"γ={t.config.gamma}"
    label = f"live: {t.config.draft}, {shape}, T={t.config.temperature:g} · {prompt[:30]}"
    if t.stop_reason.startswith("error"):  # e.g. out of memory mid-run: keep the good trace up
        label = state.add(key, label, t, show=False)
        reason = t.stop_reason.removeprefix("error: ")
        n = len(t.rounds)
        state.set_error(key, f"The run failed after {n} round{'s' * (n != 1)}: {reason}. Its rounds are "
                             f"kept as “{label}” in the trace list; the trace on screen was kept.")
        return
    state.add(key, label, t)
