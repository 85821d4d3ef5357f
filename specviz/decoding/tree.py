"""Token trees: the math of verifying a tree of drafted tokens, in paper notation.

p = target distribution, q = draft distribution, as in sampling.py. A tree holds N drafted
nodes numbered in topological order (a parent comes before its children); parent -1 is the
root, the last settled token. One target pass over [root, node 0, ..., node N-1] gives p:
row 0 is the target's distribution after the root, row i+1 after node i. Every random
decision takes an explicit uniform draw so a trace can record it.

Chain (Leviathan et al. 2023, sampling.verify): accept x_i with probability
min(1, p(x_i)/q(x_i)); at the first rejection sample from norm(max(0, p - q)); if all are
accepted sample the bonus token from p. A chain is the tree of width 1.

Tree, greedy: the longest path whose every token is the target's argmax after its parent,
then the target's own argmax after the path's last node. Fates are counted as the sampled walk
counts them, so that accepted ÷ checked means one thing: at each node of the path its children
are tested in node order up to the one the walk takes (the earlier ones rejected, the later
ones unchecked, and so is an earlier copy of the same token whose subtree goes less deep); at
the path's last node every child was tested and rejected.

Tree, sampled: multi-candidate speculative sampling (SpecInfer, Miao et al. 2024, Alg. 2;
the recursive rejection sampling of EAGLE, Li et al. 2024). At node v, with p = p_v:
    for the children x_1 .. x_k of v, in order:
        accept x_j with probability min(1, p(x_j) / q_j(x_j))  -> walk down to x_j
        on a rejection: p <- norm(max(0, p - q_j))
    if every child is rejected (or v is a leaf), sample the next token from p.
q_j is the distribution child j was actually drawn from, given its earlier siblings:
    "sample"  (drawn from q without replacement, EAGLE-1): q_j = norm(q with x_1..x_{j-1} set to 0)
    "replace" (drawn i.i.d. from q, SpecInfer):            q_j = q
    "topk"    (the k most likely tokens, EAGLE-2, Medusa):  q_j = one-hot(x_j), so the test
              accepts x_j with probability p(x_j) and a rejection sets p(x_j) to 0.
Why it is lossless: a stage emits min(p, q_j) + (1 - sum min(p, q_j)) * norm(max(0, p - q_j)) = p
whenever what follows a rejection emits the residual, whatever x_j was; by induction over the
siblings (the last fallback samples from the residual itself), then over depth, the output
follows p. Testing sibling j against the plain q instead of q_j (when drawn without
replacement), or not updating p between siblings, breaks this (tests/test_tree.py).
"""
from dataclasses import dataclass, field

import numpy as np
import torch

from .sampling import choose, residual
from ..trace import TREE_KINDS as KINDS
from ..trace import sees


@dataclass
class Tree:
    """Drafted nodes: token, parent (-1 = root) and q(x), in topological order."""

    tokens: list[int]
    parents: list[int]
    q: list[float]  # the draft's probability of each node's token after its parent
    kind: str = "topk"  # how children were chosen (see the module docstring)
    dists: dict[int, torch.Tensor] = field(default_factory=dict)  # node (-1 root) -> q after it [V]
    u: list[float | None] = field(default_factory=list)  # the draw each sampled node came from

    def __post_init__(self):
        assert self.kind in KINDS, self.kind
        assert len(self.tokens) == len(self.parents) == len(self.q), "one parent and q per token"
        assert all(-1 <= a < i for i, a in enumerate(self.parents)), "parents must come first"

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def depths(self) -> list[int]:
        """Depth of each node: 1 for a child of the root."""
        d = []
        for a in self.parents:
            d.append(1 if a < 0 else d[a] + 1)
        return d

    def children(self, v: int) -> list[int]:
        return [i for i, a in enumerate(self.parents) if a == v]

    def path_to(self, v: int) -> list[int]:
        """Nodes from the root's child down to v."""
        path = []
        while v >= 0:
            path.append(v)
            v = self.parents[v]
        return path[::-1]


def chain(tokens: torch.Tensor, q: torch.Tensor, u: list | None = None) -> Tree:
    """A chain of gamma drafted tokens [gamma] with their draft distributions q [gamma, V]."""
    t = tokens.tolist()
    return Tree(t, list(range(-1, len(t) - 1)), q[torch.arange(len(t)), tokens].tolist(), "sample",
                {i - 1: q[i] for i in range(len(t))}, u or [None] * len(t))


def allowed(parents: list[int], n_past: int, nodes: list[int] | None = None,
            cached: list[int] = ()) -> torch.Tensor:
    """The bool attention mask of one pass over a token tree after n_past cached tokens, True where
    a row may attend: every row sees the past, a node its ancestors and itself (trace.sees).

    The target's pass (nodes None): rows [root, every node] over [past, root, every node], the
    root seeing the past and itself: [N+1, n_past+N+1]. A draft's pass: rows `nodes` over [past,
    the tree nodes already in its cache (`cached`, in cache order), nodes]."""
    rel = sees(parents)
    if nodes is None:
        rows = [[True] + [False] * len(parents)] + [[True] + row for row in rel]
    else:
        rows = [[rel[v][k] for k in [*cached, *nodes]] for v in nodes]
    tree = torch.from_numpy(np.array(rows, dtype=bool).reshape(len(rows), -1))  # faster than torch.tensor(rows)
    return torch.cat([torch.ones(len(rows), n_past, dtype=torch.bool), tree], 1)


