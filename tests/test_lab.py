"""The distribution lab: exact laws, the strict path through the engine's verify, real-model drift."""
import numpy as np
import pytest
import torch

from specviz.decoding.sampling import SamplingParams
from specviz.measure import lab

P = torch.tensor([0.5, 0.3, 0.15, 0.05], dtype=torch.float64)
Q = torch.tensor([0.1, 0.6, 0.1, 0.2], dtype=torch.float64)


@pytest.mark.parametrize("variant", lab.VARIANTS)
def test_exact_laws_are_distributions(variant):
    law = lab.exact_distribution(variant, P, Q, k=2, threshold=0.5)
    assert law.sum().item() == pytest.approx(1.0)
    assert (law >= 0).all()


def test_exact_laws_by_hand():
    # skip the residual: min(p, q) + (1 - beta) p, beta = 0.1 + 0.3 + 0.1 + 0.05 = 0.55
    expect = torch.minimum(P, Q) + 0.45 * P
    assert torch.allclose(lab.exact_distribution("no_residual", P, Q), expect)
    # greedy draft proposes token 1 (argmax q = 0.6); accepted w.p. p/q = 0.5, else residual
    resid = (P - Q).clamp(min=0) / (P - Q).clamp(min=0).sum()
    expect = 0.5 * resid
    expect[1] += 0.5
    assert torch.allclose(lab.exact_distribution("greedy_draft", P, Q), expect)
    assert torch.equal(lab.exact_distribution("strict", P, Q), P)


def test_strict_sampling_goes_through_the_engines_verify(monkeypatch):
    calls = []
    real = lab.verify
    monkeypatch.setattr(lab, "verify", lambda *a, **k: calls.append(1) or real(*a, **k))
    out = lab.sample_variant("strict", P, Q, 300, torch.Generator().manual_seed(0))
    assert len(calls) == 300 and out.shape == (300,)


def test_statistics_on_hand_built_distributions():
    res = lab.run_lab(P.float(), Q.float(), n=20000, seed=0)
    assert res.variants["strict"].tv < 0.02 and res.variants["strict"].chi2_p > 0.01
    assert res.variants["no_residual"].tv_exact > 0.1 and res.variants["no_residual"].chi2_p < 1e-6
    for v in res.variants.values():  # the empirical TV tracks the exact drift
        assert abs(v.tv - v.tv_exact) < 0.02
    assert lab.tv_distance(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == 1.0


@pytest.fixture(scope="module")
def real_pq(target):
    """p and q of the lab's default setup on SmolLM2-135M-Instruct with a 28-layer early exit."""
    from specviz.decoding.drafters import build_drafter
    from specviz.decoding.models import encode_prompt
    from specviz.ui.instruments.lesson3 import LAB_PREFIX, LAB_PROMPT

    tok = target.tokenizer
    ids = encode_prompt(tok, LAB_PROMPT, True) + tok(LAB_PREFIX, add_special_tokens=False).input_ids
    return lab.next_token_distributions(target.model, build_drafter("layers:28", target), ids,
                                        SamplingParams(1.0, top_k=50))


def test_real_model_strict_matches_and_loose_drifts(real_pq):
    p, q = real_pq
    assert float(torch.minimum(p, q).sum()) > 0.3  # the draft agrees often enough to matter
    res = lab.run_lab(p, q, n=4000, seed=0)
    strict, floor = res.variants["strict"], res.noise_floor
    # fixed seed: strict is as close to p as plain target sampling itself (noise), and passes chi2
    assert strict.tv < 0.04 and strict.tv < 2 * floor and strict.chi2_p > 0.01
    assert strict.tv_exact == 0
    drifted = [name for name in lab.LOOSE if res.variants[name].tv > 0.08 and res.variants[name].chi2_p < 1e-6]
    assert drifted, {n: (v.tv, v.chi2_p) for n, v in res.variants.items()}


def test_progress_is_reported(real_pq):
    seen = []
    lab.run_lab(*real_pq, n=500, seed=1, variants=["target", "strict"], progress=lambda f, m: seen.append(f))
    assert seen[-1] == 1.0 and len(seen) > 3
