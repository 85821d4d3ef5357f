"""Leviathan's formulas (Leviathan, Kalman, Matias 2023) in paper notation: what a chain of γ
drafts is expected to give at acceptance rate α, draft cost c (a drafted token ÷ a plain step) and
verify cost v (a pass over γ + 1 tokens ÷ a plain step). Arithmetic only: the metrics compare a run
with them (specviz.measure.metrics), the γ policies choose with them (specviz.decoding.gamma).
"""


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
