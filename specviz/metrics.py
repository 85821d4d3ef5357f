"""Every run metric, defined once. App, CLI, bench, brief, distill, replay and the server
importer all read these definitions; nothing else computes α, τ, c or a theory.

Notation (Leviathan, Kalman, Matias 2023): p target, q draft, γ draft length.
- alpha: Leviathan's α, the probability that a *checked* drafted token is accepted. Tokens
  after a round's first rejection are never checked. Estimated by maximum likelihood under
  the paper's i.i.d. model: accepted ÷ (accepted + rounds that ended in a rejection); fully
  accepted rounds are censored and rounds with nothing drafted count nothing.
- alpha_expected: the mean over checked positions of β = Σₓ min(p(x), q(x)), computed by the
  engine from the full distributions. E[β] is α itself. In greedy mode p and q are one-hot at
  their argmax, so β is 1 when the argmaxes agree and 0 otherwise (the decision is certain).
- mean_acceptance_length: τ, output tokens per target pass = 1 + accepted ÷ passes (vLLM's
  "mean acceptance length", EAGLE/Spec-Bench's "average acceptance length"). Every target
  pass counts, including passes in which the drafter proposed nothing (lookup without a
  match): such a pass is the target's own plain step and yields one token.
- draft_acceptance_rate: accepted ÷ drafted, vLLM's counter. Under the i.i.d. model its
  expectation is (α − α^(γ+1)) / (γ(1 − α)): α only at γ = 1. Never fed to Leviathan's formulas.
- cost_ratio c: draft time per drafted token ÷ one plain target step of the same run. A
  per-round fixed draft cost (EAGLE's catch-up over the tokens the target just settled) is
  inside the draft time, so it is spread over the round's drafted tokens: a round's draft
  then costs γ·c steps, as the formulas assume.
- verify_cost v: mean time of one verify pass (γ + 1 tokens) ÷ one plain target step.
  Leviathan assumes v = 1; speedup ≈ E[τ] / (γc + v) with the measured v.
"""
from dataclasses import asdict, dataclass, field

from .trace import Trace


# ----------------------------------------------------------------------------- formulas

def expected_acceptance_length(alpha: float, gamma: int) -> float:
    """Leviathan's E[τ] = (1 − α^(γ+1)) / (1 − α): expected tokens per target pass."""
    if alpha >= 1:
        return gamma + 1.0
    return (1 - alpha ** (gamma + 1)) / (1 - alpha)


def speedup_theoretical(alpha: float, gamma: int, c: float) -> float:
    """Leviathan's walltime improvement (1 − α^(γ+1)) / ((1 − α)(γc + 1)): a verify pass = one step."""
    return expected_acceptance_length(alpha, gamma) / (gamma * c + 1)


def speedup_verify_aware(alpha: float, gamma: int, c: float, v: float) -> float:
    """E[τ] / (γc + v): Leviathan with the measured cost v of a (γ+1)-token pass, in target steps."""
    return expected_acceptance_length(alpha, gamma) / (gamma * c + v)


def operations_factor(alpha: float, gamma: int, c_hat: float) -> float:
    """(1 − α)(γĉ + γ + 1) / (1 − α^(γ+1)): arithmetic spent relative to plain decoding."""
    return (gamma * c_hat + gamma + 1) / expected_acceptance_length(alpha, gamma)


def draft_acceptance_rate_expected(alpha: float, gamma: int) -> float:
    """E[accepted ÷ drafted] under the i.i.d. model: (α − α^(γ+1)) / (γ(1 − α))."""
    return (expected_acceptance_length(alpha, gamma) - 1) / gamma


def best_gamma(alpha: float, c: float, v=None, max_gamma: int = 16) -> int:
    """The γ that maximises E[τ] / (γc + v(γ+1)); v: k -> cost of a k-token pass (None: 1)."""
    cost = v or (lambda k: 1.0)
    return max(range(1, max_gamma + 1),
               key=lambda g: speedup_verify_aware(alpha, g, c, cost(g + 1)))


