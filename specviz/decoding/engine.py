"""The draft -> verify loop with KV caches and rollback, and the plain decoding baseline.

Both loops share CachedLM; both time decoding only (prefill is timed apart), so their
per-token times can be compared as a speedup. A round drafts a chain of gamma tokens, or,
with a TreeShape, a token tree (grow.py) that the target scores in one pass with a tree
attention mask; the walk down its accepted path (tree.py) keeps that path's KV
rows in the target's and the draft's caches.
"""
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import torch

from ..counts import Counts, tree_counts
from ..errors import ModelError
from ..trace import Candidate, Correction, DraftToken, Round, TreeDraft, TreeNode, mask_rows
from .cached_lm import CachedLM
from .drafters.base import Drafter, start
from .grow import TreeShape, draft_tree, tree_pass
from .sampling import SamplingParams, Verdict, choose, overlap, probs_from_logits, residual, verify
from .tree import Tree, TreeVerdict, proposal, verify_tree

MAX_GAMMA = 16


class TokenTexts:
    """Token id -> its text, decoded once per id."""

    def __init__(self, tokenizer):
        self.tokenizer, self.cache = tokenizer, {}

    def __call__(self, token: int) -> str:
        if token not in self.cache:
            self.cache[token] = self.tokenizer.decode([token])
        return self.cache[token]

    def candidates(self, probs: torch.Tensor, k: int) -> list[list[Candidate]]:
        """Top-k of each row of probs [n, V] as Candidates."""
        if k == 0 or probs.shape[0] == 0:
            return [[] for _ in range(probs.shape[0])]
        top = torch.topk(probs, k, dim=-1)
        return [[Candidate(t, self(t), v) for t, v in zip(ids, vals)]
                for ids, vals in zip(top.indices.tolist(), top.values.tolist())]


@dataclass
class Decoded:
    output_ids: list[int]
    decode_s: float
    prefill_s: float
    stop_reason: str
    rounds: list[Round] = field(default_factory=list)
    counts: Counts = field(default_factory=Counts)  # kept on the lean path too (no β there)


def _prefill(lm: CachedLM, seq: torch.Tensor) -> None:
    if seq.shape[1] > 1:
        lm.forward(seq[:, :-1])


def _stop(new: list[int], out: list[int], eos_ids: set[int]) -> bool:
    """Append new tokens to out up to and including the first EOS; True if an EOS was hit."""
    for token in new:
        out.append(token)
        if token in eos_ids:
            return True
    return False


@torch.inference_mode()
def plain_steps(target, prompt_ids: list[int], params: SamplingParams, max_new_tokens: int,
                generator: torch.Generator, eos_ids: set[int]) -> Iterator[Decoded]:
    """Target-only decoding, one token per forward pass: the baseline, a step at a time.

    Yields the run so far after the prefill and after each token. Its clock runs only inside
    its own steps, so another loop can run between them (record.Lockstep) without being counted.
    """
    lm = CachedLM(target)
    seq = torch.tensor([prompt_ids], device=target.device)
    start = time.perf_counter()
    _prefill(lm, seq)
    res = Decoded([], 0.0, time.perf_counter() - start, "max_new_tokens")
    yield res
    pending = seq[:, -1:]
    while len(res.output_ids) < max_new_tokens:
        start = time.perf_counter()
        p = probs_from_logits(lm.forward(pending)[-1], params)
        u = None if params.greedy else torch.rand((), generator=generator).to(p.device)
        token = choose(p, u, params.greedy)
        hit_eos = _stop([int(token)], res.output_ids, eos_ids)
        res.decode_s += time.perf_counter() - start
        if hit_eos:
            res.stop_reason = "eos"
        yield res
        if hit_eos:
            return
        pending = token.view(1, 1)


def plain_decode(target, prompt_ids: list[int], params: SamplingParams, max_new_tokens: int,
                 generator: torch.Generator, eos_ids: set[int],
                 should_stop: Callable[[], bool] = lambda: False) -> Decoded:
    """Target-only decoding to the end (or until should_stop): the baseline."""
    for res in plain_steps(target, prompt_ids, params, max_new_tokens, generator, eos_ids):
        if should_stop():
            res.stop_reason = "cancelled"
            break
    return res


