"""Growing token trees with the drafters, scoring them in one target pass, and keeping the
accepted path in a KV cache.

grow() is EAGLE-2's dynamic draft tree (Li et al. 2024, "EAGLE-2"): expand the root, then at
each depth expand the top_k newest nodes with the highest cumulative draft probability (the
product of q along the path), top_k children each, and finally keep the `budget` nodes
with the highest cumulative probability (a child never scores above its parent, so they
form a tree). Drafters plug in as an expander: the draft's distribution after each of a set
of nodes, computed in one batched draft call with a tree mask.

  EagleExpander   the trained hidden-state draft (trained.AutoregressiveDrafter, eagle or layers)
  ModelExpander   a separate draft model or the target's first layers (drafters.ModelDrafter)
  MedusaExpander  Medusa heads: depth d's candidates are the top-k of head d whatever the
                  parent (Cai et al. 2024), so no draft call per node

kind "topk" (deterministic children, EAGLE-2 and Medusa) suits greedy and sampled decoding:
verification tests each child against a one-hot q (tree.py). kind "sample" draws k
children without replacement from q with explicit draws; the tree shape must then not
depend on the drawn values' own ranks, so no final rerank: nodes are kept in the order they
were drawn until the budget is spent (a stopping rule by count, which keeps it lossless).
"""
import math
from dataclasses import dataclass

import torch

from .sampling import SamplingParams, probs_from_logits, sample
from .tree import Tree, allowed, ancestor_mask, position_ids


MAX_NODES = 128  # the trace's bound too (trace.MAX_TREE_NODES)


@dataclass(frozen=True)
class TreeShape:
    """One round's token tree: at most `nodes` drafted nodes, `top_k` children per expanded
    node, `depth` levels; `kind` how children are chosen (specviz.tree: topk, sample, replace)."""

    nodes: int
    top_k: int = 8  # children per expanded node (EAGLE-2 uses 10); the node budget then picks the best
    depth: int = 6
    kind: str = "topk"

    def check(self) -> None:
        if not 1 <= self.nodes <= MAX_NODES:
            raise ValueError(f"a tree's node budget must be 1 .. {MAX_NODES}, got {self.nodes}")
        if not 1 <= self.top_k <= 16 or not 1 <= self.depth <= 16:
            raise ValueError(f"tree top-k and depth must be 1 .. 16, got {self.top_k} and {self.depth}")
        if self.kind not in ("topk", "sample"):
            raise ValueError(f"tree kind must be topk or sample, got {self.kind!r}")


# ----------------------------------------------------------------------------- growing

def grow(root_q: torch.Tensor, expand, budget: int, top_k: int, depth: int, kind: str = "topk",
         u: torch.Tensor | None = None) -> Tree:
    """A tree of at most budget nodes and depth; expand(tree, nodes) -> q after each node [n, V]."""
    tokens, parents, q, score, u_used = [], [], [], [], []
    dists = {-1: root_q}
    level = [-1]
    for d in range(depth):
        new = []
        for v in level:
            for x, qx, uj in _children(dists[v], top_k, kind, u, len(tokens), budget):
                tokens.append(x), parents.append(v), q.append(qx), u_used.append(uj)
                score.append((score[v] if v >= 0 else 0.0) + math.log(qx))
                new.append(len(tokens) - 1)
        full = kind != "topk" and len(tokens) >= budget
        if d + 1 == depth or not new or full:
            break
        level = sorted(new, key=lambda i: (-score[i], i))[:top_k]
        partial = Tree(tokens, parents, q, kind)
        dists.update(zip(level, expand(partial, level)))
    if kind == "topk":  # EAGLE-2's rerank: the budget most probable paths' nodes
        keep = sorted(sorted(range(len(tokens)), key=lambda i: (-score[i], i))[:budget])
        new_id = {old: i for i, old in enumerate(keep)} | {-1: -1}
        tokens, q, u_used = [tokens[i] for i in keep], [q[i] for i in keep], [u_used[i] for i in keep]
        parents = [new_id[parents[i]] for i in keep]
        dists = {new_id[v]: row for v, row in dists.items() if v in new_id}
        if hasattr(expand, "renumber"):  # an expander that keeps per-node state follows the new ids
            expand.renumber(new_id)
    return Tree(tokens, parents, q, kind, dists, u_used)


