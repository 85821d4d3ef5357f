"""The decision brief's rule: should we enable speculative decoding for this workload?

Everything in the evidence table is computed from measured traces with the one definition of
every metric (specviz.measure.metrics); the recommendation is a plain rule on those numbers, stated
in the brief so a reader can disagree with it. Timings on a shared machine are noisy, so the
measurement repeats every prompt with plain and speculative decoding interleaved
(specviz.measure.repeats), reports the median and the spread over repeats, and the rule says "too
noisy to decide" when the spread straddles the threshold.
"""
import statistics
from dataclasses import dataclass

from ..numbers import num
from ..trace import Trace
from .repeats import pooled_summary, repeats_of, speedup
from .replay import replay_all


ENABLE_AT = 1.10  # enable only if the measured speedup clears plain decoding by 10 %

GAMMAS = range(1, 9)

@dataclass
class Row:
    workload: str
    runs: int
    repeats: int  # runs of each prompt (the spread is over these)
    tokens: int
    alpha: float | None  # Leviathan's α (accepted ÷ checked positions), all runs pooled
    alpha_expected: float | None  # mean β = Σ min(p, q) over checked positions (None: not recorded)
    mean_acceptance_length: float | None  # τ, tokens per target pass
    expected_acceptance_length: float | None  # Leviathan's E[τ] at α (the model check)
    draft_acceptance_rate: float | None  # vLLM's accepted ÷ drafted (not α)
    c: float | None  # median over repeats
    verify_cost: float | None  # v: one verify pass ÷ one plain step, median over repeats
    speedup: float | None  # measured, median over repeats
    speedup_lo: float | None  # lowest repeat
    speedup_hi: float | None  # highest repeat
    theory: float | None  # Leviathan at α, γ, c (a verify pass = one step), median over repeats
    theory_v: float | None  # E[τ] / (γc + v) with the measured v, median over repeats
    theory_v_lo: float | None
    theory_v_hi: float | None
    identical: bool | None  # greedy runs: output == plain greedy output
    best_gamma: int | None  # from counterfactual replay (an estimate)
    best_gamma_speedup: float | None


def _median(xs: list) -> float | None:
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def _spread(xs: list) -> tuple[float | None, float | None]:
    xs = [x for x in xs if x is not None]
    return (min(xs), max(xs)) if xs else (None, None)


def workload_row(name: str, traces: list[Trace]) -> Row:
    """Pool a workload's runs for the counts (α, τ, ...); medians and spreads over its repeats
    for everything timed (c, v, measured speedup, both theories)."""
    s, measured = pooled_summary(traces), speedup(traces)
    per = [pooled_summary(ts) for ts in repeats_of(traces)]
    aware = [p.speedup_verify_aware for p in per]
    greedy = [t.output_ids == t.baseline.output_ids for t in traces
              if t.config.temperature == 0 and t.baseline.output_ids]
    best = _best_gamma(traces)
    return Row(name, len(traces), len(per), s.tokens, s.alpha, s.alpha_expected, s.mean_acceptance_length,
               s.expected_acceptance_length, s.draft_acceptance_rate,
               _median([p.cost_ratio for p in per]), _median([p.verify_cost for p in per]),
               measured.median, measured.lo, measured.hi, _median([p.speedup_theoretical for p in per]),
               _median(aware), *_spread(aware), all(greedy) if greedy else None, best[0], best[1])


def _best_gamma(traces: list[Trace]) -> tuple[int | None, float | None]:
    """The gamma whose replayed speedup, pooled over the runs, is highest (an estimate)."""
    totals = {}
    for t in traces:
        if t.config.tree_nodes:  # a token-tree run has no chain to re-cut at another γ
            continue
        for point in replay_all(t, GAMMAS):
            if point.speedup:
                base = t.baseline.s_per_token * len(t.output_ids)
                spec, b = totals.get(point.gamma, (0.0, 0.0))
                totals[point.gamma] = (spec + base / point.speedup, b + base)
    if not totals:
        return None, None
    g = max(totals, key=lambda k: totals[k][1] / totals[k][0])
    return g, totals[g][1] / totals[g][0]

PAYS, NO, NOISY, BROKEN, UNMEASURED = "enable", "do not enable", "too noisy to decide", "broken", "no baseline"


