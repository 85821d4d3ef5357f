"""Draft length: adaptive policies the engine accepts in place of a fixed gamma, and gamma
chosen by measurement.

A policy has gamma_for(source) (the next round's draft length for a proposal source: "draft",
or a hybrid's "lookup") and update(drafted, accepted, source), called after every verify
pass. speculative_decode(gamma=policy) uses it; an int keeps gamma fixed. choose_gamma picks
the fixed gamma with the highest expected speedup from a pair's measured alpha and c and the
device's measured cost v(k) of a k-token target pass; OnlineGamma re-makes that choice
before every round from the request's own acceptance so far.
"""
from dataclasses import dataclass, field


@dataclass
class HeuristicGamma:
    """Hugging Face's "heuristic" schedule: +2 after a fully accepted draft, -1 otherwise.

    Long runs of easy tokens earn longer drafts; a rejection shrinks the next one. Works for
    any drafter without knowing its cost.
    """

    gamma: int = 4
    min_gamma: int = 1
    max_gamma: int = 16

    def gamma_for(self, source: str = "draft") -> int:
        return self.gamma

    def update(self, drafted: int, accepted: int, source: str = "draft") -> None:
        if drafted == 0:
            return
        step = 2 if accepted == drafted else -1
        self.gamma = max(self.min_gamma, min(self.max_gamma, self.gamma + step))


# ----------------------------------------------------------------------------- gamma by measurement

@dataclass
class GammaChoice:
    """The draft shape with the highest expected speedup: a chain of γ, E[τ] / (γc + v(γ+1)),
    or a token tree of measured τ, τ / (depth·c + v(nodes+1))."""

    gamma: int
    speedup: float  # expected speedup over plain decoding at that gamma (or tree)
    alpha: float
    c: float
    v: list[float]  # v[k-1]: cost of a k-token target pass / a 1-token pass
    table: list[tuple[int, float, float]]  # (gamma, E[tau], expected speedup) for every gamma tried
    tree: "TreeOption | None" = None  # the token tree chosen over every chain, if one was
    trees: list = field(default_factory=list)  # (TreeOption, expected speedup) for every tree tried

    @property
    def break_even(self) -> float | None:
        """The α at which the chosen chain length would just match plain decoding."""
        from ..theory import break_even_alpha

        return break_even_alpha(self.gamma, self.c, self.v[self.gamma])

    def reason(self) -> str:
        """One sentence: what was chosen, from which measurements, the runners-up, and, when
        nothing beats plain decoding, why (the break-even α against the pair's α)."""
        others = ", ".join(f"γ = {g}: {s:.2f}x" for g, _, s in self.table
                           if abs(g - self.gamma) == 1)
        if self.tree:
            t = self.tree
            return (f"a token tree of {t.nodes} nodes: measured τ = {t.tau:.2f} per pass for "
                    f"{t.depth} draft steps at c = {self.c:.3f} and this machine's v({t.nodes + 1}) = "
                    f"{self.v[t.nodes]:.2f} — expected {self.speedup:.2f}x, above every chain "
                    f"(best: γ = {self.gamma}, {self.table[self.gamma - 1][2]:.2f}x)")
        verdict = ""
        if self.speedup <= 1:
            even = self.break_even
            verdict = ("; nothing is expected to beat plain decoding: at γ = "
                       f"{self.gamma} it needs α ≥ {even:.2f}, the pair measured {self.alpha:.2f}"
                       if even else "; nothing is expected to beat plain decoding: even α = 1 "
                       "would not pay for these costs")
        return (f"γ = {self.gamma}: it maximises E[τ] / (γc + v(γ+1)) for α = {self.alpha:.2f}, "
                f"c = {self.c:.3f} and this machine's pass cost v({self.gamma + 1}) = "
                f"{self.v[self.gamma]:.2f} — expected {self.speedup:.2f}x ({others}){verdict}")


@dataclass(frozen=True)
class TreeOption:
    """A token tree a pair was measured with: its shape and tokens per pass τ (greedy)."""

    nodes: int
    top_k: int
    depth: int
    tau: float


