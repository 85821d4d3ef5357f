"""The one way SpecViz measures a speedup on a shared, noisy machine: every job repeated with
plain and speculative decoding interleaved, and one named rule that pools the runs into a speedup.

interleaved() runs the jobs: repeat r walks the groups in order, each group's jobs rotated by r (so
no job always goes first), and odd repeats time plain decoding before the speculative run, so a
load change hits every job and both methods alike. The brief, the tree sweep, the lessons' runs,
distill's evaluation and bench all measure with it; measure_prompts() is it for prompts given as
text (it returns traces).

RULE pools runs into a speedup: speedup() applies it to traces, bench applies repeat_speedup() to
its own timings, and pooled_summary() reports it beside every other metric of the pooled runs.
"""
import statistics
from dataclasses import dataclass
from typing import Callable, Iterable, TypeVar

from ..trace import Trace
from . import metrics

RULE = ("the speedup of a repeat is plain decoding's time for the tokens the speculative runs of that repeat "
        "produced ÷ their speculative time, all its prompts together; reported: the median over repeats, "
        "with the lowest and highest repeat as the spread")

Job, Result = TypeVar("Job"), TypeVar("Result")


def plain_first(repeat: int) -> bool:
    """Whether plain decoding is timed before the speculative run in this repeat (every other one)."""
    return repeat % 2 == 1


def interleaved(groups: list[list[Job]], repeats: int, run: Callable[[Job, int], Result],
                progress: Callable[[int, int, Job, int], None] = lambda done, total, job, r: None,
                should_stop: Callable[[], bool] = lambda: False) -> list[tuple[Job, int, Result]]:
    """Every job of every group `repeats` times: repeat r walks the groups in order, each group's jobs
    rotated by r, calling run(job, r). progress(done, total, job, r) comes before each run;
    should_stop() ends early (what ran is kept). Returns (job, repeat, result) in run order."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    order = [(r, job) for r in range(repeats) for group in groups if group
             for job in group[r % len(group):] + group[:r % len(group)]]
    out = []
    for done, (r, job) in enumerate(order):
        if should_stop():
            break
        progress(done, len(order), job, r)
        out.append((job, r, run(job, r)))
    return out


def measure_prompts(groups: dict[str, list[str]], draft: str, gamma: int, max_new_tokens: int = 40,
                    repeats: int = 3, target: str | None = None, temperature: float = 0.0, seed: int = 0,
                    device: str = "auto", run: Callable | None = None,
                    progress: Callable[[int, int, str], None] = lambda done, total, what: None,
                    should_stop: Callable[[], bool] = lambda: False) -> dict[str, list[Trace]]:
    """Every prompt of every group (a workload) `repeats` times, interleaved; group -> traces in run
    order (empty groups left out). Each run times plain and speculative decoding of one prompt back
    to back. run(RunSettings) -> Trace defaults to the recorded run (tests pass a fake);
    progress(done, total, what) comes before each run."""
    from ..decoding.record import RunSettings  # lazy: torch
    if run is None:
        from ..decoding.record import run  # lazy: torch

    def one(job, r):
        return run(RunSettings(job[1], target, draft, gamma, temperature, seed=seed, max_new_tokens=max_new_tokens,
                               device=device, baseline_first=plain_first(r)))

    def say(done, total, job, r):
        first = "plain first" if plain_first(r) else "speculative first"
        progress(done, total, f"{job[0]}: repeat {r + 1} of {repeats}, run {done + 1} of {total} ({first})")

    out: dict[str, list[Trace]] = {}
    for (name, _), _, trace in interleaved([[(name, p)] for name, ps in groups.items() for p in ps], repeats,
                                           one, say, should_stop):
        out.setdefault(name, []).append(trace)
    return {name: out[name] for name in groups if name in out}


# ----------------------------------------------------------------------------- the pooling rule

@dataclass
class Spread:
    """A speedup by RULE: each repeat's, their median, the lowest and the highest."""

    each: list[float]  # repeats without a timed run left out

    @property
    def median(self) -> float | None:
        return statistics.median(self.each) if self.each else None

    @property
    def lo(self) -> float | None:
        return min(self.each, default=None)

    @property
    def hi(self) -> float | None:
        return max(self.each, default=None)


def repeat_speedup(runs: Iterable[tuple[float, int, float]]) -> float | None:
    """One repeat's speedup by RULE from its runs' (plain seconds per token, speculative tokens,
    speculative seconds); None without a timed run."""
    runs = list(runs)
    plain, spec = sum(step * tokens for step, tokens, _ in runs), sum(s for _, _, s in runs)
    return plain / spec if plain and spec else None


def spread(speedups: Iterable[float | None]) -> Spread:
    """RULE's report of the repeats' speedups (those without one left out)."""
    return Spread([x for x in speedups if x is not None])


def repeats_of(traces: list[Trace]) -> list[list[Trace]]:
    """Group runs into repeats: the k-th run of each prompt (with the same settings) is in repeat k."""
    seen: dict[tuple, int] = {}
    groups: list[list[Trace]] = []
    for t in traces:
        c = t.config
        key = (t.prompt, c.draft, c.gamma, c.tree_nodes, c.temperature, c.seed)
        k = seen[key] = seen.get(key, -1) + 1
        if k == len(groups):
            groups.append([])
        groups[k].append(t)
    return groups


def timed_runs(traces: list[Trace]) -> list[tuple[float, int, float]]:
    """(plain seconds per token, tokens, speculative seconds) of the runs that have a baseline."""
    return [(t.baseline.s_per_token, len(t.output_ids), t.timing.spec_s) for t in traces
            if t.baseline.output_ids and t.timing.spec_s > 0]


def speedup(traces: list[Trace]) -> Spread:
    """The measured speedup of these runs by RULE (repeats: repeats_of)."""
    return spread(repeat_speedup(timed_runs(r)) for r in repeats_of(traces))


def pooled_summary(traces: list[Trace]) -> metrics.Summary:
    """Every metric of several runs pooled: counts summed, the plain step from the timed runs' total
    plain time and tokens, the measured speedup by RULE."""
    runs = timed_runs(traces)
    tokens = sum(n for _, n, _ in runs)
    step = sum(s * n for s, n, _ in runs) / tokens if tokens else None
    return metrics.summarize_counts(metrics.pooled(traces), traces[0].config.gamma, step, speedup(traces).median)
