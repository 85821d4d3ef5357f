"""Tree verification on hand-built p and q: masks, the acceptance rule, chain == tree of width 1,
and chi-square tests that a tree's output follows p (and that wrong variants do not)."""
from functools import cache

import pytest
import torch
from scipy.stats import chisquare

from specviz.decoding import tree as T
from specviz.decoding.sampling import sample, verify
from specviz.decoding.tree import Tree, additive, allowed, chain, position_ids, proposal, verify_tree


def dist(*probs):
    return torch.tensor(probs, dtype=torch.float32)


# root -> 0, 1, 2;  0 -> 3, 4;  3 -> 5;  1 -> 6
PARENTS = [-1, -1, -1, 0, 0, 3, 1]


def test_mask_lets_each_node_see_the_past_the_root_and_its_ancestors_only():
    m = additive(allowed(PARENTS, n_past=2), torch.float32)
    assert m.shape == (8, 10)
    ok = (m == 0).int()
    assert ok[0].tolist() == [1, 1, 1, 0, 0, 0, 0, 0, 0, 0]  # root: past + itself
    assert ok[1 + 5].tolist() == [1, 1, 1, 1, 0, 0, 1, 0, 1, 0]  # node 5: root, 0, 3, itself
    assert ok[1 + 6].tolist() == [1, 1, 1, 0, 1, 0, 0, 0, 0, 1]  # node 6: root, 1, itself
    assert position_ids(PARENTS, 2).tolist() == [[2, 3, 3, 3, 4, 4, 5, 4]]
    assert Tree([0] * 7, PARENTS, [1.0] * 7).depths == [1, 1, 1, 2, 2, 3, 2]
    # a chain's mask is the causal mask
    causal = allowed([-1, 0, 1], n_past=0)
    assert torch.equal(causal, torch.ones(4, 4, dtype=torch.bool).tril())
    # a draft's pass over the nodes of one depth, after the cached nodes 0 and 1 (in that order)
    assert allowed(PARENTS, 2, nodes=[3, 4, 6], cached=[0, 1]).int().tolist() == [
        [1, 1, 1, 0, 1, 0, 0], [1, 1, 1, 0, 0, 1, 0], [1, 1, 0, 1, 0, 0, 1]]


def test_parents_must_come_before_children():
    with pytest.raises(AssertionError):
        Tree([1, 2], [1, -1], [0.5, 0.5])


def test_siblings_are_tested_against_the_residual_of_the_earlier_ones():
    # root children 0 (token 0) and 1 (token 1), drawn from q without replacement
    q = dist(0.5, 0.3, 0.2)
    p = torch.stack([dist(0.2, 0.3, 0.5), dist(1.0, 0.0, 0.0), dist(0.0, 1.0, 0.0)])
    tree = Tree([0, 1], [-1, -1], [0.5, 0.3], "sample", {-1: q})
    # sibling 1 was drawn from norm(q without token 0) = (0, 0.6, 0.4)
    assert torch.allclose(proposal(tree, 1), dist(0.0, 0.6, 0.4))
    # reject 0 (r = 0.5 >= p/q = 0.4); p becomes norm(max(0, p - q)) = (0, 0, 0.3)/0.3 ... -> (0, 0, 1)
    # so token 1 has p = 0 after the update and is rejected whatever r is; the residual is token 2
    v = verify_tree(p, tree, torch.tensor([0.5, 0.0]), torch.tensor(0.0), greedy=False)
    assert v.fate == ["rejected", "rejected"] and v.path == [] and v.kind == "resampled"
    assert v.p_test == pytest.approx([0.2, 0.0]) and v.q_test == pytest.approx([0.5, 0.6])
    assert v.token == 2 and torch.allclose(v.residual, dist(0.0, 0.0, 1.0))
    # r = 0.3 < 0.4 accepts 0; sibling 1 is then never checked; the bonus comes from p after 0
    v = verify_tree(p, tree, torch.tensor([0.3, 0.0]), torch.tensor(0.7), greedy=False)
    assert v.fate == ["accepted", "unchecked"] and v.path == [0] and v.kind == "bonus"
    assert v.token == 0 and v.residual is None


