"""γ chosen by measurement: argmax over γ of E[τ](α, γ) / (γc + v(γ+1)), on known α, c, v."""
import pytest
import yaml

from specviz.decoding.gamma import TreeOption, alpha_at, choose_gamma, pass_cost_ratios
from specviz.theory import best_gamma, break_even_alpha, speedup_verify_aware


@pytest.mark.parametrize("alpha, c", [(0.6, 0.1), (0.8, 0.05), (0.9, 0.2), (0.3, 0.02)])
def test_flat_pass_cost_gives_leviathans_optimum(alpha, c):
    """With v(k) = 1 (Leviathan's assumption) the choice is the paper's optimal gamma."""
    assert choose_gamma(alpha, c, [1.0] * 17).gamma == best_gamma(alpha, c)


def test_a_costly_verify_pass_shortens_the_draft():
    # alpha 0.6, c 0.1: flat v -> gamma 3 (2.176 / 1.3 = 1.674x, beats gamma 2's 1.633x and 4's 1.647x);
    # each extra token costing a quarter step -> gamma 1 (1.6 / 1.35 = 1.185x vs gamma 2's 1.96 / 1.7)
    flat = choose_gamma(0.6, 0.1, [1.0] * 9)
    assert flat.gamma == 3 and flat.speedup == pytest.approx(2.176 / 1.3)
    steep = choose_gamma(0.6, 0.1, [1 + 0.25 * k for k in range(9)])
    assert steep.gamma == 1 and steep.speedup == pytest.approx(1.6 / 1.35)
    assert "γ = 1" in steep.reason() and "γ = 2: 1.15x" in steep.reason()


def test_a_useless_draft_is_called_useless():
    choice = choose_gamma(0.05, 0.3, [1.0, 1.5, 1.6, 1.7, 1.8])
    assert choice.gamma == 1 and choice.speedup < 1
    assert "nothing is expected to beat plain decoding" in choice.reason()


def test_gamma_is_limited_by_the_measured_curve_and_inputs_are_checked():
    assert choose_gamma(0.99, 0.0, [1.0] * 5).gamma == 4  # v measured up to 5 tokens: gamma <= 4
    with pytest.raises(ValueError):
        choose_gamma(1.5, 0.1, [1.0, 1.0])
    with pytest.raises(ValueError):
        choose_gamma(0.5, 0.1, [1.0])


def test_measured_inputs():
    assert pass_cost_ratios([0.04, 0.05, 0.06]) == pytest.approx([1.0, 1.25, 1.5])
    measured = {0: 0.6, 0.7: 0.5, 1.0: 0.44}
    assert alpha_at(measured, 0) == 0.6 and alpha_at(measured, 0.35) == pytest.approx(0.55)
    assert alpha_at(measured, 1.0) == 0.44 and alpha_at(measured, 2.0) == 0.44


def test_auto_gamma_run_says_what_it_chose_and_why(target, tmp_path, monkeypatch):
    from specviz.errors import RunError
    from specviz.paths import MODELS_YAML
    from specviz.decoding.record import RunSettings, run

    registry = yaml.safe_load(MODELS_YAML.read_text(encoding="utf-8"))
    registry["pairs"]["measured-lookup"] = {"target": "smollm2-135m-instruct", "draft": "lookup", "gamma": 2,
                                            "offline": True, "measured": {"alpha": {0: 0.9, 1.0: 0.1}}}
    (tmp_path / "models.yaml").write_text(yaml.safe_dump(registry), encoding="utf-8")
    monkeypatch.setenv("SPECVIZ_MODELS", str(tmp_path / "models.yaml"))
    said: list[str] = []
    trace = run(RunSettings("Repeat after me: red green blue red green blue", "smollm2-135m-instruct",
                            "lookup", gamma="auto", max_new_tokens=8, device="cpu", baseline=False),
                progress=said.append)
    reason = next(m for m in said if m.startswith("auto γ = "))
    assert reason.startswith(f"auto γ = {trace.config.gamma}:") and "α = 0.90" in reason
    assert trace.config.gamma >= 2  # alpha 0.9 at no draft cost: longer drafts pay
    with pytest.raises(RunError, match="auto gamma needs a measured alpha"):
        run(RunSettings("Hi", "smollm2-135m-instruct", "layers:4", gamma="auto", max_new_tokens=4,
                        device="cpu", baseline=False))


# ----------------------------------------------------------------------------- online γ, per request

V = [1.0, 1.02, 1.08, 1.18, 1.48, 1.44, 1.46, 1.52, 1.52]  # a v(1..9) one Intel VM measured (docs/performance.md)


