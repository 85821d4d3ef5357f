"""The draft -> verify loop with KV caches and rollback, and the plain decoding baseline.

Both loops share CachedLM; both time decoding only (prefill is timed apart), so their
per-token times can be compared as a speedup.
"""
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from .drafters import CachedLM, Drafter, start
from .errors import ModelError
from .metrics import Counts
from .sampling import SamplingParams, Verdict, choose, overlap, probs_from_logits, verify
from .trace import Candidate, Correction, DraftToken, Round

MAX_GAMMA = 16


class TokenTexts:
    """Token id -> its text, decoded once per id."""

    def __init__(self, tokenizer):
        self.tokenizer, self.cache = tokenizer, {}

    def __call__(self, token: int) -> str:
        if token not in self.cache:
            self.cache[token] = self.tokenizer.decode([token])
        return self.cache[token]

    def candidates(self, probs: torch.Tensor, k: int) -> list[list[Candidate]]:
        """Top-k of each row of probs [n, V] as Candidates."""
        if k == 0 or probs.shape[0] == 0:
            return [[] for _ in range(probs.shape[0])]
        top = torch.topk(probs, k, dim=-1)
        return [[Candidate(t, self(t), v) for t, v in zip(ids, vals)]
                for ids, vals in zip(top.indices.tolist(), top.values.tolist())]


@dataclass
class Decoded:
    output_ids: list[int]
    decode_s: float
    prefill_s: float
    stop_reason: str
    rounds: list[Round] = field(default_factory=list)
    counts: Counts = field(default_factory=Counts)  # kept on the lean path too (no β there)


def _prefill(lm: CachedLM, seq: torch.Tensor) -> None:
    if seq.shape[1] > 1:
        lm.forward(seq[:, :-1])


def _stop(new: list[int], out: list[int], eos_ids: set[int]) -> bool:
    """Append new tokens to out up to and including the first EOS; True if an EOS was hit."""
    for token in new:
        out.append(token)
        if token in eos_ids:
            return True
    return False


@torch.inference_mode()
def plain_decode(target, prompt_ids: list[int], params: SamplingParams, max_new_tokens: int,
                 generator: torch.Generator, eos_ids: set[int],
                 should_stop: Callable[[], bool] = lambda: False) -> Decoded:
    """Target-only decoding, one token per forward pass: the baseline."""
    lm = CachedLM(target)
    seq = torch.tensor([prompt_ids], device=target.device)
    start = time.perf_counter()
    _prefill(lm, seq)
    prefill_s, start = time.perf_counter() - start, time.perf_counter()
    out, pending, reason = [], seq[:, -1:], "max_new_tokens"
    while len(out) < max_new_tokens:
        if should_stop():
            reason = "cancelled"
            break
        p = probs_from_logits(lm.forward(pending)[-1], params)
        u = None if params.greedy else torch.rand((), generator=generator).to(p.device)
        token = choose(p, u, params.greedy)
        if _stop([int(token)], out, eos_ids):
            reason = "eos"
            break
        pending = token.view(1, 1)
    return Decoded(out, time.perf_counter() - start, prefill_s, reason)


@torch.inference_mode()
def speculative_decode(target, drafter: Drafter, prompt_ids: list[int], params: SamplingParams,
                       gamma: int, max_new_tokens: int, generator: torch.Generator,
                       eos_ids: set[int], texts: TokenTexts | None = None, topk: int = 8,
                       on_round: Callable[[Round], None] = lambda r: None,
                       should_stop: Callable[[], bool] = lambda: False) -> Decoded:
    """Draft gamma tokens, verify them in one target pass, keep the accepted prefix + 1 token.

    With texts=None no trace rounds are recorded (the lean path the benchmark times); with
    texts, each round is recorded after its timed span, so both paths time the same work.
    gamma is an int, or a policy with a .gamma attribute and update(drafted, accepted) that
    sets the next round's gamma (adaptive gamma, see specviz.adaptive).
    """
    adaptive = not isinstance(gamma, int)
    lm = CachedLM(target)
    seq = torch.tensor([prompt_ids], device=target.device)
    t_start = time.perf_counter()
    start(lm, drafter, seq)
    res = Decoded([], 0.0, time.perf_counter() - t_start, "max_new_tokens")
    while len(res.output_ids) < max_new_tokens:
        if should_stop():
            res.stop_reason = "cancelled"
            break
        g = min(gamma.gamma if adaptive else gamma, max_new_tokens - len(res.output_ids) - 1)  # never overshoot
        t0 = time.perf_counter()
        step = _round(lm, drafter, seq, g, params, generator)
        seq = torch.cat([seq, torch.tensor([step.new], device=seq.device)], dim=1)
        hit_eos = _stop(step.new, res.output_ids, eos_ids)
        res.decode_s += time.perf_counter() - t0
        k, n = step.drafted.shape[0], step.verdict.n_accepted
        if adaptive:
            gamma.update(k, n)
        rnd = None
        if texts is not None:  # outside the timed span: recording is the app's cost, not the engine's
            rnd = _record(step.verdict, step.drafted, step.p, step.q, step.draws, g, texts, topk,
                          step.draft_s, step.verify_s, drafter.samples, params.greedy)
            res.rounds.append(rnd)
        res.counts.add_round(k, n, [t.beta for t in rnd.draft] if rnd else None, step.draft_s, step.verify_s)
        if rnd is not None:
            on_round(rnd)
        if hit_eos:
            res.stop_reason = "eos"
            break
    del res.output_ids[max_new_tokens:]
    res.counts.tokens = len(res.output_ids)
    return res