def _children(q: torch.Tensor, k: int, kind: str, u, n_before: int, budget: int):
    """(token, q(token), draw) for up to k children drawn from q as kind says."""
    if kind == "topk":
        top = torch.topk(q, k)
        return [(int(x), float(p), None) for x, p in zip(top.indices, top.values) if p > 0]
    out, d = [], q.clone()
    for j in range(min(k, budget - n_before)):
        if d.sum() <= 0:
            break
        x = int(sample(d, u[n_before + j]))
        out.append((x, float(q[x]), float(u[n_before + j])))
        if kind == "sample":
            d[x] = 0  # without replacement
    return out


def chain_shape(gamma: int) -> dict:
    """grow() arguments that give a chain of gamma tokens: the tree of width 1."""
    return {"budget": gamma, "top_k": 1, "depth": gamma}


# ----------------------------------------------------------------------------- expanders

def _tree_attn(parents: list[int], rows: list[int], nodes: list[int], n_past: int, device) -> torch.Tensor:
    """Bool [T, n_past + len(rows) + T]: nodes see the past, their ancestors among the already
    computed rows (row i holds node rows[i]) and themselves."""
    anc = ancestor_mask(parents)
    t = len(nodes)
    mask = torch.zeros(t, n_past + len(rows) + t, dtype=torch.bool)
    mask[:, :n_past] = True
    if rows:
        mask[:, n_past:n_past + len(rows)] = anc[nodes][:, rows]
    mask[:, n_past + len(rows):] = torch.eye(t, dtype=torch.bool)
    return mask.to(device)


class EagleExpander:
    """Tree drafting with a trained AutoregressiveDrafter; its settled cache is left as it was."""

    def __init__(self, drafter, seq: torch.Tensor, params: SamplingParams):
        self.d, self.params = drafter, params
        feature = drafter.root_feature(seq)
        self.n_past = drafter.n_cached
        self.feature = {-1: feature}  # the draft's feature after each node (its own guess of the target's)
        self.rows, self.kv = [], None  # tree nodes computed so far, and their (k, v) per layer
        self.root_q = self.q(feature[None], [0])[0]

    def q(self, feats: torch.Tensor, steps: list[int]) -> torch.Tensor:
        """feats [T, H] -> q [T, V] (0 outside a reduced draft vocabulary); steps: each row's
        draft step (the depth of the node it follows), whose fitted logit scale q uses, as in a chain."""
        if len(set(steps)) == 1:
            return self.d.q_from(feats, self.params, steps[0])
        return torch.stack([self.d.q_from(f, self.params, k) for f, k in zip(feats, steps)])

    def __call__(self, tree: Tree, nodes: list[int]) -> torch.Tensor:
        d, dev = self.d, self.root_q.device
        tokens = torch.tensor([tree.tokens[v] for v in nodes], device=dev)
        emb = d.embed(tokens[None]).to(d.head.dtype)
        x = d.draft.inputs(emb, torch.stack([self.feature[tree.parents[v]] for v in nodes])[None]) \
            if d.eagle else emb
        depths = tree.depths
        positions = torch.tensor([self.n_past + depths[v] - 1 for v in nodes], device=dev)
        past = d.cache if self.kv is None else [
            (torch.cat([ck, tk], 2), torch.cat([cv, tv], 2)) for (ck, cv), (tk, tv) in zip(d.cache, self.kv)]
        mask = _tree_attn(tree.parents, self.rows, nodes, self.n_past, dev)
        feats, kvs = d.draft.run_layers(x, positions, past, mask)
        self.kv = kvs if self.kv is None else [
            (torch.cat([tk, k], 2), torch.cat([tv, v], 2)) for (tk, tv), (k, v) in zip(self.kv, kvs)]
        self.rows += nodes
        self.feature.update(zip(nodes, feats[0]))
        return self.q(feats[0], [depths[v] for v in nodes])


