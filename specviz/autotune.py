"""Kernel autotuning: which linear kernel, and which padded row count, makes each pass size
fastest on the machine SpecViz runs on.

Machines of the same kind rank the kernels differently (docs/performance.md: on one VM
nn.Linear was fastest up to 3 rows and slow from 4, on the next it cost 1.6-1.9x its 1-row
time at 2-3 rows while the packed oneDNN copy cost 0.55-0.64x at every row count), so the
ranking is measured where it runs: every candidate for a pass of k tokens (each kernel, and
each larger measured pass j > k whose extra rows are discarded) is timed through the
Decoder's own forward, interleaved, medians of repeats. The table is cached per machine
fingerprint (CPU model and flags, torch version, threads, model and dtype) in the user's
cache directory, so a later load measures nothing; retune=True measures again.

The table is also the engine's pass cost v(k): a k-token pass costs the cheapest measured
j >= k (the padding is really run), over the 1-token step plain decoding runs.
"""
import datetime
import hashlib
import json
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Callable

import torch

from . import kernels
from .drafters import CachedLM
from .paths import cache_dir

SIZES = tuple(range(1, 10))  # measured at load: plain decoding and chains up to γ = 8
REPEATS = 3  # timed repeats of every candidate (after one warm-up sweep)
CONTEXT = 64  # tokens in the KV cache while timing (a short prompt)
TABLE_VERSION = 1

Progress = Callable[[str], None]


@dataclass
class KernelTable:
    """Measured seconds of one pass per kernel and size on one machine, and what follows."""

    fingerprint: dict
    sizes: list[int]
    seconds: dict[str, list[float]]  # kernel -> median seconds of a pass of each size
    low: dict[str, list[float]]  # kernel -> fastest repeat
    high: dict[str, list[float]]  # kernel -> slowest repeat
    repeats: int
    measured: str  # when (UTC, ISO 8601)
    load: float | None = None  # 1-minute load average while measuring
    tune_s: float = 0.0  # how long measuring took
    version: int = TABLE_VERSION
    reference: dict | None = None  # the tuned engine beside transformers' own forward (compare())

    def best(self, k: int) -> tuple[str, int, float]:
        """(kernel, rows, seconds) of the cheapest measured way to run k tokens: rows >= k."""
        seconds = {kernel: dict(zip(self.sizes, secs)) for kernel, secs in self.seconds.items()}
        kernel, rows = choose(seconds)[k]
        return kernel, rows, seconds[kernel][rows]

    def plan(self) -> kernels.Plan:
        """What the Decoder runs (a table of transformers' forward alone plans nothing)."""
        return kernels.Plan({k: self.best(k)[:2] for k in self.sizes if self.best(k)[0] in kernels.KERNELS})

    def pass_s(self, k: int) -> float:
        return self.best(k)[2]

    @property
    def step_s(self) -> float:
        """Plain decoding's step: the cheapest way to run one token."""
        return self.pass_s(1)

    def v(self, k: int) -> float:
        """v(k): a k-token pass of the tuned engine ÷ its 1-token step."""
        return self.pass_s(k) / self.step_s

    def v_list(self) -> list[float]:
        """v(1), v(2), ... over the dense run of measured sizes from 1 (what γ is chosen from)."""
        top = next((k for k in range(1, len(self.sizes) + 2) if k not in self.sizes), 1) - 1
        return [self.v(k) for k in range(1, top + 1)]

    def kernel_v(self, kernel: str, k: int) -> float | None:
        """One kernel alone, no padding: its k-token pass ÷ the tuned 1-token step."""
        if kernel not in self.seconds or k not in self.sizes:
            return None
        return self.seconds[kernel][self.sizes.index(k)] / self.step_s

    def describe(self, k: int) -> str:
        kernel, rows, _ = self.best(k)
        return f"{NAMES[kernel]}" + (f", padded to {rows} rows" if rows > k else "")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "KernelTable":
        if d.get("version") != TABLE_VERSION:
            raise ValueError(f"table version {d.get('version')!r}, expected {TABLE_VERSION}")
        table = cls(**d)
        if not table.sizes or 1 not in table.sizes or not table.seconds or any(
                len(s) != len(table.sizes) or min(s) <= 0 for s in table.seconds.values()):
            raise ValueError("sizes and seconds do not match")
        return table


NAMES = {"linear": "nn.Linear", "packed": "packed oneDNN", "transformers": "transformers' forward"}


TIE = 0.01  # candidates within 1 % of the fastest are a tie: the one with fewer rows wins


