"""Tree rounds in the engine on the real SmolLM2-135M-Instruct: greedy tree runs equal plain
greedy, a tree of width 1 is today's chain, the trace (version 3) carries what the engine
counted, and sampled tree rounds follow the target's distribution over two tokens."""
import copy
import json

import pytest
import torch
from scipy.stats import chisquare

from specviz.decoding import tree as T
from specviz.decoding.cached_lm import CachedLM
from specviz.decoding.drafters import build_drafter
from specviz.decoding.drafters.base import start
from specviz.decoding.drafters.network import Draft
from specviz.decoding.drafters.trained import make_drafter
from specviz.decoding.engine import TokenTexts, _tree_round, plain_decode, speculative_decode
from specviz.decoding.grow import TreeShape
from specviz.decoding.models import encode_prompt, eos_ids
from specviz.decoding.sampling import SamplingParams, probs_from_logits
from specviz.errors import TraceError
from specviz.measure import metrics
from specviz.trace import Trace
from specviz.train.draft import draft_config

GREEDY = SamplingParams(0.0)
PROMPTS = ["Describe the history of origami briefly.", "Write a short note inviting a friend to dinner."]
EAGLE = "trained:smollm2-135m-eagle"


@pytest.fixture(scope="module")
def prompts(target):
    return [encode_prompt(target.tokenizer, p, True) for p in PROMPTS]


def medusa(target):
    """Medusa heads with random weights: structure and losslessness only (no trained Medusa
    draft is used here; losslessness holds for any draft)."""
    torch.manual_seed(0)
    draft = Draft(draft_config(target.model.config, "medusa", n_heads=3))
    for head in draft.heads:
        torch.nn.init.normal_(head.linear.weight, std=0.05)
    return make_drafter(draft, torch.arange(target.model.config.vocab_size), target.model, "medusa-random")


def decode(target, drafter, ids, shape=None, gamma=4, n=32, params=GREEDY, seed=0, texts=None):
    return speculative_decode(target.model, drafter, ids, params, gamma, n,
                              torch.Generator().manual_seed(seed), eos_ids(target), texts, tree=shape)


@pytest.mark.parametrize("spec", [EAGLE, "layers:4", "medusa"])
def test_greedy_tree_runs_are_token_identical_to_plain_greedy(target, prompts, spec):
    for ids, shape in zip(prompts, [TreeShape(8, 4, 6), TreeShape(24, 3, 5)]):
        drafter = medusa(target) if spec == "medusa" else build_drafter(spec, target)
        plain = plain_decode(target.model, ids, GREEDY, 32, torch.Generator(), eos_ids(target))
        tree = decode(target, drafter, ids, shape)
        assert tree.output_ids == plain.output_ids, (spec, shape)
        assert tree.counts.tree_rounds > 0  # the rounds really branched
        assert tree.counts.passes < len(plain.output_ids) or spec == "medusa"


def test_a_tree_of_width_one_is_todays_chain(target, prompts):
    ids = prompts[0]
    texts = TokenTexts(target.tokenizer)
    chain = decode(target, build_drafter(EAGLE, target), ids, None, gamma=4, texts=texts)
    tree = decode(target, build_drafter(EAGLE, target), ids, TreeShape(4, 1, 4), texts=texts)
    assert tree.output_ids == chain.output_ids
    assert [[t.token for t in r.draft] for r in tree.rounds] == \
        [[t.token for t in r.draft if t.accepted] for r in chain.rounds]
    for name in ("passes", "drafted", "accepted", "rejections", "drafted_at", "checked_at", "accepted_at"):
        assert getattr(tree.counts, name) == getattr(chain.counts, name), name
    assert tree.counts.tree_rounds == 0  # a width-1 tree never branches: Leviathan's α applies
    assert metrics.alpha(tree.counts) == metrics.alpha(chain.counts)


def test_the_trace_of_a_tree_run_carries_what_the_engine_counted(target, prompts):
    texts = TokenTexts(target.tokenizer)
    res = decode(target, build_drafter(EAGLE, target), prompts[1], TreeShape(16, 4, 5),
                 params=SamplingParams(1.0), texts=texts)
    from specviz.trace import Baseline, Config, Timing

    trace = Trace(Config("t", "d", 5, 1.0, 1.0, 0, 32, "cpu", "float32", tree_nodes=16, tree_top_k=4,
                         tree_kind="topk"), "p", prompts[1], res.output_ids, "", res.rounds,
                  Baseline([], 0.0), Timing(res.decode_s, 0.0))
    loaded = Trace.from_json(trace.to_json())
    assert loaded.version == 3 and all(r.tree is not None for r in loaded.rounds)
    got = metrics.counts(loaded)
    for name in ("passes", "drafted", "accepted", "rejections", "tree_rounds", "drafted_at",
                 "checked_at", "accepted_at", "beta_n"):
        assert getattr(got, name) == getattr(res.counts, name), name
    assert got.beta_sum == pytest.approx(res.counts.beta_sum)
    s = metrics.summarize(loaded)
    assert s.tree and s.alpha is None and s.speedup_theoretical is None
    assert s.node_acceptance == pytest.approx(res.counts.accepted / (res.counts.accepted + res.counts.rejections))
    out = [tok for r in loaded.rounds for tok in [t.token for t in r.draft] + [r.correction.token]]
    assert out[:len(res.output_ids)] == res.output_ids  # each round's draft is its accepted path
    for r in loaded.rounds:
        nodes = r.tree.nodes
        target_pass = T.allowed([n.parent for n in nodes], 0)[1:, 1:]  # the mask the target ran with
        assert r.tree.mask == ["".join("1" if m else "0" for m in row) for row in target_pass.tolist()]
        for n in nodes:  # tested nodes carry their draw and β; untested ones neither
            assert (n.r is None) == (n.beta is None) == (n.fate == "unchecked")


