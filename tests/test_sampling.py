"""Verification on hand-built p and q, in paper notation (p = target, q = draft)."""
import pytest
import torch

from specviz.decoding.sampling import SamplingParams, probs_from_logits, residual, sample, verify


def dist(*probs):
    return torch.tensor(probs, dtype=torch.float32)


def test_sample_is_inverse_cdf_and_skips_zero_probability_tokens():
    p = dist(0.5, 0.0, 0.25, 0.25)
    assert [int(sample(p, torch.tensor(u))) for u in (0.0, 0.49, 0.5, 0.74, 0.75, 0.999)] == \
        [0, 0, 2, 2, 3, 3]


def test_accept_when_r_below_ratio_reject_above():
    p = dist(0.2, 0.8, 0.0)
    q = dist(0.4, 0.1, 0.5)
    P = torch.stack([p, p])  # row 1 is the bonus position
    drafted = torch.tensor([0])
    ok = verify(P, q[None], drafted, torch.tensor([0.49]), torch.tensor(0.0), greedy=False)
    assert ok.n_accepted == 1 and ok.kind == "bonus" and ok.accepted == [True]
    assert ok.p_drafted == pytest.approx([0.2]) and ok.q_drafted == pytest.approx([0.4])
    no = verify(P, q[None], drafted, torch.tensor([0.51]), torch.tensor(0.0), greedy=False)
    assert no.n_accepted == 0 and no.kind == "resampled" and no.accepted == [False]
    # residual norm(max(0, p - q)) = (0, 0.7, 0) / 0.7: only token 1 can be resampled
    assert torch.allclose(no.residual, dist(0.0, 1.0, 0.0))
    assert no.token == 1


def test_residual_is_normalised_positive_part():
    res = residual(dist(0.5, 0.3, 0.2), dist(0.2, 0.5, 0.3))
    assert torch.allclose(res, dist(1.0, 0.0, 0.0))
    res = residual(dist(0.5, 0.3, 0.2), dist(0.1, 0.1, 0.8))
    assert torch.allclose(res, dist(0.4, 0.2, 0.0) / 0.6)
    same = dist(0.3, 0.7)
    assert torch.allclose(residual(same, same), same)  # p == q: fall back to p


def test_first_rejection_ends_the_round_and_later_tokens_count_as_rejected():
    p = dist(0.1, 0.9)
    q = dist(0.9, 0.1)
    P, Q = torch.stack([p] * 4), torch.stack([p, q, p])
    drafted = torch.tensor([1, 0, 1])  # accepted (p/q = 1), rejected (p/q = 0.11), then moot
    v = verify(P, Q, drafted, torch.tensor([0.5, 0.5, 0.0]), torch.tensor(0.3), greedy=False)
    assert v.n_accepted == 1 and v.accepted == [True, False, False]
    assert v.kind == "resampled" and v.token == 1  # residual at position 2 is all on token 1


def test_all_accepted_gives_bonus_sampled_from_p():
    p = dist(0.25, 0.75)
    P = torch.stack([p, p, dist(1.0, 0.0)])
    v = verify(P, P[:2], torch.tensor([1, 1]), torch.tensor([0.1, 0.2]), torch.tensor(0.9), False)
    assert v.n_accepted == 2 and v.kind == "bonus" and v.token == 0


def test_greedy_accepts_iff_draft_is_target_argmax():
    P = torch.stack([dist(0.1, 0.6, 0.3), dist(0.7, 0.2, 0.1), dist(0.2, 0.2, 0.6)])
    Q = torch.stack([dist(0.0, 1.0, 0.0), dist(0.0, 0.0, 1.0)])
    v = verify(P, Q, torch.tensor([1, 2]), None, None, greedy=True)
    assert v.n_accepted == 1 and v.kind == "resampled" and v.token == 0
    v = verify(P, Q, torch.tensor([1, 0]), None, None, greedy=True)
    assert v.n_accepted == 2 and v.kind == "bonus" and v.token == 2


def test_empty_draft_is_a_plain_target_step():
    P = dist(0.2, 0.8)[None]
    v = verify(P, torch.zeros(0, 2), torch.zeros(0, dtype=torch.long), torch.zeros(0),
               torch.tensor(0.5), greedy=False)
    assert v.n_accepted == 0 and v.kind == "target" and v.token == 1


def test_temperature_top_k_top_p():
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0])
    greedy = probs_from_logits(logits, SamplingParams(0.0))
    assert torch.allclose(greedy, torch.softmax(logits, -1))
    hot = probs_from_logits(logits, SamplingParams(2.0))
    assert torch.allclose(hot, torch.softmax(logits / 2, -1))
    top2 = probs_from_logits(logits, SamplingParams(1.0, top_k=2))
    assert top2[2:].sum() == 0 and torch.allclose(top2[:2], torch.softmax(logits[:2], -1))
    # softmax = 0.644, 0.237, 0.087, 0.032: top_p 0.8 keeps the first two tokens
    nucleus = probs_from_logits(logits, SamplingParams(1.0, top_p=0.8))
    assert nucleus[2:].sum() == 0 and nucleus[:2].sum() == pytest.approx(1.0)
    assert probs_from_logits(logits, SamplingParams(1.0, top_p=0.01)).argmax() == 0


def test_speculative_sampling_reproduces_p_on_hand_built_distributions():
    """Monte Carlo over the first output token: it must be distributed as p, not q."""
    g = torch.Generator().manual_seed(0)
    p, q = dist(0.5, 0.3, 0.15, 0.05), dist(0.1, 0.2, 0.3, 0.4)
    P = torch.stack([p, p])
    counts = torch.zeros(4)
    for _ in range(20000):
        u_draft, r, u = torch.rand(3, generator=g)
        x = sample(q, u_draft)
        v = verify(P, q[None], x.view(1), r.view(1), u, greedy=False)
        counts[int(x) if v.n_accepted else v.token] += 1
    tv = 0.5 * (counts / counts.sum() - p).abs().sum()
    assert tv < 0.015, f"TV {tv:.4f}"
