"""Counterfactual replay: what other gamma would have given on the same recorded run (an estimate).

A trace tells us, for many positions of the output, whether the draft's token at that position
was accepted when the draft saw exactly the true prefix: every drafted token up to and including
the first rejection of a round was proposed after the real output so far. Replaying a different
gamma walks the same output with different round boundaries and reuses those observations, so
the replay is prefix-consistent with the recorded text. Positions never drafted on the true
prefix (the bonus tokens) are unknown and count as accepted with the trace's Leviathan α (the
probability that a checked drafted token is accepted; specviz.measure.metrics.alpha). Where a drafter
proposed fewer tokens than asked (prompt lookup without a match), a replayed round's draft also
stops there.

The observed positions are exact only for a greedy run with a drafter whose proposal at a
position depends on nothing but the text before it (a separate draft model, early exit
layers:K). Everything else is an estimate (see caveat()): sampled runs (the draws fall
differently), trained EAGLE/Medusa drafts (a round's later proposals are built from the
target's hidden state at the round's start, so they change when the round starts elsewhere),
and prompt lookup (the n-gram it matches depends on where the round starts).
"""
from dataclasses import asdict, dataclass
from typing import Callable

from ..trace import Trace
from . import metrics


NO_DRAFT = "no draft"  # the drafter proposed nothing more at this position


def observations(trace: Trace) -> list[bool | None | str]:
    """Per output position: was the draft accepted there on the true prefix?

    None = never drafted there (a bonus token); NO_DRAFT = the drafter ran out of proposals.
    """
    obs: list[bool | None | str] = []
    for rnd in trace.rounds:
        n = sum(t.accepted for t in rnd.draft)
        obs += [True] * n
        # the correction sits where the first rejection was; a bonus follows a full accept
        if n < len(rnd.draft):
            obs.append(False)
        else:
            obs.append(None if len(rnd.draft) == trace.config.gamma else NO_DRAFT)
    return obs  # may run past the output: drafts accepted after an EOS


def caveat(trace: Trace) -> str | None:
    """Why the replay's observed positions are an estimate for this run (None: they are exact)."""
    kind = trace.config.draft.partition(":")[0]  # the drafter spec's kind (see decoding.drafters.build_drafter)
    if kind == "trained":
        return ("the trained draft reads the target's hidden state at the start of each round, so "
                "its proposals would differ had a round started elsewhere: an estimate")
    if kind == "lookup":
        return ("prompt lookup matches the n-gram at the start of each round, so its proposals "
                "would differ had a round started elsewhere: an estimate")
    if trace.config.temperature > 0:
        return "a sampled run: the random draws would fall differently at another γ: an estimate"
    return None


@dataclass
class ReplayPoint:
    """Expected counts and metrics of the run replayed at draft length gamma (named as in
    specviz.measure.metrics)."""

    gamma: int
    alpha: float | None  # Leviathan's α: expected accepted ÷ expected checked positions
    draft_acceptance_rate: float  # vLLM's rate: expected accepted ÷ expected drafted
    mean_acceptance_length: float  # τ: output tokens ÷ expected target passes (as specviz.measure.metrics)
    passes: float  # expected target passes for the whole output
    drafted: float  # expected drafted tokens
    speedup: float | None  # estimated walltime speedup over plain decoding (None without timings)
    recorded: bool  # True for the gamma the trace was actually run with

    def to_dict(self) -> dict:
        return asdict(self)


def replay(trace: Trace, gamma: int, verify_ratio: Callable[[int], float] | None = None) -> ReplayPoint:
    """Expected α, τ and speedup had this run used draft length gamma.

    verify_ratio(n): cost of a target pass over n tokens relative to one token (a CostCurve's
    ratio); without it a verify pass is assumed to cost the same at any gamma (memory-bound).
    A token-tree run cannot be re-cut into chains (its rounds tested siblings, not positions).
    """
    if trace.config.tree_nodes:
        raise ValueError("replay re-cuts a chain at another γ: a token-tree run has no chain to re-cut")
    obs, n_out, cap = observations(trace), len(trace.output_ids), trace.config.max_new_tokens
    fill = metrics.alpha(metrics.counts(trace)) or 0.0  # Leviathan's α: unobserved positions are checked ones
    a = [fill if o is None or o == NO_DRAFT else float(o) for o in obs]
    a += [fill] * (cap + gamma + 1 - len(a))  # past the recorded rounds: nothing observed
    limit = _proposal_limits(trace, obs, cap)
    size = max(n_out, cap) + gamma + 2
    passes, acc, drf, rej = ([0.0] * size for _ in range(4))
    # expected passes / accepted / drafted / rejections from output position s to the end, right to left
    for s in range(n_out - 1, -1, -1):
        g = min(gamma, cap - s - 1, limit[s])  # as the engine: never draft past max_new_tokens
        reach = 1.0  # probability that the first j drafted tokens were all accepted
        passes[s], drf[s] = 1.0, float(g)
        for j in range(g + 1):
            stop = reach * (1 - a[s + j]) if j < g else reach  # first rejection at j, or all g kept
            nxt = s + j + 1
            passes[s] += stop * passes[nxt]
            acc[s] += stop * (j + acc[nxt])
            drf[s] += stop * drf[nxt]
            rej[s] += stop * ((j < g) + rej[nxt])
            if j < g:
                reach *= a[s + j]
    # the definitions of specviz.measure.metrics, on expected counts
    checked = acc[0] + rej[0]
    point = ReplayPoint(gamma, acc[0] / checked if checked else None, acc[0] / drf[0] if drf[0] else 0.0,
                        n_out / passes[0] if passes[0] else 0.0, passes[0], drf[0], None,
                        gamma == trace.config.gamma)
    point.speedup = _speedup(trace, point, verify_ratio)
    return point


def _proposal_limits(trace: Trace, obs, cap: int) -> list[int]:
    """How many tokens the drafter could propose from each position (short for prompt lookup)."""
    limit, run = [cap] * (cap + 1), cap
    for s in range(min(len(obs), cap) - 1, -1, -1):
        run = 0 if obs[s] == NO_DRAFT else run + 1
        limit[s] = run
    start = 0
    for rnd in trace.rounds:  # where a recorded round started, its proposal length is known
        if start <= cap:
            full = len(rnd.draft) == trace.config.gamma
            limit[start] = max(limit[start], len(rnd.draft)) if full else len(rnd.draft)
        start += rnd.n_new
    return limit


def _speedup(trace: Trace, point: ReplayPoint, verify_ratio) -> float | None:
    """Baseline time for the output / (passes x verify time + drafted x draft time per token)."""
    if not trace.baseline.s_per_token or not trace.rounds:
        return None
    verify_s = sum(r.verify_s for r in trace.rounds) / len(trace.rounds)
    if verify_ratio is not None:
        verify_s *= verify_ratio(point.gamma + 1) / verify_ratio(trace.config.gamma + 1)
    draft_per_token = sum(r.draft_s for r in trace.rounds) / max(sum(len(r.draft) for r in trace.rounds), 1)
    spec_s = point.passes * verify_s + point.drafted * draft_per_token
    return trace.baseline.s_per_token * len(trace.output_ids) / spec_s if spec_s > 0 else None


def replay_all(trace: Trace, gammas=range(1, 17), verify_ratio=None) -> list[ReplayPoint]:
    return [replay(trace, g, verify_ratio) for g in gammas]