def choose(seconds: dict[str, dict[int, float]]) -> dict[int, tuple[str, int]]:
    """For every measured size k the (kernel, rows j >= k) of the smallest measured time
    (padding only when it is more than a tie cheaper than running fewer rows)."""
    sizes = sorted({k for per_size in seconds.values() for k in per_size})
    chosen = {}
    for k in sizes:
        candidates = [(kernel, j) for kernel, per_size in seconds.items() for j in per_size if j >= k]
        fastest = min(seconds[kernel][j] for kernel, j in candidates)
        near = [c for c in candidates if seconds[c[0]][c[1]] <= fastest * (1 + TIE)]
        chosen[k] = min(near, key=lambda c: (c[1], seconds[c[0]][c[1]]))
    return chosen


# ----------------------------------------------------------------------------- the machine

def fingerprint(model_id: str, dtype: str, threads: int, device: str = "cpu") -> dict:
    """What a kernel ranking depends on; a change in any part measures again."""
    fp = {"cpu": _cpu_name(), "flags": _cpu_flags(), "capability": torch.backends.cpu.get_cpu_capability(),
          "torch": torch.__version__, "threads": threads, "model": model_id, "dtype": dtype}
    if device != "cpu":
        fp["device"] = torch.cuda.get_device_name(device) if device.startswith("cuda") else device
    return fp


def _cpuinfo_field(name: str) -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == name:
                    return value.strip()
    except OSError:
        pass
    return ""


def _cpu_name() -> str:
    return _cpuinfo_field("model name") or platform.processor() or platform.machine()


def _cpu_flags() -> str:
    """A short hash of the CPU's feature flags (AVX-512, AMX, ... decide the kernels)."""
    flags = " ".join(sorted(_cpuinfo_field("flags").split())) or platform.machine()
    return hashlib.sha1(flags.encode()).hexdigest()[:12]


def table_path(fp: dict):
    key = hashlib.sha1(json.dumps(fp, sort_keys=True).encode()).hexdigest()[:16]
    return cache_dir() / "kernels" / f"{key}.json"


def load_table(fp: dict, progress: Progress = lambda m: None) -> KernelTable | None:
    """The cached table for this fingerprint; a missing one is None, an unreadable one is
    reported and ignored (it will be measured again and overwritten)."""
    path = table_path(fp)
    if not path.exists():
        return None
    try:
        table = KernelTable.from_dict(json.loads(path.read_text(encoding="utf-8")))
        if table.fingerprint != fp:
            raise ValueError("it was measured for another machine or model")
        return table
    except (OSError, ValueError, TypeError, KeyError) as e:
        progress(f"ignored the kernel table {path} ({type(e).__name__}: {e}); measuring again")
        return None


def save_table(table: KernelTable, progress: Progress = lambda m: None) -> None:
    path = table_path(table.fingerprint)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
        tmp.write_text(json.dumps(table.to_dict(), indent=1), encoding="utf-8")
        tmp.replace(path)
    except OSError as e:  # a read-only home: measure again next time
        progress(f"could not keep the kernel table ({e.strerror}); it is measured again next load")


# ----------------------------------------------------------------------------- measuring

def measure(passes: dict, sizes, repeats: int = REPEATS) -> dict[str, dict[int, list[float]]]:
    """Seconds of every repeat of one pass per candidate and size; passes[name](n) runs one
    pass of n tokens after the context and rolls it back. Sizes sweep up and down on
    alternate repeats and the candidates alternate which goes first, so a drifting load
    favours none of them."""
    sizes, names = sorted(set(sizes)), list(passes)
    times = {name: {n: [] for n in sizes} for name in names}
    for name in names:  # warm-up: caches, allocators, each kernel's first call
        for n in {sizes[0], sizes[-1]}:
            passes[name](n)
    for rep in range(repeats):
        for n in sizes if rep % 2 == 0 else sizes[::-1]:
            for name in names[::(-1) ** (n + rep)]:
                start = time.perf_counter()
                passes[name](n)
                times[name][n].append(time.perf_counter() - start)
    return times


def decoder_passes(decoder: kernels.Decoder, max_size: int, context: int = CONTEXT) -> dict:
    """One pass of n tokens with each kernel the Decoder has, after `context` cached tokens."""
    cache = decoder.new_cache(context + max_size + 1)
    ids = torch.arange(context + max_size, device=decoder.device)[None] % decoder.embed.num_embeddings
    with torch.inference_mode():
        decoder.forward(ids[:, :context], cache, kernel="linear")

    def run(kernel: str):
        @torch.inference_mode()
        def one(n: int) -> None:
            decoder.forward(ids[:, context:context + n], cache, kernel=kernel, rows=n)
            cache.truncate(context)
        return one
    return {kernel: run(kernel) for kernel in decoder.kernels}


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


