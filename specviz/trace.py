"""The trace: every draft->verify round of one run, as plain JSON-serialisable dataclasses.

Version 3 adds token trees: a round may hold the tree it drafted (every node with its parent,
depth, token, q, p, the draw r of its test, its fate, and the target pass's attention mask);
its `draft` is then the accepted path, so chain readers see the tokens that were kept.
Version 2 added β per drafted token and the correction kind "target". Versions 1 and 2
still load. Loading validates structure, types and meaning and never unpickles anything.
"""
import json
import os
from dataclasses import MISSING, asdict, dataclass, field, fields, is_dataclass
from typing import Any, get_args, get_origin

from .errors import TraceError

TRACE_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
MAX_TRACE_BYTES = 20 * 1024 * 1024
MAX_TREE_NODES = 128
NODE_FATES = ("accepted", "rejected", "unchecked")
TREE_KINDS = ("sample", "replace", "topk")  # how a tree's children were chosen (specviz.decoding.tree)


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
class TreeNode:
    """One drafted node of a token tree (version 3), numbered in topological order."""

    token: int
    text: str
    parent: int  # the parent node's index; -1 = the round's root (the last settled token)
    depth: int  # 1 for a child of the root
    q: float  # draft probability of the token after its parent
    p: float  # target probability of the token after its parent (the one pass scores every node)
    fate: str  # "accepted" (on the accepted path) | "rejected" | "unchecked" (never tested)
    r: float | None = None  # uniform draw of its accept test (None: greedy or never tested)
    p_test: float | None = None  # p(x) as tested, after earlier siblings' residual updates
    q_test: float | None = None  # q_j(x) as tested: what it was drawn from given its earlier siblings
    beta: float | None = None  # Σ min(p, q_j) at its test (greedy: 1 iff the target's argmax); None unchecked
    u: float | None = None  # uniform draw the drafter sampled it with (kind "sample")


@dataclass
class TreeDraft:
    """A round's token tree: its nodes, how children were chosen (specviz.decoding.tree.KINDS), and the
    attention mask of the target's one pass (row i: "1" at j where node i sees node j, i.e.
    its ancestors and itself; every node also sees the prompt, the output so far and the root)."""

    nodes: list[TreeNode]
    kind: str
    mask: list[str]


@dataclass
class Round:
    draft: list[DraftToken]  # a chain's drafted tokens; a tree's accepted path
    correction: Correction
    draft_s: float
    verify_s: float
    tree: TreeDraft | None = None  # the whole token tree (version 3), None for a chain

    @property
    def n_new(self) -> int:
        """Tokens the round added: its accepted drafts and the target's own token (an EOS in
        them ends the output early)."""
        return sum(t.accepted for t in self.draft) + 1


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
    tree_nodes: int = 0  # node budget of a token tree per round (0: chains of gamma; gamma is then the depth)
    tree_top_k: int = 0  # children per expanded node
    tree_kind: str = ""  # how children were chosen (specviz.decoding.tree.KINDS)


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
        if "version" not in data:
            keys = ", ".join(sorted(str(k)[:24] for k in data)[:4]) or "none"
            raise TraceError(f"not a SpecViz trace: this JSON object has no \"version\" field (its keys: "
                             f"{keys}); a trace is what `python -m specviz generate --trace` or "
                             "\"save this trace\" writes")
        version = data["version"]
        if version not in READABLE_VERSIONS:
            raise TraceError(f"unsupported trace version {version!r}: this SpecViz reads versions "
                             f"{', '.join(map(str, READABLE_VERSIONS))}; re-record it with "
                             "`python -m specviz generate --trace`")
        trace = _check_meaning(_build(cls, data, "trace"), version)
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


MEASURED_ENV = ("kernels", "kernels_measured", "gamma_choice")  # the machine's measurements in env


def without_timings(trace: Trace) -> dict[str, Any]:
    """The trace as a dict with every wall-clock field zeroed and the machine's measured costs
    (the kernel table, a γ chosen from it) left out: what a seeded re-run on the same device
    must reproduce byte for byte (tokens, probabilities, draws, texts, settings, env)."""
    d = trace.to_dict()
    d["timing"] = {k: 0.0 for k in d["timing"]}
    d["baseline"]["s_per_token"] = 0.0
    for rnd in d["rounds"]:
        rnd["draft_s"] = rnd["verify_s"] = 0.0
    d["env"] = {k: v for k, v in d["env"].items() if k not in MEASURED_ENV}
    return d


def _upgrade(trace: Trace) -> Trace:
    """Version 1 -> 2: a round that drafted nothing closed with a "bonus"; it is the target's own step.
    β was not recorded (None): metrics that need it say so."""
    for rnd in trace.rounds:
        if not rnd.draft and rnd.correction.kind == "bonus":
            rnd.correction.kind = "target"
    return trace


