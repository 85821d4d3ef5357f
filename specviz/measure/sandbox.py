"""The no-model sandbox: a draft q and a target p over a handful of tokens, and what strict
verification makes of them (Leviathan et al. 2023, in paper notation). Pure; no Streamlit.

β = Σₓ min(p(x), q(x)) is the chance a drafted token is accepted; a drafted x is accepted with
probability min(1, p(x)/q(x)); after a rejection the target samples norm(max(0, p − q)). The
simulation draws through sampling.verify itself, so its output distribution converging to p is
the real verifier's behaviour, not a re-derivation.
"""
import math
from dataclasses import dataclass

import torch

from ..decoding.sampling import residual, sample, verify

TOKENS = ["the", "a", "cat", "dog", "sat"]
P_START = [0.40, 0.25, 0.15, 0.12, 0.08]  # a target sure of "the", a draft that prefers "a"
Q_START = [0.20, 0.45, 0.10, 0.15, 0.10]
MAX_DRAWS = 5_000  # one verify call per draw: ~0.2-0.5 ms each on a shared CPU


@dataclass
class Analysis:
    tokens: list[str]
    p: list[float]
    q: list[float]
    beta: float  # Σ min(p, q): acceptance probability of one drafted token
    accept: list[float | None]  # min(1, p/q) per token; None where q = 0 (never drafted)
    residual: list[float] | None  # norm(max(0, p − q)); None when p = q (never rejects)


@dataclass
class Simulation:
    draws: list[int]  # checkpoints: number of draws so far
    freq: list[list[float]]  # empirical distribution of the output token at each checkpoint
    tv: list[float]  # total variation distance to p at each checkpoint
    accepted: int  # drafted tokens accepted over all draws
    n: int


def normalise(weights: list[float], what: str) -> list[float]:
    """Slider weights -> a distribution (ValueError if they cannot be one)."""
    w = [float(x) for x in weights]
    if any(not math.isfinite(x) or x < 0 for x in w):
        raise ValueError(f"{what}: weights must be finite and ≥ 0")
    total = sum(w)
    if total <= 0:
        raise ValueError(f"{what}: at least one token needs a weight above 0")
    return [x / total for x in w]


def analyse(tokens: list[str], p_weights: list[float], q_weights: list[float]) -> Analysis:
    if not (len(tokens) == len(p_weights) == len(q_weights) >= 2):
        raise ValueError("p and q need one weight per token, and at least two tokens")
    p, q = normalise(p_weights, "p (target)"), normalise(q_weights, "q (draft)")
    beta = min(1.0, sum(min(a, b) for a, b in zip(p, q)))
    accept = [None if b == 0 else min(1.0, a / b) for a, b in zip(p, q)]
    excess = [max(0.0, a - b) for a, b in zip(p, q)]
    total = sum(excess)
    res = None if total <= 1e-12 else [e / total for e in excess]
    return Analysis(list(tokens), p, q, beta, accept, res)


def checkpoints(n: int) -> list[int]:
    """1, 2, 5, 10, 20, 50, ... up to n (and n itself)."""
    out, k = [], 1
    while k < n:
        out += [c for c in (k, 2 * k, 5 * k) if c < n]
        k *= 10
    return out + [n]


def simulate(a: Analysis, n: int, seed: int = 0) -> Simulation:
    """n rounds of γ = 1: draft x ~ q, verify it against p, record the token that comes out."""
    if not 1 <= n <= MAX_DRAWS:
        raise ValueError(f"draws must be between 1 and {MAX_DRAWS}")
    p, q = torch.tensor(a.p, dtype=torch.float64), torch.tensor(a.q, dtype=torch.float64)
    p2, q1 = torch.stack([p, p]), q.unsqueeze(0)  # row 1 of p: the bonus position (unused here)
    gen = torch.Generator().manual_seed(seed)
    draws = torch.rand(n, 3, generator=gen, dtype=torch.float64)  # (draft u, accept r, resample u)
    drafted = sample(q.expand(n, -1), draws[:, 0])  # x ~ q for every round at once
    counts, accepted, marks = [0] * len(a.p), 0, set(checkpoints(n))
    sim = Simulation([], [], [], 0, n)
    for i in range(n):
        x = drafted[i:i + 1]
        v = verify(p2, q1, x, draws[i, 1:2], draws[i, 2], greedy=False)
        out = int(x) if v.n_accepted else v.token
        accepted += v.n_accepted
        counts[out] += 1
        if i + 1 in marks:
            freq = [c / (i + 1) for c in counts]
            sim.draws.append(i + 1)
            sim.freq.append(freq)
            sim.tv.append(0.5 * sum(abs(f - t) for f, t in zip(freq, a.p)))
    sim.accepted = accepted
    return sim


def residual_check(a: Analysis) -> list[float]:
    """The residual as sampling.residual computes it (the sandbox shows the engine's own)."""
    return residual(torch.tensor(a.p), torch.tensor(a.q)).tolist()