def verdict(r: Row) -> tuple[str, str]:
    """(verdict, why) for one workload, by the rule stated in the brief."""
    if r.identical is False:
        return BROKEN, "greedy speculative output differed from plain decoding"
    if r.speedup is None:
        return UNMEASURED, "no plain-decoding baseline to compare with"
    lo, hi = r.speedup_lo, r.speedup_hi
    spread = f"{lo:.2f}–{hi:.2f}× over {r.repeats} repeats" if r.repeats > 1 else f"{hi:.2f}×, one repeat"
    explained = r.theory_v if r.theory_v is not None else r.theory
    if r.theory is not None and r.theory < ENABLE_AT:
        return NO, (f"even Leviathan's theory at α = {r.alpha or 0:.2f}, c = {r.c or 0:.2f} (a verify pass "
                    f"costing one step) is {r.theory:.2f}×; measured {spread}")
    if hi < ENABLE_AT:
        return NO, f"measured {spread}, all below {ENABLE_AT:.2f}×"
    if lo >= ENABLE_AT and (explained is None or explained >= ENABLE_AT):
        return PAYS, f"measured {spread}, theory with the measured verify cost {num(explained, '.2f', '×')}"
    if lo >= ENABLE_AT:
        return NOISY, (f"measured {spread}, but the theory with the measured verify cost is only "
                       f"{explained:.2f}×: the timing is not explained by α, c and v")
    return NOISY, f"measured {spread}: the repeats straddle {ENABLE_AT:.2f}×"


@dataclass
class Decision:
    enable: bool
    gamma: int | None
    headline: str
    where: list[str]  # workloads where it pays off
    noisy: list[str]  # workloads whose evidence is too noisy to decide


def decide(rows: list[Row]) -> Decision:
    """Enable where every repeat clears ENABLE_AT and theory agrees; say so when it is too noisy."""
    verdicts = {r.workload: verdict(r) for r in rows}
    of = lambda kind: [r for r in rows if verdicts[r.workload][0] == kind]  # noqa: E731
    wins, losses, noisy, broken = of(PAYS), of(NO), of(NOISY), of(BROKEN)
    measured = wins + losses + noisy
    names = lambda rs: ", ".join(r.workload for r in rs)  # noqa: E731
    if broken:
        return Decision(False, None, "Do not enable: greedy speculative output differed from plain "
                        f"decoding on {names(broken)}. Fix verification first.", [], [])
    if not measured:
        return Decision(False, None, "No decision: the runs have no plain-decoding baseline to "
                        "compare against. Re-run with the baseline on.", [], [])
    gamma = max(wins, key=lambda r: r.speedup).best_gamma if wins else None
    single = (" One run per prompt: no spread was measured; repeat the measurement before acting on it."
              if max(r.repeats for r in measured) < 2 else "")
    too_noisy = ("Too noisy to decide for " + "; ".join(f"{r.workload} ({verdicts[r.workload][1]})" for r in noisy)
                 + ": measure more prompts or repeats." if noisy else "")
    lost = f"{names(losses)} did not clear {ENABLE_AT:.2f}×." if losses else ""
    where, unsure = [r.workload for r in wins], [r.workload for r in noisy]
    if not losses and not noisy:
        return Decision(True, gamma, f"Enable speculative decoding (γ = {gamma}): every workload "
                        f"measured at least {ENABLE_AT:.2f}× faster than plain decoding in every repeat, "
                        "and the theory with the measured verify cost agrees." + single, where, [])
    if wins:
        return Decision(False, gamma, " ".join(x for x in (
            f"Do not enable globally. Enable it only for: {names(wins)} (γ = {gamma}).", lost, too_noisy)
            if x) + single, where, unsure)
    if noisy:
        return Decision(False, None, " ".join(x for x in (too_noisy, lost) if x) + single, [], unsure)
    slowest = min(losses, key=lambda r: r.speedup)
    return Decision(False, None, "Do not enable: no workload cleared "
                    f"{ENABLE_AT:.2f}× over plain decoding in measurement and theory (worst: "
                    f"{slowest.workload}: {verdicts[slowest.workload][1]}).{single}", [], [])
