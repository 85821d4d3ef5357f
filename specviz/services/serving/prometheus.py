"""A serving engine's Prometheus /metrics page parsed into cumulative totals per model (the counter
schemas are in this package's docstring), with the engines' names and their own rates' meanings."""
import math
import operator
import time
from dataclasses import dataclass, field

from ...counts import Counts
from .fetch import ScrapeError


SCHEMA = {"vllm": "vllm:spec_decode_num_", "llamacpp": "llamacpp:spec_decode_num_"}  # vLLM's counter schema

TRTLLM = ("trtllm_", "trtllm:")

SGLANG_VERIFY, SGLANG_TOKENS = "sglang:spec_verify_calls_total", "sglang:generation_tokens_total"

GAUGES = {"sglang": ("spec_accept_length", "spec_accept_rate"),  # short names; shown with their prefix
          "trtllm": ("spec_decode_acceptance_length", "spec_decode_draft_overhead")}

GAUGE_PREFIX = {"sglang": "sglang:", "trtllm": "trtllm_"}

TGI = "tgi_request_skipped_tokens"

NAMES = {"vllm": "vLLM", "llamacpp": "llama.cpp", "trtllm": "TensorRT-LLM", "sglang": "SGLang",
         "tgi": "TGI", "mlx": "MLX"}

OWN_RATE = {  # each engine's own "acceptance rate", named beside the app's definitions
    "vllm": "vLLM's “draft acceptance rate” is accepted ÷ draft tokens: the vLLM-style rate shown here, "
            "not α (its “mean acceptance length” is τ)",
    "llamacpp": "llama.cpp's “draft acceptance rate” (its log line; timings.draft_n_accepted ÷ draft_n) is "
                "accepted ÷ the drafted tokens it tested: the vLLM-style rate, not α (a draft shorter than "
                "--draft-min is never tested nor counted, and tokens after a rejection count as tested)",
    "trtllm": "TensorRT-LLM's “acceptance rate” (per request, /perf_metrics) is accepted ÷ draft tokens: the "
              "vLLM-style rate, not α; its spec_decode_acceptance_length gauge is τ over its last iteration",
    "sglang": "SGLang's spec_accept_rate is accepted ÷ draft tokens in the batch (its help text) and "
              "spec_accept_length is τ, both gauges over its latest logging window",
    "tgi": "TGI has no acceptance rate: tgi_request_skipped_tokens counts the tokens each generation step "
           "added beyond one",
    "mlx": "MLX servers (mlx-vlm) mirror llama.cpp's timings: draft_n_accepted ÷ draft_n is the vLLM-style "
           "rate, not α; draft_rounds counts its verify passes",
}

PASSES = {"sglang": "verify calls", "tgi": "generation steps"}  # what each engine's pass counter counts

ARCHIVED = ("TGI is archived: in maintenance mode since December 2025, its repository archived in March "
            "2026. Its metrics stay readable here, but it is no longer developed")

def _padded(a: tuple | None, n: int) -> tuple:
    return tuple(a or ()) + (0.0,) * (n - len(a or ()))


@dataclass
class Totals:
    """One model's cumulative counters, summed over engines (TGI's histogram, SGLang's counters too)."""

    drafts: float | None  # verify passes that checked a draft (TGI: steps); None: not counted
    accepted: float
    draft_tokens: float | None = None  # None: not counted (TGI, SGLang)
    per_pos: tuple[float, ...] | None = None  # accepted at position i; None: not exposed
    created: float | None = None  # the counters' creation time, when exposed (restart marker)
    drafted_pos: tuple[float, ...] | None = None  # drafted at position i (TensorRT-LLM)

    def _combine(self, other: "Totals", op) -> "Totals":
        """Field by field; a field either side lacks is lacking; a shorter series is padded with zeros."""
        def num(a, b):
            return None if a is None or b is None else op(a, b)

        def series(a, b):
            n = max(len(a or ()), len(b or ()))
            return None if a is None and b is None else tuple(map(op, _padded(a, n), _padded(b, n)))

        return Totals(num(self.drafts, other.drafts), op(self.accepted, other.accepted),
                      num(self.draft_tokens, other.draft_tokens), series(self.per_pos, other.per_pos),
                      self.created, series(self.drafted_pos, other.drafted_pos))

    def minus(self, before: "Totals") -> tuple["Totals", bool]:
        """What happened between two scrapes, and whether the server restarted in between.

        A counter that went down, a position that vanished or a new creation time mean a restart:
        the new values are then everything since the restart (Prometheus's rate() does the same).
        """
        window = self._combine(before, operator.sub)
        values = [window.drafts, window.accepted, window.draft_tokens, *(window.per_pos or ()),
                  *(window.drafted_pos or ())]
        restarted = any(v is not None and v < 0 for v in values) or any(
            len(getattr(self, s) or ()) < len(getattr(before, s) or ()) for s in ("per_pos", "drafted_pos"))
        restarted |= self.created is not None and before.created is not None and self.created != before.created
        return (self, True) if restarted else (window, False)

    def __add__(self, other: "Totals") -> "Totals":
        total = self._combine(other, operator.add)
        total.created = other.created
        return total

    @property
    def k(self) -> int | None:
        """The draft positions the counters cover (None: no per-position counters)."""
        return max(len(self.per_pos), len(self.drafted_pos or ())) if self.per_pos else None

    def counts(self) -> Counts:
        """These counters as metrics.Counts (k = the number of position counters; passes 0 when not counted)."""
        drafts = int(self.drafts or 0)
        c = Counts(passes=drafts, accepted=int(self.accepted), drafted=int(self.draft_tokens or 0),
                           tokens=drafts + int(self.accepted))
        if self.k and self.drafts is not None:
            n = self.k
            at = [int(v) for v in _padded(self.per_pos, n)]
            c.drafted_at = [int(v) for v in _padded(self.drafted_pos, n)] if self.drafted_pos else [drafts] * n
            # reaching position i takes accepting i − 1 and drafting i (an upper bound when lengths vary)
            c.checked_at = [min(reach, d) for reach, d in zip([drafts] + at[:-1], c.drafted_at)]
            c.accepted_at = at
            c.rejections = sum(k - a for k, a in zip(c.checked_at, at))
        return c


