"""Server-side time of one player step (no model runs when stepping through a trace).

    python scripts/bench_step.py [--steps 60] [--trace SUBSTRING ...]

Three measurements on the shipped example traces (2 and 3 on a chain trace and a token-tree
trace by default, side by side; --trace picks others by a part of their label):
  1. the pure parts of a step (round cards, token strip, the eight plotly figures and their
     JSON) per step, rebuilt every time (the app memoises figures per trace and round);
  2. the player alone rerun after clicking Next under streamlit's AppTest: what a real step
     re-runs (the player is a fragment), with the app's figure memo; and
  3. a whole Step-through page rerun after clicking Next (header, cards and sidebar too: an
     upper bound on the server time of a real step).
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from specviz.measure import metrics  # noqa: E402
from specviz.present import round_view
from specviz.present.charts import run
from specviz.services.store import shipped_traces  # noqa: E402
from specviz.trace import Trace  # noqa: E402


def pure_step(trace: Trace, rnd: int, stage: int) -> None:
    """Everything the player computes for one step, down to the JSON sent to the browser."""
    done = rnd + 1
    round_view.round_html(trace, rnd, stage)
    round_view.strip_html(trace, done)
    figs = [run.speedup(trace, done), run.time_chart(trace, done), run.tokens_per_pass(trace, done),
            run.running_alpha(trace, done), run.position_acceptance(trace, done)]
    gap = metrics.trace_gap(trace)
    if gap is not None:
        figs.append(run.gap(gap))
    if trace.rounds[rnd].draft:
        d = trace.rounds[rnd].draft[0]
        figs += [run.anatomy(d, trace.config.temperature == 0), run.accept_test(d)]
    for f in figs:
        f.to_json()


def summary(name: str, ms: list[float]) -> None:
    ms = sorted(ms)
    print(f"{name:<44} median {statistics.median(ms):6.1f} ms   p90 {ms[int(0.9 * (len(ms) - 1))]:6.1f} ms"
          f"   max {ms[-1]:6.1f} ms   ({len(ms)} steps)")


def bench_pure(steps: int) -> None:
    for label, path in shipped_traces().items():
        trace = Trace.load(str(path))
        ms = []
        for i in range(steps):
            rnd = i % len(trace.rounds)
            t0 = time.perf_counter()
            pure_step(trace, rnd, round_view.n_stages(trace.rounds[rnd]) - 1)
            ms.append((time.perf_counter() - t0) * 1e3)
        summary(f"pure step · {label}", ms)


def _label(part: str) -> str:
    return next(label for label in shipped_traces() if part in label)


def _time_next(at, steps: int, what: str) -> None:
    """Median/p90 of clicking Next `steps` times on a page already run (wrapping at the end)."""
    ms = []
    for _ in range(steps):
        if at.session_state["step_round"] == len(at.slider(key="step_slider").options) - 1:
            at.button(key="step_first").click().run()
        t0 = time.perf_counter()
        at.button(key="step_next").click().run()
        ms.append((time.perf_counter() - t0) * 1e3)
        assert not at.exception, at.exception
    summary(f"{what} · {at.session_state['step_current']}", ms)


def bench_apptest(steps: int, label: str) -> None:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages" / "1_Step_through.py"), default_timeout=120)
    at.query_params = {"trace": shipped_traces()[label].stem}  # the page opens the trace its address names
    at.run()
    _time_next(at, steps, "AppTest page rerun after Next")


def _player_page() -> None:
    """The player as the Step-through page draws it, without the page around it."""
    from specviz.ui import page, player, state

    page.setup("bench", "bench")
    label, trace = state.current("step", preferred="summarise · lookup · greedy")
    player.player(trace, "step", label)


def bench_player(steps: int, label: str) -> None:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_player_page, default_timeout=120)
    at.session_state["step_current"] = label
    at.run()
    _time_next(at, steps, "AppTest player rerun after Next")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--trace", action="append", default=None,
                        help="part of a shipped trace's label (repeatable; default: a chain and a tree)")
    args = parser.parse_args()
    bench_pure(args.steps)
    labels = [_label(part) for part in args.trace or ["summarise · lookup · greedy", "tree"]]
    for label in labels:  # interleaved: a chain's step beside a tree's on the same machine state
        bench_player(args.steps, label)
    for label in labels:
        bench_apptest(args.steps, label)


if __name__ == "__main__":
    main()
