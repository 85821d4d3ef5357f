"""Leviathan et al. 2023 formulas, and the one definition of every run metric (specviz.measure.metrics)."""
import pytest
import torch

from specviz.counts import Counts
from specviz.decoding.sampling import overlap, verify
from specviz.measure import metrics
from specviz.measure.metrics import summarize
from specviz.theory import (best_gamma, break_even_alpha, draft_acceptance_rate_expected,
                            expected_acceptance_length, operations_factor, speedup_theoretical,
                            speedup_verify_aware)
from specviz.trace import Baseline, Config, Correction, DraftToken, Round, Timing, Trace


@pytest.mark.parametrize("alpha, gamma, expected", [
    (0.6, 2, 1.96), (0.8, 2, 2.44), (0.8, 5, 3.69), (0.9, 10, 6.86)])
def test_expected_acceptance_length_matches_published_worked_values(alpha, gamma, expected):
    assert expected_acceptance_length(alpha, gamma) == pytest.approx(expected, abs=0.005)


def test_speedup_and_operations_factor():
    assert speedup_theoretical(0.8, 5, 0.0) == pytest.approx(3.6893, abs=1e-3)
    assert speedup_theoretical(0.8, 5, 0.05) == pytest.approx(3.6893 / 1.25, abs=1e-3)
    assert speedup_theoretical(0.0, 4, 0.25) == pytest.approx(0.5)  # nothing accepted: slower
    assert operations_factor(0.8, 5, 0.0) == pytest.approx(6 / 3.6893, abs=1e-3)
    assert expected_acceptance_length(1.0, 4) == 5
    assert best_gamma(0.9, 0.05) > best_gamma(0.5, 0.05) >= 1
    # a verify pass costing 1.5 steps: E[τ] / (γc + v) = 3.6893 / (0.25 + 1.5)
    assert speedup_verify_aware(0.8, 5, 0.05, 1.5) == pytest.approx(3.6893 / 1.75, abs=1e-3)
    # vLLM's rate under the i.i.d. model: α = 0.8, γ = 4 -> τ = 3.36, accepted ÷ drafted = 0.59
    assert draft_acceptance_rate_expected(0.8, 4) == pytest.approx(2.3616 / 4, abs=1e-4)
    assert draft_acceptance_rate_expected(0.8, 1) == pytest.approx(0.8)


def test_best_gamma_shrinks_when_longer_verify_passes_cost_more():
    flat = best_gamma(0.8, 0.05)
    steep = best_gamma(0.8, 0.05, v=lambda k: 1 + 0.3 * (k - 1))
    assert steep < flat


def test_break_even_alpha():
    # γ = 1, c = 0.5, v = 1: E[τ] = 1 + α must equal 1.5 -> α = 0.5
    assert break_even_alpha(1, 0.5) == pytest.approx(0.5, abs=1e-6)
    assert break_even_alpha(4, 1.5) is None  # even α = 1 gives 5 / 7 < 1


def _round(fates, kind, draft_s=0.01, verify_s=0.03, betas=None):
    betas = betas or [None] * len(fates)
    draft = [DraftToken(i, "t", 0.5, 0.5, None, ok, beta=b) for i, (ok, b) in enumerate(zip(fates, betas))]
    return Round(draft, Correction(9, "c", kind, 0.5), draft_s, verify_s)


def _trace(rounds, gamma=3, baseline_s_per_token=0.03):
    out = list(range(sum(sum(t.accepted for t in r.draft) + 1 for r in rounds)))
    spec_s = sum(r.draft_s + r.verify_s for r in rounds)
    cfg = Config("t", "d", gamma, 0.0, 1.0, 0, len(out), "cpu", "float32")
    return Trace(cfg, "p", [1], out, "x", rounds, Baseline(out, baseline_s_per_token),
                 Timing(spec_s, baseline_s_per_token * len(out)))


def test_summary_of_a_hand_built_trace():
    # round 1: ✓ ✓ ✓ + bonus      -> 3 accepted, 3 checked, censored (no rejection)
    # round 2: ✓ ✗ (never checked) -> 1 accepted, 2 checked, one rejection
    # round 3: ✗ (never checked)x2 -> 0 accepted, 1 checked, one rejection
    # round 4: nothing drafted     -> the target's own step, counts nothing for α
    t = _trace([_round([True, True, True], "bonus", betas=[0.9, 0.8, 0.7]),
                _round([True, False, False], "resampled", betas=[0.6, 0.2, 0.1]),
                _round([False, False, False], "resampled", betas=[0.3, 0.5, 0.5]),
                _round([], "target")])
    s = summarize(t)
    assert (s.drafted, s.accepted, s.checked, s.rounds, s.tokens) == (9, 4, 6, 4, 8)
    assert s.alpha == pytest.approx(4 / 6)  # accepted ÷ (accepted + 2 rejections)
    assert s.draft_acceptance_rate == pytest.approx(4 / 9)  # vLLM's: never checked ones included
    assert s.mean_acceptance_length == pytest.approx(8 / 4)  # 1 + 4 accepted / 4 passes
    # β over the 6 checked positions only: (0.9 + 0.8 + 0.7) + (0.6 + 0.2) + 0.3 = 3.5
    assert s.alpha_expected == pytest.approx(3.5 / 6)
    # E[τ] at α = 2/3 for these drafts: 3 rounds drafted positions 1..3, one drafted none:
    # 1 + 3 (α + α² + α³) / 4 passes
    a = 2 / 3
    assert s.expected_acceptance_length == pytest.approx(1 + 3 * (a + a ** 2 + a ** 3) / 4)
    # c = (3 × 0.01 s + 0.01 s of the empty round) / 9 drafted / 0.03 s per plain step
    assert s.cost_ratio == pytest.approx(0.04 / 9 / 0.03)
    assert s.verify_cost == pytest.approx(0.03 / 0.03)  # 4 passes of 0.03 s ÷ 0.03 s
    assert s.speedup_measured == pytest.approx(0.03 / (0.16 / 8))
    gamma_bar = 9 / 4
    assert s.speedup_theoretical == pytest.approx(s.expected_acceptance_length / (gamma_bar * s.cost_ratio + 1))
    assert s.same_as_baseline is True
    cond, uncond = metrics.acceptance_by_position(metrics.counts(t))
    # conditional: position 1 checked 3×, accepted 2×; position 2 checked in rounds 1 and 2
    # (round 2 rejected it), accepted 1×; position 3 checked only in round 1, accepted
    assert cond == pytest.approx([2 / 3, 1 / 2, 1 / 1])
    assert uncond == pytest.approx([2 / 3, 1 / 3, 1 / 3])  # vLLM's survival curve
    g = metrics.trace_gap(t)
    assert g.ideal == pytest.approx(s.expected_acceptance_length)
    assert g.with_draft == pytest.approx(s.speedup_verify_aware)
    assert g.with_realised_tau == pytest.approx(2 / (gamma_bar * s.cost_ratio + 1))
    assert g.measured == pytest.approx(s.speedup_measured)


