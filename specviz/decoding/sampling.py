"""The math of speculative sampling, in paper notation (Leviathan et al. 2023).

p = target distribution, q = draft distribution, gamma = number of drafted tokens.
Every random decision takes an explicit uniform draw so a trace can record it.
"""
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SamplingParams:
    """temperature 0 means greedy; top_k 0 and top_p 1 mean no truncation."""

    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def check(self) -> None:
        if not 0 <= self.temperature <= 5:
            raise ValueError(f"temperature must be between 0 and 5, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top-p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise ValueError(f"top-k must be >= 0, got {self.top_k}")


def probs_from_logits(logits: torch.Tensor, params: SamplingParams) -> torch.Tensor:
    """Logits [..., V] -> the distribution actually sampled from (temperature, top-k, top-p).

    Greedy decoding returns the untempered softmax: decisions use its argmax, and the
    probabilities are what a trace shows.
    """
    logits = logits.float()
    if params.greedy:
        return torch.softmax(logits, dim=-1)
    logits = logits / params.temperature
    if params.top_k:
        kth = torch.topk(logits, min(params.top_k, logits.shape[-1]), dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if params.top_p < 1:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        sorted_probs = torch.softmax(sorted_logits, dim=-1)
        # drop a token when the tokens ranked above it already cover top_p (the first always stays)
        drop = (sorted_probs.cumsum(dim=-1) - sorted_probs) >= params.top_p
        logits = logits.scatter(-1, order, sorted_logits.masked_fill(drop, float("-inf")))
    return torch.softmax(logits, dim=-1)


def sample(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF sampling: the first token whose cumulative probability exceeds u * total."""
    cdf = probs.cumsum(dim=-1)
    token = torch.searchsorted(cdf, (u * cdf[..., -1]).unsqueeze(-1).contiguous(), right=True)
    return token.squeeze(-1).clamp_(max=probs.shape[-1] - 1)


def choose(probs: torch.Tensor, u: torch.Tensor, greedy: bool) -> torch.Tensor:
    """Pick a token from probs: argmax when greedy, else sample with the uniform draw u."""
    return probs.argmax(dim=-1) if greedy else sample(probs, u)


def overlap(p: torch.Tensor, q: torch.Tensor, greedy: bool) -> torch.Tensor:
    """β = Σₓ min(p(x), q(x)) per row: the probability that the drafted token is accepted.

    Greedy verification compares argmaxes, i.e. p and q are one-hot at their argmax: β is 1
    when the argmaxes agree and 0 otherwise.
    """
    if greedy:
        return (p.argmax(dim=-1) == q.argmax(dim=-1)).float()
    return torch.minimum(p, q).sum(dim=-1).clamp_(max=1.0)  # float sums can pass 1 by an ulp


def residual(p_row: torch.Tensor, q_row: torch.Tensor) -> torch.Tensor:
    """norm(max(0, p - q)): where to resample after a rejection (falls back to p if p == q)."""
    diff = (p_row - q_row).clamp_(min=0)
    total = diff.sum()
    return diff / total if total > 0 else p_row


@dataclass
class Verdict:
    """Outcome of verifying one round of drafted tokens."""

    n_accepted: int
    accepted: list[bool]  # per drafted token; tokens after the first rejection count as rejected
    token: int  # the target's own token: resampled at the rejection, or the bonus
    kind: str  # "resampled" | "bonus" | "target" (nothing was drafted: the target's own step)
    p_drafted: list[float]  # p(x) of each drafted token
    q_drafted: list[float]  # q(x) of each drafted token
    residual: torch.Tensor | None  # normalised max(0, p - q) at the rejected position


def verify(p: torch.Tensor, q: torch.Tensor, drafted: torch.Tensor, r: torch.Tensor,
           u: torch.Tensor, greedy: bool) -> Verdict:
    """Strict speculative verification.

    p: [gamma+1, V] target distributions (row gamma is the bonus position)
    q: [gamma, V] draft distributions; drafted: [gamma] token ids
    r: [gamma] uniform draws for the accept tests; u: scalar uniform for the correction.
    Accept x_i with probability min(1, p(x_i)/q(x_i)) (greedy: iff x_i is the target argmax).
    """
    gamma = drafted.shape[0]
    rows = torch.arange(gamma, device=p.device)
    p_x, q_x = p[rows, drafted], q[rows, drafted]
    if greedy:
        ok = drafted == p[:gamma].argmax(dim=-1)
    else:
        ok = r * q_x < p_x  # r < p/q without dividing by a possibly tiny q
    n = int(ok.long().cumprod(dim=0).sum()) if gamma else 0
    if n < gamma:
        res = residual(p[n], q[n])
        token, kind = choose(p[n] if greedy else res, u, greedy), "resampled"
    else:
        res, token, kind = None, choose(p[gamma], u, greedy), "bonus" if gamma else "target"
    accepted = [i < n for i in range(gamma)]
    return Verdict(n, accepted, int(token), kind, p_x.tolist(), q_x.tolist(), res)
