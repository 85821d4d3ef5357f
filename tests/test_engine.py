"""The engine on the real SmolLM2-135M-Instruct: lossless greedy, exact sampling, traces."""
import pytest
import torch
from scipy.stats import chisquare

from specviz.decoding.drafters.model import ModelDrafter, truncated_model
from specviz.decoding.drafters.lookup import PromptLookupDrafter
from specviz.decoding.engine import TokenTexts, plain_decode, speculative_decode
from specviz.errors import ModelError, RunError
from specviz.decoding.record import RunSettings, run
from specviz.decoding.drafters import build_drafter
from specviz.decoding.models import encode_prompt, eos_ids
from specviz.decoding.sampling import SamplingParams, probs_from_logits, sample, verify

PROMPTS = [
    "What is the capital of France? Answer in one sentence.",
    "Fix the spelling: 'Teh cat sat on teh mat becuase it was tired.'",
    "Add type hints to this Python function:\ndef add(a, b):\n    return a + b",
]
GREEDY = SamplingParams(0.0)


def greedy_pair(target, drafter_spec, prompt, gamma, n=24):
    ids = encode_prompt(target.tokenizer, prompt, chat=True)
    drafter = build_drafter(drafter_spec, target)
    eos = eos_ids(target)
    spec = speculative_decode(target.model, drafter, ids, GREEDY, gamma, n, torch.Generator(), eos,
                              TokenTexts(target.tokenizer))
    plain = plain_decode(target.model, ids, GREEDY, n, torch.Generator(), eos)
    return ids, spec, plain


def explain_mismatch(target, prompt_ids, a, b):
    """At the first differing position the target's top two logits must be a near-tie."""
    i = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
    with torch.inference_mode():
        logits = target.model(torch.tensor([prompt_ids + a[:i]])).logits[0, -1]
    top2 = torch.topk(logits, 2).values
    return i, float(top2[0] - top2[1])


@pytest.mark.parametrize("drafter_spec", ["layers:4", "layers:12", "lookup"])
@pytest.mark.parametrize("gamma", [1, 3, 6])
def test_greedy_speculative_output_is_token_for_token_the_target_greedy_output(
        target, drafter_spec, gamma):
    for prompt in PROMPTS:
        ids, spec, plain = greedy_pair(target, drafter_spec, prompt, gamma)
        if spec.output_ids != plain.output_ids:
            i, gap = explain_mismatch(target, ids, spec.output_ids, plain.output_ids)
            assert gap < 1e-3, f"{drafter_spec} gamma={gamma}: differs at {i}, logit gap {gap}"
        assert len(spec.output_ids) == len(plain.output_ids) > 0
        produced = sum(sum(t.accepted for t in r.draft) + 1 for r in spec.rounds)
        assert produced >= len(spec.output_ids)
        assert all(len(r.draft) <= gamma for r in spec.rounds)


def test_trace_records_real_probabilities_and_decisions(target):
    trace = run(RunSettings(PROMPTS[1], "smollm2-135m-instruct", "layers:4", gamma=4,
                            temperature=1.0, top_p=0.95, seed=0, max_new_tokens=16))
    assert trace.complete and trace.baseline.output_ids and trace.timing.baseline_s > 0
    assert trace.config.seed == 0 and trace.env["device"] == "cpu"
    tokens = [tok for r in trace.rounds for tok in
              [t.token for t in r.draft if t.accepted] + [r.correction.token]]
    assert tokens[:len(trace.output_ids)] == trace.output_ids
    for r in trace.rounds:
        for t in r.draft:
            assert 0 <= t.r < 1 and 0 < t.q <= 1 and 0 <= t.p <= 1
            # β = Σ min(p, q) over the vocabulary holds the drafted token's own term
            assert min(t.p, t.q) - 1e-6 <= t.beta <= 1
            assert t.top_p and t.top_q and t.top_p[0].prob >= t.top_p[-1].prob
        decided = r.draft[:sum(t.accepted for t in r.draft) + 1]  # after a rejection: moot
        assert [t.accepted for t in decided] == [t.r * t.q < t.p for t in decided]
        first_rejected = next((t for t in r.draft if not t.accepted), None)
        if first_rejected is not None:
            assert first_rejected.r >= first_rejected.p / first_rejected.q
            assert r.correction.kind == "resampled" and r.correction.top_residual
        else:  # a round capped to nothing by max_new_tokens is the target's own step
            assert r.correction.kind == ("bonus" if r.draft else "target")


