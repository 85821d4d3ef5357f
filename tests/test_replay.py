"""Counterfactual replay: hand-computed expectations, and exact reproduction of real runs."""
import pytest

from specviz import metrics
from specviz.replay import NO_DRAFT, observations, replay, replay_all
from specviz.trace import Baseline, Config, Correction, DraftToken, Round, Timing, Trace
from specviz.ui.examples import shipped_traces


def make_trace(rounds: list[list[bool]], gamma: int, n_out: int, draft: str = "layers:4",
               base_s: float = 0.03, draft_s: float = 0.01, verify_s: float = 0.04,
               max_new: int | None = None) -> Trace:
    """A greedy trace whose rounds accept/reject as given (token ids are just positions)."""
    rs, pos = [], 0
    for pattern in rounds:
        toks = [DraftToken(pos + i, "x", 1.0, 1.0, None, ok) for i, ok in enumerate(pattern)]
        n = next((i for i, ok in enumerate(pattern) if not ok), len(pattern))  # accepted prefix
        kind = "resampled" if n < len(pattern) else "bonus"
        rs.append(Round(toks, Correction(pos + n, "x", kind, 1.0), draft_s * len(pattern), verify_s))
        pos += n + 1
    out = list(range(n_out))
    spec_s = sum(r.draft_s + r.verify_s for r in rs)
    return Trace(Config("t", draft, gamma, 0.0, 1.0, 0, max_new or n_out, "cpu", "float32"), "p", [1], out, "",
                 rs, Baseline(out, base_s), Timing(spec_s, base_s * n_out))


def test_observations_mark_accepts_rejects_bonus_and_empty_proposals():
    t = make_trace([[True, True], [True, False], []], gamma=2, n_out=6)
    assert observations(t) == [True, True, None, True, False, NO_DRAFT]


def test_replay_matches_a_hand_computed_expectation():
    # positions: T T ? T F -, fill alpha = 3/4. At gamma 1 (worked out by hand in the DP):
    # 4 expected passes, 2 expected accepted, 3 expected drafted
    t = make_trace([[True, True], [True, False], []], gamma=2, n_out=6)
    p = replay(t, 1)
    assert p.passes == pytest.approx(4.0)
    assert p.alpha == pytest.approx(2 / 3)
    assert p.tokens_per_pass == pytest.approx(1.5)
    assert not p.recorded


def test_replay_reproduces_the_recorded_gamma_exactly():
    t = make_trace([[True, False, False], [True, True, True], [False, False, False], [True, False, False]],
                   gamma=3, n_out=9, max_new=20)  # stopped at an EOS, well before max_new_tokens
    p = replay(t, 3)
    assert p.recorded
    assert p.alpha == pytest.approx(metrics.draft_acceptance_rate(metrics.counts(t)))
    assert p.tokens_per_pass == pytest.approx(metrics.mean_acceptance_length(metrics.counts(t)))
    assert p.passes == pytest.approx(len(t.rounds))


def test_replay_speedup_uses_the_runs_own_timings():
    t = make_trace([[True, True], [True, False], []], gamma=2, n_out=6)
    p = replay(t, 2)
    spec_s = p.passes * 0.04 + p.drafted * 0.01  # verify per pass + draft per drafted token
    assert p.speedup == pytest.approx(0.03 * 6 / spec_s)
    # a verify cost that grows with tokens scored can only lower the estimate for larger gamma
    flat = replay(t, 6).speedup
    assert replay(t, 6, lambda n: 1 + 0.2 * (n - 1)).speedup < flat


def test_all_accepted_run_prefers_long_drafts_and_no_accepts_prefers_none():
    good = make_trace([[True] * 4] * 5, gamma=4, n_out=25, draft_s=0.001)
    bad = make_trace([[False] * 4] * 10, gamma=4, n_out=10)
    assert max(replay_all(good, range(1, 9)), key=lambda p: p.speedup).gamma >= 4
    assert max(replay_all(bad, range(1, 9)), key=lambda p: p.speedup).gamma == 1
    assert all(p.alpha == 0 for p in replay_all(bad, range(1, 9)))


@pytest.mark.parametrize("label", list(shipped_traces()))
def test_replay_reproduces_each_shipped_real_run(label):
    from specviz.trace import Trace

    t = Trace.load(str(shipped_traces()[label]))
    p = replay(t, t.config.gamma)
    assert p.alpha == pytest.approx(metrics.draft_acceptance_rate(metrics.counts(t)), abs=1e-9)
    assert p.passes == pytest.approx(len(t.rounds), abs=1e-9)
