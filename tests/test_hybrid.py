"""The hybrid drafter (prompt lookup where the text repeats, else the trained draft) on the
real model: greedy output identical to plain decoding, sampled first token distributed as p."""
import pytest
import torch
from scipy.stats import chisquare

from specviz.decoding.cached_lm import CachedLM
from specviz.decoding.drafters.hybrid import HybridDrafter
from specviz.decoding.engine import plain_decode, speculative_decode
from specviz.decoding.models import load_registry
from specviz.decoding.drafters import build_drafter
from specviz.decoding.models import encode_prompt, eos_ids
from specviz.decoding.sampling import SamplingParams, probs_from_logits, verify

NAME = next(iter(load_registry().trained))  # the shipped trained draft


def spy(drafter: HybridDrafter) -> list[str]:
    """Record which drafter proposed each round."""
    sources, propose = [], drafter.propose

    def wrapped(*args):
        out = propose(*args)
        sources.append(drafter.source)
        return out

    drafter.propose = wrapped
    return sources


@pytest.mark.parametrize("gamma", [2, 4])
def test_hybrid_greedy_output_is_the_plain_greedy_output(target, gamma):
    drafter = build_drafter(f"hybrid:{NAME}", target)
    assert isinstance(drafter, HybridDrafter)
    sources = spy(drafter)
    eos, params = eos_ids(target), SamplingParams()
    for prompt in ["Fix the spelling: 'Teh cat sat on teh mat becuase it was tired and teh dog was "
                   "hungry.'", "Write a short email inviting my team to lunch on Friday."]:
        ids = encode_prompt(target.tokenizer, prompt, True)
        plain = plain_decode(target.model, ids, params, 40, torch.Generator(), eos)
        spec = speculative_decode(target.model, drafter, ids, params, gamma, 40, torch.Generator(), eos)
        assert spec.output_ids == plain.output_ids
    assert {"lookup", "draft"} <= set(sources), sources  # both kinds of round ran


def first_tokens(target, drafter, text: str, n: int, params: SamplingParams):
    """n one-token rounds after text (raw): the engine's first token of each, and the real p."""
    seq = torch.tensor([target.tokenizer(text).input_ids])
    lm = CachedLM(target.model)
    with torch.inference_mode():
        drafter.observe(lm.forward_with_hidden(seq[:, :-1])[1], 0)
        logits, hidden = lm.forward_with_hidden(seq[:, -1:])
    drafter.prefill(seq)
    p = probs_from_logits(logits[-1], params)
    P = torch.stack([p, p])  # row 1 is the bonus position (its value does not matter here)
    g = torch.Generator().manual_seed(0)
    out, qs = [], []
    for u_draft, r, u in torch.rand(n, 3, generator=g):
        tokens, q = drafter.propose(seq, 1, params, u_draft.view(1))
        v = verify(P, q, tokens, r.view(1), u, greedy=False)
        out.append(int(tokens[0]) if v.n_accepted else v.token)
        qs.append(q[0])
        drafter.rollback(seq.shape[1])
    return out, p, torch.stack(qs).mean(0)


@pytest.mark.parametrize("text, source", [
    ("one two three four five six seven eight. one two three four five", "lookup"),
    ("The best thing about a quiet morning is", "draft")])
def test_hybrid_sampled_first_token_follows_the_target(target, text, source):
    drafter = build_drafter(f"hybrid:{NAME}", target)
    params, n = SamplingParams(1.0), 3000
    tokens, p, q = first_tokens(target, drafter, text, n, params)
    assert drafter.source == source
    assert 0.5 * float((p - q).abs().sum()) > 0.1  # q really differs from p: the test has power
    top = torch.topk(p, 8).indices.tolist()

    def buckets(ts):
        return [sum(t == k for t in ts) for k in top] + [sum(t not in top for t in ts)]
    probs = [float(p[k]) for k in top] + [float(1 - p[top].sum())]
    expected = [x * n / sum(probs) for x in probs]
    assert chisquare(buckets(tokens), expected).pvalue > 1e-3, (buckets(tokens), expected)
    # the proposals alone (no verification) are far from p: the same test rejects them
    proposals = torch.multinomial(q, n, replacement=True, generator=torch.Generator().manual_seed(1)).tolist()
    assert chisquare(buckets(proposals), expected).pvalue < 1e-6
