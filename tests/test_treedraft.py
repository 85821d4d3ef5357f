"""Growing trees (EAGLE-2's expansion) and scoring them: hand-built drafts, then the real
SmolLM2-135M-Instruct with its trained EAGLE draft, early-exit draft and Medusa heads."""
import random

import pytest
import torch
from specviz.decoding.cached_lm import CachedLM
from specviz.decoding.drafters.model import ModelDrafter, truncated_model
from specviz.decoding.drafters import build_drafter
from specviz.decoding.models import encode_prompt
from specviz.decoding.sampling import SamplingParams, probs_from_logits, sample
from specviz.decoding.drafters.network import Draft
from specviz.train.draft import draft_config
from specviz.decoding.drafters.trained import make_drafter
from specviz.decoding.tree import Tree
from specviz.decoding.drafters.model import ModelExpander
from specviz.decoding.grow import chain_shape, draft_tree, grow, tree_pass

GREEDY, HOT = SamplingParams(0.0), SamplingParams(1.0)
PROMPT = "Describe the history of origami briefly."


def dist(*probs):
    return torch.tensor(probs, dtype=torch.float32)


def constant(q):
    """An expander whose draft says q after every node."""
    return lambda tree, nodes: q.expand(len(nodes), -1)


def test_grow_expands_the_most_probable_nodes_and_keeps_the_budget_best():
    # after the root q = (.5, .3, .15, .05); after any node (.6, .3, .1, 0)
    tree = grow(dist(.5, .3, .15, .05), constant(dist(.6, .3, .1, 0)), budget=5, top_k=2, depth=3)
    # cumulative q: 0 .5, 1 .3, 0-0 .3, 1-0 .18, 0-0-0 .18 (then 0-1 .15 is cut)
    assert tree.tokens == [0, 1, 0, 0, 0] and tree.parents == [-1, -1, 0, 1, 2]
    assert tree.q == pytest.approx([.5, .3, .6, .6, .6])
    assert set(tree.dists) == {-1, 0, 1, 2, 3}  # node 3 (1-0) was expanded too; its children were cut
    chain = grow(dist(.5, .3, .15, .05), constant(dist(.6, .3, .1, 0)), **chain_shape(3))
    assert chain.tokens == [0, 0, 0] and chain.parents == [-1, 0, 1]


def test_grow_sampled_children_are_drawn_without_replacement_until_the_budget():
    q = dist(.4, .3, .2, .1)
    u = torch.tensor([0.1, 0.1, 0.7, 0.9, 0.9])
    tree = grow(q, constant(q), budget=3, top_k=2, depth=3, kind="sample", u=u)
    first = int(sample(q, u[0]))
    second = int(sample(q.clone().index_fill_(0, torch.tensor(first), 0), u[1]))
    assert tree.tokens[:2] == [first, second] and first != second
    assert len(tree) == 3 and tree.parents[2] == 0  # the most probable child is expanded first
    assert tree.u == pytest.approx(u[:3].tolist()) and tree.kind == "sample"


# ----------------------------------------------------------------------------- real model

@pytest.fixture(scope="module")
def ids(target):
    return encode_prompt(target.tokenizer, PROMPT, True)


@pytest.fixture(scope="module")
def eagle(target):
    return build_drafter("trained:smollm2-135m-eagle", target)


def settle(target, drafter, ids):
    """The engine's prefill for a hidden-state draft; returns the target's cached LM and seq."""
    lm, seq = CachedLM(target.model), torch.tensor([ids])
    drafter.observe(lm.forward_with_hidden(seq[:, :-1])[1], 0)
    drafter.prefill(seq)
    return lm, seq


def random_tree(n: int, seed: int) -> Tree:
    rng = random.Random(seed)
    parents = [rng.randrange(-1, i) for i in range(n)]
    return Tree([rng.randrange(100, 20000) for _ in range(n)], parents, [0.5] * n)


@pytest.mark.parametrize("stock", [False, True], ids=["engine-forward", "transformers"])
@torch.inference_mode()
def test_one_pass_scores_every_node_like_a_forward_along_its_path_and_compaction_keeps_it(target, ids, stock):
    model, tree = target.model, random_tree(12, 0)
    lm = CachedLM(model, stock=stock)
    assert (lm.lean is None) == stock  # the engine's own CPU forward, or transformers' with a 4D mask
    lm.forward(torch.tensor([ids[:-1]]))
    logits = tree_pass(lm, ids[-1], tree)
    for v in range(-1, len(tree)):
        path = tree.path_to(v) if v >= 0 else []
        ref = model(input_ids=torch.tensor([ids + [tree.tokens[j] for j in path]])).logits[0, -1]
        assert torch.allclose(logits[v + 1], ref, atol=1e-3), v
    deepest = max(range(len(tree)), key=lambda v: len(tree.path_to(v)))
    path = tree.path_to(deepest)
    assert path != list(range(len(path)))  # the kept rows really move
    lm.keep(len(ids), path)
    assert lm.length == len(ids) + len(path)
    step = lm.forward(torch.tensor([[4242]]))[-1]
    ref = model(input_ids=torch.tensor([ids + [tree.tokens[j] for j in path] + [4242]])).logits[0, -1]
    assert torch.allclose(step, ref, atol=1e-3)


