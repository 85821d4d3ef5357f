"""The kernel table: how long one target pass of k tokens took with each kernel on one machine,
the choice that follows (kernel and padded row count per k, and v(k)), and its cache file.

No torch here: a page reads a machine's table and draws it without loading a model
(specviz.decoding.autotune measures it).
"""
import datetime
import functools
import hashlib
import json
import os
import platform
import time
from dataclasses import asdict, dataclass
from importlib import metadata
from typing import Callable

from ..paths import cache_dir

TABLE_VERSION = 2
SIZES = tuple(range(1, 10))  # pass sizes measured at load: plain decoding and chains up to γ = 8
KERNELS = ("linear", "packed")  # nn.Linear's kernel, the packed oneDNN copy (specviz.decoding.kernels)

Progress = Callable[[str], None]


@dataclass
class KernelTable:
    """Measured seconds of one pass per kernel and size on one machine, and what follows."""

    fingerprint: dict
    sizes: list[int]
    seconds: dict[str, list[float]]  # kernel -> a pass's cost at each size: its fastest repeat
    median: dict[str, list[float]]  # kernel -> median repeat (what the load added shows here)
    slowest: dict[str, list[float]]  # kernel -> slowest repeat
    repeats: int  # sweeps (each timed every candidate once)
    measured: str  # when (UTC, ISO 8601)
    load: float | None = None  # 1-minute load average while measuring
    tune_s: float = 0.0  # how long measuring took
    version: int = TABLE_VERSION
    reference: dict | None = None  # the tuned engine beside transformers' own forward (compare())

    @functools.cached_property
    def _chosen(self) -> dict[int, tuple[str, int, float]]:
        """size -> (kernel, rows, seconds), chosen once per table (the measurements never change)."""
        by_size = lambda d: {kernel: dict(zip(self.sizes, s)) for kernel, s in d.items()}  # noqa: E731
        seconds = by_size(self.seconds)
        return {k: (kernel, rows, seconds[kernel][rows])
                for k, (kernel, rows) in choose(seconds, by_size(self.median)).items()}

    def best(self, k: int) -> tuple[str, int, float]:
        """(kernel, rows, seconds) of the cheapest measured way to run k tokens: rows >= k."""
        return self._chosen[k]

    def choices(self) -> dict[int, tuple[str, int]]:
        """What the Decoder runs per size (a table of transformers' forward alone plans nothing)."""
        return {k: (kernel, rows) for k, (kernel, rows, _) in self._chosen.items() if kernel in KERNELS}

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
        """'packed oneDNN, padded to 6 rows': how a k-token pass runs."""
        kernel, rows, _ = self.best(k)
        return self.label(kernel) + (f", padded to {rows} rows" if rows > k else "")

    @staticmethod
    def label(kernel: str) -> str:
        return NAMES.get(kernel, kernel)

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


TIE = 0.01  # a padded pass must beat the unpadded one by more than this


def choose(seconds: dict[str, dict[int, float]], typical: dict | None = None) -> dict[int, tuple[str, int]]:
    """For every measured size k: the kernel with the smallest time at k (seconds: each
    candidate's cost, its fastest repeat), unless a larger pass j > k (extra rows discarded)
    is clearly cheaper — even its typical (median) repeat beats the unpadded pass's fastest,
    by more than TIE — then the cheapest such one. So noise on a busy machine does not pad
    a pass; a real difference does. typical defaults to seconds."""
    typical = typical or seconds
    chosen = {}
    for k in sorted({k for per_size in seconds.values() for k in per_size}):
        kernel = min((kern for kern in seconds if k in seconds[kern]), key=lambda kern: seconds[kern][k])
        bar = seconds[kernel][k] * (1 - TIE)
        padded = [(kern, j) for kern, per_size in seconds.items() for j in per_size
                  if j > k and typical[kern][j] < bar]
        chosen[k] = min(padded, key=lambda c: seconds[c[0]][c[1]], default=(kernel, k))
    return chosen


# ----------------------------------------------------------------------------- the machine

def fingerprint(model_id: str, dtype: str, threads: int, device: str = "cpu") -> dict:
    """What a kernel ranking depends on; a change in any part measures again. device: "cpu",
    or the accelerator's name."""
    fp = {**_this_machine(), "threads": threads, "model": model_id, "dtype": dtype}
    return fp if device == "cpu" else fp | {"device": device}


@functools.cache
def _this_machine() -> dict:
    """The CPU and torch, read once per process: pages ask on every rerun, and with six
    sessions asking at once the package metadata scan once failed ("No package metadata was
    found for torch", tests/test_concurrency.py)."""
    return {"cpu": _cpu_name(), "flags": _cpu_flags(), "torch": metadata.version("torch")}


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


def now() -> str:
    """UTC, ISO 8601, to the second: when something was measured."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


RECENT_S = 60.0  # a re-measure asked for within this long of the last measurement reuses it


def measured_recently(when: dict, key) -> bool:
    """key was measured in this process in the last RECENT_S seconds (when: key -> monotonic
    time): a --retune that arrives from several callers of one command measures once."""
    return time.monotonic() - when.get(key, float("-inf")) < RECENT_S


def load_average() -> float | None:
    """The 1-minute load average (a shared CPU is noisy), None where the OS has none."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


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