def break_even_alpha(gamma: int, c: float, v: float = 1.0) -> float | None:
    """The α at which E[τ] / (γc + v) = 1 (None if even α = 1 does not break even)."""
    if speedup_verify_aware(1.0, gamma, c, v) < 1:
        return None
    lo, hi = 0.0, 1.0
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if speedup_verify_aware(mid, gamma, c, v) < 1 else (lo, mid)
    return hi


# ----------------------------------------------------------------------------- counts

@dataclass
class Counts:
    """What a run (or many pooled runs, or a server's counters) observed; every metric derives from it.

    Per-position lists are indexed by draft position i = 0 .. γ−1.
    """

    passes: int = 0  # target verify passes (rounds), with or without drafts
    drafted: int = 0  # drafted tokens
    accepted: int = 0  # accepted drafted tokens
    rejections: int = 0  # rounds that ended in a rejection
    tokens: int = 0  # output tokens produced by these passes
    drafted_at: list[int] = field(default_factory=list)  # rounds that drafted position i
    checked_at: list[int] = field(default_factory=list)  # rounds whose position i the target checked
    accepted_at: list[int] = field(default_factory=list)  # rounds whose position i was accepted
    beta_sum: float = 0.0  # Σ β over checked positions
    beta_n: int = 0  # checked positions with a recorded β
    draft_s: float = 0.0
    verify_s: float = 0.0

    def add_round(self, n_drafted: int, n_accepted: int, betas: list[float | None] | None = None,
                  draft_s: float = 0.0, verify_s: float = 0.0, tokens: int | None = None) -> None:
        """Count one round: n_drafted proposed, the first n_accepted kept, then the target's token."""
        self.passes += 1
        self.drafted += n_drafted
        self.accepted += n_accepted
        self.rejections += n_accepted < n_drafted
        self.tokens += n_accepted + 1 if tokens is None else tokens
        checked = min(n_accepted + 1, n_drafted)
        _grow(self, n_drafted)
        for i in range(n_drafted):
            self.drafted_at[i] += 1
            self.checked_at[i] += i < checked
            self.accepted_at[i] += i < n_accepted
        for b in (betas or [])[:checked]:
            if b is not None:
                self.beta_sum, self.beta_n = self.beta_sum + b, self.beta_n + 1
        self.draft_s += draft_s
        self.verify_s += verify_s

    def __add__(self, other: "Counts") -> "Counts":
        out = Counts()
        for c in (self, other):
            _grow(out, len(c.drafted_at))
            for name in ("drafted_at", "checked_at", "accepted_at"):
                mine = getattr(out, name)
                for i, v in enumerate(getattr(c, name)):
                    mine[i] += v
            for name in ("passes", "drafted", "accepted", "rejections", "tokens", "beta_sum",
                         "beta_n", "draft_s", "verify_s"):
                setattr(out, name, getattr(out, name) + getattr(c, name))
        return out

    @property
    def checked(self) -> int:
        return self.accepted + self.rejections

    @property
    def mean_gamma(self) -> float:
        """Drafted tokens per pass (γ unless lookup ran short or max_new_tokens capped a draft)."""
        return self.drafted / self.passes if self.passes else 0.0


def _grow(c: Counts, n: int) -> None:
    for name in ("drafted_at", "checked_at", "accepted_at"):
        lst = getattr(c, name)
        lst.extend([0] * (n - len(lst)))


def counts(trace: Trace) -> Counts:
    """The counts of one trace (β only where the trace recorded it)."""
    c = Counts()
    for r in trace.rounds:
        n = sum(t.accepted for t in r.draft)
        c.add_round(len(r.draft), n, [t.beta for t in r.draft], r.draft_s, r.verify_s)
    c.tokens = len(trace.output_ids)  # an EOS inside accepted drafts ends the output early
    return c


def pooled(traces: list[Trace]) -> Counts:
    total = Counts()
    for t in traces:
        total = total + counts(t)
    return total


# ----------------------------------------------------------------------------- metrics of counts

def alpha(c: Counts) -> float | None:
    """Leviathan's α, maximum likelihood: accepted ÷ (accepted + rounds ending in a rejection)."""
    return c.accepted / c.checked if c.checked else None


def alpha_expected(c: Counts) -> float | None:
    """Mean β = Σ min(p, q) over checked positions (None if the run did not record β)."""
    return c.beta_sum / c.beta_n if c.beta_n else None