def additive(ok: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A bool mask as transformers' additive float mask: 0 where allowed, the dtype's min elsewhere."""
    return torch.zeros(ok.shape, dtype=dtype, device=ok.device).masked_fill_(~ok, torch.finfo(dtype).min)


def position_ids(parents: list[int], n_past: int, device="cpu") -> torch.Tensor:
    """[1, N+1] positions for [root, nodes]: the root at n_past, a node at n_past + its depth."""
    depth = [0]
    for a in parents:
        depth.append(depth[a + 1] + 1)
    return (n_past + torch.tensor(depth, device=device))[None]


def proposal(tree: Tree, j: int) -> torch.Tensor:
    """q_j: the distribution node j was drawn from, given its earlier siblings [V]."""
    q = tree.dists[tree.parents[j]]
    if tree.kind == "topk":
        return torch.zeros_like(q).index_fill_(0, torch.tensor(tree.tokens[j], device=q.device), 1.0)
    if tree.kind == "replace":
        return q
    earlier = [tree.tokens[s] for s in tree.children(tree.parents[j]) if s < j]
    if not earlier:
        return q
    q = q.clone()
    q[earlier] = 0  # without replacement: the earlier siblings could not be drawn again
    return q / q.sum()


@dataclass
class TreeVerdict:
    """Outcome of verifying one tree: the accepted path and what each node's check saw."""

    path: list[int]  # accepted nodes, from the root's child down
    token: int  # the target's own token after the path: resampled or bonus
    kind: str  # "resampled" | "bonus" | "target" (an empty tree: the target's own step)
    fate: list[str]  # per node: "accepted" | "rejected" | "unchecked"
    p_drafted: list[float]  # target p(x) of each node after its parent (the pass scores all)
    p_test: list[float | None]  # p(x) as tested, after earlier siblings' residual updates
    q_test: list[float | None]  # q_j(x) as tested
    residual: torch.Tensor | None  # what the token was sampled from after rejections

    @property
    def n_accepted(self) -> int:
        return len(self.path)


def verify_tree(p: torch.Tensor, tree: Tree, r: torch.Tensor | None, u: torch.Tensor | None,
                greedy: bool) -> TreeVerdict:
    """Strict verification of a tree; p [N+1, V] from one target pass, r [N] one draw per node,
    u the draw for the target's own token (see the module docstring for the rule)."""
    n = len(tree)
    tokens = torch.tensor(tree.tokens, dtype=torch.long, device=p.device)
    rows = torch.tensor([a + 1 for a in tree.parents], dtype=torch.long, device=p.device)
    p_drafted = p[rows, tokens].tolist() if n else []
    fate, p_test, q_test = ["unchecked"] * n, [None] * n, [None] * n
    if greedy:
        return _verify_greedy(p, tree, tokens, rows, p_drafted, fate, p_test, q_test, u)
    v, path, p_v, rejected = -1, [], p[0], False
    while True:
        rejected = False
        for j in tree.children(v):
            q_j, x = proposal(tree, j), tree.tokens[j]
            p_test[j], q_test[j] = float(p_v[x]), float(q_j[x])
            if r[j] * q_j[x] < p_v[x]:  # r < p/q without dividing by a possibly tiny q
                fate[j] = "accepted"
                break
            fate[j], rejected = "rejected", True
            p_v = residual(p_v, q_j)
        else:  # no child accepted: the target's own token from what is left of p
            token = choose(p_v, u, False)
            kind = "resampled" if rejected else "bonus" if n else "target"
            return TreeVerdict(path, int(token), kind, fate, p_drafted, p_test, q_test,
                               p_v if rejected else None)
        v = j
        path.append(v)
        p_v = p[v + 1]


def _verify_greedy(p, tree, tokens, rows, p_drafted, fate, p_test, q_test, u) -> TreeVerdict:
    """The deepest path of target-argmax tokens (first in node order among equals)."""
    ok = (tokens == p.argmax(dim=-1)[rows]).tolist() if len(tree) else []
    v, path = -1, []
    while True:
        kids = tree.children(v)
        good = [j for j in kids if ok[j]]
        taken = max(good, key=lambda j: (_depth_of_ok(tree, ok, j), -j)) if good else None
        for j in kids:  # tested in order until the taken child; the ones after it never are
            if j == taken:
                fate[j], p_test[j], q_test[j] = "accepted", p_drafted[j], tree.q[j]
                break
            if not ok[j]:  # (an argmax copy before the taken one was passed over, not rejected)
                fate[j], p_test[j], q_test[j] = "rejected", p_drafted[j], tree.q[j]
        if taken is None:
            break
        v = taken
        path.append(v)
    token = int(choose(p[v + 1], u, True))
    kind = "resampled" if kids else "bonus" if len(tree) else "target"
    return TreeVerdict(path, token, kind, fate, p_drafted,
                       p_test, q_test, None)


def _depth_of_ok(tree: Tree, ok: list[bool], v: int) -> int:
    """How far an all-argmax path can go below v (v itself counts)."""
    return 1 + max((_depth_of_ok(tree, ok, c) for c in tree.children(v) if ok[c]), default=0)
