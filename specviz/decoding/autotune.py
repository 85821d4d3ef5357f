"""Kernel autotuning: which linear kernel, and which padded row count, makes each pass size
fastest on the machine SpecViz runs on.

Machines of the same kind rank the kernels differently (docs/performance.md: on one VM
nn.Linear was fastest up to 3 rows and slow from 4, on the next it cost 1.6-1.9x its 1-row
time at 2-3 rows while the packed oneDNN copy cost 0.55-0.64x at every row count), so the
ranking is measured where it runs: every candidate for a pass of k tokens (each kernel, and
each larger measured pass j > k whose extra rows are discarded) is timed through the
Decoder's own forward, interleaved sweeps, each candidate at its fastest repeat. The table is cached per machine
fingerprint (CPU model and flags, torch version, threads, model and dtype) in the user's
cache directory, so a later load measures nothing; retune=True measures again.

The table is also the engine's pass cost v(k): a k-token pass costs the cheapest measured
j >= k (the padding is really run), over the 1-token step plain decoding runs.
"""
import json
import os
import statistics
import time

import torch

from . import kernels
from .cached_lm import CachedLM
from .kerneltable import (KernelTable, Progress, SIZES, _ranges, choose, fingerprint, load_average, load_table,
                          measured_recently, now, save_table, summary)

REPEATS = 3  # timed sweeps at least (after a warm-up pass of each candidate)
BUDGET_S = 15.0  # more sweeps while the choice still changes, for at most this long (a busy machine)
CONTEXT = 64  # tokens in the KV cache while timing (a short prompt)


# ----------------------------------------------------------------------------- measuring

def measure(passes: dict, sizes, repeats: int = REPEATS,
            budget_s: float = BUDGET_S) -> dict[str, dict[int, list[float]]]:
    """Seconds of every repeat of one pass per candidate and size; passes[name](n) runs one
    pass of n tokens after the context and rolls it back. Sizes sweep up and down on
    alternate repeats and the candidates alternate which goes first, so a drifting load
    favours none of them; the smallest pass is timed at both ends of a sweep (every v(k) divides
    by it). Other processes only ever add time, so a candidate's cost is its
    fastest repeat; after `repeats` sweeps it goes on, within budget_s, while a sweep still
    changes the choice those fastest times make (a busy machine needs more sweeps)."""
    sizes, names = sorted(set(sizes)), list(passes)
    times = {name: {n: [] for n in sizes} for name in names}
    for name in names:  # warm-up: caches, allocators, each kernel's first call
        for n in {sizes[0], sizes[-1]}:
            passes[name](n)
    began, rep, before = time.perf_counter(), 0, None
    while True:
        order = sizes if rep % 2 == 0 else sizes[::-1]
        # the smallest pass twice a sweep (at both ends): every v(k) is divided by it
        for n in [*order, order[0]] if order[-1] != sizes[0] else [order[-1], *order]:
            for name in names[::(-1) ** (n + rep)]:
                start = time.perf_counter()
                passes[name](n)
                times[name][n].append(time.perf_counter() - start)
        rep += 1
        chosen = choose({name: {n: min(t) for n, t in per_size.items()} for name, per_size in times.items()})
        if rep >= repeats and (chosen == before or time.perf_counter() - began > budget_s):
            return times
        before = chosen


TUNED = "tuned"  # a pass through the plan in use: the kernel and padding chosen for its size


def decoder_passes(decoder: kernels.Decoder, max_size: int, context: int = CONTEXT,
                   names=None) -> dict:
    """One pass of n tokens after `context` cached tokens, per kernel name (default: every
    kernel the Decoder has; TUNED: the plan in use)."""
    cache = decoder.new_cache(context + max_size + 1)
    ids = torch.arange(context + max_size, device=decoder.device)[None] % decoder.embed.num_embeddings
    with torch.inference_mode():
        decoder.forward(ids[:, :context], cache, kernel="linear")

    def run(kernel: str):
        @torch.inference_mode()
        def one(n: int) -> None:
            if kernel == TUNED:
                decoder.forward(ids[:, context:context + n], cache)
            else:
                decoder.forward(ids[:, context:context + n], cache, kernel=kernel, rows=n)
            cache.truncate(context)
        return one
    return {kernel: run(kernel) for kernel in (names or decoder.kernels)}


def timed_busy(table: KernelTable) -> bool:
    """The table was timed while other work held more than the machine's cores and the machine
    is at least a core quieter now: its ranking may be the load's, so it is worth timing again."""
    now_load, cores = load_average(), os.cpu_count() or 1
    return None not in (table.load, now_load) and table.load > cores and now_load < table.load - 1


def stock_pass(model, max_size: int, context: int = CONTEXT):
    """One pass of n tokens through transformers' own forward and cache (GPUs, other
    architectures; on the CPU the reference the tuned kernels are compared with)."""
    lm = CachedLM(model, stock=True)
    vocab = model.get_input_embeddings().num_embeddings
    ids = torch.arange(context + max_size, device=model.device)[None] % vocab
    sync = torch.cuda.synchronize if ids.device.type == "cuda" else (lambda: None)
    with torch.inference_mode():
        lm.forward(ids[:, :context])

    @torch.inference_mode()
    def one(n: int) -> None:
        lm.forward(ids[:, context:context + n])
        sync()
        lm.truncate(context)
    return one


