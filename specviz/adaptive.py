"""Adaptive draft length: policies the engine accepts in place of a fixed gamma.

A policy has .gamma (the next round's draft length) and update(drafted, accepted), called
after every verify pass. speculative_decode(gamma=policy) uses it; an int keeps gamma fixed.
"""
from dataclasses import dataclass


@dataclass
class HeuristicGamma:
    """Hugging Face's "heuristic" schedule: +2 after a fully accepted draft, -1 otherwise.

    Long runs of easy tokens earn longer drafts; a rejection shrinks the next one. Works for
    any drafter without knowing its cost.
    """

    gamma: int = 4
    min_gamma: int = 1
    max_gamma: int = 16

    def update(self, drafted: int, accepted: int) -> None:
        if drafted == 0:
            return
        step = 2 if accepted == drafted else -1
        self.gamma = max(self.min_gamma, min(self.max_gamma, self.gamma + step))


def make_policy(spec: str | int, start: int = 4, max_gamma: int = 16):
    """'heuristic' -> HeuristicGamma(start); an int (or digits) -> that fixed gamma."""
    if isinstance(spec, int) or str(spec).isdigit():
        return int(spec)
    if spec == "heuristic":
        return HeuristicGamma(start, 1, max_gamma)
    raise ValueError(f"unknown gamma policy {spec!r}: use a whole number or 'heuristic'")