@torch.inference_mode()
def speculative_decode(target, drafter: Drafter, prompt_ids: list[int], params: SamplingParams,
                       gamma: int, max_new_tokens: int, generator: torch.Generator,
                       eos_ids: set[int], texts: TokenTexts | None = None, topk: int = 8,
                       on_round: Callable[[Round], None] = lambda r: None,
                       should_stop: Callable[[], bool] = lambda: False,
                       tree: TreeShape | None = None) -> Decoded:
    """Draft gamma tokens, verify them in one target pass, keep the accepted prefix + 1 token.

    With texts=None no trace rounds are recorded (the lean path the benchmark times); with
    texts, each round is recorded after its timed span, so both paths time the same work.
    gamma is an int, or a policy with gamma_for(source) and update(drafted, accepted, source)
    that sets each round's gamma (adaptive gamma, see gamma.py; source is the
    proposal's origin, "lookup" or "draft" for a hybrid drafter). With tree, every
    round drafts a token tree of that shape instead (gamma is then unused).
    """
    adaptive = not isinstance(gamma, int)
    lm = CachedLM(target)
    seq = torch.tensor([prompt_ids], device=target.device)
    t_start = time.perf_counter()
    start(lm, drafter, seq)
    res = Decoded([], 0.0, time.perf_counter() - t_start, "max_new_tokens")
    while len(res.output_ids) < max_new_tokens:
        if should_stop():
            res.stop_reason = "cancelled"
            break
        room = max_new_tokens - len(res.output_ids) - 1  # never overshoot
        t0 = time.perf_counter()
        if tree is None:
            source = drafter.route(seq)
            g = min(gamma.gamma_for(source) if adaptive else gamma, room)
            step = _round(lm, drafter, seq, g, params, generator)
        else:
            step = _tree_round(lm, drafter, seq, tree, room, params, generator)
        seq = torch.cat([seq, torch.tensor([step.new], device=seq.device)], dim=1)
        hit_eos = _stop(step.new, res.output_ids, eos_ids)
        res.decode_s += time.perf_counter() - t0
        rnd = None
        if tree is not None:
            if texts is not None:  # outside the timed span, as for a chain
                rnd = _record_tree(step, texts, topk, params.greedy)
                res.rounds.append(rnd)
            res.counts.add_tree_round(**tree_counts(step.tree.parents, step.verdict.fate, step.betas),
                                      draft_s=step.draft_s, verify_s=step.verify_s)
        else:
            k, n = step.drafted.shape[0], step.verdict.n_accepted
            if adaptive:
                gamma.update(k, n, source)
            if texts is not None:  # outside the timed span: recording is the app's cost, not the engine's
                rnd = _record(step.verdict, step.drafted, step.p, step.q, step.draws, g, texts, topk,
                              step.draft_s, step.verify_s, drafter.samples, params.greedy)
                res.rounds.append(rnd)
            res.counts.add_round(k, n, [t.beta for t in rnd.draft] if rnd else None, step.draft_s, step.verify_s)
        if rnd is not None:
            on_round(rnd)
        if hit_eos:
            res.stop_reason = "eos"
            break
    del res.output_ids[max_new_tokens:]
    res.counts.tokens = len(res.output_ids)
    return res


@dataclass
class _Step:
    """What one draft -> verify round produced (tensors kept for the trace)."""

    drafted: torch.Tensor
    q: torch.Tensor
    p: torch.Tensor
    verdict: Verdict
    draws: torch.Tensor | None
    new: list[int]  # accepted drafted tokens + the target's own token
    draft_s: float
    verify_s: float