@dataclass
class Scrape:
    """One reading of a metrics page."""

    at: float  # unix time
    engine: str  # a key of NAMES
    totals: dict[str, Totals] = field(default_factory=dict)  # model -> counters
    gauges: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # model -> gauge -> value per series
    families: int = 0
    name: str | None = None  # a saved copy's file name (its windows are named, not timed)

    @property
    def models(self) -> list[str]:
        return sorted(set(self.totals) | set(self.gauges))


def parse(text: str, at: float | None = None, name: str | None = None) -> Scrape:
    """A Prometheus (or OpenMetrics) text page -> the speculative-decoding metrics it holds."""
    from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_families
    from prometheus_client.parser import text_string_to_metric_families as prom_families

    at = time.time() if at is None else at
    if not text.strip():
        raise ScrapeError("the metrics page is empty")
    reader = om_families if text.rstrip().endswith("# EOF") else prom_families
    try:
        families = list(reader(text))
    except Exception:  # noqa: BLE001 - the parser raises ValueError, IndexError, ... on garbage
        # never echo the content: the URL may point anywhere the app's host can reach
        looks = " (it looks like HTML)" if text.lstrip()[:1] == "<" else \
            " (it looks like JSON: responses go to the per-request reader)" if text.lstrip()[:1] in "{[" else ""
        raise ScrapeError(f"this is not a Prometheus metrics page{looks}: its lines are not "
                          "`name{labels} value`") from None
    samples = [s for f in families for s in f.samples]
    engine = _engine({s.name for s in samples})
    if engine is None:
        raise ScrapeError(f"no speculative-decoding metrics on this page ({_seen(samples, len(families))}): "
                          "is speculative decoding enabled on the server? SpecViz reads vllm:spec_decode_*, "
                          "llamacpp:spec_decode_*, trtllm_spec_decode_*, sglang:spec_* and "
                          "tgi_request_skipped_tokens")
    totals, gauges = READERS[engine](samples)
    return Scrape(at, engine, totals, gauges, len(families), name)


def _engine(names: set[str]) -> str | None:
    def has(prefix):
        return any(n.startswith(prefix) for n in names)

    found = [e for e, prefix in SCHEMA.items() if has(prefix)]
    found += ["trtllm"] * any(has(p + "spec_decode_") for p in TRTLLM)
    found += ["sglang"] * has("sglang:spec_") + ["tgi"] * has(TGI + "_")
    return found[0] if found else None


def _seen(samples, families: int) -> str:
    for prefix, name in (("vllm:", "vLLM"), ("llamacpp:", "llama.cpp"), ("trtllm", "TensorRT-LLM"),
                         ("sglang:", "SGLang")):
        if any(s.name.startswith(prefix) for s in samples):
            return f"{name} without its speculative-decoding metrics"
    return f"{families} metric families, none of them a serving engine's speculative decoding"


def _value(s) -> float:
    if not math.isfinite(s.value) or s.value < 0:
        raise ScrapeError(f"{s.name} has the value {s.value}: counters are finite and never negative")
    return float(s.value)


def _position(s, label: str) -> int:
    pos = s.labels.get(label, "")
    if not pos.isdigit():
        raise ScrapeError(f"a per-position counter has {label}={pos!r}: expected 0, 1, 2, ...")
    return int(pos)


def _series(by_pos: dict[int, float]) -> tuple[float, ...] | None:
    """Positions 0 .. the highest counted; a position not counted yet is zero."""
    return tuple(by_pos.get(i, 0.0) for i in range(max(by_pos) + 1)) if by_pos else None


