"""Prompt lookup where the context repeats itself, a trained draft everywhere else."""
import torch

from ..sampling import SamplingParams
from .base import Drafter, one_hot_proposal
from .lookup import PromptLookupDrafter


MAX_LOOKUP = 16  # tokens a lookup match is read ahead (no draft is longer)


class HybridDrafter(Drafter):
    """Prompt lookup where the context repeats itself, a fallback drafter everywhere else.

    Each round, if the last min_ngram+ tokens occurred earlier in the prompt or the output,
    the round drafts what followed them (q one-hot: the proposal is deterministic); otherwise
    the fallback (a trained draft) drafts and its q is used. The choice depends only on
    settled tokens, and each round's q is the distribution its tokens were drawn from, so
    verification stays exact. The fallback sees every settled position (prefill, observe,
    rollback) whichever drafter proposed, so its caches stay in step.
    """

    def __init__(self, lookup: PromptLookupDrafter, fallback: Drafter, name: str, min_ngram: int = 2):
        self.lookup, self.fallback, self.name, self.min_ngram = lookup, fallback, name, min_ngram
        self.wants_hidden = fallback.wants_hidden
        self.samples = True  # set per round: lookup rounds use no uniform draw
        self.source = None  # which drafter proposed the last round: "lookup" or "draft"
        self._match = (-1, [])  # (sequence length, lookup's tokens) of the last route()

    def prefill(self, seq: torch.Tensor) -> None:
        self.lookup.prefill(seq)
        self.fallback.prefill(seq)

    def observe(self, hidden: torch.Tensor, start: int) -> None:
        self.fallback.observe(hidden, start)

    def route(self, seq: torch.Tensor) -> str:
        """Who proposes after seq: "lookup" if its last min_ngram+ tokens occurred before, else "draft"."""
        if self._match[0] != seq.shape[1]:
            n, found = self.lookup.match(seq[0].tolist(), MAX_LOOKUP)
            self._match = (seq.shape[1], found if n >= self.min_ngram else [])
        return "lookup" if self._match[1] else "draft"

    def propose(self, seq: torch.Tensor, gamma: int, params: SamplingParams, u: torch.Tensor):
        self.source = self.route(seq)
        if self.source == "lookup":
            self.samples = False
            return one_hot_proposal(self._match[1][:gamma], self.lookup.vocab_size, seq.device)
        self.samples = self.fallback.samples
        return self.fallback.propose(seq, gamma, params, u)

    def rollback(self, n_valid: int) -> None:
        self.lookup.rollback(n_valid)
        self.fallback.rollback(n_valid)