def _round(lm: CachedLM, drafter: Drafter, seq: torch.Tensor, g: int, params: SamplingParams,
           generator: torch.Generator) -> _Step:
    """Draft g tokens, score them in one target pass over g + 1 tokens, cut both caches back."""
    t0 = time.perf_counter()
    draws = None if params.greedy else torch.rand(2 * g + 1, generator=generator).to(seq.device)
    u_draft = draws[:g] if draws is not None else [None] * g
    drafted, q = (drafter.propose(seq, g, params, u_draft) if g > 0 else
                  (seq.new_zeros(0), torch.zeros(0, 1, device=seq.device)))
    k = drafted.shape[0]
    t1 = time.perf_counter()
    n_valid = seq.shape[1]
    ids = torch.cat([seq[:, -1], drafted]).view(1, -1)
    logits, hidden = lm.forward_with_hidden(ids) if drafter.wants_hidden else (lm.forward(ids), None)
    p = probs_from_logits(logits, params)
    if k and q.shape[-1] != p.shape[-1]:  # zero-filling q here would silently break losslessness
        raise ModelError(f"the drafter {drafter.name} gave q over {q.shape[-1]} tokens but the "
                         f"target scores {p.shape[-1]}: its vocabulary does not match the target's")
    r = draws[g:g + k] if draws is not None else None
    verdict = verify(p, q, drafted, r, draws[-1] if draws is not None else None, params.greedy)
    n = verdict.n_accepted
    lm.truncate(n_valid + n)
    drafter.rollback(n_valid + n)
    if drafter.wants_hidden:
        drafter.observe(hidden[:n + 1], n_valid - 1)
    new = drafted[:n].tolist() + [verdict.token]
    return _Step(drafted, q, p, verdict, draws, new, t1 - t0, time.perf_counter() - t1)


def _record(verdict, drafted, p, q, draws, g, texts: TokenTexts, topk: int,
            draft_s: float, verify_s: float, drafter_samples: bool, greedy: bool) -> Round:
    """One trace round from the tensors of a verify step (β from the full distributions)."""
    k = drafted.shape[0]
    betas = overlap(p[:k], q, greedy).tolist() if k else []
    top_p, top_q = texts.candidates(p, topk), texts.candidates(q, topk)
    u_draft = draws[:k].tolist() if draws is not None and drafter_samples else [None] * k
    r = draws[g:g + k].tolist() if draws is not None else [None] * k
    draft = [DraftToken(t, texts(t), qx, px, ri, ok, ui, tp, tq, b)
             for t, qx, px, ri, ok, ui, tp, tq, b in zip(
                 drafted.tolist(), verdict.q_drafted, verdict.p_drafted, r, verdict.accepted,
                 u_draft, top_p, top_q, betas)]
    n = verdict.n_accepted
    residual = texts.candidates(verdict.residual[None], topk)[0] if verdict.residual is not None else []
    correction = Correction(verdict.token, texts(verdict.token), verdict.kind,
                            float(p[n, verdict.token]),
                            float(draws[-1]) if draws is not None else None, top_p[n], residual)
    return Round(draft, correction, draft_s, verify_s)


# ----------------------------------------------------------------------------- token trees

@dataclass
class _TreeStep:
    """What one tree round produced (kept for the trace and the counts)."""

    tree: Tree
    p: torch.Tensor  # [N+1, V]: row 0 after the root, row i+1 after node i
    verdict: TreeVerdict
    betas: list[float | None]  # per node: Σ min(p, q_j) at its test, None if never tested
    r: list[float | None]  # per node: the draw of its accept test (None: greedy)
    u: float | None  # the draw of the target's own token (None: greedy)
    new: list[int]
    draft_s: float
    verify_s: float


