"""Counterfactual replay: hand-computed expectations, and exact reproduction of real runs."""
import pytest

from specviz.measure import metrics
from specviz.measure.replay import NO_DRAFT, caveat, observations, replay, replay_all
from specviz.services.store import shipped_traces
from specviz.trace import Baseline, Config, Correction, DraftToken, Round, Timing, Trace


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
    assert p.draft_acceptance_rate == pytest.approx(2 / 3)
    # γ = 1: every drafted token is checked, so Leviathan's α equals accepted ÷ drafted
    assert p.alpha == pytest.approx(2 / 3)
    assert p.mean_acceptance_length == pytest.approx(1.5)
    assert not p.recorded


def test_replay_fills_unobserved_positions_with_leviathans_alpha():
    # γ 2: [F F] | [T T] + bonus | [T F]  ->  positions 0..5: F T T ? T F
    # checked: 3 accepted, 2 rejections -> α = 3/5; accepted ÷ drafted = 3/6 (not the fill)
    t = make_trace([[False, False], [True, True], [True, False]], gamma=2, n_out=6, max_new=7)
    assert observations(t) == [False, True, True, None, True, False]
    # Replayed at γ 3 (never draft past max_new 7). Round at 0: rejects position 0, next at 1.
    # Round at 1 drafts 1, 2, 3: 1 and 2 accepted; the unknown 3 with α = 0.6:
    #   rejected (0.4): next round at 4 drafts 4, 5 (cap): 4 accepted, 5 rejected -> 1 pass
    #   accepted (0.6): next round at 5 drafts 5 (cap): rejected -> 1 pass
    # passes 1 + 1 + 1 = 3; accepted 0 + 0.4 (2 + 1) + 0.6 (3 + 0) = 3;
    # drafted 3 + 3 + 0.4 * 2 + 0.6 * 1 = 7.4 (7.5 if the fill were accepted ÷ drafted = 0.5);
    # rejections 1 + 0.4 (1 + 1) + 0.6 (0 + 1) = 2.4
    p = replay(t, 3)
    assert p.passes == pytest.approx(3.0)
    assert p.drafted == pytest.approx(7.4)
    assert p.mean_acceptance_length == pytest.approx(1 + 3 / 3)
    assert p.draft_acceptance_rate == pytest.approx(3 / 7.4)
    assert p.alpha == pytest.approx(3 / (3 + 2.4))
    recorded = replay(t, 2)  # the recorded γ gives back the run's own α and rate
    assert recorded.alpha == pytest.approx(3 / 5) and recorded.draft_acceptance_rate == pytest.approx(3 / 6)


def test_only_greedy_runs_of_a_text_only_draft_are_exact():
    assert caveat(make_trace([[True]], gamma=1, n_out=2, draft="layers:4")) is None
    assert caveat(make_trace([[True]], gamma=1, n_out=2, draft="smollm2-135m-instruct")) is None
    assert "hidden state" in caveat(make_trace([[True]], gamma=1, n_out=2, draft="trained:x"))
    assert "n-gram" in caveat(make_trace([[True]], gamma=1, n_out=2, draft="lookup:3"))
    sampled = make_trace([[True]], gamma=1, n_out=2)
    sampled.config.temperature = 1.0
    assert "sampled" in caveat(sampled)


def test_replay_reproduces_the_recorded_gamma_exactly():
    t = make_trace([[True, False, False], [True, True, True], [False, False, False], [True, False, False]],
                   gamma=3, n_out=9, max_new=20)  # stopped at an EOS, well before max_new_tokens
    p = replay(t, 3)
    assert p.recorded
    assert p.alpha == pytest.approx(metrics.alpha(metrics.counts(t)))
    assert p.draft_acceptance_rate == pytest.approx(metrics.draft_acceptance_rate(metrics.counts(t)))
    assert p.mean_acceptance_length == pytest.approx(metrics.mean_acceptance_length(metrics.counts(t)))
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
    assert all(p.alpha == 0 and p.draft_acceptance_rate == 0 for p in replay_all(bad, range(1, 9)))


def test_a_token_tree_run_is_not_replayed_as_chains():
    from specviz.trace import Trace

    tree = next(p for label, p in shipped_traces().items() if "tree" in label)
    with pytest.raises(ValueError, match="token-tree"):
        replay(Trace.load(str(tree)), 4)


@pytest.mark.parametrize("label", [label for label in shipped_traces() if "tree" not in label])  # chains
def test_replay_reproduces_each_shipped_real_run(label):
    from specviz.trace import Trace

    t = Trace.load(str(shipped_traces()[label]))
    p = replay(t, t.config.gamma)
    c = metrics.counts(t)
    assert p.draft_acceptance_rate == pytest.approx(metrics.draft_acceptance_rate(c), abs=1e-9)
    assert p.alpha == pytest.approx(metrics.alpha(c), abs=1e-9)
    assert p.passes == pytest.approx(len(t.rounds), abs=1e-9)