def mean_acceptance_length(c: Counts) -> float | None:
    """τ: tokens per target pass = 1 + accepted ÷ passes (passes without drafts included)."""
    return 1 + c.accepted / c.passes if c.passes else None


def draft_acceptance_rate(c: Counts) -> float | None:
    """vLLM's draft acceptance rate: accepted ÷ drafted. Not Leviathan's α."""
    return c.accepted / c.drafted if c.drafted else None


def expected_acceptance_length_of(c: Counts, a: float | None = None) -> float | None:
    """Leviathan's E[τ] at α for the drafts this run actually made: 1 + Σᵢ (rounds drafting
    position i) · α^(i+1) ÷ passes. Equals (1 − α^(γ+1)) / (1 − α) when every round drafted γ."""
    a = alpha(c) if a is None else a
    if a is None or not c.passes:
        return None
    return 1 + sum(n * a ** (i + 1) for i, n in enumerate(c.drafted_at)) / c.passes


def acceptance_by_position(c: Counts) -> tuple[list[float | None], list[float | None]]:
    """(conditional, unconditional) acceptance per draft position.

    conditional: accepted at i ÷ checked at i (given the earlier positions were accepted:
    EAGLE's n-α); unconditional: accepted at i ÷ rounds that drafted i (vLLM's per-position
    rate, a survival curve that falls even when α is flat).
    """
    cond = [a / k if k else None for a, k in zip(c.accepted_at, c.checked_at)]
    uncond = [a / d if d else None for a, d in zip(c.accepted_at, c.drafted_at)]
    return cond, uncond


def cost_ratio(c: Counts, step_s: float | None) -> float | None:
    """c: draft seconds per drafted token ÷ one plain target step."""
    return c.draft_s / c.drafted / step_s if c.drafted and step_s else None


def verify_cost(c: Counts, step_s: float | None) -> float | None:
    """v: mean seconds of one verify pass ÷ one plain target step."""
    return c.verify_s / c.passes / step_s if c.passes and step_s else None


@dataclass
class Gap:
    """Why measured falls short of the paper's ideal: each step adds one measured cost.

    ideal: E[τ] (free draft, a verify pass costs one step); with_verify: E[τ] / v;
    with_draft: E[τ] / (γ̄c + v); with_realised_tau: τ / (γ̄c + v) (the run's own luck);
    measured: plain time ÷ speculative time. What is left between the last two is the loop's
    own overhead (sampling, bookkeeping) and timing noise.
    """

    ideal: float
    with_verify: float
    with_draft: float
    with_realised_tau: float
    measured: float

    def steps(self) -> list[tuple[str, float]]:
        return [("ideal: E[τ], free draft, verify = 1 step", self.ideal),
                ("with the measured verify cost v", self.with_verify),
                ("with the measured draft cost c", self.with_draft),
                ("with the realised τ instead of E[τ]", self.with_realised_tau),
                ("measured (loop overhead and noise remain)", self.measured)]


def gap(c: Counts, step_s: float | None, measured: float | None) -> Gap | None:
    """The gap decomposition of one run (None without a baseline or without drafts)."""
    tau_e, tau = expected_acceptance_length_of(c), mean_acceptance_length(c)
    cr, v = cost_ratio(c, step_s), verify_cost(c, step_s)
    if None in (tau_e, tau, cr, v, measured):
        return None
    per_pass = c.mean_gamma * cr + v
    return Gap(tau_e, tau_e / v, tau_e / per_pass, tau / per_pass, measured)


# ----------------------------------------------------------------------------- a trace's summary

def baseline_step_s(trace: Trace) -> float | None:
    """Seconds of one plain target step, from the baseline decoded in the same run."""
    return trace.baseline.s_per_token if trace.baseline.output_ids else None


def spec_s_per_token(trace: Trace) -> float:
    return trace.timing.spec_s / max(len(trace.output_ids), 1)


def measured_speedup(trace: Trace) -> float | None:
    """Baseline seconds per token ÷ speculative seconds per token (None without a baseline)."""
    step = baseline_step_s(trace)
    if not step or trace.timing.spec_s <= 0:
        return None
    return step / spec_s_per_token(trace)


