"""The shipped trained draft: loads by name, drafts losslessly, and is accepted on held-out prompts."""
import json

import torch

from specviz.counts import Counts
from specviz.decoding.drafters import build_drafter
from specviz.decoding.engine import plain_decode, speculative_decode
from specviz.decoding.models import encode_prompt, eos_ids, load_registry
from specviz.decoding.sampling import SamplingParams
from specviz.measure import metrics
from specviz.measure.prompts import eval_requests
from specviz.paths import DRAFTS_DIR

NAME = "smollm2-135m-eagle"


def test_shipped_draft_is_small_registered_and_carded():
    weights = DRAFTS_DIR / NAME / "weights.safetensors"
    assert weights.stat().st_size <= 25 * 1024 * 1024
    card = json.loads((DRAFTS_DIR / NAME / "card.json").read_text())
    assert card["command"].startswith("python -m specviz distill") and card["held_out_eval"]["lossless"]
    assert NAME in load_registry().trained


def test_shipped_draft_is_lossless_and_its_alpha_does_not_depend_on_gamma(target):
    """Leviathan's α is a property of the pair, not of γ: estimated on the same held-out prompts
    at γ = 1 and γ = 4 it must agree, and E[τ] at that α must predict the measured τ."""
    drafter = build_drafter(f"trained:{NAME}", target)
    eos, params = eos_ids(target), SamplingParams()
    counts = {1: Counts(), 4: Counts()}
    for _, prompt in eval_requests()[:3]:  # hand-written requests the draft never saw in training
        ids = encode_prompt(target.tokenizer, prompt, True)
        plain = plain_decode(target.model, ids, params, 48, torch.Generator(), eos)
        for gamma in counts:
            spec = speculative_decode(target.model, drafter, ids, params, gamma, 48, torch.Generator(), eos)
            assert spec.output_ids == plain.output_ids
            counts[gamma] = counts[gamma] + spec.counts
    a1, a4 = metrics.alpha(counts[1]), metrics.alpha(counts[4])
    # an untrained early-exit draft of similar cost gets ~0.05 (measurements.md)
    assert a1 > 0.2 and a4 > 0.2
    assert abs(a1 - a4) < 0.12, (a1, a4)
    for c in counts.values():
        tau, tau_expected = metrics.mean_acceptance_length(c), metrics.expected_acceptance_length_of(c)
        assert abs(tau_expected - tau) / tau < 0.10, (tau, tau_expected)
