"""The one interleaved repeats loop and the one pooling rule (specviz.measure.repeats), and that
bench pools its own timings by the same rule."""
import pytest
from test_brief import fast

from specviz.measure import bench
from specviz.measure.repeats import RULE, interleaved, plain_first, pooled_summary, repeat_speedup, speedup


def test_each_repeat_rotates_every_group_and_odd_repeats_go_plain_first():
    calls = []
    out = interleaved([["a", "b", "c"], [], ["d"]], 3, lambda job, r: calls.append((job, r)) or job.upper())
    assert calls == [("a", 0), ("b", 0), ("c", 0), ("d", 0),
                     ("b", 1), ("c", 1), ("a", 1), ("d", 1),
                     ("c", 2), ("a", 2), ("b", 2), ("d", 2)]
    assert out[4] == ("b", 1, "B")
    assert [plain_first(r) for r in range(3)] == [False, True, False]
    seen = []
    stopped = interleaved([["a", "b"]], 2, lambda job, r: job, lambda done, total, job, r: seen.append((done, total)),
                          should_stop=lambda: len(seen) == 3)
    assert [job for job, _, _ in stopped] == ["a", "b", "b"] and seen == [(0, 4), (1, 4), (2, 4)]
    with pytest.raises(ValueError):
        interleaved([["a"]], 0, lambda job, r: job)


def test_the_rule_pools_a_repeats_prompts_then_takes_the_median_over_repeats():
    # (plain s per token, tokens, speculative s): a long prompt weighs more than a short one
    assert repeat_speedup([(0.03, 100, 2.0), (0.03, 10, 0.6)]) == pytest.approx(0.03 * 110 / 2.6)
    assert repeat_speedup([]) is None
    runs = [fast(s, prompt) for s in (1.2, 1.5, 1.3) for prompt in ("x", "y")]  # three repeats of two prompts
    runs[1].timing.spec_s *= 2  # prompt y of repeat 1 ran at half the speed
    spread = speedup(runs)
    first = 0.03 * 80 / (0.03 * 40 / 1.2 * 3)  # plain time for both prompts' tokens ÷ speculative time
    assert spread.each == pytest.approx([first, 1.5, 1.3])
    assert (spread.median, spread.lo, spread.hi) == pytest.approx((1.3, first, 1.5))
    assert pooled_summary(runs).speedup_measured == pytest.approx(spread.median)
    assert "median over repeats" in RULE


def test_bench_pools_its_timings_by_the_same_rule():
    plain, ours = bench.Method("plain"), bench.Method("ours", "lookup", 4)
    for i, (plain_s, ours_s, tokens) in enumerate([((1.0, 1.2, 0.9), (0.5, 0.9, 0.6), 20), ((2.0, 2.0, 2.1), (1.0, 1.5, 1.4), 40)]):
        plain.decode[i], ours.decode[i] = list(plain_s), list(ours_s)
        plain.n_tokens[i] = ours.n_tokens[i] = [tokens] * 3
    got = bench.speedup(plain, ours, [0, 1])
    assert got.each == pytest.approx([3.0 / 1.5, 3.2 / 2.4, 3.0 / 2.0])  # same tokens: plain time ÷ ours
    assert got.lo <= got.median <= got.hi and got.median == pytest.approx(1.5)
    assert bench.speedup(plain, ours, [1]).each == pytest.approx([2.0, 2.0 / 1.5, 2.1 / 1.4])  # one prompt
