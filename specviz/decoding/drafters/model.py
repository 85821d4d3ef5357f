"""A separate small causal LM, or the target's first layers (early exit), as an autoregressive
drafter; it grows token trees by putting tree nodes into its own KV cache with a tree mask."""
import copy

import torch

from ...errors import ModelError
from ..cached_lm import CachedLM
from ..sampling import SamplingParams, choose, probs_from_logits
from ..tree import Tree, allowed
from .base import Drafter


def fit_vocab(logits: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Match a draft's logit width to the target's: pad with -inf (q = 0) or cut."""
    extra = vocab_size - logits.shape[-1]
    if extra > 0:
        return torch.nn.functional.pad(logits, (0, extra), value=float("-inf"))
    return logits[..., :vocab_size]


class ModelDrafter(Drafter):
    """Autoregressive drafting with a small causal LM (a separate model or a truncated target)."""

    branches = True

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

    def expander(self, seq: torch.Tensor, params: SamplingParams) -> "ModelExpander":
        return ModelExpander(self, seq, params)


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


class ModelExpander:
    """Tree drafting with a ModelDrafter: tree nodes go into its KV cache with a 4D mask."""

    def __init__(self, drafter, seq: torch.Tensor, params: SamplingParams):
        self.lm, self.params, self.vocab = drafter.lm, params, drafter.vocab_size
        tail = seq[:, self.lm.length:]
        self.n_past = self.lm.length + tail.shape[1]  # the root is the last cached position
        self.root_q = probs_from_logits(fit_vocab(self.lm.forward(tail)[-1], self.vocab), params)
        self.slot = {}  # node -> its offset after n_past in the draft's cache

    def __call__(self, tree: Tree, nodes: list[int]) -> torch.Tensor:
        dev = self.root_q.device
        rows = sorted(self.slot, key=self.slot.get)
        mask = allowed(tree.parents, self.n_past, nodes, rows).to(dev)
        depths = tree.depths
        pos = torch.tensor([self.n_past - 1 + depths[v] for v in nodes], device=dev)
        ids = torch.tensor([[tree.tokens[v] for v in nodes]], device=dev)
        logits = self.lm.forward_tree(ids, pos, mask)
        self.slot.update((v, len(rows) + i) for i, v in enumerate(nodes))
        return probs_from_logits(fit_vocab(logits, self.vocab), self.params)

    def renumber(self, new_id: dict[int, int]) -> None:
        self.slot = {new_id[v]: s for v, s in self.slot.items() if v in new_id}

    def keep_path(self, path: list[int]) -> None:
        """After verification: the draft's cache keeps the accepted nodes it computed, nothing else."""
        self.lm.keep(self.n_past, [self.slot[v] for v in path if v in self.slot])
