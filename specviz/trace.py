"""The trace: every draft->verify round of one run, as plain JSON-serialisable dataclasses.

Version 2 (adds β per drafted token and the correction kind "target"); version 1 traces
still load. Loading validates structure and types and never unpickles anything.
"""
import json
import os
from dataclasses import MISSING, asdict, dataclass, field, fields, is_dataclass
from typing import Any, get_args, get_origin

from .errors import TraceError

TRACE_VERSION = 2
READABLE_VERSIONS = (1, 2)
MAX_TRACE_BYTES = 20 * 1024 * 1024


@dataclass
class Candidate:
    """One entry of a top-k list: a token and its probability."""

    token: int
    text: str
    prob: float


@dataclass
class DraftToken:
    token: int
    text: str
    q: float  # draft probability of this token
    p: float  # target probability of this token
    r: float | None  # uniform draw of the accept test (None in greedy mode)
    accepted: bool
    u: float | None = None  # uniform draw the drafter sampled this token with (None if greedy/lookup)
    top_p: list[Candidate] = field(default_factory=list)
    top_q: list[Candidate] = field(default_factory=list)
    beta: float | None = None  # Σ min(p, q) at this position from the full distributions (v2)


@dataclass
class Correction:
    """The target's own token closing a round: resampled at the rejection, the bonus after a
    fully accepted draft, or "target" when nothing was drafted (a plain step of the target)."""

    token: int
    text: str
    kind: str  # "resampled" | "bonus" | "target"
    p: float  # target probability of this token
    u: float | None = None  # uniform draw it was sampled with (None in greedy mode)
    top_p: list[Candidate] = field(default_factory=list)
    top_residual: list[Candidate] = field(default_factory=list)  # norm(max(0, p - q)), resampled only


@dataclass
class Round:
    draft: list[DraftToken]
    correction: Correction
    draft_s: float
    verify_s: float


@dataclass
class Config:
    target: str
    draft: str
    gamma: int
    temperature: float
    top_p: float
    seed: int
    max_new_tokens: int
    device: str
    dtype: str
    top_k: int = 0
    chat: bool = True


@dataclass
class Baseline:
    """Plain target-only decoding of the same prompt in the same run."""

    output_ids: list[int]
    s_per_token: float
    text: str = ""


@dataclass
class Timing:
    spec_s: float  # decode time of the speculative loop (prefill excluded)
    baseline_s: float  # decode time of the plain loop (prefill excluded)
    prefill_s: float = 0.0


@dataclass
class Trace:
    config: Config
    prompt: str
    prompt_ids: list[int]
    output_ids: list[int]
    text: str
    rounds: list[Round]
    baseline: Baseline
    timing: Timing
    complete: bool = True
    stop_reason: str = "max_new_tokens"  # "eos" | "max_new_tokens" | "cancelled" | "error: ..."
    env: dict[str, str] = field(default_factory=dict)
    version: int = TRACE_VERSION

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {"version": d.pop("version"), **d}

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Any) -> "Trace":
        if not isinstance(data, dict):
            raise TraceError("not a SpecViz trace: expected a JSON object at the top level")
        version = data.get("version")
        if version not in READABLE_VERSIONS:
            raise TraceError(f"unsupported trace version {version!r}: this SpecViz reads versions "
                             f"{', '.join(map(str, READABLE_VERSIONS))}; re-record it with "
                             "`python -m specviz generate --trace`")
        trace = _check_meaning(_build(cls, data, "trace"))
        return _upgrade(trace) if version == 1 else trace

    @classmethod
    def from_json(cls, text: str | bytes) -> "Trace":
        if len(text) > MAX_TRACE_BYTES:
            raise TraceError(_too_large(len(text)))
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise TraceError(f"not valid JSON ({e}); is this a SpecViz trace file?") from None
        except RecursionError:
            raise TraceError("not a SpecViz trace: the JSON is nested far too deeply") from None
        return cls.from_dict(data)

    def save(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.to_json())

    @classmethod
    def load(cls, path: str) -> "Trace":
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size > MAX_TRACE_BYTES:
                    raise TraceError(_too_large(size))
                raw = f.read(MAX_TRACE_BYTES + 1)
        except OSError as e:
            raise TraceError(f"cannot read trace file {path}: {e.strerror}") from None
        return cls.from_json(raw)


