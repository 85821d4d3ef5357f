"""What a target pass costs: time vs number of tokens scored, and the draft/target cost ratio c.

Decoding is memory-bound: each pass streams all weights once, so scoring a few more tokens in
the same pass costs little. These timings, taken on the user's own device, give every later
lesson its c (draft step / target step) and the slope of the verify cost.
"""
import statistics
import time
from typing import Callable

import torch

from ..decoding.cached_lm import CachedLM
from ..decoding.drafters.base import start
from ..decoding.kerneltable import load_average
from ..decoding.sampling import SamplingParams
from .costcurve import CostCurve  # noqa: F401 - measured here, defined without torch there

Progress = Callable[[float, str], None]


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure_pass_costs(model, prompt_ids: list[int], max_tokens: int = 16, repeats: int = 5,
                       progress: Progress = lambda f, m: None, threads: int | None = None,
                       stock: bool = True, sizes: list[int] | None = None) -> CostCurve:
    """Median time of one cached target pass scoring 1..max_tokens tokens (or the given sizes,
    which must include 1: a token tree's N + 1) after prompt_ids.

    Timed through the engine's forward (specviz.decoding.cached_lm.CachedLM: what plain and speculative
    decoding pay) and, with stock=True, interleaved with transformers' own forward and cache.
    threads: torch intra-op threads for the measurement (restored afterwards). On a CPU that
    other processes keep busy, more threads than free cores can make multi-token passes far
    slower, so it is worth comparing.
    """
    old = torch.get_num_threads()
    torch.set_num_threads(threads or old)
    try:
        curve = _measure(model, prompt_ids, sorted(set(sizes or range(1, max_tokens + 1)) | {1}),
                         repeats, progress, stock)
    finally:
        torch.set_num_threads(old)
    curve.threads = threads or old
    return curve


@torch.inference_mode()
def _measure(model, prompt_ids, sizes, repeats, progress, stock) -> CostCurve:
    seq = torch.tensor([prompt_ids], device=model.device)
    lms = {"engine": CachedLM(model)} | ({"stock": CachedLM(model, stock=True)} if stock else {})
    for lm in lms.values():
        lm.forward(seq)
    context, max_tokens = len(prompt_ids), sizes[-1]
    tokens = seq[:, -1:].repeat(1, max_tokens)  # content does not matter for the cost
    times = {name: {n: [] for n in sizes} for name in lms}
    for rep in range(repeats + 1):  # repeat 0 warms up caches and allocators, not recorded
        # sweep up on even repeats and down on odd ones, so a slow drift of a shared CPU
        # does not masquerade as a slope; the two forwards alternate which goes first
        for n in sizes if rep % 2 == 0 else sizes[::-1]:
            for name in list(lms)[::(-1) ** (n + rep)]:
                t = _timed(lambda: lms[name].forward(tokens[:, :n]))
                lms[name].truncate(context)
                if rep:
                    times[name][n].append(t)
        progress((rep + 1) / (repeats + 1), f"repeat {rep}/{repeats}: timed {sizes[0]}..{max_tokens} tokens")
    engine = times["engine"]
    return CostCurve(sizes, [statistics.median(engine[n]) for n in sizes], context, repeats,
                     str(model.device), [min(engine[n]) for n in sizes], [max(engine[n]) for n in sizes],
                     load_average(), stock_seconds=[statistics.median(times["stock"][n]) for n in sizes] if stock else None)


@torch.inference_mode()
def measure_draft_cost(target, drafter, prompt_ids: list[int], repeats: int = 7, gamma: int = 4) -> dict:
    """c as specviz.measure.metrics defines it: draft seconds per drafted token (one proposal of gamma
    tokens, its per-round catch-up included, ÷ the tokens it drafted) ÷ one target step; medians."""
    seq = torch.tensor([prompt_ids], device=target.device)
    lm = CachedLM(target)
    drafter.rollback(0)
    start(lm, drafter, seq)
    target_s, draft_s = [], []
    u = torch.rand(gamma)
    drafted = [gamma]

    def propose():
        drafted[0] = max(int(drafter.propose(seq, gamma, SamplingParams(), u)[0].shape[0]), 1)

    for _ in range(repeats + 1):
        target_s.append(_timed(lambda: lm.forward(seq[:, -1:])))
        lm.truncate(seq.shape[1] - 1)
        draft_s.append(_timed(propose) / drafted[0])
        drafter.rollback(seq.shape[1] - 1)
    t, d = statistics.median(target_s[1:]), statistics.median(draft_s[1:])
    return {"target_step_s": t, "draft_step_s": d, "c": d / t}


def draft_memory(target, drafter) -> dict:
    """Extra memory the draft needs: parameters it does not share with the target, KV per token."""
    shared = {p.data_ptr() for p in target.parameters()}
    model = getattr(getattr(drafter, "lm", None), "model", None) or getattr(drafter, "draft", None)
    if model is None:  # prompt lookup: no weights at all
        return {"extra_param_bytes": 0, "kv_bytes_per_token": 0}
    extra = sum(p.numel() * p.element_size() for p in model.parameters() if p.data_ptr() not in shared)
    cfg = getattr(model, "config", None)
    if cfg is None or not hasattr(cfg, "num_hidden_layers"):  # a trained draft module: weights only
        return {"extra_param_bytes": extra, "kv_bytes_per_token": None}
    heads = getattr(cfg, "num_key_value_heads", cfg.num_attention_heads)
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    elem = next(model.parameters()).element_size()
    return {"extra_param_bytes": extra,
            "kv_bytes_per_token": 2 * cfg.num_hidden_layers * heads * head_dim * elem}
