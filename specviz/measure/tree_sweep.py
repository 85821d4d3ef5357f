"""A chain beside token trees of growing node budgets on this machine (lesson 4's instrument):
τ, the measured cost of each round, the measured speedup, and where a bigger tree stops paying.

Sequoia's point (Chen et al. 2024): the best tree size depends on the hardware. A bigger tree
carries more tokens per pass (τ), but its one target pass scores N + 1 tokens and drafting it
costs N̄c; on a GPU a pass over 64 tokens costs about one step, on a small CPU it does not. A
row pools its runs with the one definition of every metric (specviz.measure.metrics); the speedup
is measured against plain decoding side by side and pooled by specviz.measure.repeats' rule (median
over repeats, with the lowest and highest repeat). Pure apart from measure() (which imports the
recorded run, and so torch, when called).
"""
from dataclasses import dataclass
from typing import Callable

from ..trace import Trace
from .repeats import interleaved, plain_first, pooled_summary, speedup


SHAPES = (0, 8, 16, 32)  # node budgets; 0 = the chain of γ = 4

GAMMA = 4


@dataclass
class Row:
    nodes: int  # the tree's node budget; 0 for the chain
    gamma: int  # the chain's γ (a tree: its depth limit)
    drafted: float  # drafted tokens (tree nodes) per pass
    tau: float | None  # tokens per target pass
    v: float | None  # the run's target pass ÷ its plain step, measured in the runs
    c: float | None  # draft seconds per drafted token (node) ÷ one plain step
    speedup: float | None  # measured, median over repeats
    lo: float | None  # lowest and highest repeat
    hi: float | None
    predicted: float | None  # τ ÷ (N̄c + v): the run's τ at its measured costs (metrics)
    runs: int = 0

    @property
    def name(self) -> str:
        return f"tree of {self.nodes}" if self.nodes else f"chain γ = {self.gamma}"

    @property
    def pass_tokens(self) -> int:  # the target's pass: the root and every node, or γ + 1
        return (self.nodes or self.gamma) + 1

    @property
    def round_cost(self) -> float | None:  # plain steps per round: drafting + the one pass
        return None if self.c is None or self.v is None else self.drafted * self.c + self.v


def from_bench(d: dict, drafter: str | None = None) -> list[Row]:
    """Rows of `python -m specviz bench --json` (our engine, fixed γ and trees) for one drafter
    (default: the first that drafted a tree)."""
    ours = [r for r in d.get("rows", []) if r.get("method") == "ours" and r.get("gamma") != "heuristic"]
    drafter = drafter or drafter_of(d)
    return [Row(r.get("tree") or 0, int(r["gamma"]), r.get("mean_gamma") or 0.0, r.get("tau"), r.get("v"),
                r.get("c"), r.get("speedup"), r.get("speedup_lo"), r.get("speedup_hi"), r.get("from_costs"))
            for r in ours if r["drafter"] == drafter]


def drafter_of(d: dict) -> str | None:
    """The drafter of a bench JSON's rows that from_bench shows (the first that drafted a tree)."""
    return next((r["drafter"] for r in d.get("rows", []) if r.get("method") == "ours" and r.get("tree")), None)


def draft_note(d: dict, digest_now: Callable[[str], str | None]) -> str:
    """Which draft a bench JSON's trees were measured with, from its record: the same weights as
    the draft shipped now (digest_now: drafter name -> sha256 of its weights), or an earlier
    training of it. A JSON without the record says so."""
    drafter = drafter_of(d) or "the draft"
    when = f"on {d['date']}" if d.get("date") else "on a date it does not record"
    then = (d.get("draft_weights_sha256") or {}).get(drafter)
    if then is None:
        return f"measured {when} with {drafter}, without a record of which training of it"
    now = digest_now(drafter.split(":", 1)[-1].split("@")[0])
    if now == then:
        return f"measured {when} with {drafter} as shipped now (weights sha256 {then[:12]})"
    return (f"measured {when} with an earlier training of {drafter} (weights sha256 {then[:12]}); the draft "
            f"shipped now was retrained since (weights sha256 {(now or 'missing')[:12]}), so these are that "
            "earlier draft's numbers")


def from_runs(runs: dict[int, list[Trace]]) -> list[Row]:
    """One row per shape (node budget, 0 = chain) from measured traces: counts and times pooled
    over all runs, the speedup by repeats.RULE (median and spread over repeats)."""
    rows = []
    for nodes, traces in sorted(runs.items()):
        if not traces:
            continue
        s, measured = pooled_summary(traces), speedup(traces)
        rows.append(Row(nodes, traces[0].config.gamma, s.nodes_per_pass, s.mean_acceptance_length,
                        s.verify_cost, s.cost_ratio, measured.median, measured.lo, measured.hi,
                        s.speedup_from_costs, len(traces)))
    return rows


def measure(prompts: list[str], draft: str, shapes: tuple[int, ...] = SHAPES, repeats: int = 2,
            max_new_tokens: int = 32, target: str | None = None, seed: int = 0,
            progress: Callable[[int, int, str], None] = lambda done, total, what: None,
            should_stop: Callable[[], bool] = lambda: False, run: Callable | None = None) -> dict[int, list[Trace]]:
    """Greedy runs of every prompt with the chain (γ = 4) and each tree budget, each timed beside
    plain decoding; interleaved (repeats.interleaved: per prompt, the shapes' order rotates each
    repeat, and plain goes first on odd repeats) so a load change on a shared machine hits every
    shape alike. Returns nodes -> traces."""
    from ..decoding.record import RunSettings  # lazy: torch
    if run is None:
        from ..decoding.record import run  # lazy: torch

    def one(job, r):
        nodes, p = job
        return run(RunSettings(p, target, draft, GAMMA, 0.0, seed=seed, max_new_tokens=max_new_tokens,
                               baseline_first=plain_first(r), tree=nodes))

    def say(done, total, job, r):
        what = f"tree of {job[0]}" if job[0] else f"chain γ = {GAMMA}"
        progress(done, total, f"repeat {r + 1} of {repeats}: {what}, run {done + 1} of {total}")

    out: dict[int, list[Trace]] = {n: [] for n in shapes}
    for (nodes, _), _, trace in interleaved([[(n, p) for n in shapes] for p in prompts], repeats, one, say,
                                            should_stop):
        out[nodes].append(trace)
    return {n: ts for n, ts in out.items() if ts}
