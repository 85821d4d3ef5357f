"""A server's counters as SpecViz's numbers: α, τ, the vLLM-style rate and per-position acceptance
with the app's own definitions (Counts -> specviz.measure.metrics), what the counters cannot tell,
and Leviathan's what-if at γ ± 1.
"""
from dataclasses import dataclass, field

from ... import theory
from ...counts import Counts
from ...measure import metrics
from ...numbers import num
from .prometheus import (ARCHIVED, GAUGES, GAUGE_PREFIX, NAMES, PASSES, SCHEMA, SGLANG_VERIFY, Scrape, Totals,
                         _padded)


COUNTERS, WINDOWED = "counters", "a windowed gauge: the last window, not the run"

PUBLISHED_VERIFY = (  # the verify-cost caveat, a published figure (never a measurement here)
    "Published, not measured here: Liu, Yu, Park, Stoica and Cheung, “Speculative Decoding: "
    "Performance or Illusion?” (arXiv:2601.11580), benchmarking vLLM on H100 GPUs at batch sizes "
    "1–128, report that verification by the target takes 42–95 % of execution time and that "
    "speedups shrink as the batch grows (the GPU becomes compute-bound).")

@dataclass
class Readout:
    """Every number a scrape (or a window between two, or a response) allows, from the one metrics module."""

    engine: str
    model: str
    counts: Counts | None  # None: windowed gauges only
    drafts: int | None  # verify passes counted; None: these numbers do not count them
    k: int | None  # the draft positions the per-position counters cover
    tau: float | None  # τ, tokens per target pass that verified a draft
    rate: float | None  # accepted ÷ drafted tokens (vLLM-style), or SGLang's gauge (rate_from)
    alpha: float | None  # Leviathan's α (needs per-position counts)
    conditional: list[float | None]  # per position, given the earlier ones were accepted
    unconditional: list[float | None]  # per position, of all drafts (vLLM's survival curve)
    missing: list[str]  # what these numbers cannot give, in plain words
    gauges: dict[str, float] = field(default_factory=dict)  # the engine's windowed gauges, shown beside
    tau_from: str = COUNTERS  # or WINDOWED: τ read off a gauge
    rate_from: str = COUNTERS

    @property
    def name(self) -> str:
        return NAMES[self.engine]

    @property
    def rate_label(self) -> str:
        if self.rate_from != COUNTERS:
            return f"{self.name}'s spec_accept_rate ({WINDOWED}; not α)"
        return "vLLM's draft acceptance rate (accepted ÷ drafted; not α)" if self.engine == "vllm" else \
            "accepted ÷ drafted (the vLLM-style rate; not α)"

    @property
    def windowed(self) -> bool:
        """τ was read off a windowed gauge (the last window), not counters (the whole run)."""
        return self.tau_from != COUNTERS

    @property
    def expected_tau(self) -> float | None:
        """Leviathan's E[τ] at the measured α and k (the i.i.d. model's check against τ)."""
        return theory.expected_acceptance_length(self.alpha, self.k) if self.alpha is not None and self.k else None


def readout_totals(engine: str, model: str, t: Totals, gauges: dict[str, list[float]] | None = None,
                   limits: list[str] | None = None) -> Readout:
    """Every number counters allow; `limits`: what the source cannot give (default: the engine's counters')."""
    c, k, counted = t.counts(), t.k, t.drafts is not None
    cond, uncond = metrics.acceptance_by_position(c) if k and counted else ([], [])
    notes = (_limits(engine, t) if limits is None else list(limits)) + _sizes(NAMES[engine], t)
    r = Readout(engine, model, c, c.passes if counted else None, k,
                metrics.mean_acceptance_length(c) if counted else None,
                metrics.draft_acceptance_rate(c) if t.draft_tokens is not None else None,
                metrics.alpha(c) if k and counted else None, cond, uncond, notes)
    return _with_gauges(r, gauges or {})


def _limits(engine: str, t: Totals) -> list[str]:
    """What an engine's counters cannot give, in plain words."""
    name, k, notes = NAMES[engine], t.k, []
    if engine == "tgi":
        notes += ["TGI's tgi_request_skipped_tokens histogram gives τ (one observation per generation step, "
                  "each request's first step included) but counts neither drafted tokens nor rejections: "
                  "no draft acceptance rate, no α, no per-position acceptance", ARCHIVED]
    elif engine == "sglang":
        notes.append("SGLang's counters give τ over any window (Δ generated tokens ÷ Δ verify calls; each "
                     "request's first token, made by its prefill and not by a verify call, is included) but "
                     "count no drafted tokens and no rejections: no vLLM-style rate from counters, no α, no "
                     "per-position acceptance")
    elif engine == "trtllm" and t.drafts is None:
        notes.append("TensorRT-LLM's totals count drafted and accepted tokens but no verify passes, and this "
                     "server exposes no per-position counters (trtllm_spec_decode_{drafted,accepted}_tokens_total"
                     "{token_position}): no τ from counters, no α, no per-position acceptance")
    elif engine == "trtllm":
        notes.append("TensorRT-LLM adds a request's per-position counts when it finishes: requests still "
                     "running are not in these numbers (its num_*_tokens totals, counted every iteration, "
                     "are not mixed in)")
    elif k is None:
        notes.append("this server exposes no per-position counters, so α cannot be separated from τ (and "
                     "there is no per-position acceptance)" +
                     (" (llama.cpp adds them with its first speculative request)" if engine == "llamacpp" else ""))
    if t.draft_tokens is None and engine in SCHEMA:
        notes.append(f"no num_draft_tokens counter: {name}'s draft acceptance rate is not available")
    return notes