@torch.inference_mode()
def test_eagle_tree_of_width_one_is_todays_chain(target, ids, eagle):
    _, seq = settle(target, eagle, ids)
    tokens, q = eagle.propose(seq, 4, GREEDY, [None] * 4)
    tree, _ = draft_tree(eagle, seq, GREEDY, **chain_shape(4))
    assert tree.tokens == tokens.tolist() and tree.parents == [-1, 0, 1, 2]
    assert all(torch.allclose(tree.dists[i - 1], q[i], atol=1e-6) for i in range(4))
    u = torch.rand(4, generator=torch.Generator().manual_seed(3))
    tokens, q = eagle.propose(seq, 4, HOT, u)
    tree, _ = draft_tree(eagle, seq, HOT, **chain_shape(4), kind="sample", u=u)
    assert tree.tokens == tokens.tolist()
    assert all(torch.allclose(tree.dists[i - 1], q[i], atol=1e-6) for i in range(4))


def chain_q(drafter, seq, path_tokens):
    """Reference: the draft's q after path_tokens, fed one by one with plain causal attention."""
    d = drafter
    d.n_cached -= 1  # re-feed the last settled input, as propose does on a re-proposal
    d.truncate(d.n_cached)
    feature = d.catch_up(seq)
    for i, tok in enumerate(path_tokens):
        emb = d.embed(torch.tensor([[tok]])).to(d.head.dtype)
        feature = d.step(d.draft.inputs(emb, feature.view(1, 1, -1)), d.n_cached + i)
    q = d.q_from(feature, GREEDY, len(path_tokens))  # the chain's step: its fitted logit scale
    d.truncate(d.n_cached)
    return q


@torch.inference_mode()
def test_eagle_tree_nodes_see_only_their_own_path(target, ids, eagle):
    _, seq = settle(target, eagle, ids)
    tree, _ = draft_tree(eagle, seq, GREEDY, budget=12, top_k=3, depth=4)
    assert len(tree) == 12 and max(tree.depths) >= 3 and len(tree.children(-1)) >= 2
    for v, q in tree.dists.items():
        path = [tree.tokens[j] for j in tree.path_to(v)] if v >= 0 else []
        assert torch.allclose(q, chain_q(eagle, seq, path), atol=1e-5), v
    # EAGLE-2's rerank: every node is at most as probable as its parent's path
    cum = []
    for i, a in enumerate(tree.parents):
        cum.append(tree.q[i] * (cum[a] if a >= 0 else 1.0))
        assert a < 0 or cum[i] <= cum[a]


@torch.inference_mode()
def test_draft_model_tree_matches_plain_forwards_and_keeps_only_the_accepted_path(target, ids):
    small = truncated_model(target.model, 4)
    drafter = ModelDrafter(small, target.model.config.vocab_size, "layers:4")
    seq = torch.tensor([ids])
    drafter.prefill(seq)
    tree, ex = draft_tree(drafter, seq, GREEDY, budget=10, top_k=3, depth=3)
    assert isinstance(ex, ModelExpander) and len(tree) == 10
    for v, q in tree.dists.items():
        path = [tree.tokens[j] for j in tree.path_to(v)] if v >= 0 else []
        ref = probs_from_logits(small(input_ids=torch.tensor([ids + path])).logits[0, -1], GREEDY)
        assert torch.allclose(q, ref, atol=1e-4), v
    # accept a path through an expanded node that is not the first child: only its rows stay
    v = max((v for v in tree.dists if v >= 0), key=lambda v: (len(tree.path_to(v)), v))
    path = tree.path_to(v)
    ex.keep_path(path)
    accepted = [tree.tokens[j] for j in path]
    drafter.rollback(len(ids) + len(path))
    assert drafter.lm.length == len(ids) + len(path)
    seq2 = torch.tensor([ids + accepted + [7]])
    got = drafter.propose(seq2, 2, GREEDY, [None] * 2)
    fresh = ModelDrafter(small, target.model.config.vocab_size, "layers:4")
    fresh.prefill(seq2)
    want = fresh.propose(seq2, 2, GREEDY, [None] * 2)
    assert got[0].tolist() == want[0].tolist() and torch.allclose(got[1], want[1], atol=1e-4)


@torch.inference_mode()
def test_medusa_tree_takes_each_depth_from_its_own_head(target, ids):
    """Structure only: the heads here are random (no trained Medusa draft ships)."""
    torch.manual_seed(0)
    draft = Draft(draft_config(target.model.config, "medusa", n_heads=3))
    for head in draft.heads:
        torch.nn.init.normal_(head.linear.weight, std=0.05)
    vocab = torch.arange(target.model.config.vocab_size)
    medusa = make_drafter(draft, vocab, target.model, "medusa-test")
    lm, seq = settle(target, medusa, ids)
    tree, ex = draft_tree(medusa, seq, GREEDY, budget=20, top_k=3, depth=5)
    assert max(tree.depths) <= 3  # no deeper than the number of heads
    for v in range(len(tree)):
        d = tree.depths[v]
        top = torch.topk(ex.q[d - 1], 3).indices.tolist()
        assert tree.tokens[v] in top  # depth d's candidates: head d's top-k, whatever the parent
    assert len({tree.tokens[v] for v in range(len(tree)) if tree.depths[v] == 2}) < \
        sum(d == 2 for d in tree.depths)  # different parents share head 2's candidates