def _check_meaning(trace: Trace, version: int = TRACE_VERSION) -> Trace:
    """Checks a type check cannot make: kinds, probability ranges, draft lengths, trees."""
    for i, rnd in enumerate(trace.rounds):
        where = f"trace.rounds[{i}]"
        if rnd.correction.kind not in ("resampled", "bonus", "target"):
            raise TraceError(f"malformed trace: {where}.correction.kind must be resampled, bonus or target")
        if rnd.correction.kind == "target" and (rnd.draft or rnd.tree and rnd.tree.nodes):
            raise TraceError(f"malformed trace: {where} drafted tokens but closes with the target's own step")
        if len(rnd.draft) > trace.config.gamma:
            raise TraceError(f"malformed trace: {where} drafts more tokens than gamma")
        for t in rnd.draft:
            if not (0 <= t.p <= 1 and 0 <= t.q <= 1 and (t.beta is None or 0 <= t.beta <= 1 + 1e-6)):
                raise TraceError(f"malformed trace: {where} has a probability outside [0, 1]")
        if rnd.tree is not None:
            if version < 3 or not trace.config.tree_nodes:
                raise TraceError(f"malformed trace: {where} holds a token tree but the trace is "
                                 f"version {version} without a tree budget (trees are version 3)")
            _check_tree(rnd, trace.config, where)
    return trace


def _check_tree(rnd: Round, config: Config, where: str) -> None:
    """A tree's nodes come parent first, its mask is their ancestry, its draft its accepted path."""
    nodes, tree = rnd.tree.nodes, rnd.tree
    if tree.kind not in TREE_KINDS or len(nodes) > min(config.tree_nodes, MAX_TREE_NODES):
        raise TraceError(f"malformed trace: {where}.tree has an unknown kind or more nodes than its budget")
    path = []
    for j, n in enumerate(nodes):
        parent_depth = nodes[n.parent].depth if 0 <= n.parent < j else 0 if n.parent == -1 else None
        if parent_depth is None or n.depth != parent_depth + 1 or n.fate not in NODE_FATES:
            raise TraceError(f"malformed trace: {where}.tree.nodes[{j}] has a bad parent, depth or fate")
        if not all(x is None or -1e-6 <= x <= 1 + 1e-6 for x in (n.p, n.q, n.p_test, n.q_test, n.beta)):
            raise TraceError(f"malformed trace: {where}.tree.nodes[{j}] has a probability outside [0, 1]")
        if n.fate == "accepted":
            if n.parent != (path[-1] if path else -1):
                raise TraceError(f"malformed trace: {where}.tree's accepted nodes are not one path from the root")
            path.append(j)
    if [nodes[j].token for j in path] != [t.token for t in rnd.draft] or not all(t.accepted for t in rnd.draft):
        raise TraceError(f"malformed trace: {where}.draft is not the tree's accepted path")
    if tree.mask != mask_rows([n.parent for n in nodes]):
        raise TraceError(f"malformed trace: {where}.tree.mask is not the attention mask of its nodes")


def sees(parents: list[int]) -> list[list[bool]]:
    """The tree attention relation, the one definition: row i is True at j where node i sees node j
    (its ancestors and itself; nodes in topological order, parent -1 the root). The trace's mask,
    the target's pass over a tree and a draft's tree passes are all built from it."""
    rows: list[list[bool]] = []
    for i, a in enumerate(parents):
        row = list(rows[a]) if a >= 0 else [False] * len(parents)
        row[i] = True
        rows.append(row)
    return rows


def mask_rows(parents: list[int]) -> list[str]:
    """sees() as a trace keeps it: text rows, "1" at j where node i sees node j."""
    return ["".join("1" if x else "0" for x in row) for row in sees(parents)]


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


_CHECKS = {bool: lambda v: isinstance(v, bool), int: _is_int, float: _is_number,
           str: lambda v: isinstance(v, str), float | None: lambda v: v is None or _is_number(v),
           list[int]: lambda v: isinstance(v, list) and all(map(_is_int, v)),
           list[str]: lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
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
    optional = [a for a in get_args(f.type) if a is not type(None)] if type(None) in get_args(f.type) else []
    if len(optional) == 1 and is_dataclass(optional[0]):  # an optional part (a round's tree)
        return None if value is None else _build(optional[0], value, where)
    item = get_args(f.type)[0] if get_origin(f.type) is list else None
    if is_dataclass(item):
        if not isinstance(value, list):
            raise TraceError(f"malformed trace: {where} should be a list")
        return [_build(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if not _CHECKS[f.type](value):
        raise TraceError(f"malformed trace: {where} has the wrong type ({type(value).__name__})")
    return value
