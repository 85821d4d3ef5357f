"""Pure functions of a Trace: acceptance, tokens per pass, cost ratio, speedups, theory.

Theory from Leviathan, Kalman, Matias 2023 ("Fast Inference from Transformers via
Speculative Decoding"): alpha = acceptance rate, gamma = draft length, c = cost ratio.
"""
from dataclasses import asdict, dataclass

from .trace import Trace


def expected_tokens_per_pass(alpha: float, gamma: int) -> float:
    """(1 - alpha^(gamma+1)) / (1 - alpha): expected tokens produced per target pass."""
    if alpha >= 1:
        return gamma + 1.0
    return (1 - alpha ** (gamma + 1)) / (1 - alpha)


def theoretical_speedup(alpha: float, gamma: int, c: float) -> float:
    """(1 - alpha^(gamma+1)) / ((1 - alpha)(gamma c + 1)): expected walltime improvement."""
    return expected_tokens_per_pass(alpha, gamma) / (gamma * c + 1)


def operations_factor(alpha: float, gamma: int, c_hat: float) -> float:
    """(1 - alpha)(gamma c_hat + gamma + 1) / (1 - alpha^(gamma+1)): extra arithmetic spent."""
    return (gamma * c_hat + gamma + 1) / expected_tokens_per_pass(alpha, gamma)


def best_gamma(alpha: float, c: float, max_gamma: int = 16) -> int:
    return max(range(1, max_gamma + 1), key=lambda g: theoretical_speedup(alpha, g, c))


def drafted(trace: Trace) -> int:
    return sum(len(r.draft) for r in trace.rounds)


def accepted(trace: Trace) -> int:
    return sum(t.accepted for r in trace.rounds for t in r.draft)


def acceptance_rate(trace: Trace) -> float:
    """alpha: accepted drafted tokens / drafted tokens."""
    return accepted(trace) / max(drafted(trace), 1)


def tokens_per_pass(trace: Trace) -> float:
    """Mean tokens per target pass = 1 + accepted / rounds (vLLM's mean acceptance length)."""
    return 1 + accepted(trace) / max(len(trace.rounds), 1)


def per_position_acceptance(trace: Trace) -> list[float]:
    """Acceptance rate at draft positions 1..gamma, over rounds that drafted that far."""
    rates = []
    for i in range(trace.config.gamma):
        at_i = [r.draft[i].accepted for r in trace.rounds if len(r.draft) > i]
        rates.append(sum(at_i) / len(at_i) if at_i else float("nan"))
    return rates


def spec_s_per_token(trace: Trace) -> float:
    return trace.timing.spec_s / max(len(trace.output_ids), 1)


def measured_speedup(trace: Trace) -> float | None:
    """Baseline seconds per token / speculative seconds per token (None without a baseline)."""
    if not trace.baseline.output_ids or trace.timing.spec_s <= 0:
        return None
    return trace.baseline.s_per_token / spec_s_per_token(trace)


def cost_ratio(trace: Trace) -> float | None:
    """c: draft time per drafted token / one plain target step (from the same run)."""
    n = drafted(trace)
    if not n or not trace.baseline.s_per_token:
        return None
    return sum(r.draft_s for r in trace.rounds) / n / trace.baseline.s_per_token


def verify_s_per_pass(trace: Trace) -> float:
    return sum(r.verify_s for r in trace.rounds) / max(len(trace.rounds), 1)


def trace_speedup_theory(trace: Trace) -> float | None:
    """Leviathan's speedup for this trace's measured alpha, gamma and c."""
    c = cost_ratio(trace)
    return None if c is None else theoretical_speedup(acceptance_rate(trace), trace.config.gamma, c)


@dataclass
class Summary:
    alpha: float
    mean_accepted: float  # tokens per target pass
    rounds: int
    drafted: int
    accepted: int
    tokens: int
    cost_ratio: float | None
    speedup_measured: float | None
    speedup_theoretical: float | None
    expected_tokens_per_pass: float
    spec_s_per_token: float
    baseline_s_per_token: float
    verify_s_per_pass: float
    same_as_baseline: bool | None  # greedy only: speculative output == plain output

    def to_dict(self) -> dict:
        return asdict(self)


def summarize(trace: Trace) -> Summary:
    alpha = acceptance_rate(trace)
    same = (trace.output_ids == trace.baseline.output_ids
            if trace.config.temperature == 0 and trace.baseline.output_ids else None)
    return Summary(alpha, tokens_per_pass(trace), len(trace.rounds), drafted(trace), accepted(trace),
                   len(trace.output_ids), cost_ratio(trace), measured_speedup(trace),
                   trace_speedup_theory(trace), expected_tokens_per_pass(alpha, trace.config.gamma),
                   spec_s_per_token(trace), trace.baseline.s_per_token, verify_s_per_pass(trace), same)


def cumulative(trace: Trace) -> dict[str, list[float]]:
    """Per-round running series for charts: tokens, alpha, spec and baseline seconds."""
    tokens, acc, drf, spec_s = 0, 0, 0, 0.0
    series = {"round": [], "tokens_per_pass": [], "alpha": [], "tokens": [], "spec_s": [],
              "baseline_s": [], "speedup": []}
    for i, r in enumerate(trace.rounds, 1):
        n = sum(t.accepted for t in r.draft)
        tokens, acc, drf = tokens + n + 1, acc + n, drf + len(r.draft)
        spec_s += r.draft_s + r.verify_s
        base_s = tokens * trace.baseline.s_per_token
        series["round"].append(i)
        series["tokens_per_pass"].append(n + 1)
        series["alpha"].append(acc / drf if drf else float("nan"))
        series["tokens"].append(tokens)
        series["spec_s"].append(spec_s)
        series["baseline_s"].append(base_s)
        series["speedup"].append(base_s / spec_s if spec_s and base_s else float("nan"))
    return series