def _tree_trace(target, prompts) -> dict:
    texts = TokenTexts(target.tokenizer)
    res = decode(target, build_drafter(EAGLE, target), prompts[0], TreeShape(8, 3, 4), n=12, texts=texts)
    from specviz.trace import Baseline, Config, Timing

    return json.loads(Trace(Config("t", "d", 4, 0.0, 1.0, 0, 12, "cpu", "float32", tree_nodes=8,
                                   tree_top_k=3, tree_kind="topk"), "p", prompts[0], res.output_ids,
                            "", res.rounds, Baseline([], 0.0), Timing(1.0, 0.0)).to_json())


def test_a_corrupt_tree_is_refused_with_a_clear_message(target, prompts):
    good = _tree_trace(target, prompts)
    Trace.from_dict(copy.deepcopy(good))
    rnd = next(i for i, r in enumerate(good["rounds"]) if len(r["tree"]["nodes"]) > 2)

    def broken(edit):
        d = copy.deepcopy(good)
        edit(d["rounds"][rnd]["tree"], d)
        with pytest.raises(TraceError) as e:
            Trace.from_dict(d)
        return str(e.value)

    assert "mask" in broken(lambda t, d: t["mask"].__setitem__(1, "1" * len(t["mask"][1])))
    assert "parent" in broken(lambda t, d: t["nodes"][1].update(parent=5))
    assert "fate" in broken(lambda t, d: t["nodes"][0].update(fate="kept"))
    assert "probability" in broken(lambda t, d: t["nodes"][0].update(p=1.5))
    assert "version" in broken(lambda t, d: d.update(version=2))
    assert "budget" in broken(lambda t, d: d["config"].update(tree_nodes=1))
    # the accepted path and the round's draft must agree
    d = copy.deepcopy(good)
    r = next(r for r in d["rounds"] if r["draft"])
    r["draft"][0]["token"] += 1
    with pytest.raises(TraceError, match="accepted path"):
        Trace.from_dict(d)


# ----------------------------------------------------------------------------- distribution

def test_sampled_tree_rounds_follow_the_target_over_two_tokens_and_a_wrong_update_does_not(target, monkeypatch):
    """A real EAGLE-2 tree (16 nodes, depth 4) scored by the real target in one pass, both at
    T = 1 with top-k 6: the first two emitted tokens must follow p(x1) p(x2 | x1); resampling
    after a rejection without the residual update must not."""
    params = SamplingParams(1.0, top_k=6)
    ids = encode_prompt(target.tokenizer, "Name a colour.", True)
    lm, drafter, seq = CachedLM(target.model), build_drafter(EAGLE, target), torch.tensor([ids])
    with torch.inference_mode():
        start(lm, drafter, seq)
        step = _tree_round(lm, drafter, seq, TreeShape(16, 4, 4), 8, params, torch.Generator().manual_seed(0))
        tree, p = step.tree, step.p
        support = torch.nonzero(p[0]).flatten().tolist()
        after = {x: probs_from_logits(target.model(input_ids=torch.tensor([ids + [x]])).logits[0, -1], params)
                 for x in support}
    assert len(tree) == 16 and max(tree.depths) >= 3 and len(tree.children(-1)) >= 2
    assert 0.5 * float((p[0] - tree.dists[-1]).abs().sum()) > 0.1  # the draft really differs (TV 0.16 with the shipped draft)

    cells = {(a, b): float(p[0, a] * after[a][b]) for a in support for b in torch.nonzero(after[a]).flatten().tolist()}
    keys = list(cells)
    n = 8000

    def observed() -> list[int]:
        g = torch.Generator().manual_seed(1)
        hits = dict.fromkeys(keys, 0)
        for draws in torch.rand(n, len(tree) + 2, generator=g):
            v = T.verify_tree(p, tree, draws[:len(tree)], draws[-2], greedy=False)
            out = [tree.tokens[j] for j in v.path] + [v.token]
            if len(out) == 1:  # the round ended after one token: the next round starts from p(. | x1)
                out.append(int(T.choose(after[out[0]], draws[-1], False)))
            hits[(out[0], out[1])] += 1
        return [hits[k] for k in keys]

    expected = [cells[k] * n / sum(cells.values()) for k in keys]
    assert chisquare(observed(), expected).pvalue > 1e-3
    monkeypatch.setattr(T, "residual", lambda p_row, q_row: p_row)  # the wrong update
    assert chisquare(observed(), expected).pvalue < 1e-6