def test_same_seed_gives_identical_tokens_and_decisions(target):
    settings = RunSettings(PROMPTS[0], "smollm2-135m-instruct", "layers:4", gamma=3,
                           temperature=0.8, seed=7, max_new_tokens=12, baseline=False)
    a, b = run(settings), run(settings)
    strip = lambda t: [(d.token, d.r, d.u, d.accepted) for r in t.rounds for d in r.draft]
    assert a.output_ids == b.output_ids and strip(a) == strip(b)
    c = run(RunSettings(**{**settings.__dict__, "seed": 8}))
    assert strip(c) != strip(a)


def test_speculative_sampling_first_token_follows_target_distribution(target):
    """One round, thousands of draws with the real p (target) and q (4-layer early exit)."""
    params = SamplingParams(1.0)
    ids = encode_prompt(target.tokenizer, "Name a colour.", chat=True)
    with torch.inference_mode():
        x = torch.tensor([ids])
        p = probs_from_logits(target.model(x).logits[0, -1], params)
        q = probs_from_logits(truncated_model(target.model, 4)(x).logits[0, -1], params)
    assert 0.5 * (p - q).abs().sum() > 0.3  # the draft really differs from the target
    g, n = torch.Generator().manual_seed(0), 6000
    P = torch.stack([p, p])
    draws = torch.rand(n, 3, generator=g)
    firsts = []
    for u_draft, r, u in draws:
        x1 = sample(q, u_draft)
        v = verify(P, q[None], x1.view(1), r.view(1), u, greedy=False)
        firsts.append(int(x1) if v.n_accepted else v.token)
    top = torch.topk(p, 8).indices.tolist()
    def buckets(tokens):
        return [sum(t == k for t in tokens) for k in top] + [sum(t not in top for t in tokens)]
    probs = [float(p[k]) for k in top] + [float(1 - p[top].sum())]
    expected = [x * n / sum(probs) for x in probs]  # sums to n exactly, as chisquare demands
    observed = buckets(firsts)
    assert chisquare(observed, expected).pvalue > 1e-3, (observed, expected)
    # the same test has the power to reject samples drawn from the draft q
    from_q = sample(q.expand(n, -1), draws[:, 0]).tolist()
    assert chisquare(buckets(from_q), expected).pvalue < 1e-6


def test_bad_settings_and_drafters_fail_with_clear_errors(target):
    with pytest.raises(RunError, match="empty"):
        run(RunSettings("   "))
    with pytest.raises(RunError, match="gamma"):
        run(RunSettings("hi", gamma=0))
    with pytest.raises(ModelError, match="layers:1 .. layers:29"):
        build_drafter("layers:30", target)
    with pytest.raises(ModelError, match="whole number"):
        build_drafter("lookup:x", target)
    with pytest.raises(ModelError, match="cannot load"):
        build_drafter("no-such-org/no-such-model", target)


def test_prompt_lookup_continues_the_latest_match():
    d = PromptLookupDrafter(100, max_ngram=2)
    assert d.lookup([1, 2, 3, 9, 1, 2, 4, 5, 1, 2], 3) == [4, 5, 1]
    assert d.lookup([7, 8, 9], 3) == []
    stops = PromptLookupDrafter(100, max_ngram=2, stop_ids={0})
    assert stops.lookup([1, 2, 3, 0, 5, 1, 2], 4) == [3]  # never copies a template token


def test_prompt_lookup_skips_the_chat_template(target):
    """Round 1 of a chat used to propose '<|im_start|>assistant', always rejected."""
    ids = encode_prompt(target.tokenizer, PROMPTS[1], chat=True)
    proposal = build_drafter("lookup", target).lookup(ids, 4)
    assert not set(proposal) & set(target.tokenizer.all_special_ids)


def test_early_exit_draft_shares_the_target_weights(target):
    draft = truncated_model(target.model, 4)
    assert draft.lm_head.weight is target.model.lm_head.weight
    assert draft.model.layers[3] is target.model.model.layers[3] and len(draft.model.layers) == 4
    drafter = ModelDrafter(draft, target.model.config.vocab_size, "layers:4")
    seq = torch.tensor([encode_prompt(target.tokenizer, "Hi", chat=True)])
    with torch.inference_mode():
        drafter.prefill(seq)
        tokens, q = drafter.propose(seq, 3, GREEDY, [None] * 3)
    assert tokens.shape == (3,) and q.shape == (3, target.model.config.vocab_size)
    assert drafter.lm.length == seq.shape[1] + 2
    drafter.rollback(seq.shape[1])
    assert drafter.lm.length == seq.shape[1]