def _table(fp: dict, times: dict, tune_s: float) -> KernelTable:
    sizes = sorted(next(iter(times.values())))
    per = lambda stat: {k: [stat(t[n]) for n in sizes] for k, t in times.items()}  # noqa: E731
    repeats = min(len(t) for per_size in times.values() for t in per_size.values())
    return KernelTable(fp, sizes, per(min), per(statistics.median), per(max), repeats, now(),
                       load_average(), tune_s)


def _merge(old: KernelTable, new: KernelTable) -> KernelTable:
    """old plus new's sizes; new was measured with a 1-token pass of its own, scaled onto old's
    so ratios across the two moments compare like with like."""
    sizes = sorted(set(old.sizes) | set(new.sizes))

    def merged(field: str) -> dict[str, list[float]]:
        out = {}
        for kernel in old.seconds:
            scale = old.seconds[kernel][0] / new.seconds[kernel][0] if kernel in new.seconds else None
            values = dict(zip(old.sizes, getattr(old, field)[kernel]))
            if scale:
                values |= {n: s * scale for n, s in zip(new.sizes, getattr(new, field)[kernel])
                           if n not in values}
            out[kernel] = [values.get(n) for n in sizes]
        return out

    seconds = merged("seconds")
    keep = [i for i, n in enumerate(sizes) if all(s[i] is not None for s in seconds.values())]
    pick = lambda d: {k: [v[i] for i in keep] for k, v in d.items()}  # noqa: E731
    return KernelTable(old.fingerprint, [sizes[i] for i in keep], pick(seconds), pick(merged("median")),
                       pick(merged("slowest")), old.repeats, old.measured, old.load, old.tune_s + new.tune_s,
                       reference=old.reference)


_MEASURED: dict[str, float] = {}  # fingerprint -> when this process last timed it
_TABLES: dict[tuple, KernelTable] = {}  # fingerprint -> the table in use, once per process


def tune(model, model_id: str, sizes=SIZES, retune: bool = False, repeats: int = REPEATS,
         progress: Progress = lambda m: None, budget_s: float = BUDGET_S) -> KernelTable:
    """The kernel table for model at the current thread count (cached in memory and on disk,
    measured when missing, when sizes are new, or with retune), put to use by its Decoder.
    Where the Decoder does not run (a GPU, other architectures) the table times
    transformers' forward alone: no choice to make, but v(k) all the same."""
    decoder = kernels.decoder(model)
    threads = torch.get_num_threads()
    dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
    device = next(model.parameters()).device
    fp = fingerprint(model_id, dtype, threads, torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu")
    key = json.dumps(fp, sort_keys=True)
    retune = retune and not measured_recently(_MEASURED, key)
    table = None if retune else (_TABLES.get(key) or load_table(fp, progress))
    if table is not None and key not in _TABLES and timed_busy(table):
        progress(f"the kernel table was timed on a busy machine (load {table.load:.1f}); "
                 f"it is quieter now (load {load_average():.1f}): timing again")
        table = None
    missing = sorted(set(sizes) - set(table.sizes)) if table else sorted(set(sizes) | {1})
    if missing:
        what = "the CPU kernels" if decoder else "the target's forward"
        progress(f"timing {what} for passes of {_ranges(missing)} tokens on this machine "
                 f"({threads} thread{'s' * (threads != 1)}) ...")
        if decoder:
            decoder.repack()
        measured = [1, *missing] if table else missing
        passes = (decoder_passes(decoder, max(measured)) if decoder
                  else {"transformers": stock_pass(model, max(measured))})
        start = time.perf_counter()
        new = _table(fp, measure(passes, measured, repeats, budget_s), time.perf_counter() - start)
        table = new if table is None else _merge(table, new)
        _MEASURED[key] = time.monotonic()
        save_table(table, progress)
        progress(f"measured in {new.tune_s:.1f} s: " + summary(table))
    _TABLES[key] = table
    if decoder:
        decoder.use(kernels.Plan(table.choices()), threads)
    return table


def compare(model, table: KernelTable, sizes=SIZES, repeats: int = REPEATS) -> KernelTable:
    """Time the tuned engine and transformers' own forward side by side (interleaved, same
    moment) and keep both curves in the table: what tuning bought on this machine."""
    decoder = kernels.decoder(model)
    passes = {"transformers": stock_pass(model, max(sizes))}
    if decoder is not None:
        passes |= decoder_passes(decoder, max(sizes), names=[TUNED])
    times = measure(passes, sizes, repeats)
    table.reference = {"sizes": sorted(set(sizes)), "measured": now(), "load": load_average(),
                       **{name: [statistics.median(t[n]) for n in sorted(t)] for name, t in times.items()}}
    save_table(table)
    return table


