"""A causal LM with its own KV cache, which can be cut back after a rejection or compacted to a
token tree's accepted path: what the target and every model drafter decode with."""
import torch
from transformers import DynamicCache

from . import kernels
from .tree import additive


class CachedLM:
    """A causal LM plus its own KV cache, which can be cut back after a rejection.

    On a CPU, Llama-style models run specviz.decoding.kernels' decoding forward (its own KV cache:
    growth and rollback copy nothing per round); elsewhere, or with stock=True (the
    reference the engine's speed is compared with), transformers' forward and cache.
    """

    def __init__(self, model, stock: bool = False):
        self.model = model
        self.lean = None if stock else kernels.decoder(model)
        self.cache = self.lean.new_cache() if self.lean else DynamicCache(config=model.config)

    @property
    def length(self) -> int:
        return self.cache.length if self.lean else self.cache.get_seq_length()

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Feed ids [1, n] after the cached tokens; return logits [n, V]."""
        if self.lean:
            return self.lean.forward(ids, self.cache)[0]
        return self.model(input_ids=ids, cache=self.cache, use_cache=True).logits[0]

    def forward_with_hidden(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Like forward, plus the last hidden states [n, H] (after the final norm)."""
        if self.lean:
            return self.lean.forward(ids, self.cache)
        out = self.model(input_ids=ids, cache=self.cache, use_cache=True, output_hidden_states=True)
        return out.logits[0], out.hidden_states[-1][0]

    def forward_tree(self, ids: torch.Tensor, positions: torch.Tensor, allowed: torch.Tensor,
                     hidden: bool = False):
        """Feed ids [1, t] after the cached tokens at rotary positions [t], token i seeing the
        cached or new positions where allowed [t, length + t] is True (a token tree's pass:
        tree.py); returns logits [t, V] (and the last hidden states [t, H] if hidden)."""
        if self.lean:
            logits, h = self.lean.forward(ids, self.cache, positions, allowed)
            return (logits, h) if hidden else logits
        mask = additive(allowed, self.model.dtype)  # transformers takes a custom 4D mask as additive float
        out = self.model(input_ids=ids, attention_mask=mask[None, None], position_ids=positions[None],
                         cache=self.cache, use_cache=True, output_hidden_states=hidden)
        return (out.logits[0], out.hidden_states[-1][0]) if hidden else out.logits[0]

    def truncate(self, length: int) -> None:
        if self.lean:
            self.cache.truncate(length)
        elif self.length > length:
            self.cache.crop(length - self.length)  # transformers crops by a negative count

    def keep(self, start: int, rows: list[int]) -> None:
        """Keep the cached positions start + rows[i] (ascending) at start + i and drop the rest
        after start (a token tree's accepted path); only the kept rows move."""
        if self.lean:
            self.cache.keep(start, rows)
            return
        n = start + len(rows)
        if rows != list(range(len(rows))):
            for layer in self.cache.layers:
                idx = torch.tensor(rows, device=layer.keys.device) + start
                for t in (layer.keys, layer.values):
                    t[:, :, start:n] = t.index_select(2, idx)
        self.truncate(n)