def test_counts_pool_by_adding():
    a, b = Counts(), Counts()
    a.add_round(3, 1)
    b.add_round(2, 2)
    b.add_round(0, 0)
    total = a + b
    assert (total.passes, total.drafted, total.accepted, total.rejections) == (3, 5, 3, 1)
    assert total.drafted_at == [2, 2, 1] and total.checked_at == [2, 2, 0]
    assert metrics.alpha(total) == pytest.approx(3 / 4)


def test_a_version_1_trace_has_no_beta_and_says_so():
    t = _trace([_round([True, False], "resampled")], gamma=2)
    assert summarize(t).alpha_expected is None


def _pq_with_overlap(alpha: float, vocab: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """p uniform on the first half of the tokens; q puts alpha there and 1 − alpha on the
    second half, where p is 0: Σ min(p, q) = alpha exactly."""
    half = vocab // 2
    p = torch.cat([torch.full((half,), 1 / half), torch.zeros(half)])
    q = torch.cat([torch.full((half,), alpha / half), torch.full((half,), (1 - alpha) / half)])
    assert float(overlap(p, q, greedy=False)) == pytest.approx(alpha, abs=1e-6)
    return p, q


@pytest.mark.parametrize("alpha", [0.3, 0.6, 0.85])
@pytest.mark.parametrize("gamma", [1, 2, 4, 8])
def test_simulation_recovers_a_known_alpha(alpha, gamma):
    """Drive the real verify() with drafts from q and targets p whose Σ min(p, q) = α."""
    p1, q1 = _pq_with_overlap(alpha)
    gen = torch.Generator().manual_seed(1234)
    counts = Counts()
    p = p1.expand(gamma + 1, -1)
    q = q1.expand(gamma, -1)
    for _ in range(6000 // gamma + 500):
        drafted = torch.multinomial(q, 1, generator=gen).squeeze(-1)
        r, u = torch.rand(gamma, generator=gen), torch.rand((), generator=gen)
        v = verify(p, q, drafted, r, u, greedy=False)
        betas = overlap(p[:gamma], q, greedy=False).tolist()
        counts.add_round(gamma, v.n_accepted, betas)
    assert metrics.alpha(counts) == pytest.approx(alpha, abs=0.025)
    assert metrics.alpha_expected(counts) == pytest.approx(alpha, abs=1e-6)
    tau_expected = expected_acceptance_length(alpha, gamma)
    assert metrics.mean_acceptance_length(counts) == pytest.approx(tau_expected, rel=0.03)
    assert metrics.expected_acceptance_length_of(counts) == pytest.approx(tau_expected, rel=0.03)
    if gamma > 1:  # vLLM's accepted ÷ drafted is not α ...
        assert abs(metrics.draft_acceptance_rate(counts) - alpha) > 0.05
        # ... it is (α − α^(γ+1)) / (γ(1 − α))
        assert metrics.draft_acceptance_rate(counts) == pytest.approx(
            draft_acceptance_rate_expected(alpha, gamma), abs=0.025)


def test_tau_counts_output_tokens_not_drafts_accepted_after_the_eos():
    # round 1: ✓ ✓ ✓ + bonus = 4 tokens; round 2: ✓ ✓ ✗ + resampled = 3 tokens, but an EOS was
    # the first of them: the output has 5 tokens, and the 2 accepted after it are not output
    t = _trace([_round([True, True, True], "bonus"), _round([True, True, False], "resampled")])
    t.output_ids = t.output_ids[:5]
    s = summarize(t)
    assert (s.accepted, s.rounds, s.tokens) == (5, 2, 5)
    assert s.mean_acceptance_length == pytest.approx(5 / 2)  # not 1 + 5 ÷ 2 = 3.5
    assert metrics.cumulative(t)["tokens_per_pass"] == [4, 1]
    assert metrics.cumulative(t)["tokens"] == [4, 5]


def test_shipped_traces_tau_is_their_output_tokens_per_pass():
    from specviz.services.store import shipped_traces

    past_eos = []
    for label, path in shipped_traces().items():
        t = Trace.load(str(path))
        s = summarize(t)
        assert s.mean_acceptance_length == pytest.approx(len(t.output_ids) / len(t.rounds)), label
        assert sum(metrics.cumulative(t)["tokens_per_pass"]) == len(t.output_ids), label
        past_eos += [label] * (s.accepted + s.rounds > len(t.output_ids))
    assert past_eos  # the shipped runs that accepted drafts after their EOS (6 when this was written)