def _tree_round(lm: CachedLM, drafter: Drafter, seq: torch.Tensor, shape: TreeShape, room: int,
                params: SamplingParams, generator: torch.Generator) -> _TreeStep:
    """Draft a tree, score every node in one target pass, walk down the accepted path, keep
    that path's rows in both caches."""
    t0 = time.perf_counter()
    n = shape.nodes
    draws = None if params.greedy else torch.rand(2 * n + 1, generator=generator).to(seq.device)
    depth = min(shape.depth, room)
    if depth > 0:
        tree, ex = draft_tree(drafter, seq, params, n, shape.top_k, depth, shape.kind,
                              draws[:n] if draws is not None else None)
    else:  # one token left to make: the target's own step
        tree, ex = Tree([], [], [], shape.kind), None
    t1 = time.perf_counter()
    n_valid = seq.shape[1]
    out = tree_pass(lm, int(seq[0, -1]), tree, drafter.wants_hidden)
    logits, hidden = out if drafter.wants_hidden else (out, None)
    p = probs_from_logits(logits, params)
    if len(tree) and tree.dists[-1].shape[-1] != p.shape[-1]:
        raise ModelError(f"the drafter {drafter.name} gave q over {tree.dists[-1].shape[-1]} tokens but "
                         f"the target scores {p.shape[-1]}: its vocabulary does not match the target's")
    r = draws[n:n + len(tree)] if draws is not None else None
    verdict = verify_tree(p, tree, r, draws[-1] if draws is not None else None, params.greedy)
    path = verdict.path
    lm.keep(n_valid, path)  # the root is settled at n_valid - 1; node i sat at n_valid + i
    if hasattr(ex, "keep_path"):  # a draft model cached some nodes: keep the path's, in place
        ex.keep_path(path)
    drafter.rollback(n_valid + len(path))
    if drafter.wants_hidden:
        drafter.observe(hidden[[0] + [v + 1 for v in path]], n_valid - 1)
    new = [tree.tokens[v] for v in path] + [verdict.token]
    t2 = time.perf_counter()
    return _TreeStep(tree, p, verdict, _tree_betas(p, tree, verdict, params.greedy),
                     r.tolist() if r is not None else [None] * len(tree),
                     float(draws[-1]) if draws is not None else None, new, t1 - t0, t2 - t1)


def _tree_betas(p: torch.Tensor, tree: Tree, verdict: TreeVerdict, greedy: bool) -> list[float | None]:
    """β of every tested node: Σ min(p, q_j) with p after its earlier siblings' residual updates
    (greedy: 1 iff the node is the target's argmax). Its mean over tested nodes estimates the
    node acceptance rate, as the mean β of a chain estimates Leviathan's α."""
    if greedy:
        return [None if f == "unchecked" else float(p_ok(p, tree, j)) for j, f in enumerate(verdict.fate)]
    betas: list[float | None] = [None] * len(tree)
    for v in [-1] + verdict.path:
        p_v = p[v + 1]
        for j in tree.children(v):
            if verdict.fate[j] == "unchecked":
                break
            q_j = proposal(tree, j)
            betas[j] = float(torch.minimum(p_v, q_j).sum().clamp(max=1.0))
            if verdict.fate[j] == "accepted":
                break
            p_v = residual(p_v, q_j)
    return betas


def p_ok(p: torch.Tensor, tree: Tree, j: int) -> bool:
    """Greedy: is node j the target's argmax after its parent?"""
    return int(p[tree.parents[j] + 1].argmax()) == tree.tokens[j]


def _record_tree(step: _TreeStep, texts: TokenTexts, topk: int, greedy: bool) -> Round:
    """One trace round of a tree: the accepted path as the round's draft, every node in its tree."""
    tree, v, p = step.tree, step.verdict, step.p
    n, depths = len(tree), tree.depths
    nodes = [TreeNode(x, texts(x), a, d, qx, px, fate, None if fate == "unchecked" else step.r[j],
                      pt, qt, b, uj)
             for j, (x, a, d, qx, px, fate, pt, qt, b, uj) in enumerate(zip(
                 tree.tokens, tree.parents, depths, tree.q, v.p_drafted, v.fate, v.p_test, v.q_test,
                 step.betas, tree.u or [None] * n))]
    rows = [-1] + v.path
    top_p = texts.candidates(p[[a + 1 for a in rows]], topk)  # after the root and each path node
    top_q = texts.candidates(torch.stack([tree.dists[a] for a in rows[:-1]]), topk) if v.path else []
    draft = [DraftToken(tree.tokens[j], texts(tree.tokens[j]),
                        nodes[j].q if greedy else nodes[j].q_test, nodes[j].p if greedy else nodes[j].p_test,
                        nodes[j].r, True, nodes[j].u, top_p[i], top_q[i], step.betas[j])
             for i, j in enumerate(v.path)]
    residual = texts.candidates(v.residual[None], topk)[0] if v.residual is not None else []
    last = v.path[-1] + 1 if v.path else 0
    correction = Correction(v.token, texts(v.token), v.kind, float(p[last, v.token]), step.u,
                            top_p[-1], residual)
    return Round(draft, correction, step.draft_s, step.verify_s,
                 TreeDraft(nodes, tree.kind, mask_rows(tree.parents)))