def _table(fp: dict, times: dict, repeats: int, tune_s: float) -> KernelTable:
    sizes = sorted(next(iter(times.values())))
    return KernelTable(
        fp, sizes, {k: [statistics.median(t[n]) for n in sizes] for k, t in times.items()},
        {k: [min(t[n]) for n in sizes] for k, t in times.items()},
        {k: [max(t[n]) for n in sizes] for k, t in times.items()}, repeats,
        _now(), _load(), tune_s)


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
    return KernelTable(old.fingerprint, [sizes[i] for i in keep], pick(seconds), pick(merged("low")),
                       pick(merged("high")), old.repeats, old.measured, old.load, old.tune_s + new.tune_s,
                       reference=old.reference)


def _load() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


_TABLES: dict[tuple, KernelTable] = {}  # fingerprint -> the table in use, once per process


def tune(model, model_id: str, sizes=SIZES, retune: bool = False, repeats: int = REPEATS,
         progress: Progress = lambda m: None) -> KernelTable:
    """The kernel table for model at the current thread count (cached in memory and on disk,
    measured when missing, when sizes are new, or with retune), put to use by its Decoder.
    Where the Decoder does not run (a GPU, other architectures) the table times
    transformers' forward alone: no choice to make, but v(k) all the same."""
    decoder = kernels.decoder(model)
    threads = torch.get_num_threads()
    dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
    fp = fingerprint(model_id, dtype, threads, str(next(model.parameters()).device))
    key = json.dumps(fp, sort_keys=True)
    table = None if retune else (_TABLES.get(key) or load_table(fp, progress))
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
        new = _table(fp, measure(passes, measured, repeats), repeats, time.perf_counter() - start)
        table = new if table is None else _merge(table, new)
        save_table(table, progress)
        progress(f"measured in {new.tune_s:.1f} s: " + summary(table))
    _TABLES[key] = table
    if decoder:
        decoder.use(table.plan(), threads)
    return table


def compare(model, table: KernelTable, sizes=SIZES, repeats: int = REPEATS) -> KernelTable:
    """Time the tuned engine and transformers' own forward side by side (interleaved, same
    moment) and keep both curves in the table: what tuning bought on this machine."""
    decoder = kernels.decoder(model)
    passes = {"transformers": stock_pass(model, max(sizes))}
    if decoder is not None:
        cache = decoder.new_cache(CONTEXT + max(sizes) + 1)
        ids = torch.arange(CONTEXT + max(sizes), device=decoder.device)[None] % decoder.embed.num_embeddings
        with torch.inference_mode():
            decoder.forward(ids[:, :CONTEXT], cache)

        @torch.inference_mode()
        def tuned(n: int) -> None:  # the plan in use: the kernel and padding chosen for n
            decoder.forward(ids[:, CONTEXT:CONTEXT + n], cache)
            cache.truncate(CONTEXT)
        passes["tuned"] = tuned
    times = measure(passes, sizes, repeats)
    table.reference = {"sizes": sorted(set(sizes)), "measured": _now(), "load": _load(),
                       **{name: [statistics.median(t[n]) for n in sorted(t)] for name, t in times.items()}}
    save_table(table)
    return table


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def summary(table: KernelTable) -> str:
    """'1 token: nn.Linear (41 ms); 2-3: ...' — the chosen kernel for each run of sizes."""
    parts, run = [], []
    for k in table.sizes:
        if run and table.describe(k) != table.describe(run[0]):
            parts.append(f"{_ranges(run)}: {table.describe(run[0])}")
            run = []
        run.append(k)
    parts.append(f"{_ranges(run)}: {table.describe(run[0])}")
    return f"plain step {1000 * table.step_s:.1f} ms; " + "; ".join(parts)


def _ranges(sizes: list[int]) -> str:
    """[1, 2, 3, 5] -> '1-3, 5'."""
    out, start = [], None
    for i, n in enumerate(sizes):
        start = n if start is None else start
        if i + 1 == len(sizes) or sizes[i + 1] != n + 1:
            out.append(f"{start}" if start == n else f"{start}-{n}")
            start = None
    return ", ".join(out)
