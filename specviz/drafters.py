"""Drafters: anything that proposes tokens with draft probabilities q, and can roll back.

Every drafter implements the Drafter protocol below; start() is the one start-up of a run.
"""
import copy
from typing import Protocol

import torch
from transformers import DynamicCache

from . import kernels
from .errors import ModelError
from .sampling import SamplingParams, choose, probs_from_logits


class Drafter(Protocol):
    """What the engine needs from a drafter."""

    name: str
    wants_hidden: bool  # reads the target's last hidden states (EAGLE, Medusa) through observe()
    samples: bool  # draws its proposals with the uniforms u it is given (False: deterministic)

    def prefill(self, seq: torch.Tensor) -> None:
        """See the prompt seq [1, n] (all but its last token are settled in the target's cache)."""

    def propose(self, seq: torch.Tensor, gamma: int, params: SamplingParams, u) -> tuple[torch.Tensor, torch.Tensor]:
        """Up to gamma tokens [k] after seq and the distributions q [k, V] they were drawn from."""

    def rollback(self, n_valid: int) -> None:
        """Forget everything after the first n_valid tokens of the sequence."""

    def observe(self, hidden: torch.Tensor, start: int) -> None:
        """The target's last hidden states [m, H] (after its final norm) for positions start .. start+m-1."""


class CachedLM:
    """A causal LM plus its own KV cache, which can be cut back after a rejection.

    On a CPU, Llama-style models run specviz.kernels' decoding forward (its own KV cache:
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
        specviz.tree); returns logits [t, V] (and the last hidden states [t, H] if hidden)."""
        if self.lean:
            logits, h = self.lean.forward(ids, self.cache, positions, allowed)
            return (logits, h) if hidden else logits
        dtype = self.model.dtype  # transformers takes a custom 4D mask as additive float
        mask = torch.zeros(allowed.shape, dtype=dtype, device=ids.device).masked_fill_(
            ~allowed, torch.finfo(dtype).min)
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


def fit_vocab(logits: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Match a draft's logit width to the target's: pad with -inf (q = 0) or cut."""
    extra = vocab_size - logits.shape[-1]
    if extra > 0:
        return torch.nn.functional.pad(logits, (0, extra), value=float("-inf"))
    return logits[..., :vocab_size]


class ModelDrafter:
    """Autoregressive drafting with a small causal LM (a separate model or a truncated target)."""

    wants_hidden, samples = False, True

    def __init__(self, model, vocab_size: int, name: str):
        self.lm, self.vocab_size, self.name = CachedLM(model), vocab_size, name

    def prefill(self, seq: torch.Tensor) -> None:
        self.lm = CachedLM(self.lm.model)  # a fresh cache: the same drafter can serve many runs
        if seq.shape[1] > 1:
            self.lm.forward(seq[:, :-1])

    def propose(self, seq: torch.Tensor, gamma: int, params: SamplingParams, u: torch.Tensor):
        tail = seq[:, self.lm.length:]  # tokens the draft has not seen yet (at least the last one)
        tokens, qs = [], []
        for i in range(gamma):
            logits = fit_vocab(self.lm.forward(tail)[-1], self.vocab_size)
            q = probs_from_logits(logits, params)
            token = choose(q, u[i], params.greedy)
            tokens.append(token)
            qs.append(q)
            tail = token.view(1, 1)
        return torch.stack(tokens), torch.stack(qs)

    def rollback(self, n_valid: int) -> None:
        self.lm.truncate(n_valid)

    def observe(self, hidden: torch.Tensor, start: int) -> None:
        pass


def truncated_model(target, k: int):
    """The target's first k layers + its final norm + LM head, sharing the target's weights."""
    inner = getattr(target, "model", None)
    if inner is None or not hasattr(inner, "layers") or not hasattr(inner, "norm"):
        raise ModelError(f"layers:K needs a Llama-style model (model.layers, model.norm); "
                         f"{type(target).__name__} is not one. Use a draft model or lookup instead.")
    n_layers = len(inner.layers)
    if not 1 <= k < n_layers:
        raise ModelError(f"layers:{k} is out of range: this target has {n_layers} layers, "
                         f"so use layers:1 .. layers:{n_layers - 1}")
    config = copy.deepcopy(target.config)
    config.num_hidden_layers = k
    if getattr(config, "layer_types", None):
        config.layer_types = config.layer_types[:k]
    with torch.device("meta"):
        draft = type(target)(config)
    draft.model.embed_tokens = inner.embed_tokens
    draft.model.layers = torch.nn.ModuleList(inner.layers[:k])
    draft.model.norm = inner.norm
    draft.model.rotary_emb = inner.rotary_emb
    draft.lm_head = target.lm_head
    return draft.eval()


class PromptLookupDrafter:
    """Prompt lookup decoding: continue the latest earlier match of the last n-gram; q is one-hot."""

    wants_hidden, samples = False, False  # proposals are deterministic: no uniform draw is used

    def __init__(self, vocab_size: int, max_ngram: int = 3, name: str = "lookup",
                 stop_ids: set[int] = frozenset()):
        if not 1 <= max_ngram <= 8:
            raise ModelError(f"lookup:{max_ngram} is out of range: use an n-gram size of 1 .. 8")
        self.vocab_size, self.max_ngram, self.name = vocab_size, max_ngram, name
        self.stop_ids = stop_ids  # chat-template tokens: copying them out of the prompt never pays

    def prefill(self, seq: torch.Tensor) -> None:
        pass

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

    def rollback(self, n_valid: int) -> None:
        pass

    def observe(self, hidden: torch.Tensor, start: int) -> None:
        pass


def start(lm: CachedLM, drafter: Drafter, seq: torch.Tensor) -> None:
    """Start a run: the target caches all but the last prompt token (handing its hidden states
    to drafters that read them) and the drafter sees the prompt."""
    if seq.shape[1] > 1:
        if drafter.wants_hidden:
            drafter.observe(lm.forward_with_hidden(seq[:, :-1])[1], 0)
        else:
            lm.forward(seq[:, :-1])
    drafter.prefill(seq)


def one_hot_proposal(found: list[int], vocab_size: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic proposals: the tokens and q = 1 on each of them."""
    tokens = torch.tensor(found, dtype=torch.long, device=device)
    q = torch.zeros(len(found), vocab_size, device=device)
    q[torch.arange(len(found), device=device), tokens] = 1.0
    return tokens, q


MAX_LOOKUP = 16  # tokens a lookup match is read ahead (no draft is longer)


class HybridDrafter:
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