def test_topk_children_accept_with_p_and_a_rejection_removes_the_token():
    p = torch.stack([dist(0.1, 0.6, 0.3), dist(0, 0, 1.0), dist(0, 0, 1.0)])
    tree = Tree([1, 2], [-1, -1], [0.7, 0.2], "topk", {-1: dist(0.1, 0.7, 0.2)})
    # child 0 (token 1): accept iff r < p(1) = 0.6
    v = verify_tree(p, tree, torch.tensor([0.65, 0.5]), torch.tensor(0.0), greedy=False)
    # rejected: p -> (0.1, 0, 0.3)/0.4 = (0.25, 0, 0.75); child 1 (token 2): 0.5 < 0.75 accepts
    assert v.fate == ["rejected", "accepted"] and v.path == [1]
    assert v.p_test == pytest.approx([0.6, 0.75]) and v.q_test == pytest.approx([1.0, 1.0])


def test_greedy_takes_the_deepest_path_of_target_argmax_tokens():
    V = 4
    p = torch.zeros(8, V)
    p[:, 3] = 0.1
    argmax = {0: 2, 1: 1, 2: 3, 3: 0, 4: 1, 5: 0, 6: 2, 7: 1}  # row -> the target's argmax
    for row, tok in argmax.items():
        p[row, tok] = 0.7
    # nodes 0 and 1 both carry token 2 (the argmax after the root); only 1's subtree goes deeper
    tree = Tree([2, 2, 0, 1, 3, 0, 1], [-1, -1, -1, 0, 1, 4, 2], [0.5] * 7)
    v = verify_tree(p, tree, None, None, greedy=True)
    # node 1 -> node 4 (token 3 = argmax after 1) -> node 5 (token 0 = argmax after 4), then 2
    assert v.path == [1, 4, 5] and v.token == argmax[6] and v.kind == "bonus"
    # counted as the sampled walk counts: children tested in order up to the one taken; node 0
    # (the same argmax token, less deep) is passed over and node 2, after the taken one, never
    # tested: unchecked, as a sampled walk leaves the siblings after an accepted child
    assert v.fate == ["unchecked", "accepted", "unchecked", "unchecked", "accepted", "accepted",
                      "unchecked"]
    wide = Tree([1, 2, 0], [-1, -1, -1], [0.5] * 3)  # root: a non-argmax child, the argmax, one more
    g = verify_tree(p, wide, None, None, greedy=True)
    assert g.fate == ["rejected", "accepted", "unchecked"]
    s = verify_tree(p, Tree([1, 2, 0], [-1, -1, -1], [0.1, 0.7, 0.2], "topk", {-1: dist(0.2, 0.1, 0.7, 0.0)}),
                    torch.tensor([0.0, 0.0, 0.0]), torch.tensor(0.0), greedy=False)
    assert s.fate == g.fate  # r = 0: token 1 (p = 0) is rejected, token 2 accepted: the same counts
    empty = verify_tree(p[:1], Tree([], [], []), None, None, greedy=True)
    assert empty.path == [] and empty.token == 2 and empty.kind == "target"  # the target's own step