def _schema(engine: str):
    """A reader of vLLM's counter schema under `engine`'s prefix (vLLM, llama.cpp)."""
    prefix = SCHEMA[engine]

    def read(samples) -> tuple[dict[str, Totals], dict]:
        raw: dict[str, dict] = {}
        for s in samples:
            if not s.name.startswith(prefix):
                continue
            d = raw.setdefault(s.labels.get("model_name", ""), {"pos": {}, "created": None})
            name = s.name[len(prefix):]
            if name == "drafts_created":
                d["created"] = max(d["created"] or 0.0, _value(s))
            name = name.removesuffix("_total")
            if name == "accepted_tokens_per_pos":
                pos = _position(s, "position")
                d["pos"][pos] = d["pos"].get(pos, 0.0) + _value(s)
            elif name in ("drafts", "draft_tokens", "accepted_tokens"):
                d[name] = d.get(name, 0.0) + _value(s)
        out = {}
        for model, d in raw.items():
            if "drafts" not in d or "accepted_tokens" not in d:
                raise ScrapeError(f"{NAMES[engine]}'s spec_decode counters are incomplete for "
                                  f"{model or 'the model'}: SpecViz needs at least num_drafts and num_accepted_tokens")
            out[model] = Totals(d["drafts"], d["accepted_tokens"], d.get("draft_tokens"), _series(d["pos"]),
                                d["created"])
        return out, {}

    return read


def _gauge(gauges: dict, model: str, name: str, s) -> None:
    gauges.setdefault(model, {}).setdefault(name, []).append(_value(s))


def _trtllm(samples) -> tuple[dict[str, Totals], dict]:
    raw: dict[str, dict] = {}
    gauges: dict = {}
    for s in samples:
        name = next((s.name[len(p):] for p in TRTLLM if s.name.startswith(p + "spec_decode_")), None)
        model = s.labels.get("model_name", "")
        if name in GAUGES["trtllm"]:
            _gauge(gauges, model, name, s)
        elif name in ("spec_decode_drafted_tokens_total", "spec_decode_accepted_tokens_total"):
            pos = raw.setdefault(model, {}).setdefault(name, {})
            at = _position(s, "token_position")
            pos[at] = pos.get(at, 0.0) + _value(s)
        elif name in ("spec_decode_num_draft_tokens_total", "spec_decode_num_accepted_tokens_total"):
            d = raw.setdefault(model, {})
            d[name] = d.get(name, 0.0) + _value(s)
    out = {}
    for model, d in raw.items():
        drafted = _series(d.get("spec_decode_drafted_tokens_total", {}))
        accepted = d.get("spec_decode_accepted_tokens_total", {})
        if drafted:  # per position, counted per finished request: every number from these
            if accepted and max(accepted) >= len(drafted):
                raise ScrapeError(f"TensorRT-LLM counts accepted tokens at position {max(accepted)}, "
                                  "which it never drafted: the per-position counters do not match")
            at = _padded(_series(accepted), len(drafted))
            out[model] = Totals(drafted[0], sum(at), sum(drafted), at, drafted_pos=drafted)
        elif "spec_decode_num_accepted_tokens_total" in d:
            out[model] = Totals(None, d["spec_decode_num_accepted_tokens_total"],
                                d.get("spec_decode_num_draft_tokens_total"))
    return out, gauges


def _sglang(samples) -> tuple[dict[str, Totals], dict]:
    raw: dict[str, dict] = {}
    gauges: dict = {}
    for s in samples:
        model = s.labels.get("model_name", "")
        if s.name in (SGLANG_VERIFY, SGLANG_TOKENS):
            d = raw.setdefault(model, {})
            d[s.name] = d.get(s.name, 0.0) + _value(s)
        elif s.name.removeprefix("sglang:") in GAUGES["sglang"]:
            _gauge(gauges, model, s.name.removeprefix("sglang:"), s)
    # τ = generated ÷ verify calls = 1 + (generated − verify calls) ÷ verify calls
    return {m: Totals(d[SGLANG_VERIFY], d[SGLANG_TOKENS] - d[SGLANG_VERIFY])
            for m, d in raw.items() if SGLANG_VERIFY in d and SGLANG_TOKENS in d}, gauges


def _tgi(samples) -> tuple[dict[str, Totals], dict]:
    got = {s.name: s for s in samples if s.name in (TGI + "_sum", TGI + "_count")}
    if len(got) < 2:
        raise ScrapeError(f"TGI's {TGI} has no _sum and _count: SpecViz cannot compute τ from it")
    return {"": Totals(_value(got[TGI + "_count"]), _value(got[TGI + "_sum"]))}, {}


READERS = {"vllm": _schema("vllm"), "llamacpp": _schema("llamacpp"), "trtllm": _trtllm, "sglang": _sglang,
           "tgi": _tgi}