class ModelExpander:
    """Tree drafting with a ModelDrafter: tree nodes go into its KV cache with a 4D mask."""

    def __init__(self, drafter, seq: torch.Tensor, params: SamplingParams):
        self.lm, self.params, self.vocab = drafter.lm, params, drafter.vocab_size
        from .drafters import fit_vocab
        self.fit = fit_vocab
        tail = seq[:, self.lm.length:]
        self.n_past = self.lm.length + tail.shape[1]  # the root is the last cached position
        self.root_q = probs_from_logits(fit_vocab(self.lm.forward(tail)[-1], self.vocab), params)
        self.slot = {}  # node -> its offset after n_past in the draft's cache

    def __call__(self, tree: Tree, nodes: list[int]) -> torch.Tensor:
        dev = self.root_q.device
        rows = sorted(self.slot, key=self.slot.get)
        allowed = _tree_attn(tree.parents, rows, nodes, self.n_past, dev)
        depths = tree.depths
        pos = torch.tensor([self.n_past - 1 + depths[v] for v in nodes], device=dev)
        ids = torch.tensor([[tree.tokens[v] for v in nodes]], device=dev)
        logits = self.lm.forward_tree(ids, pos, allowed)
        self.slot.update((v, len(rows) + i) for i, v in enumerate(nodes))
        return probs_from_logits(self.fit(logits, self.vocab), self.params)

    def renumber(self, new_id: dict[int, int]) -> None:
        self.slot = {new_id[v]: s for v, s in self.slot.items() if v in new_id}

    def keep_path(self, path: list[int]) -> None:
        """After verification: the draft's cache keeps the accepted nodes it computed, nothing else."""
        self.lm.keep(self.n_past, [self.slot[v] for v in path if v in self.slot])


class MedusaExpander:
    """Medusa-1 heads: the candidates at depth d are head d's, whatever the parent."""

    def __init__(self, drafter, seq: torch.Tensor, params: SamplingParams):
        heads = drafter.draft.heads
        feats = torch.stack([head(drafter.last) for head in heads])
        small = probs_from_logits(feats @ drafter.head_t, params)
        self.q = small if drafter.full else small.new_zeros(len(heads), drafter.vocab_size).index_copy_(
            1, drafter.vocab_ids, small)
        self.root_q, self.max_depth = self.q[0], len(heads)

    def __call__(self, tree: Tree, nodes: list[int]) -> torch.Tensor:
        depths = tree.depths
        return self.q[[depths[v] for v in nodes]]


def expander_for(drafter, seq: torch.Tensor, params: SamplingParams):
    """The expander that grows trees with this drafter, or None if it cannot branch."""
    from .drafters import ModelDrafter
    from .train.draft import AutoregressiveDrafter, MedusaDrafter

    if isinstance(drafter, AutoregressiveDrafter):
        return EagleExpander(drafter, seq, params)
    if isinstance(drafter, MedusaDrafter):
        return MedusaExpander(drafter, seq, params)
    if isinstance(drafter, ModelDrafter):
        return ModelExpander(drafter, seq, params)
    return None


def can_branch(drafter) -> bool:
    """Whether this drafter can draft a token tree (an expander exists for it)."""
    from .drafters import ModelDrafter
    from .train.draft import AutoregressiveDrafter, MedusaDrafter

    return isinstance(drafter, (AutoregressiveDrafter, MedusaDrafter, ModelDrafter))


@torch.inference_mode()
def draft_tree(drafter, seq: torch.Tensor, params: SamplingParams, budget: int, top_k: int,
               depth: int, kind: str = "topk", u: torch.Tensor | None = None):
    """Grow one round's tree with drafter after seq [1, n]; returns (tree, expander)."""
    ex = expander_for(drafter, seq, params)
    if ex is None:
        raise ValueError(f"{getattr(drafter, 'name', drafter)} cannot draft a tree")
    depth = min(depth, getattr(ex, "max_depth", depth))
    return grow(ex.root_q, ex, budget, top_k, depth, kind, u), ex


# ----------------------------------------------------------------------------- target pass, cache

def tree_pass(lm, root: int, tree: Tree, hidden: bool = False):
    """One target forward (a drafters.CachedLM) over [root, nodes] after its cache, with the
    tree mask and positions by depth; returns logits [N+1, V] (and the last hidden states
    [N+1, H] if hidden)."""
    n_past, dev = lm.length, lm.model.device
    ids = torch.tensor([[root] + tree.tokens], device=dev)
    return lm.forward_tree(ids, position_ids(tree.parents, n_past, dev)[0],
                           allowed(tree.parents, n_past).to(dev), hidden)