@dataclass
class Summary:
    alpha: float | None  # Leviathan's α (MLE over checked positions)
    alpha_expected: float | None  # mean β = Σ min(p, q) over checked positions
    mean_acceptance_length: float | None  # τ, tokens per target pass
    expected_acceptance_length: float | None  # Leviathan's E[τ] at alpha (the model check)
    draft_acceptance_rate: float | None  # vLLM's accepted ÷ drafted
    gamma: int
    rounds: int
    drafted: int
    accepted: int
    checked: int
    tokens: int
    cost_ratio: float | None  # c
    verify_cost: float | None  # v(γ+1) measured in the run
    speedup_measured: float | None
    speedup_theoretical: float | None  # Leviathan at alpha, γ, c (verify pass = 1 step)
    speedup_verify_aware: float | None  # E[τ] / (γ̄c + v) with the measured v
    spec_s_per_token: float
    baseline_s_per_token: float
    verify_s_per_pass: float
    same_as_baseline: bool | None  # greedy only: speculative output == plain output

    def to_dict(self) -> dict:
        return asdict(self)


def summarize_counts(c: Counts, gamma: int, step_s: float | None,
                     measured: float | None = None) -> Summary:
    """Every metric of counts, for runs that are not traces (bench, distill, pooled workloads).

    Both theories use the drafts the run actually made (E[τ] over its draft lengths, γ̄ drafted
    per pass): with a fixed γ they are exactly Leviathan's formulas at γ.
    """
    tau_e, cr, v = expected_acceptance_length_of(c), cost_ratio(c, step_s), verify_cost(c, step_s)
    theory = tau_e / (c.mean_gamma * cr + 1) if tau_e is not None and cr is not None else None
    aware = tau_e / (c.mean_gamma * cr + v) if None not in (tau_e, cr, v) else None
    return Summary(alpha(c), alpha_expected(c), mean_acceptance_length(c), tau_e,
                   draft_acceptance_rate(c), gamma, c.passes, c.drafted, c.accepted, c.checked,
                   c.tokens, cr, v, measured, theory, aware,
                   0.0, step_s or 0.0, c.verify_s / c.passes if c.passes else 0.0, None)


def summarize(trace: Trace) -> Summary:
    s = summarize_counts(counts(trace), trace.config.gamma, baseline_step_s(trace), measured_speedup(trace))
    s.spec_s_per_token = spec_s_per_token(trace)
    s.same_as_baseline = (trace.output_ids == trace.baseline.output_ids
                          if trace.config.temperature == 0 and trace.baseline.output_ids else None)
    return s


def trace_gap(trace: Trace) -> Gap | None:
    return gap(counts(trace), baseline_step_s(trace), measured_speedup(trace))


def cumulative(trace: Trace) -> dict[str, list[float]]:
    """Per-round running series for charts: tokens, α so far, spec and baseline seconds, and
    both theories from the counts so far (None without a baseline)."""
    running = Counts()
    step = trace.baseline.s_per_token
    series = {"round": [], "tokens_per_pass": [], "alpha": [], "tokens": [], "spec_s": [],
              "baseline_s": [], "speedup": [], "theory": [], "theory_v": []}
    spec_s = 0.0
    for i, r in enumerate(trace.rounds, 1):
        n = sum(t.accepted for t in r.draft)
        running.add_round(len(r.draft), n, draft_s=r.draft_s, verify_s=r.verify_s)
        spec_s += r.draft_s + r.verify_s
        base_s = running.tokens * step
        a = alpha(running)
        series["round"].append(i)
        series["tokens_per_pass"].append(n + 1)
        series["alpha"].append(float("nan") if a is None else a)
        series["tokens"].append(running.tokens)
        series["spec_s"].append(spec_s)
        series["baseline_s"].append(base_s)
        series["speedup"].append(base_s / spec_s if spec_s and base_s else float("nan"))
        s = summarize_counts(running, trace.config.gamma, baseline_step_s(trace))
        series["theory"].append(s.speedup_theoretical)
        series["theory_v"].append(s.speedup_verify_aware)
    return series