def _sizes(name: str, t: Totals) -> list[str]:
    """Nothing drafted; drafts of varying length make α and the later positions' rates bounds (which)."""
    k = t.k
    if t.drafts == 0 or (t.drafts is None and not t.draft_tokens):
        return ["no drafts were verified (no traffic in this window, or nothing speculated)"]
    if not k or not t.drafts:
        return []
    if t.drafted_pos:
        if all(d >= t.drafts for d in t.drafted_pos):
            return []
        shown = " · ".join(f"{d:.0f}" for d in _padded(t.drafted_pos, k))
        return [f"drafts were of varying length (drafted at positions 1 … {k}: {shown}): the checks at each "
                "position are bounded from above, so α and the later positions' conditional rates are lower bounds"]
    if t.draft_tokens is None:
        return []
    per = t.draft_tokens / t.drafts
    if per < k * 0.999:
        return [f"some drafts were shorter than k = {k} ({per:.2f} draft tokens per draft): the per-position "
                "counters assume k positions per draft, so α and the later positions' rates are lower bounds"]
    if per > k * 1.001:
        return [f"drafts were longer than the k = {k} position counters ({per:.2f} draft tokens per draft; "
                f"{name} adds a position when it is first accepted): a draft that reached position k counts "
                "as fully accepted, so α is an upper bound"]
    return []


def _with_gauges(r: Readout, gauges: dict[str, list[float]]) -> Readout:
    """Show the engine's windowed gauges beside; τ (and SGLang's rate) from them only when counters give none."""
    if not gauges:
        return r
    tau_name, rate_name = GAUGES[r.engine][0], "spec_accept_rate"
    values = {n: [x for x in v if x > 0] if n == tau_name else v for n, v in gauges.items()}  # τ 0: no decode step
    order = sorted(values, key=lambda n: n != tau_name)  # τ's gauge first
    r.gauges = {GAUGE_PREFIX[r.engine] + n: sum(values[n]) / len(values[n]) for n in order if values[n]}
    tau = r.gauges.get(GAUGE_PREFIX[r.engine] + tau_name)
    if r.tau is None and tau is not None:
        r.tau, r.tau_from = r.gauges.pop(GAUGE_PREFIX[r.engine] + tau_name), WINDOWED
        r.missing.append(f"τ here is {GAUGE_PREFIX[r.engine]}{tau_name}, {WINDOWED}: on a busy server it can "
                         "differ a lot from the run's average")
        if r.rate is None and GAUGE_PREFIX[r.engine] + rate_name in r.gauges:
            r.rate, r.rate_from = r.gauges.pop(GAUGE_PREFIX[r.engine] + rate_name), WINDOWED
    elif r.tau is None and tau_name in gauges:
        r.missing.append(f"the gauges read 0: no decode step in {r.name}'s latest window")
    ranks = max(map(len, gauges.values()))
    if ranks > 1:
        r.missing.append(f"{ranks} ranks report these gauges; shown is their plain mean")
    return r


def readout_gauges(engine: str, model: str, gauges: dict[str, list[float]]) -> Readout:
    """A model with windowed gauges and no counters (SGLang before its verify-call counter)."""
    counter = {"sglang": SGLANG_VERIFY + " counter (newer builds have it)",
               "trtllm": "trtllm_spec_decode_*_tokens_total counters"}[engine]
    note = (f"this {NAMES[engine]} server exposes no {counter}, only gauges over its latest window: they "
            "give no Leviathan α, no per-position acceptance, no draft length, and no counts to pool; the "
            "trend is the gauge values at each scrape, not weighted by traffic")
    return _with_gauges(Readout(engine, model, None, None, None, None, None, None, [], [], [note]), gauges)


def readouts(scrape: Scrape) -> dict[str, Readout]:
    """model -> its readout over the server's lifetime (since its last restart)."""
    return {m: readout_totals(scrape.engine, m, scrape.totals[m], scrape.gauges.get(m)) if m in scrape.totals
            else readout_gauges(scrape.engine, m, scrape.gauges[m]) for m in scrape.models}


def what_if(alpha: float, k: int) -> list[dict]:
    """An estimate, not a measurement: Leviathan's E[τ] at the measured α for γ = k − 1, k, k + 1."""
    return [{"gamma": g, "expected_tau": theory.expected_acceptance_length(alpha, g),
             "expected_draft_acceptance_rate": theory.draft_acceptance_rate_expected(alpha, g)}
            for g in (k - 1, k, k + 1) if g >= 1]


def line(r: Readout) -> str:
    """One line of a readout for the terminal."""
    gauge = " (windowed gauge)"
    parts = [f"{r.drafts} {PASSES.get(r.engine, 'drafts')}" if r.drafts is not None else "verify passes not counted",
             f"τ {num(r.tau)}" + (gauge if r.tau_from != COUNTERS else ""),
             f"α {num(r.alpha)}" + (f" (k = {r.k})" if r.k else ""),
             f"accepted ÷ drafted {num(r.rate)}" + (gauge if r.rate_from != COUNTERS else "")]
    if r.unconditional:
        parts.append("per position " + " ".join(num(v) for v in r.unconditional) + " of all drafts, "
                     + " ".join(num(v) for v in r.conditional) + " given the earlier ones")
    if r.gauges:
        parts.append("gauges " + ", ".join(f"{n} {v:.2f}" for n, v in r.gauges.items()) + " (last window)")
    return " · ".join(parts)