@dataclass
class _Step:
    """What one draft -> verify round produced (tensors kept for the trace)."""

    drafted: torch.Tensor
    q: torch.Tensor
    p: torch.Tensor
    verdict: Verdict
    draws: torch.Tensor | None
    new: list[int]  # accepted drafted tokens + the target's own token
    draft_s: float
    verify_s: float


def _round(lm: CachedLM, drafter: Drafter, seq: torch.Tensor, g: int, params: SamplingParams,
           generator: torch.Generator) -> _Step:
    """Draft g tokens, score them in one target pass over g + 1 tokens, cut both caches back."""
    t0 = time.perf_counter()
    draws = None if params.greedy else torch.rand(2 * g + 1, generator=generator).to(seq.device)
    u_draft = draws[:g] if draws is not None else [None] * g
    drafted, q = (drafter.propose(seq, g, params, u_draft) if g > 0 else
                  (seq.new_zeros(0), torch.zeros(0, 1, device=seq.device)))
    k = drafted.shape[0]
    t1 = time.perf_counter()
    n_valid = seq.shape[1]
    ids = torch.cat([seq[:, -1], drafted]).view(1, -1)
    logits, hidden = lm.forward_with_hidden(ids) if drafter.wants_hidden else (lm.forward(ids), None)
    p = probs_from_logits(logits, params)
    if k and q.shape[-1] != p.shape[-1]:  # zero-filling q here would silently break losslessness
        raise ModelError(f"the drafter {drafter.name} gave q over {q.shape[-1]} tokens but the "
                         f"target scores {p.shape[-1]}: its vocabulary does not match the target's")
    r = draws[g:g + k] if draws is not None else None
    verdict = verify(p, q, drafted, r, draws[-1] if draws is not None else None, params.greedy)
    n = verdict.n_accepted
    lm.truncate(n_valid + n)
    drafter.rollback(n_valid + n)
    if drafter.wants_hidden:
        drafter.observe(hidden[:n + 1], n_valid - 1)
    new = drafted[:n].tolist() + [verdict.token]
    return _Step(drafted, q, p, verdict, draws, new, t1 - t0, time.perf_counter() - t1)


def _record(verdict, drafted, p, q, draws, g, texts: TokenTexts, topk: int,
            draft_s: float, verify_s: float, drafter_samples: bool, greedy: bool) -> Round:
    """One trace round from the tensors of a verify step (β from the full distributions)."""
    k = drafted.shape[0]
    betas = overlap(p[:k], q, greedy).tolist() if k else []
    top_p, top_q = texts.candidates(p, topk), texts.candidates(q, topk)
    u_draft = draws[:k].tolist() if draws is not None and drafter_samples else [None] * k
    r = draws[g:g + k].tolist() if draws is not None else [None] * k
    draft = [DraftToken(t, texts(t), qx, px, ri, ok, ui, tp, tq, b)
             for t, qx, px, ri, ok, ui, tp, tq, b in zip(
                 drafted.tolist(), verdict.q_drafted, verdict.p_drafted, r, verdict.accepted,
                 u_draft, top_p, top_q, betas)]
    n = verdict.n_accepted
    residual = texts.candidates(verdict.residual[None], topk)[0] if verdict.residual is not None else []
    correction = Correction(verdict.token, texts(verdict.token), verdict.kind,
                            float(p[n, verdict.token]),
                            float(draws[-1]) if draws is not None else None, top_p[n], residual)
    return Round(draft, correction, draft_s, verify_s)