def test_one_drafter_serves_two_runs(target):
    """prefill starts a fresh draft cache, so the app can reuse a drafter across runs."""
    drafter = build_drafter("layers:4", target)
    ids = encode_prompt(target.tokenizer, PROMPTS[0], chat=True)
    runs = [speculative_decode(target.model, drafter, ids, GREEDY, 3, 10, torch.Generator(),
                               eos_ids(target)).output_ids for _ in range(2)]
    plain = plain_decode(target.model, ids, GREEDY, 10, torch.Generator(), eos_ids(target))
    assert runs[0] == runs[1] == plain.output_ids


def test_recording_a_trace_is_outside_the_timed_span(target, monkeypatch):
    """The app's recorded run and the benchmark's lean run time the same work: a round's
    recording (and the callback the app streams it with) never lands in decode_s."""
    from specviz.decoding import engine

    class Clock:  # a fake perf_counter that only recording advances, by an hour per round
        now = 0.0

        def perf_counter(self):
            self.now += 1e-6
            return self.now

    clock = Clock()
    monkeypatch.setattr(engine, "time", clock)
    real_record = engine._record

    def slow_record(*args):
        clock.now += 3600.0
        return real_record(*args)

    monkeypatch.setattr(engine, "_record", slow_record)
    ids = encode_prompt(target.tokenizer, PROMPTS[0], chat=True)
    res = speculative_decode(target.model, build_drafter("lookup", target), ids, GREEDY, 3, 12,
                             torch.Generator(), eos_ids(target), TokenTexts(target.tokenizer))
    assert len(res.rounds) >= 2 and clock.now > 3600 * len(res.rounds)
    assert res.decode_s < 1.0 and all(r.draft_s + r.verify_s < 1.0 for r in res.rounds)


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_the_baseline_is_decoded_between_the_rounds_and_equals_plain_decoding(target, monkeypatch, temperature):
    """A recorded run takes plain steps after each round until plain decoding has as many tokens
    (both loops meet the same load); neither clock counts the other loop's work, and the
    baseline is the plain decoding of the same seed."""
    from specviz.decoding import engine, record

    events, real_steps = [], record.plain_steps

    def logged_steps(*args):
        for run_so_far in real_steps(*args):
            events.append(("plain", len(run_so_far.output_ids)))
            yield run_so_far

    class Clock:  # a fake perf_counter that only the recording of a round advances, by an hour
        now = 0.0

        def perf_counter(self):
            self.now += 1e-6
            return self.now

    clock, real_record = Clock(), engine._record

    def slow_record(*args):
        clock.now += 3600.0
        return real_record(*args)

    monkeypatch.setattr(record, "plain_steps", logged_steps)
    monkeypatch.setattr(engine, "time", clock)
    monkeypatch.setattr(engine, "_record", slow_record)
    settings = RunSettings(PROMPTS[0], "smollm2-135m-instruct", "lookup", gamma=3,
                           temperature=temperature, max_new_tokens=16, seed=5)
    trace = run(settings, on_round=lambda r: events.append(("round", r.n_new)))
    rounds = [i for i, (kind, _) in enumerate(events) if kind == "round"]
    made = 0
    for kind, n in events[:rounds[-1]]:  # after the last round plain decoding finishes on its own
        if kind == "round":
            made += n
        else:
            assert n <= made, "plain decoding ran ahead of the speculative run"
    assert len(rounds) >= 3 and any(events[i + 1][0] == "plain" for i in rounds[:-1])
    assert events[0] == ("plain", 0)  # the prefill comes before the first round
    ids = encode_prompt(target.tokenizer, PROMPTS[0], chat=True)
    plain = plain_decode(target.model, ids, settings.params, 16, torch.Generator().manual_seed(5), eos_ids(target))
    assert trace.baseline.output_ids == plain.output_ids
    if temperature == 0:
        assert trace.output_ids == plain.output_ids
    assert clock.now > 3600 * len(trace.rounds)
    assert trace.timing.baseline_s < 1.0 and trace.timing.spec_s < 1.0