def choose_gamma(alpha: float, c: float, v: list[float], max_gamma: int = 16,
                 trees: list[TreeOption] = ()) -> GammaChoice:
    """The gamma in 1 .. max_gamma (and len(v) - 1) with the highest expected speedup, or a
    token tree (of those given, with their measured τ) if one is expected to beat every chain.

    alpha: Leviathan's acceptance rate at the run's temperature; c: draft step / target step;
    v: measured pass costs, v[0] = 1 (a 1-token pass), v[k-1] = a k-token pass, as this
    machine's tuned engine runs them (a longer pass may cost less than a shorter one: kernels
    change with the row count, and a padded pass is what the engine then runs).
    """
    if not 0 <= alpha <= 1 or c < 0 or len(v) < 2 or v[0] <= 0:
        raise ValueError(f"cannot choose gamma from alpha={alpha}, c={c}, v={v}")
    from ..theory import best_gamma, expected_acceptance_length, speedup_verify_aware

    top = min(max_gamma, len(v) - 1)
    gamma = best_gamma(alpha, c, lambda k: v[k - 1], top)
    table = [(g, expected_acceptance_length(alpha, g), speedup_verify_aware(alpha, g, c, v[g]))
             for g in range(1, top + 1)]
    tried = [(t, t.tau / (t.depth * c + v[t.nodes])) for t in trees if t.nodes < len(v)]
    choice = GammaChoice(gamma, table[gamma - 1][2], alpha, c, list(v), table, trees=tried)
    best_tree = max(tried, key=lambda ts: ts[1], default=None)
    if best_tree and best_tree[1] > choice.speedup:
        choice.tree, choice.speedup = best_tree
    return choice


def pass_cost_ratios(seconds: list[float]) -> list[float]:
    """v from measured times of 1, 2, ... token passes (medians): each over the 1-token pass."""
    return [s / seconds[0] for s in seconds]


def alpha_at(measured: dict, temperature: float) -> float:
    """alpha at temperature, linear between the measured temperatures (clamped outside)."""
    points = sorted((float(t), float(a)) for t, a in measured.items())
    if temperature <= points[0][0]:
        return points[0][1]
    for (t0, a0), (t1, a1) in zip(points, points[1:]):
        if temperature <= t1:
            return a0 + (a1 - a0) * (temperature - t0) / (t1 - t0)
    return points[-1][1]


@dataclass
class OnlineGamma:
    """γ re-chosen before every round from this request's own acceptance so far.

    Per proposal source (a hybrid's lookup rounds and trained-draft rounds accept at very
    different rates), α is Leviathan's estimate, accepted ÷ (accepted + rejections), shrunk
    toward the pair's measured α by `prior` pseudo-positions; γ is choose_gamma's pick at that
    α. When no γ is expected to beat plain decoding the round drafts nothing (a plain step),
    except every `probe_every`-th such round drafts one token, so the estimate can recover.
    Lossless: a round's γ depends only on rounds already settled.
    """

    alpha: float  # the pair's measured α at this temperature (the prior)
    c: dict[str, float]  # draft cost ratio per source
    v: list[float]  # this device's v(k), v[0] = 1
    prior: float = 4.0
    probe_every: int = 4
    max_gamma: int = 16
    seen: dict = field(default_factory=dict)  # source -> [accepted, rejections, rounds skipped in a row]

    def estimate(self, source: str) -> float:
        accepted, rejections, _ = self.seen.setdefault(source, [0, 0, 0])
        return (accepted + self.prior * self.alpha) / (accepted + rejections + self.prior)

    def gamma_for(self, source: str = "draft") -> int:
        choice = choose_gamma(self.estimate(source), self.c.get(source, self.c["draft"]),
                              self.v, self.max_gamma)
        state = self.seen[source]
        if choice.speedup > 1:
            state[2] = 0
            return choice.gamma
        state[2] += 1
        return 1 if state[2] % self.probe_every == 0 else 0

    def update(self, drafted: int, accepted: int, source: str = "draft") -> None:
        state = self.seen.setdefault(source, [0, 0, 0])
        state[0] += accepted
        state[1] += accepted < drafted


def online_gamma(alpha: float, c: float, v: list[float], lookup_c: float, max_gamma: int = 16) -> OnlineGamma:
    """The online policy for a pair with measured alpha, its draft's c and lookup's c (a hybrid's
    lookup rounds), both measured on this machine."""
    return OnlineGamma(alpha, {"draft": c, "lookup": lookup_c}, list(v), max_gamma=min(max_gamma, len(v) - 1))
