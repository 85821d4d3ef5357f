"""Growing token trees with the drafters, scoring them in one target pass, and keeping the
accepted path in a KV cache.

grow() is EAGLE-2's dynamic draft tree (Li et al. 2024, "EAGLE-2"): expand the root, then at
each depth expand the top_k newest nodes with the highest cumulative draft probability (the
product of q along the path), top_k children each, and finally keep the `budget` nodes
with the highest cumulative probability (a child never scores above its parent, so they
form a tree). Drafters plug in as an expander: the draft's distribution after each of a set
of nodes, computed in one batched draft call with a tree mask.

  EagleExpander   the trained hidden-state draft (drafters/trained.py AutoregressiveDrafter:
                  eagle or layers)
  ModelExpander   a separate draft model or the target's first layers (drafters/model.py)
  MedusaExpander  Medusa heads: depth d's candidates are the top-k of head d whatever the
                  parent (Cai et al. 2024), so no draft call per node
Each drafter makes its own expander (Drafter.expander): only it knows its caches and heads.

kind "topk" (deterministic children, EAGLE-2 and Medusa) suits greedy and sampled decoding:
verification tests each child against a one-hot q (tree.py). kind "sample" draws k
children without replacement from q with explicit draws; the tree shape must then not
depend on the drawn values' own ranks, so no final rerank: nodes are kept in the order they
were drawn until the budget is spent (a stopping rule by count, which keeps it lossless).
"""
import math
from dataclasses import dataclass

import torch

from ..trace import MAX_TREE_NODES as MAX_NODES
from .sampling import SamplingParams, sample
from .tree import Tree, allowed, position_ids


@dataclass(frozen=True)
class TreeShape:
    """One round's token tree: at most `nodes` drafted nodes, `top_k` children per expanded
    node, `depth` levels; `kind` how children are chosen (specviz.decoding.tree: topk, sample, replace)."""

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


@torch.inference_mode()
def draft_tree(drafter, seq: torch.Tensor, params: SamplingParams, budget: int, top_k: int,
               depth: int, kind: str = "topk", u: torch.Tensor | None = None):
    """Grow one round's tree with drafter after seq [1, n]; returns (tree, expander)."""
    ex = drafter.expander(seq, params)
    if ex is None:
        raise ValueError(f"{getattr(drafter, 'name', drafter)} cannot draft a tree")
    depth = min(depth, getattr(ex, "max_depth", depth))
    return grow(ex.root_q, ex, budget, top_k, depth, kind, u), ex


def tree_pass(lm, root: int, tree: Tree, hidden: bool = False):
    """One target forward (a CachedLM) over [root, nodes] after its cache, with the
    tree mask and positions by depth; returns logits [N+1, V] (and the last hidden states
    [N+1, H] if hidden)."""
    n_past, dev = lm.length, lm.model.device
    ids = torch.tensor([[root] + tree.tokens], device=dev)
    return lm.forward_tree(ids, position_ids(tree.parents, n_past, dev)[0],
                           allowed(tree.parents, n_past).to(dev), hidden)
