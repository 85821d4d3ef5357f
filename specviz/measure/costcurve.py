"""A measured pass-cost curve: the time of one cached target pass vs the tokens it scores
(specviz.measure.costs measures it; bench --json ships one). No torch here: a lesson page draws a shipped
curve without loading a model."""
from dataclasses import asdict, dataclass


@dataclass
class CostCurve:
    n_tokens: list[int]  # tokens scored in one cached target pass
    seconds: list[float]  # median wall time of that pass, through the engine's forward
    context: int  # tokens already in the KV cache
    repeats: int
    device: str
    fastest: list[float] | None = None  # min over repeats: other processes only ever add time
    slowest: list[float] | None = None
    load: float | None = None  # 1-minute load average while measuring (a shared CPU is noisy)
    threads: int | None = None  # torch intra-op threads used
    stock_seconds: list[float] | None = None  # transformers' own forward, timed in the same run

    @property
    def one_token_s(self) -> float:
        return self.seconds[0]

    def v(self, n: int) -> float:
        """Measured cost of a pass over n tokens / a one-token pass, through the engine: v(n)."""
        return self.seconds[self.n_tokens.index(n)] / self.seconds[0]

    def stock_v(self, n: int) -> float | None:
        """The same ratio for transformers' stock forward (None if it was not timed)."""
        if not self.stock_seconds:
            return None
        return self.stock_seconds[self.n_tokens.index(n)] / self.stock_seconds[0]

    def fit(self) -> tuple[float, float]:
        """Least-squares line seconds = intercept + slope * n_tokens."""
        n, t = self.n_tokens, self.seconds
        mean_n, mean_t = sum(n) / len(n), sum(t) / len(t)
        var = sum((x - mean_n) ** 2 for x in n)
        slope = sum((x - mean_n) * (y - mean_t) for x, y in zip(n, t)) / var if var else 0.0
        return mean_t - slope * mean_n, slope

    @property
    def slope_fraction(self) -> float:
        """Extra cost of one more scored token, as a fraction of a one-token pass."""
        return self.fit()[1] / self.one_token_s

    def ratio(self, n: int) -> float:
        """Cost of scoring n tokens in one pass / cost of scoring one (from the fitted line)."""
        intercept, slope = self.fit()
        return (intercept + slope * n) / (intercept + slope)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "CostCurve":
        return cls(**d)
