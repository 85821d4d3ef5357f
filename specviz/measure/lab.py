"""The distribution lab: is the next token still distributed as the target's p?

For one fixed prefix we take the target's p and the draft's q on the real models, then draw
many "first emitted tokens" with plain target sampling, strict speculative sampling (the
engine's own `verify`) and loose variants people ship by mistake, and compare each empirical
distribution with p (total-variation distance, chi-square test) and with its exact law.
"""
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from scipy import stats

from ..decoding.cached_lm import CachedLM
from ..decoding.drafters.base import start
from ..decoding.sampling import SamplingParams, probs_from_logits, verify
from ..errors import ModelError

Progress = Callable[[float, str], None]

VARIANTS = {
    "target": "plain target sampling (the reference)",
    "strict": "strict speculative sampling (the engine's verify)",
    "topk": "loose: accept if the draft token is in the target's top-k, else sample p",
    "ratio": "loose: accept if p/q > threshold, else sample p",
    "no_residual": "loose: accept with min(1, p/q) but resample from p, not max(0, p - q)",
    "greedy_draft": "loose: greedy draft (argmax q) verified with the draft's soft q",
}
LOOSE = ["topk", "ratio", "no_residual", "greedy_draft"]


@torch.inference_mode()
def next_token_distributions(target, drafter, prompt_ids: list[int], params: SamplingParams,
                             seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """p and q [V] for the token after prompt_ids, computed the way the engine computes them."""
    lm, seq = CachedLM(target), torch.tensor([prompt_ids], device=target.device)
    start(lm, drafter, seq)
    u = torch.rand(1, generator=torch.Generator().manual_seed(seed))
    tokens, q = drafter.propose(seq, 1, params, u)
    if tokens.shape[0] == 0:
        raise ModelError(f"{drafter.name} proposes nothing after this prefix (no n-gram match): "
                         "use a model drafter such as layers:K for the lab")
    p = probs_from_logits(lm.forward(seq[:, -1:])[-1], params)
    return p.cpu(), q[0].cpu()


def exact_distribution(variant: str, p: torch.Tensor, q: torch.Tensor, k: int = 10,
                       threshold: float = 0.5) -> torch.Tensor:
    """The exact law of the first emitted token under each variant (closed form)."""
    if variant in ("target", "strict"):
        return p.clone()
    if variant in ("topk", "ratio"):
        ok = _loose_accept_set(variant, p, q, k, threshold)
        kept = q * ok  # the draft token is kept when it lands in the accept set
        return kept + (1 - kept.sum()) * p
    if variant == "no_residual":
        overlap = torch.minimum(p, q)
        return overlap + (1 - overlap.sum()) * p
    if variant == "greedy_draft":
        x = int(q.argmax())
        a = min(1.0, float(p[x] / q[x]))
        out = (1 - a) * _residual(p, q)
        out[x] += a
        return out
    raise ValueError(f"unknown variant {variant!r}")


def _residual(p, q):
    diff = (p - q).clamp(min=0)
    return diff / diff.sum() if diff.sum() > 0 else p.clone()


def _loose_accept_set(variant, p, q, k, threshold):
    if variant == "topk":
        ok = torch.zeros_like(p, dtype=torch.bool)
        ok[torch.topk(p, min(k, p.shape[0])).indices] = True
        return ok
    return (p > threshold * q) & (q > 0)  # p/q > threshold without dividing by q = 0


def sample_variant(variant: str, p: torch.Tensor, q: torch.Tensor, n: int, gen: torch.Generator,
                   k: int = 10, threshold: float = 0.5,
                   progress: Callable[[int], None] = lambda done: None) -> torch.Tensor:
    """n first-emitted tokens [n] under a variant, drawn with generator gen."""
    if variant == "target":
        return torch.multinomial(p, n, replacement=True, generator=gen)
    x = torch.multinomial(q, n, replacement=True, generator=gen)  # the draft's proposals x ~ q
    r, fallback = torch.rand(n, generator=gen), torch.multinomial(p, n, replacement=True, generator=gen)
    if variant in ("strict", "greedy_draft"):
        if variant == "greedy_draft":
            x = torch.full_like(x, int(q.argmax()))
        return _via_verify(p, q, x, r, torch.rand(n, generator=gen), progress)
    if variant in ("topk", "ratio"):
        ok = _loose_accept_set(variant, p, q, k, threshold)[x]
    elif variant == "no_residual":
        ok = r * q[x] < p[x]
    else:
        raise ValueError(f"unknown variant {variant!r}")
    return torch.where(ok, x, fallback)


def _via_verify(p, q, x, r, u, progress, chunk: int = 250) -> torch.Tensor:
    """One call of the engine's verify per sample (gamma = 1), on the support of p and q.

    Dropping tokens where p = q = 0 changes nothing (they can be neither drafted nor drawn)
    and makes each call cheap; top-k / top-p settings shrink that support a lot.
    """
    support = torch.nonzero((p > 0) | (q > 0)).squeeze(1)
    index = torch.full((p.shape[0],), -1, dtype=torch.long)
    index[support] = torch.arange(support.shape[0])
    ps, qs = p[support], q[support][None]
    p2 = torch.stack([ps, ps])  # row 1 is the bonus position, unused for the first token
    xs, out = index[x], torch.empty_like(x)
    for i in range(x.shape[0]):
        v = verify(p2, qs, xs[i:i + 1], r[i:i + 1], u[i], greedy=False)
        out[i] = x[i] if v.n_accepted else support[v.token]
        if (i + 1) % chunk == 0:
            progress(i + 1)
    return out


def tv_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Total-variation distance: half the L1 distance between two distributions."""
    return 0.5 * float(np.abs(a - b).sum())


def chi_square_pvalue(counts: np.ndarray, p: np.ndarray) -> float:
    """Chi-square goodness of fit of counts to p; tokens expected < 5 times share one bin."""
    n = counts.sum()
    expected = n * p
    big = expected >= 5
    obs, exp = list(counts[big]), list(expected[big])
    if (~big).any() and expected[~big].sum() > 0:
        obs.append(counts[~big].sum())
        exp.append(expected[~big].sum())
    if len(obs) < 2:
        return 1.0
    exp = np.array(exp) * (sum(obs) / sum(exp))  # float rounding: make the totals agree exactly
    return float(stats.chisquare(np.array(obs, dtype=float), exp).pvalue)


@dataclass
class VariantResult:
    name: str
    description: str
    empirical: np.ndarray  # [V] frequencies
    exact: np.ndarray  # [V] closed-form law of this variant
    tv: float  # empirical vs p
    tv_exact: float  # exact law vs p: the drift itself, without sampling noise
    chi2_p: float  # chi-square p-value of the counts against p


@dataclass
class LabResult:
    p: np.ndarray
    q: np.ndarray
    n: int
    seed: int
    k: int
    threshold: float
    variants: dict[str, VariantResult] = field(default_factory=dict)

    @property
    def noise_floor(self) -> float:
        """The TV distance plain target sampling itself shows at this n (sampling noise)."""
        return self.variants["target"].tv if "target" in self.variants else float("nan")


def run_lab(p: torch.Tensor, q: torch.Tensor, n: int = 4000, seed: int = 0,
            variants: list[str] | None = None, k: int = 10, threshold: float = 0.5,
            progress: Progress = lambda f, m: None) -> LabResult:
    """Sample n tokens per variant (fixed seed) and score each against p."""
    variants = variants or list(VARIANTS)
    p, q = p.double(), q.double()  # float64 so the closed forms and sums are clean
    p_np = p.numpy()
    result = LabResult(p_np, q.numpy(), n, seed, k, threshold)
    for j, name in enumerate(variants):
        def tick(done, j=j, name=name):
            progress((j + done / n) / len(variants), f"{name}: {done}/{n} samples")
        progress(j / len(variants), f"{name}: sampling {n} tokens ...")
        gen = torch.Generator().manual_seed(seed + j)
        tokens = sample_variant(name, p, q, n, gen, k, threshold, tick)
        counts = np.bincount(tokens.numpy(), minlength=p.shape[0])
        exact = exact_distribution(name, p, q, k, threshold).numpy()
        result.variants[name] = VariantResult(name, VARIANTS[name], counts / n, exact,
                                              tv_distance(counts / n, p_np), tv_distance(exact, p_np),
                                              chi_square_pvalue(counts, p_np))
    progress(1.0, "done")
    return result