def _too_large(size: int) -> str:
    return (f"trace file is too large ({size / 2**20:.1f} MiB; the limit is "
            f"{MAX_TRACE_BYTES / 2**20:.0f} MiB): is this a SpecViz trace?")


def without_timings(trace: Trace) -> dict[str, Any]:
    """The trace as a dict with every wall-clock field zeroed: what a seeded re-run on the same
    device must reproduce byte for byte (tokens, probabilities, draws, texts, settings, env)."""
    d = trace.to_dict()
    d["timing"] = {k: 0.0 for k in d["timing"]}
    d["baseline"]["s_per_token"] = 0.0
    for rnd in d["rounds"]:
        rnd["draft_s"] = rnd["verify_s"] = 0.0
    return d


def _upgrade(trace: Trace) -> Trace:
    """Version 1 -> 2: a round that drafted nothing closed with a "bonus"; it is the target's own step.
    β was not recorded (None): metrics that need it say so."""
    for rnd in trace.rounds:
        if not rnd.draft and rnd.correction.kind == "bonus":
            rnd.correction.kind = "target"
    return trace


def _check_meaning(trace: Trace) -> Trace:
    """Checks a type check cannot make: kinds, probability ranges, draft lengths."""
    for i, rnd in enumerate(trace.rounds):
        where = f"trace.rounds[{i}]"
        if rnd.correction.kind not in ("resampled", "bonus", "target"):
            raise TraceError(f"malformed trace: {where}.correction.kind must be resampled, bonus or target")
        if rnd.correction.kind == "target" and rnd.draft:
            raise TraceError(f"malformed trace: {where} drafted tokens but closes with the target's own step")
        if len(rnd.draft) > trace.config.gamma:
            raise TraceError(f"malformed trace: {where} drafts more tokens than gamma")
        for t in rnd.draft:
            if not (0 <= t.p <= 1 and 0 <= t.q <= 1 and (t.beta is None or 0 <= t.beta <= 1 + 1e-6)):
                raise TraceError(f"malformed trace: {where} has a probability outside [0, 1]")
    return trace


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


_CHECKS = {bool: lambda v: isinstance(v, bool), int: _is_int, float: _is_number,
           str: lambda v: isinstance(v, str), float | None: lambda v: v is None or _is_number(v),
           list[int]: lambda v: isinstance(v, list) and all(map(_is_int, v)),
           dict[str, str]: lambda v: isinstance(v, dict)}


def _build(cls, data: Any, where: str):
    """Build dataclass cls from data, checking every field's presence and type."""
    if not isinstance(data, dict):
        raise TraceError(f"malformed trace: {where} should be an object")
    kwargs = {}
    for f in fields(cls):
        if f.name == "version":
            continue
        if f.name not in data:
            if f.default is not MISSING or f.default_factory is not MISSING:
                continue  # optional field: keep its default
            raise TraceError(f"malformed trace: {where} is missing '{f.name}'")
        kwargs[f.name] = _value(f, data[f.name], f"{where}.{f.name}")
    return cls(**kwargs)


def _value(f, value: Any, where: str):
    if is_dataclass(f.type):
        return _build(f.type, value, where)
    item = get_args(f.type)[0] if get_origin(f.type) is list else None
    if is_dataclass(item):
        if not isinstance(value, list):
            raise TraceError(f"malformed trace: {where} should be a list")
        return [_build(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if not _CHECKS[f.type](value):
        raise TraceError(f"malformed trace: {where} has the wrong type ({type(value).__name__})")
    return value
