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
- mean_acceptance_length: τ, output tokens per target pass = output tokens ÷ passes (vLLM's
  "mean acceptance length", EAGLE/Spec-Bench's "average acceptance length"). A pass yields
  its accepted drafts and the target's own token, 1 + accepted, except where the output ends:
  tokens accepted after an EOS (or past max_new_tokens) are not output and do not count.
  Every target pass counts, including passes in which the drafter proposed nothing (lookup
  without a match): such a pass is the target's own plain step and yields one token.
- draft_acceptance_rate: accepted ÷ drafted, vLLM's counter. Under the i.i.d. model its
  expectation is (α − α^(γ+1)) / (γ(1 − α)): α only at γ = 1. Never fed to Leviathan's formulas.
- cost_ratio c: draft time per drafted token ÷ one plain target step of the same run. A
  per-round fixed draft cost (EAGLE's catch-up over the tokens the target just settled) is
  inside the draft time, so it is spread over the round's drafted tokens: a round's draft
  then costs γ·c steps, as the formulas assume.
- verify_cost v: mean time of one verify pass (γ + 1 tokens) ÷ one plain target step.
  Leviathan assumes v = 1; speedup ≈ E[τ] / (γc + v) with the measured v.

Token trees (a round drafts N nodes, one pass scores them all, the walk keeps one path).
Leviathan's α and every formula built on it (E[τ], both theories) describe chains, so a run
with branching rounds reports them as None (n/a) and reports instead:
- node_acceptance: accepted ÷ checked nodes along the walk (the walk tests siblings in turn;
  a chain's value is Leviathan's α). alpha_expected is then the mean β of the tested nodes,
  β = Σ min(p, q_j) at each test, whose expectation is that share.
- τ, vLLM's rate (accepted ÷ drafted nodes), c (per drafted node), v (the N+1-token pass)
  keep their definitions; acceptance "by position" is by depth (checked: the walk tested a
  node at that depth; accepted: the path reached it).
- speedup_from_costs: τ ÷ (N̄c + v), what the realised τ and the measured costs predict
  (for a chain, the gap chart's last modelled level); the gap chart starts from τ.
"""
from dataclasses import asdict, dataclass

from ..counts import Counts, tree_counts
from ..trace import Round, Trace


def add_trace_round(c: Counts, r: Round) -> None:
    """Count one recorded round, a chain or a tree."""
    if r.tree is None:
        c.add_round(len(r.draft), sum(t.accepted for t in r.draft), [t.beta for t in r.draft],
                    r.draft_s, r.verify_s)
        return
    nodes = r.tree.nodes
    c.add_tree_round(**tree_counts([n.parent for n in nodes], [n.fate for n in nodes],
                                   [n.beta for n in nodes]), draft_s=r.draft_s, verify_s=r.verify_s)


def counts(trace: Trace) -> Counts:
    """The counts of one trace (β only where the trace recorded it)."""
    c = Counts()
    for r in trace.rounds:
        add_trace_round(c, r)
    c.tokens = len(trace.output_ids)  # an EOS inside accepted drafts ends the output early
    return c


def pooled(traces: list[Trace]) -> Counts:
    total = Counts()
    for t in traces:
        total = total + counts(t)
    return total

def alpha(c: Counts) -> float | None:
    """Leviathan's α, maximum likelihood: accepted ÷ (accepted + rounds ending in a rejection).
    Defined for chains only: None once a round drafted a tree (see node_acceptance)."""
    return c.accepted / c.checked if c.checked and not c.tree_rounds else None


def node_acceptance(c: Counts) -> float | None:
    """Accepted ÷ checked nodes along the walk: of the drafted tokens the target tested, the
    share it accepted. A chain's is Leviathan's α; a tree tests siblings that a chain never
    drafts, so its share is lower while τ is higher (never fed to Leviathan's formulas)."""
    return c.accepted / c.checked if c.checked else None


def alpha_expected(c: Counts) -> float | None:
    """Mean β = Σ min(p, q) over checked positions (None if the run did not record β)."""
    return c.beta_sum / c.beta_n if c.beta_n else None


def mean_acceptance_length(c: Counts) -> float | None:
    """τ: output tokens per target pass (passes without drafts included; tokens accepted past
    the end of the output, after an EOS, are not output)."""
    return c.tokens / c.passes if c.passes else None


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
    tree: bool = False  # a tree run: there is no E[τ], the ideal is the realised τ

    def steps(self) -> list[tuple[str, float]]:
        if self.tree:
            return [("ideal: the run's τ, free draft, a tree pass = 1 step", self.ideal),
                    ("with the measured cost v of the tree pass", self.with_verify),
                    ("with the measured draft cost N̄c", self.with_draft),
                    ("measured (loop overhead and noise remain)", self.measured)]
        return [("ideal: E[τ], free draft, verify = 1 step", self.ideal),
                ("with the measured verify cost v", self.with_verify),
                ("with the measured draft cost c", self.with_draft),
                ("with the realised τ instead of E[τ]", self.with_realised_tau),
                ("measured (loop overhead and noise remain)", self.measured)]


def gap(c: Counts, step_s: float | None, measured: float | None) -> Gap | None:
    """The gap decomposition of one run (None without a baseline or without drafts). A tree
    run starts from its realised τ: Leviathan's E[τ] describes chains."""
    tau = mean_acceptance_length(c)
    tau_e = tau if c.tree_rounds else expected_acceptance_length_of(c)
    cr, v = cost_ratio(c, step_s), verify_cost(c, step_s)
    if None in (tau_e, tau, cr, v, measured):
        return None
    per_pass = c.mean_gamma * cr + v
    return Gap(tau_e, tau_e / v, tau_e / per_pass, tau / per_pass, measured, c.tree_rounds > 0)

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
    speedup_theoretical: float | None  # Leviathan at alpha and c over the drafts made, γ̄ (verify = 1 step)
    speedup_verify_aware: float | None  # E[τ] / (γ̄c + v) with the measured v
    spec_s_per_token: float
    baseline_s_per_token: float
    verify_s_per_pass: float
    same_as_baseline: bool | None  # greedy only: speculative output == plain output
    node_acceptance: float | None = None  # accepted ÷ checked nodes (a chain's: α)
    tree: bool = False  # some round drafted a branching tree: α, E[τ] and the theories are n/a
    nodes_per_pass: float = 0.0  # drafted tokens (tree nodes) per pass
    speedup_from_costs: float | None = None  # τ ÷ (N̄c + v): the realised τ at the measured costs

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
    tau = mean_acceptance_length(c)
    costs = tau / (c.mean_gamma * cr + v) if None not in (tau, cr, v) else None
    return Summary(alpha(c), alpha_expected(c), tau, tau_e,
                   draft_acceptance_rate(c), gamma, c.passes, c.drafted, c.accepted, c.checked,
                   c.tokens, cr, v, measured, theory, aware,
                   0.0, step_s or 0.0, c.verify_s / c.passes if c.passes else 0.0, None,
                   node_acceptance(c), c.tree_rounds > 0, c.mean_gamma, costs)


def summarize(trace: Trace) -> Summary:
    s = summarize_counts(counts(trace), trace.config.gamma, baseline_step_s(trace), measured_speedup(trace))
    s.spec_s_per_token = spec_s_per_token(trace)
    s.same_as_baseline = (trace.output_ids == trace.baseline.output_ids
                          if trace.config.temperature == 0 and trace.baseline.output_ids else None)
    return s


def trace_gap(trace: Trace) -> Gap | None:
    return gap(counts(trace), baseline_step_s(trace), measured_speedup(trace))


def loop_overhead_s(trace: Trace) -> float:
    """The loop's time outside the rounds' recorded draft and verify spans (a tree's walk, cache
    cuts, sampling), per round: the measured decode time less the spans, spread evenly."""
    timed = sum(r.draft_s + r.verify_s for r in trace.rounds)
    return max(trace.timing.spec_s - timed, 0.0) / len(trace.rounds) if trace.rounds else 0.0


def plain_s(trace: Trace) -> float | None:
    """Plain decoding's time for this run's output: its tokens at the baseline's measured
    seconds per step (None without a baseline). Over timing.spec_s it is the measured speedup."""
    step = baseline_step_s(trace)
    return len(trace.output_ids) * step if step else None


def cumulative(trace: Trace, upto: int | None = None) -> dict[str, list[float]]:
    """Per-round running series for charts: tokens, α (a tree run: accepted ÷ checked nodes) so
    far, spec and baseline seconds, both theories and τ ÷ (γ̄c + v) from the counts so far (None
    without a baseline; the theories None for trees). upto: only the first upto rounds."""
    running = Counts()
    step = trace.baseline.s_per_token
    series = {"round": [], "tokens_per_pass": [], "alpha": [], "tokens": [], "spec_s": [],
              "baseline_s": [], "speedup": [], "theory": [], "theory_v": [], "node_acceptance": [],
              "from_costs": []}
    spec_s = 0.0
    overhead = loop_overhead_s(trace)  # so that the running speedup ends at the measured one
    kept = 0
    for i, r in enumerate(trace.rounds[:upto], 1):
        add_trace_round(running, r)
        spec_s += r.draft_s + r.verify_s + overhead
        before, kept = kept, min(running.tokens, len(trace.output_ids))  # drafts accepted past an EOS are not output
        running.tokens = kept
        base_s = kept * step
        a = alpha(running)
        series["round"].append(i)
        series["tokens_per_pass"].append(kept - before)
        series["alpha"].append(float("nan") if a is None else a)
        series["tokens"].append(kept)
        series["spec_s"].append(spec_s)
        series["baseline_s"].append(base_s)
        series["speedup"].append(base_s / spec_s if spec_s and base_s else float("nan"))
        s = summarize_counts(running, trace.config.gamma, baseline_step_s(trace))
        series["theory"].append(s.speedup_theoretical)
        series["theory_v"].append(s.speedup_verify_aware)
        series["node_acceptance"].append(float("nan") if s.node_acceptance is None else s.node_acceptance)
        series["from_costs"].append(s.speedup_from_costs)
    return series
