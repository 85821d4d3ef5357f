"""Bounded load test: N browser-free sessions of the Step through page at once, in one process.

Each session is a streamlit AppTest (the real page script, its own session state) in its own
thread, as the server runs each browser session's script in its own thread. Most sessions step
through a different shipped trace (Next, Next, ...) and check that every round heading is the
one their own clicks should give; `--live` of them also run the real model (sampled, each with
its own seed) while the others step, sharing the one cached model. Afterwards each live trace is
re-run sequentially with the same settings and must be identical (timings aside).

    python scripts/load_test.py --sessions 10 --live 2 --steps 25 --max-seconds 180

Prints p50/p95 of the step latency (one click -> page re-rendered) and every error; exits 1 on
any error. Localhost only, nothing is sent anywhere.
"""
import argparse
import os
import statistics
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_CACHE", str(ROOT.parent / "shared" / "hf-cache"))
STEP = str(ROOT / "pages" / "1_Step_through.py")


@dataclass
class Session:
    name: str
    label: str  # the trace this session shows (its own pick, or its live run's label)
    latencies: list[float] = field(default_factory=list)  # seconds per step (click -> rendered)
    errors: list[str] = field(default_factory=list)
    live: object = None  # the Trace of a live run
    seed: int | None = None


def _expected_headings(trace, steps: int) -> list[str]:
    """The round heading after each Next click, from the trace alone (no app state)."""
    from specviz.present import round_view

    n, rnd, stage, out = len(trace.rounds), round_view.opening_round(trace), 0, []
    for _ in range(steps):
        last = round_view.n_stages(trace.rounds[rnd]) - 1
        if stage < last:
            stage += 1
        elif rnd < n - 1:
            rnd, stage = rnd + 1, 0
        out.append(f"#### Round {rnd + 1} of {n} · step {stage + 1} of "
                   f"{round_view.n_stages(trace.rounds[rnd])}")
    return out


def _heading(at) -> str:
    return next((m.value for m in at.markdown if m.value.startswith("#### Round ")), "")


def _check(at, s: Session, where: str) -> None:
    if at.exception:
        s.errors.append(f"{s.name} {where}: exception {at.exception[0].value}")
    for e in at.error:
        s.errors.append(f"{s.name} {where}: st.error {e.value}")


def _timed_run(at, s: Session) -> None:
    t0 = time.perf_counter()
    at.run()
    s.latencies.append(time.perf_counter() - t0)


def stepping(s: Session, steps: int, deadline: float) -> None:
    """Pick this session's trace, then click Next `steps` times, checking every heading."""
    from streamlit.testing.v1 import AppTest

    from specviz.trace import Trace
    from specviz.services.store import shipped_traces

    trace = Trace.load(str(shipped_traces()[s.label]))
    expected = _expected_headings(trace, steps)
    at = AppTest.from_file(STEP, default_timeout=120).run()
    at.selectbox(key="step_pick").set_value(s.label).run()
    _check(at, s, "start")
    for i, want in enumerate(expected):
        if time.monotonic() > deadline:
            break
        at.button(key="step_next").click()
        _timed_run(at, s)
        _check(at, s, f"step {i + 1}")
        got = _heading(at)
        if got != want or at.session_state["step_current"] != s.label:
            s.errors.append(f"{s.name} step {i + 1}: shows {got!r} of "
                            f"{at.session_state['step_current']!r}, expected {want!r} of {s.label!r}")
            break
    if any(label.startswith("live: ") for label in at.session_state["sv_library"]):
        s.errors.append(f"{s.name}: another session's live run leaked into this session's library")