@pytest.mark.parametrize("greedy", [False, True])
def test_a_chain_is_the_tree_of_width_one_and_verifies_exactly_as_today(greedy):
    g = torch.Generator().manual_seed(1)
    for trial in range(150):
        gamma, V = trial % 5, 6
        p = torch.softmax(3 * torch.randn(gamma + 1, V, generator=g), -1)
        q = torch.softmax(3 * torch.randn(gamma, V, generator=g), -1)
        draws = torch.rand(2 * gamma + 1, generator=g)
        drafted = torch.stack([sample(q[i], draws[i]) for i in range(gamma)]) if gamma else \
            torch.zeros(0, dtype=torch.long)
        r, u = draws[gamma:2 * gamma], draws[-1]
        old = verify(p, q, drafted, None if greedy else r, u, greedy)
        new = verify_tree(p, chain(drafted, q), None if greedy else r, u, greedy)
        assert new.n_accepted == old.n_accepted and new.path == list(range(old.n_accepted))
        assert (new.token, new.kind) == (old.token, old.kind)
        assert [f == "accepted" for f in new.fate] == old.accepted
        assert new.p_drafted == pytest.approx(old.p_drafted)
        if not greedy:
            assert new.q_test[:old.n_accepted + 1] == pytest.approx(old.q_drafted[:old.n_accepted + 1])
            if old.residual is not None:
                assert torch.allclose(new.residual, old.residual)


# ------------------------------------------------------------------ distribution tests

V = 5


@cache  # never mutated: callers clone before editing
def p_after(ctx: tuple) -> torch.Tensor:
    """The hand-built target: a peaked distribution that depends on the whole context."""
    g = torch.Generator().manual_seed(1 + sum((t + 1) * 7 ** i for i, t in enumerate(ctx)))
    return torch.softmax(2.0 * torch.randn(V, generator=g), -1)


@cache
def q_after(ctx: tuple) -> torch.Tensor:
    """The hand-built draft: close to p in places, far from it in others."""
    g = torch.Generator().manual_seed(1000 + sum((t + 1) * 7 ** i for i, t in enumerate(ctx)))
    return torch.softmax(2.0 * torch.randn(V, generator=g), -1)


SHAPE = [-1, -1, -1, 0, 0, 3, 1]  # root: 3 children; node 0: 2; node 3: 1; node 1: 1


def draft_tree(kind: str, u: torch.Tensor) -> tuple[Tree, torch.Tensor]:
    """Draw SHAPE's tokens from q_after as `kind` says; return the tree and its p rows [N+1, V]."""
    ctx = {-1: ()}
    tokens, q, dists = [], [], {}
    for i, a in enumerate(SHAPE):
        dists.setdefault(a, q_after(ctx[a]))
        taken = [tokens[s] for s in range(i) if SHAPE[s] == a]
        d = dists[a].clone()
        if kind == "topk":
            d[taken] = -1
            x = int(d.argmax())
        else:
            if kind == "sample":
                d[taken] = 0
            x = int(sample(d, u[i]))
        tokens.append(x)
        q.append(float(dists[a][x]))
        ctx[i] = ctx[a] + (x,)
    tree = Tree(tokens, list(SHAPE), q, kind, dists, u.tolist())
    p = torch.stack([p_after(ctx[-1])] + [p_after(ctx[i]) for i in range(len(SHAPE))])
    return tree, p


def first_two(kind: str, n: int, seed: int = 0) -> list[int]:
    """Counts of the first two emitted tokens (x1, x2) over n tree rounds."""
    g = torch.Generator().manual_seed(seed)
    counts = [0] * V * V
    for draws in torch.rand(n, 2 * len(SHAPE) + 2, generator=g):
        tree, p = draft_tree(kind, draws[:len(SHAPE)])
        v = verify_tree(p, tree, draws[len(SHAPE):2 * len(SHAPE)], draws[-2], greedy=False)
        out = [tree.tokens[j] for j in v.path] + [v.token]
        if len(out) == 1:  # the round ended after one token: the next comes from p (any lossless way)
            out.append(int(sample(p_after((out[0],)), draws[-1])))
        counts[out[0] * V + out[1]] += 1
    return counts


def expected_first_two(n: int) -> list[float]:
    p1 = p_after(())
    joint = torch.cat([p1[x] * p_after((x,)) for x in range(V)]).double()
    return (joint / joint.sum() * n).tolist()


N_DRAWS = 6000


@pytest.mark.parametrize("kind", ["sample", "replace", "topk"])
def test_tree_output_follows_p_chi_square(kind):
    observed = first_two(kind, N_DRAWS)
    assert chisquare(observed, expected_first_two(N_DRAWS)).pvalue > 1e-3


