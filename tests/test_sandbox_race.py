"""The no-model sandbox (β, accept probabilities, residual, draws through sampling.verify) and
the race (both lanes at their measured pace)."""
import pytest
from scipy.stats import chisquare

from specviz.measure import metrics, sandbox
from specviz.paths import TRACES_DIR
from specviz.present import race
from specviz.trace import Trace


def test_beta_accept_and_residual_by_hand():
    a = sandbox.analyse(["x", "y", "z"], [5, 3, 2], [2, 6, 2])  # weights: normalised
    assert a.p == [0.5, 0.3, 0.2] and a.q == [0.2, 0.6, 0.2]
    assert a.beta == pytest.approx(0.2 + 0.3 + 0.2)
    assert a.accept == pytest.approx([1.0, 0.5, 1.0])
    assert a.residual == pytest.approx([1.0, 0.0, 0.0])  # only x has p > q
    assert sandbox.residual_check(a) == pytest.approx(a.residual, abs=1e-6)  # the engine agrees


def test_edge_cases():
    same = sandbox.analyse(["x", "y"], [1, 1], [1, 1])
    assert same.beta == pytest.approx(1) and same.residual is None
    never = sandbox.analyse(["x", "y"], [1, 1], [1, 0])
    assert never.accept == [pytest.approx(0.5), None]  # y is never drafted
    disjoint = sandbox.analyse(["x", "y"], [1, 0], [0, 1])
    assert disjoint.beta == 0 and disjoint.accept == [None, 0.0]
    for bad in ([0, 0], [-1, 2], [float("nan"), 1]):
        with pytest.raises(ValueError):
            sandbox.analyse(["x", "y"], bad, [1, 1])
    with pytest.raises(ValueError):
        sandbox.analyse(["x"], [1], [1])
    with pytest.raises(ValueError):
        sandbox.simulate(same, sandbox.MAX_DRAWS + 1)


def test_draws_through_verify_follow_p_not_q():
    a = sandbox.analyse(sandbox.TOKENS, sandbox.P_START, sandbox.Q_START)
    n = 4000
    sim = sandbox.simulate(a, n, seed=1)
    observed = [f * n for f in sim.freq[-1]]
    assert chisquare(observed, [x * n for x in a.p]).pvalue > 1e-3  # follows p
    assert chisquare(observed, [x * n for x in a.q]).pvalue < 1e-6  # and not the draft's q
    assert sim.tv[-1] < 0.04 and sim.tv[-1] < sim.tv[2]  # converging
    # accepted share ≈ β (binomial, 4 standard deviations)
    assert abs(sim.accepted / n - a.beta) < 4 * (a.beta * (1 - a.beta) / n) ** 0.5
    assert sim.draws == sandbox.checkpoints(n) and sim.draws[-1] == n
    assert sandbox.simulate(a, 200, seed=1).freq == sandbox.simulate(a, 200, seed=1).freq


def test_identical_p_and_q_never_reject():
    a = sandbox.analyse(["x", "y", "z"], [1, 2, 3], [1, 2, 3])
    assert sandbox.simulate(a, 300).accepted == 300


@pytest.mark.parametrize("stem", ["chat__lookup__greedy", "summarise__layers-4__sampled"])
def test_race_lanes_run_at_the_measured_pace(stem):
    trace = Trace.load(str(TRACES_DIR / f"{stem}.json"))
    r = race.race(trace)
    assert r.spec.finish == pytest.approx(trace.timing.spec_s)
    assert r.plain.finish == pytest.approx(metrics.baseline_step_s(trace) * len(trace.baseline.output_ids))
    assert len(r.spec.times) == len(trace.output_ids) and len(r.round_ends) == len(trace.rounds)
    assert r.spec.times == sorted(r.spec.times) and r.round_ends == sorted(r.round_ends)
    # a round's tokens all come out together, when the round ends
    first = render_kept(trace.rounds[0])
    assert r.spec.done(r.round_ends[0]) == first and r.spec.done(r.round_ends[0] - 1e-9) == 0
    assert r.rounds_done(r.length) == len(trace.rounds) and r.spec.done(r.length) == len(r.spec.times)
    assert r.plain.done(r.plain.finish / 2) == pytest.approx(len(r.plain.times) / 2, abs=1)
    # who wins agrees with the measured speedup (per token; equal lengths here)
    s = metrics.measured_speedup(trace)
    assert (r.spec.finish < r.plain.finish) == (s > 1)
    whole = trace.baseline.text if r.plain.texts is None else "".join(r.plain.texts)
    assert race.text_so_far(r.plain, len(r.plain.times)) == whole


def render_kept(rnd) -> int:
    return sum(t.accepted for t in rnd.draft) + 1


def test_race_without_a_baseline():
    trace = Trace.load(str(TRACES_DIR / "chat__lookup__greedy.json"))
    trace.baseline.output_ids = []
    assert race.race(trace).plain is None