def live(s: Session, max_new: int, temperature: float, deadline: float) -> None:
    """Run the real model from the page (sampled, own seed) and keep the finished trace."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(STEP, default_timeout=120).run()
    at.slider(key="step_temp").set_value(temperature).run()
    at.number_input(key="step_seed").set_value(s.seed).run()
    at.number_input(key="step_max_new").set_value(max_new).run()
    at.button(key="step_run").click().run()
    while "step_job" in at.session_state and time.monotonic() < deadline:
        time.sleep(0.3)
        _timed_run(at, s)  # a live session's page refresh counts as a step too
        _check(at, s, "live run")
    if "step_job" in at.session_state:
        s.errors.append(f"{s.name}: the live run did not finish before the time limit")
        return
    _check(at, s, "live done")
    s.label = at.session_state["step_current"]
    s.live = at.session_state["sv_library"].get(s.label)
    if s.live is None or s.live.config.seed != s.seed:
        s.errors.append(f"{s.name}: live trace missing or with another session's seed")


def sequential_rerun(trace):
    """The same settings run again on their own (no other session busy)."""
    from specviz.decoding.record import RunSettings, run

    c = trace.config
    return run(RunSettings(trace.prompt, c.target, c.draft, c.gamma, c.temperature, c.top_k, c.top_p,
                           c.seed, c.max_new_tokens, c.device, raw=not c.chat))


@contextmanager
def shared_runtime():
    """AppTest swaps a mock Runtime into a process-wide singleton for each run and sets it back to
    None after, so concurrent AppTests pull it from under each other ("Runtime hasn't been
    created"); likewise its global.appTest config flag. The real server has one Runtime for all
    sessions; so does this, while it lasts. (Harness only: the app itself is not patched.)"""
    from streamlit.runtime.runtime import Runtime
    from streamlit.testing.v1.util import patch_config_options

    seen, instance, exists = [], Runtime.__dict__["instance"], Runtime.__dict__["exists"]

    def one(cls):
        if cls._instance is not None:
            seen[:] = [cls._instance]
        return cls._instance if cls._instance is not None else seen[0]

    Runtime.instance = classmethod(one)
    Runtime.exists = classmethod(lambda cls: cls._instance is not None or bool(seen))
    try:
        with patch_config_options({"global.appTest": True}):
            yield
    finally:
        Runtime.instance, Runtime.exists = instance, exists


def load_test(sessions: int = 10, live_sessions: int = 2, steps: int = 25, max_new: int = 10,
              temperature: float = 0.8, max_seconds: float = 180, rerun: bool = True) -> dict:
    """Run the sessions at once; return latencies, errors and the live/sequential comparison."""
    import torch

    threads_before = torch.get_num_threads()
    torch.set_num_threads(1)  # two shared cores: one torch thread per run
    try:
        return _load_test(sessions, live_sessions, steps, max_new, temperature, max_seconds, rerun)
    finally:
        torch.set_num_threads(threads_before)


def _load_test(sessions, live_sessions, steps, max_new, temperature, max_seconds, rerun) -> dict:
    from specviz.trace import without_timings
    from specviz.services.store import shipped_traces

    labels = list(shipped_traces())
    deadline = time.monotonic() + max_seconds
    all_sessions, threads = [], []
    for i in range(sessions):
        if i < live_sessions:
            s = Session(f"live-{i}", "", seed=1000 + 17 * i)
            target = (live, (s, max_new, temperature, deadline))
        else:
            s = Session(f"step-{i}", labels[i % len(labels)])
            target = (stepping, (s, steps, deadline))
        all_sessions.append(s)
        threads.append(threading.Thread(target=_guard, args=(s, *target), name=f"session-{i}"))
    start = time.monotonic()
    with shared_runtime():
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(1.0, deadline - time.monotonic() + 30))
    wall = time.monotonic() - start
    errors = [e for s in all_sessions for e in s.errors]
    errors += [f"{t.name}: still running at the time limit" for t in threads if t.is_alive()]
    same = []
    if rerun:
        for s in all_sessions:
            if s.live is not None:
                again = sequential_rerun(s.live)
                same.append(without_timings(again) == without_timings(s.live))
                if not same[-1]:
                    errors.append(f"{s.name}: the concurrent run differs from the same run alone")
    lat = sorted(x for s in all_sessions for x in s.latencies)
    return {"sessions": sessions, "live": live_sessions, "wall_s": wall, "steps": len(lat),
            "p50_ms": 1000 * statistics.median(lat) if lat else None,
            "p95_ms": 1000 * lat[min(len(lat) - 1, int(0.95 * len(lat)))] if lat else None,
            "max_ms": 1000 * lat[-1] if lat else None, "errors": errors,
            "live_traces": [s.live for s in all_sessions if s.live is not None],
            "live_equals_sequential": same}


def _guard(s: Session, fn, args) -> None:
    try:
        fn(*args)
    except Exception as e:  # noqa: BLE001 - a crashed session is an error to report, not a crash
        s.errors.append(f"{s.name}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sessions", type=int, default=10)
    p.add_argument("--live", type=int, default=2, help="sessions that also run the real model")
    p.add_argument("--steps", type=int, default=25, help="Next clicks per stepping session")
    p.add_argument("--max-new-tokens", type=int, default=10)
    p.add_argument("--max-seconds", type=float, default=180, help="stop stepping after this")
    a = p.parse_args()
    from streamlit.runtime.scriptrunner_utils import script_run_context  # noqa: F401 - quiet logs
    import logging

    logging.getLogger("streamlit").setLevel(logging.ERROR)
    r = load_test(a.sessions, a.live, a.steps, a.max_new_tokens, max_seconds=a.max_seconds)
    print(f"{r['sessions']} sessions ({r['live']} running the real model) · {r['steps']} steps in "
          f"{r['wall_s']:.1f} s · step latency p50 {r['p50_ms']:.0f} ms, p95 {r['p95_ms']:.0f} ms, "
          f"max {r['max_ms']:.0f} ms · live runs identical to sequential re-runs: "
          f"{r['live_equals_sequential']} · errors: {len(r['errors'])}")
    for e in r["errors"]:
        print(f"  error: {e}")
    return 1 if r["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