def test_online_gamma_follows_the_requests_own_acceptance():
    from specviz.decoding.gamma import online_gamma

    policy = online_gamma(0.37, 0.09, V, 0.002)
    start = policy.gamma_for("draft")
    assert start == choose_gamma(0.37, 0.09, V).gamma == 1
    for _ in range(10):  # every draft accepted: alpha estimate -> 1, longer drafts pay
        policy.update(4, 4, "draft")
    assert policy.gamma_for("draft") > start
    assert policy.estimate("draft") == pytest.approx((40 + 4 * 0.37) / (40 + 4))


def test_online_gamma_stops_drafting_when_drafts_do_not_pay_and_probes():
    from specviz.decoding.gamma import online_gamma

    policy = online_gamma(0.37, 0.09, V, 0.002)
    for _ in range(20):
        policy.update(1, 0, "draft")  # every draft rejected
    gammas = [policy.gamma_for("draft") for _ in range(12)]
    assert gammas == [0, 0, 0, 1] * 3  # plain steps, with a one-token probe every fourth round
    for _ in range(60):  # the probes start to be accepted: drafting resumes
        policy.update(1, 1, "draft")
    assert policy.gamma_for("draft") >= 1 and policy.seen["draft"][2] == 0


def test_online_gamma_keeps_sources_apart():
    from specviz.decoding.gamma import online_gamma

    policy = online_gamma(0.37, 0.09, V, 0.002)
    for _ in range(10):
        policy.update(3, 3, "lookup")
        policy.update(1, 0, "draft")
    assert policy.c == {"draft": 0.09, "lookup": 0.002}
    assert policy.gamma_for("lookup") >= 3 and policy.gamma_for("draft") == 0


@pytest.mark.parametrize("alpha", [0.0, 0.9])
def test_online_gamma_is_lossless_on_the_real_model(target, alpha):
    """Greedy output is the plain greedy output whatever γ the policy picks, including rounds
    that draft nothing (alpha 0: the trained draft must catch up on skipped positions)."""
    import torch

    from specviz.decoding.gamma import online_gamma
    from specviz.decoding.engine import plain_decode, speculative_decode
    from specviz.decoding.models import load_registry
    from specviz.decoding.drafters import build_drafter
    from specviz.decoding.models import encode_prompt, eos_ids
    from specviz.decoding.sampling import SamplingParams

    name = next(iter(load_registry().trained))
    eos, params = eos_ids(target), SamplingParams()
    ids = encode_prompt(target.tokenizer, "Fix the grammar: 'me and him goes to the store yesterday, "
                        "and we buyed three apple.' Then write one more sentence.", True)
    plain = plain_decode(target.model, ids, params, 40, torch.Generator(), eos)
    policy = online_gamma(alpha, 0.09, V, 0.002)
    drafter = build_drafter(f"hybrid:{name}", target)
    spec = speculative_decode(target.model, drafter, ids, params, policy, 40, torch.Generator(), eos)
    assert spec.output_ids == plain.output_ids
    gammas = spec.counts.passes, spec.counts.drafted
    assert spec.counts.passes > 0 and gammas[1] > 0
    if alpha == 0.0:  # drafts were skipped: fewer drafted tokens than passes
        assert spec.counts.drafted < spec.counts.passes


def test_a_cheaper_longer_pass_is_taken_at_its_word():
    """On a machine where 5 rows cost less than 3 (kernels change with the row count, and a
    padded pass is what the engine then runs), γ = 4 must be able to win."""
    dip = [1.0, 1.25, 1.30, 1.02, 1.02, 1.40]
    choice = choose_gamma(0.6, 0.05, dip)
    assert choice.gamma == 4 and choice.v == dip  # no envelope: v is the measured v
    assert choice.speedup == pytest.approx(speedup_verify_aware(0.6, 4, 0.05, 1.02))


def test_nothing_paying_says_so_with_the_break_even_alpha():
    choice = choose_gamma(0.2, 0.1, [1.0, 1.15, 1.3])
    assert choice.speedup < 1
    assert choice.break_even == pytest.approx(break_even_alpha(1, 0.1, 1.15))
    assert f"needs α ≥ {choice.break_even:.2f}, the pair measured 0.20" in choice.reason()


def test_a_token_tree_is_chosen_only_when_it_beats_every_chain():
    v = [1.0, 1.05, 1.06, 1.08, 1.5]
    small = TreeOption(nodes=3, top_k=2, depth=2, tau=1.9)
    choice = choose_gamma(0.4, 0.05, v, trees=[small])
    assert choice.tree == small  # 1.9 / (2 * 0.05 + 1.08) = 1.61x beats gamma 1's 1.4 / 1.1
    assert choice.speedup == pytest.approx(1.9 / (0.1 + 1.08))
    assert "a token tree of 3 nodes" in choice.reason()
    weak = TreeOption(nodes=3, top_k=2, depth=2, tau=1.3)
    assert choose_gamma(0.4, 0.05, v, trees=[weak]).tree is None
    assert choose_gamma(0.4, 0.05, v[:3], trees=[small]).tree is None  # its pass was not measured


