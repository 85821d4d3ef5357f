"""specviz.decoding.kernels: the CPU decoding forward computes transformers' forward, with a cache that
copies nothing per round. Tiny random models (never presented as real) cover the architectures
the offline machine has no weights for; the real SmolLM2-135M covers the rest."""
import warnings

import pytest
import torch
from transformers import (AutoModelForCausalLM, GPT2Config, LlamaConfig, MistralConfig,
                          Qwen2Config)

from specviz.decoding import kernels
from specviz.decoding.cached_lm import CachedLM
from specviz.decoding.drafters.model import truncated_model
from specviz.decoding.models import encode_prompt

TINY = dict(vocab_size=128, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512)


def tiny(config_cls, **extra):
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(config_cls(**TINY, **extra)).eval()


def pieces(decoder, ids: list[int], cuts: list[int], room: int = 256) -> torch.Tensor:
    """Logits of ids fed to the decoder in pieces ending at cuts (prefill, then chunks)."""
    cache, out, start = decoder.new_cache(room), [], 0
    for end in cuts:
        out.append(decoder.forward(torch.tensor([ids[start:end]]), cache)[0])
        start = end
    assert cache.length == cuts[-1]
    return torch.cat(out)


def reference(model, ids: list[int]) -> torch.Tensor:
    with torch.inference_mode():
        return model(torch.tensor([ids])).logits[0]


@pytest.mark.parametrize("config_cls, extra", [(LlamaConfig, {}), (Qwen2Config, {}),
                                               (MistralConfig, {"sliding_window": None})])
def test_decoder_computes_the_transformers_forward_of_each_architecture(config_cls, extra):
    model = tiny(config_cls, **extra)
    ids = torch.randint(0, 128, (40,), generator=torch.Generator().manual_seed(1)).tolist()
    dec = kernels.decoder(model)
    assert dec is not None
    with torch.inference_mode():  # room 8 forces the cache to grow twice along the way
        got = pieces(dec, ids, [9, 10, 14, 15, 23, 40], room=8)
    torch.testing.assert_close(got, reference(model, ids), rtol=1e-4, atol=1e-4)


def test_decoder_is_skipped_where_it_does_not_apply():
    assert kernels.decoder(tiny(MistralConfig)) is None  # a sliding window: transformers' forward
    assert kernels.decoder(AutoModelForCausalLM.from_config(
        GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=64)).eval()) is None
    model = tiny(LlamaConfig).to(torch.float16)  # no CPU kernels for float16
    assert kernels.decoder(model) is None
    ids = [1, 5, 7, 9, 2]
    lm = CachedLM(model.float())  # the fallback path still decodes (now float32: the decoder applies)
    with torch.inference_mode():
        torch.testing.assert_close(lm.forward(torch.tensor([ids])), reference(model, ids))


def test_decoder_on_the_real_model_matches_transformers_and_rolls_back(target):
    ids = encode_prompt(target.tokenizer, "Name three colours and say why the sky is blue.", True)
    n = len(ids)
    dec = kernels.decoder(target.model)
    assert dec is not None and dec is kernels.decoder(target.model)  # built once per model
    want = reference(target.model, ids)
    with torch.inference_mode():
        cache = dec.new_cache()
        first = dec.forward(torch.tensor([ids[:n - 6]]), cache)[0]
        drafted = dec.forward(torch.tensor([[ids[n - 6], 0, 0, 0, 0]]), cache)[0]  # 4 wrong tokens
        cache.truncate(n - 5)  # reject them all: keep the one real token
        rest = dec.forward(torch.tensor([ids[n - 5:]]), cache)[0]
    got = torch.cat([first, drafted[:1], rest])
    torch.testing.assert_close(got, want, rtol=0, atol=2e-3)  # logits are O(10): float rounding only
    assert torch.equal(got.argmax(-1), want.argmax(-1))


def test_rounds_append_in_place_and_roll_back_without_copying(target):
    dec = kernels.decoder(target.model)
    cache = dec.new_cache(room=64)
    with torch.inference_mode():
        dec.forward(torch.tensor([list(range(20))]), cache)
        buffers = cache.k.data_ptr(), cache.v.data_ptr()
        kept = cache.k[:, :, :20].clone()
        for _ in range(6):  # verify 5 tokens, keep 2 of them
            dec.forward(torch.tensor([[7, 8, 9, 10, 11]]), cache)
            cache.truncate(cache.length - 3)
        assert cache.length == 32 and (cache.k.data_ptr(), cache.v.data_ptr()) == buffers
        dec.forward(torch.tensor([list(range(40))]), cache)  # past the room: grows once, keeps the past
    assert cache.length == 72 and cache.k.shape[2] >= 72 and torch.equal(cache.k[:, :, :20], kept)


def test_early_exit_drafts_reuse_the_targets_packed_weights(target):
    full, early = kernels.decoder(target.model), kernels.decoder(truncated_model(target.model, 4))
    assert early.layers[3].gate_up is full.layers[3].gate_up and early.head is full.head
    if full.extra_bytes:  # packed copies exist: the draft added none of its own
        assert full.head.packed is not None


def test_pack_budget_bounds_the_extra_memory(monkeypatch):
    monkeypatch.setattr(kernels, "PACK_BUDGET", 0)
    model = tiny(LlamaConfig)
    dec = kernels.decoder(model)
    assert dec.extra_bytes == 0 and all(layer.gate_up.packed is None for layer in dec.layers)
    ids = list(range(1, 30))
    with torch.inference_mode():
        torch.testing.assert_close(pieces(dec, ids, [20, 25, 29]), reference(model, ids), rtol=1e-4, atol=1e-4)


def test_no_deprecated_transformers_interface(target):
    """transformers 5.40 removes the past_key_values keyword: a FutureWarning here is a failure."""
    ids = torch.tensor([encode_prompt(target.tokenizer, "Hi", True)])
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("error", FutureWarning)
        warnings.simplefilter("error", DeprecationWarning)
        for lm in (CachedLM(target.model), CachedLM(target.model, stock=True)):
            lm.forward(ids[:, :-1])
            lm.forward_with_hidden(ids[:, -1:])
            lm.truncate(1)
            assert lm.length == 1


def test_cpu_threads_default_follows_the_free_cores(monkeypatch):
    import os

    from specviz.decoding import models

    monkeypatch.delenv("SPECVIZ_THREADS", raising=False)
    assert models.cpu_threads(3) == 3  # an explicit choice wins
    monkeypatch.setenv("SPECVIZ_THREADS", "2")
    assert models.cpu_threads() == 2
    monkeypatch.delenv("SPECVIZ_THREADS")
    cores = models._torch_default_threads()
    monkeypatch.setattr(os, "getloadavg", lambda: (cores + 5.0, 0.0, 0.0))
    assert models.cpu_threads() == 1  # a CPU busier than its cores: one thread
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert models.cpu_threads() == cores  # an idle CPU: torch's own choice