def test_the_draft_alone_would_fail_the_same_test():
    """Power check: the joint of q is far enough from p's for this test to notice."""
    q1 = q_after(())
    joint = torch.cat([q1[x] * q_after((x,)) for x in range(V)]).double()
    g = torch.Generator().manual_seed(0)
    cells = torch.multinomial(joint, N_DRAWS, replacement=True, generator=g)
    observed = torch.bincount(cells, minlength=V * V).tolist()
    assert chisquare(observed, expected_first_two(N_DRAWS)).pvalue < 1e-6


def test_not_updating_p_between_siblings_fails(monkeypatch):
    monkeypatch.setattr(T, "residual", lambda p, q: p)
    for kind in ("sample", "topk"):
        observed = first_two(kind, N_DRAWS)
        assert chisquare(observed, expected_first_two(N_DRAWS)).pvalue < 1e-6, kind


def test_testing_siblings_drawn_without_replacement_against_plain_q_fails(monkeypatch):
    """The EAGLE-1 pitfall: sibling j must be tested with q minus the earlier siblings."""
    monkeypatch.setattr(T, "proposal", lambda tree, j: tree.dists[tree.parents[j]])
    observed = first_two("sample", N_DRAWS)
    assert chisquare(observed, expected_first_two(N_DRAWS)).pvalue < 1e-6


# ------------------------------------------------------------------ on the real model

def first_tokens_real(p, q, kind, n, k=3):
    """First emitted token over n one-level trees of k children drawn from the real draft q."""
    from specviz.decoding.grow import grow

    g = torch.Generator().manual_seed(0)
    out = []
    for draws in torch.rand(n, 2 * k + 1, generator=g):
        tree = grow(q, None, budget=k, top_k=k, depth=1, kind=kind, u=draws[:k])
        v = verify_tree(p.expand(len(tree) + 1, -1), tree, draws[k:2 * k], draws[-1], greedy=False)
        out.append(tree.tokens[v.path[0]] if v.path else v.token)
    return out


def test_tree_first_token_follows_the_real_target_and_a_wrong_update_does_not(target, monkeypatch):
    """Real p (SmolLM2, T = 1) and q (the trained EAGLE draft's root distribution)."""
    from specviz.decoding.cached_lm import CachedLM
    from specviz.decoding.drafters import build_drafter
    from specviz.decoding.models import encode_prompt
    from specviz.decoding.sampling import SamplingParams, probs_from_logits
    from specviz.decoding.grow import draft_tree

    hot = SamplingParams(1.0)
    drafter = build_drafter("trained:smollm2-135m-eagle", target)
    seq = torch.tensor([encode_prompt(target.tokenizer, "Name a colour.", True)])
    with torch.inference_mode():
        logits, hidden = CachedLM(target.model).forward_with_hidden(seq)
        p = probs_from_logits(logits[-1], hot)
        drafter.observe(hidden[:-1], 0)
        drafter.prefill(seq)
        q = draft_tree(drafter, seq, hot, budget=1, top_k=1, depth=1)[1].root_q
    assert 0.5 * (p - q).abs().sum() > 0.3  # the draft really differs from the target
    n, top = 6000, torch.topk(p, 8).indices.tolist()
    probs = [float(p[k]) for k in top] + [float(1 - p[top].sum())]
    expected = [x * n / sum(probs) for x in probs]

    def buckets(tokens):
        return [sum(t == k for t in tokens) for k in top] + [sum(t not in top for t in tokens)]

    for kind in ("sample", "topk"):
        assert chisquare(buckets(first_tokens_real(p, q, kind, n)), expected).pvalue > 1e-3, kind
    monkeypatch.setattr(T, "residual", lambda p, q: p)
    assert chisquare(buckets(first_tokens_real(p, q, "sample", n)), expected).pvalue < 1e-6
