"""Prompt lookup decoding (Saxena 2023): continue the latest earlier match of the last n-gram."""
import torch

from ...errors import ModelError
from ..sampling import SamplingParams
from .base import Drafter, one_hot_proposal


class PromptLookupDrafter(Drafter):
    """Prompt lookup decoding: continue the latest earlier match of the last n-gram; q is one-hot."""

    samples = False  # proposals are deterministic: no uniform draw is used

    def __init__(self, vocab_size: int, max_ngram: int = 3, name: str = "lookup",
                 stop_ids: set[int] = frozenset()):
        if not 1 <= max_ngram <= 8:
            raise ModelError(f"lookup:{max_ngram} is out of range: use an n-gram size of 1 .. 8")
        self.vocab_size, self.max_ngram, self.name = vocab_size, max_ngram, name
        self.stop_ids = stop_ids  # chat-template tokens: copying them out of the prompt never pays

    def propose(self, seq: torch.Tensor, gamma: int, params: SamplingParams, u: torch.Tensor):
        return one_hot_proposal(self.lookup(seq[0].tolist(), gamma), self.vocab_size, seq.device)

    def lookup(self, ids: list[int], gamma: int) -> list[int]:
        """Tokens that followed the most recent earlier occurrence of the longest suffix n-gram."""
        return self.match(ids, gamma)[1]

    def match(self, ids: list[int], gamma: int) -> tuple[int, list[int]]:
        """(n, tokens): the longest suffix n-gram (n <= max_ngram) that occurred before, and
        the tokens that followed its most recent earlier occurrence; (0, []) if none did."""
        for n in range(min(self.max_ngram, len(ids) - 1), 0, -1):
            suffix = ids[-n:]
            for start in range(len(ids) - n - 1, -1, -1):
                if ids[start:start + n] == suffix:
                    return n, self._until_stop(ids[start + n:start + n + gamma])
        return 0, []

    def _until_stop(self, tokens: list[int]) -> list[int]:
        return next((tokens[:i] for i, t in enumerate(tokens) if t in self.stop_ids), tokens)
