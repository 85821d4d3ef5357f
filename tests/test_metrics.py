"""Leviathan et al. 2023 formulas and trace metrics."""
import pytest

from specviz.metrics import (best_gamma, expected_tokens_per_pass, operations_factor,
                             per_position_acceptance, summarize, theoretical_speedup)
from specviz.trace import Baseline, Config, Correction, DraftToken, Round, Timing, Trace


@pytest.mark.parametrize("alpha, gamma, expected", [
    (0.6, 2, 1.96), (0.8, 2, 2.44), (0.8, 5, 3.69), (0.9, 10, 6.86)])
def test_expected_tokens_per_pass_matches_published_worked_values(alpha, gamma, expected):
    assert expected_tokens_per_pass(alpha, gamma) == pytest.approx(expected, abs=0.005)


def test_speedup_and_operations_factor():
    assert theoretical_speedup(0.8, 5, 0.0) == pytest.approx(3.6893, abs=1e-3)
    assert theoretical_speedup(0.8, 5, 0.05) == pytest.approx(3.6893 / 1.25, abs=1e-3)
    assert theoretical_speedup(0.0, 4, 0.25) == pytest.approx(0.5)  # nothing accepted: slower
    assert operations_factor(0.8, 5, 0.0) == pytest.approx(6 / 3.6893, abs=1e-3)
    assert expected_tokens_per_pass(1.0, 4) == 5
    assert best_gamma(0.9, 0.05) > best_gamma(0.5, 0.05) >= 1


def _round(fates, kind, draft_s=0.01, verify_s=0.03):
    draft = [DraftToken(i, "t", 0.5, 0.5, None, ok) for i, ok in enumerate(fates)]
    return Round(draft, Correction(9, "c", kind, 0.5), draft_s, verify_s)


def _trace(rounds, baseline_s_per_token=0.03):
    out = list(range(sum(sum(t.accepted for t in r.draft) + 1 for r in rounds)))
    spec_s = sum(r.draft_s + r.verify_s for r in rounds)
    cfg = Config("t", "d", 3, 0.0, 1.0, 0, len(out), "cpu", "float32")
    return Trace(cfg, "p", [1], out, "x", rounds, Baseline(out, baseline_s_per_token),
                 Timing(spec_s, baseline_s_per_token * len(out)))


def test_summary_of_a_hand_built_trace():
    t = _trace([_round([True, True, True], "bonus"), _round([True, False, False], "resampled"),
                _round([False, False, False], "resampled")])
    s = summarize(t)
    assert (s.drafted, s.accepted, s.rounds, s.tokens) == (9, 4, 3, 7)
    assert s.alpha == pytest.approx(4 / 9)
    assert s.mean_accepted == pytest.approx(7 / 3)
    assert per_position_acceptance(t) == pytest.approx([2 / 3, 1 / 3, 1 / 3])
    assert s.cost_ratio == pytest.approx((0.03 / 9) / 0.03)
    assert s.speedup_measured == pytest.approx(0.03 / (0.12 / 7))
    assert s.speedup_theoretical == pytest.approx(theoretical_speedup(4 / 9, 3, 1 / 9))
    assert s.same_as_baseline is True
