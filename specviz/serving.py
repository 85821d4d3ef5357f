"""Bring your own server: a serving engine's speculative-decoding metrics, read from its
Prometheus /metrics page and turned into the same numbers as SpecViz's runs.

vLLM (`vllm:`) and llama.cpp's server (`llamacpp:`) share one counter schema (cumulative,
summed over engines, one result per model_name):
  <prefix>spec_decode_num_drafts_total                     drafts (target passes that verified a draft)
  <prefix>spec_decode_num_draft_tokens_total               drafted tokens
  <prefix>spec_decode_num_accepted_tokens_total            accepted drafted tokens
  <prefix>spec_decode_num_accepted_tokens_per_pos_total{position="i"}  drafts whose position i was accepted
With k position counters they fill metrics.Counts: passes = drafts, drafted_at[i] = drafts,
checked_at[i] = accepted_at[i−1] (checked_at[0] = drafts), rejections = drafts − accepted_at[k−1].
metrics.py then gives τ = 1 + accepted ÷ drafts, the vLLM-style rate accepted ÷ draft tokens,
per-position acceptance (unconditional accepted_at[i] ÷ drafts, conditional accepted_at[i] ÷
accepted_at[i−1]) and Leviathan's α̂ = accepted ÷ (accepted + drafts − accepted_at[k−1]). Drafts
shorter or longer than k make α a bound, and the app says which.
TensorRT-LLM (`trtllm_`, `trtllm:` behind some Dynamo versions) counts drafted and accepted tokens
per position (label token_position) when a request finishes: drafts = drafted at position 0,
drafted_at[i] its own. Without those it has only token totals (the rate, no τ) and its
spec_decode_acceptance_length gauge.
SGLang: τ = Δ generation tokens ÷ Δ sglang:spec_verify_calls_total, exact over any window; its
spec_accept_length and spec_accept_rate are gauges over its latest logging window, read only as a
labelled fallback. TGI (archived): tgi_request_skipped_tokens (one observation per generation
step, the tokens that step added beyond one) gives τ.

Counters only grow: one that went down between two scrapes means the server restarted. A series
that is not there yet counts zero (llama.cpp adds its per-position counters with the first
speculative request; TensorRT-LLM adds a position when it first counts one). Fetching lives in
serving_fetch; per-request responses in serving_requests; alarms in serving_health.
"""
import math
import operator
import time
from dataclasses import dataclass, field

from . import theory
from .counts import Counts
from .measure import metrics
from .numbers import num
from .serving_fetch import MAX_BYTES, ScrapeError, decode, fetch, public_only, refused  # noqa: F401 - the serving API

SCHEMA = {"vllm": "vllm:spec_decode_num_", "llamacpp": "llamacpp:spec_decode_num_"}  # vLLM's counter schema
TRTLLM = ("trtllm_", "trtllm:")
SGLANG_VERIFY, SGLANG_TOKENS = "sglang:spec_verify_calls_total", "sglang:generation_tokens_total"
GAUGES = {"sglang": ("spec_accept_length", "spec_accept_rate"),  # short names; shown with their prefix
          "trtllm": ("spec_decode_acceptance_length", "spec_decode_draft_overhead")}
GAUGE_PREFIX = {"sglang": "sglang:", "trtllm": "trtllm_"}
TGI = "tgi_request_skipped_tokens"
COUNTERS, WINDOWED = "counters", "a windowed gauge: the last window, not the run"
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
PUBLISHED_VERIFY = (  # the verify-cost caveat, a published figure (never a measurement here)
    "Published, not measured here: Liu, Yu, Park, Stoica and Cheung, “Speculative Decoding: "
    "Performance or Illusion?” (arXiv:2601.11580), benchmarking vLLM on H100 GPUs at batch sizes "
    "1–128, report that verification by the target takes 42–95 % of execution time and that "
    "speedups shrink as the batch grows (the GPU becomes compute-bound).")


# ----------------------------------------------------------------------------- counters

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


# ----------------------------------------------------------------------------- the numbers

@dataclass
class Readout:
    """Every number a scrape (or a window between two, or a response) allows, from the one metrics module."""

    engine: str
    model: str
    counts: Counts | None  # None: windowed gauges only
    drafts: int | None  # verify passes counted; None: these numbers do not count them
    k: int | None  # the draft positions the per-position counters cover
    tau: float | None  # τ, tokens per target pass that verified a draft
    rate: float | None  # accepted ÷ drafted tokens (vLLM-style), or SGLang's gauge (rate_from)
    alpha: float | None  # Leviathan's α (needs per-position counts)
    conditional: list[float | None]  # per position, given the earlier ones were accepted
    unconditional: list[float | None]  # per position, of all drafts (vLLM's survival curve)
    missing: list[str]  # what these numbers cannot give, in plain words
    gauges: dict[str, float] = field(default_factory=dict)  # the engine's windowed gauges, shown beside
    tau_from: str = COUNTERS  # or WINDOWED: τ read off a gauge
    rate_from: str = COUNTERS

    @property
    def name(self) -> str:
        return NAMES[self.engine]

    @property
    def rate_label(self) -> str:
        if self.rate_from != COUNTERS:
            return f"{self.name}'s spec_accept_rate ({WINDOWED}; not α)"
        return "vLLM's draft acceptance rate (accepted ÷ drafted; not α)" if self.engine == "vllm" else \
            "accepted ÷ drafted (the vLLM-style rate; not α)"

    @property
    def windowed(self) -> bool:
        """τ was read off a windowed gauge (the last window), not counters (the whole run)."""
        return self.tau_from != COUNTERS

    @property
    def expected_tau(self) -> float | None:
        """Leviathan's E[τ] at the measured α and k (the i.i.d. model's check against τ)."""
        return theory.expected_acceptance_length(self.alpha, self.k) if self.alpha is not None and self.k else None


def readout_totals(engine: str, model: str, t: Totals, gauges: dict[str, list[float]] | None = None,
                   limits: list[str] | None = None) -> Readout:
    """Every number counters allow; `limits`: what the source cannot give (default: the engine's counters')."""
    c, k, counted = t.counts(), t.k, t.drafts is not None
    cond, uncond = metrics.acceptance_by_position(c) if k and counted else ([], [])
    notes = (_limits(engine, t) if limits is None else list(limits)) + _sizes(NAMES[engine], t)
    r = Readout(engine, model, c, c.passes if counted else None, k,
                metrics.mean_acceptance_length(c) if counted else None,
                metrics.draft_acceptance_rate(c) if t.draft_tokens is not None else None,
                metrics.alpha(c) if k and counted else None, cond, uncond, notes)
    return _with_gauges(r, gauges or {})


def _limits(engine: str, t: Totals) -> list[str]:
    """What an engine's counters cannot give, in plain words."""
    name, k, notes = NAMES[engine], t.k, []
    if engine == "tgi":
        notes += ["TGI's tgi_request_skipped_tokens histogram gives τ (one observation per generation step, "
                  "each request's first step included) but counts neither drafted tokens nor rejections: "
                  "no draft acceptance rate, no α, no per-position acceptance", ARCHIVED]
    elif engine == "sglang":
        notes.append("SGLang's counters give τ over any window (Δ generated tokens ÷ Δ verify calls; each "
                     "request's first token, made by its prefill and not by a verify call, is included) but "
                     "count no drafted tokens and no rejections: no vLLM-style rate from counters, no α, no "
                     "per-position acceptance")
    elif engine == "trtllm" and t.drafts is None:
        notes.append("TensorRT-LLM's totals count drafted and accepted tokens but no verify passes, and this "
                     "server exposes no per-position counters (trtllm_spec_decode_{drafted,accepted}_tokens_total"
                     "{token_position}): no τ from counters, no α, no per-position acceptance")
    elif engine == "trtllm":
        notes.append("TensorRT-LLM adds a request's per-position counts when it finishes: requests still "
                     "running are not in these numbers (its num_*_tokens totals, counted every iteration, "
                     "are not mixed in)")
    elif k is None:
        notes.append("this server exposes no per-position counters, so α cannot be separated from τ (and "
                     "there is no per-position acceptance)" +
                     (" (llama.cpp adds them with its first speculative request)" if engine == "llamacpp" else ""))
    if t.draft_tokens is None and engine in SCHEMA:
        notes.append(f"no num_draft_tokens counter: {name}'s draft acceptance rate is not available")
    return notes


def _sizes(name: str, t: Totals) -> list[str]:
    """Nothing drafted; drafts of varying length make α and the later positions' rates bounds (which)."""
    k = t.k
    if t.drafts == 0 or (t.drafts is None and not t.draft_tokens):
        return ["no drafts were verified (no traffic in this window, or nothing speculated)"]
    if not k or not t.drafts:
        return []
    if t.drafted_pos:
        if all(d >= t.drafts for d in t.drafted_pos):
            return []
        shown = " · ".join(f"{d:.0f}" for d in _padded(t.drafted_pos, k))
        return [f"drafts were of varying length (drafted at positions 1 … {k}: {shown}): the checks at each "
                "position are bounded from above, so α and the later positions' conditional rates are lower bounds"]
    if t.draft_tokens is None:
        return []
    per = t.draft_tokens / t.drafts
    if per < k * 0.999:
        return [f"some drafts were shorter than k = {k} ({per:.2f} draft tokens per draft): the per-position "
                "counters assume k positions per draft, so α and the later positions' rates are lower bounds"]
    if per > k * 1.001:
        return [f"drafts were longer than the k = {k} position counters ({per:.2f} draft tokens per draft; "
                f"{name} adds a position when it is first accepted): a draft that reached position k counts "
                "as fully accepted, so α is an upper bound"]
    return []


def _with_gauges(r: Readout, gauges: dict[str, list[float]]) -> Readout:
    """Show the engine's windowed gauges beside; τ (and SGLang's rate) from them only when counters give none."""
    if not gauges:
        return r
    tau_name, rate_name = GAUGES[r.engine][0], "spec_accept_rate"
    values = {n: [x for x in v if x > 0] if n == tau_name else v for n, v in gauges.items()}  # τ 0: no decode step
    order = sorted(values, key=lambda n: n != tau_name)  # τ's gauge first
    r.gauges = {GAUGE_PREFIX[r.engine] + n: sum(values[n]) / len(values[n]) for n in order if values[n]}
    tau = r.gauges.get(GAUGE_PREFIX[r.engine] + tau_name)
    if r.tau is None and tau is not None:
        r.tau, r.tau_from = r.gauges.pop(GAUGE_PREFIX[r.engine] + tau_name), WINDOWED
        r.missing.append(f"τ here is {GAUGE_PREFIX[r.engine]}{tau_name}, {WINDOWED}: on a busy server it can "
                         "differ a lot from the run's average")
        if r.rate is None and GAUGE_PREFIX[r.engine] + rate_name in r.gauges:
            r.rate, r.rate_from = r.gauges.pop(GAUGE_PREFIX[r.engine] + rate_name), WINDOWED
    elif r.tau is None and tau_name in gauges:
        r.missing.append(f"the gauges read 0: no decode step in {r.name}'s latest window")
    ranks = max(map(len, gauges.values()))
    if ranks > 1:
        r.missing.append(f"{ranks} ranks report these gauges; shown is their plain mean")
    return r


def readout_gauges(engine: str, model: str, gauges: dict[str, list[float]]) -> Readout:
    """A model with windowed gauges and no counters (SGLang before its verify-call counter)."""
    counter = {"sglang": SGLANG_VERIFY + " counter (newer builds have it)",
               "trtllm": "trtllm_spec_decode_*_tokens_total counters"}[engine]
    note = (f"this {NAMES[engine]} server exposes no {counter}, only gauges over its latest window: they "
            "give no Leviathan α, no per-position acceptance, no draft length, and no counts to pool; the "
            "trend is the gauge values at each scrape, not weighted by traffic")
    return _with_gauges(Readout(engine, model, None, None, None, None, None, None, [], [], [note]), gauges)


def readouts(scrape: Scrape) -> dict[str, Readout]:
    """model -> its readout over the server's lifetime (since its last restart)."""
    return {m: readout_totals(scrape.engine, m, scrape.totals[m], scrape.gauges.get(m)) if m in scrape.totals
            else readout_gauges(scrape.engine, m, scrape.gauges[m]) for m in scrape.models}


def what_if(alpha: float, k: int) -> list[dict]:
    """An estimate, not a measurement: Leviathan's E[τ] at the measured α for γ = k − 1, k, k + 1."""
    return [{"gamma": g, "expected_tau": theory.expected_acceptance_length(alpha, g),
             "expected_draft_acceptance_rate": theory.draft_acceptance_rate_expected(alpha, g)}
            for g in (k - 1, k, k + 1) if g >= 1]


def line(r: Readout) -> str:
    """One line of a readout for the terminal."""
    gauge = " (windowed gauge)"
    parts = [f"{r.drafts} {PASSES.get(r.engine, 'drafts')}" if r.drafts is not None else "verify passes not counted",
             f"τ {num(r.tau)}" + (gauge if r.tau_from != COUNTERS else ""),
             f"α {num(r.alpha)}" + (f" (k = {r.k})" if r.k else ""),
             f"accepted ÷ drafted {num(r.rate)}" + (gauge if r.rate_from != COUNTERS else "")]
    if r.unconditional:
        parts.append("per position " + " ".join(num(v) for v in r.unconditional) + " of all drafts, "
                     + " ".join(num(v) for v in r.conditional) + " given the earlier ones")
    if r.gauges:
        parts.append("gauges " + ", ".join(f"{n} {v:.2f}" for n, v in r.gauges.items()) + " (last window)")
    return " · ".join(parts)


# ----------------------------------------------------------------------------- watching over time

@dataclass
class Point:
    """One window between two scrapes (gauges only: the gauges at one scrape)."""

    at: float
    seconds: float | None
    readout: Readout
    restarted: bool = False
    name: str | None = None  # saved copies: "first → second" file names


class Watch:
    """Successive scrapes of one server: windows from counter deltas, restarts detected."""

    def __init__(self):
        self.last: Scrape | None = None
        self.points: dict[str, list[Point]] = {}  # model -> windows, oldest first
        self.watched: dict[str, Totals] = {}  # model -> sum of the windows (restarts handled)
        self.events: list[str] = []  # restarts, changes of server, in order

    def add(self, scrape: Scrape) -> list[str]:
        """Take one scrape; returns what happened worth saying (a restart, a new server)."""
        said = []
        if self.last is not None and self.last.engine != scrape.engine:
            said.append(f"the page now shows {NAMES[scrape.engine]} metrics instead of "
                        f"{NAMES[self.last.engine]}: started a new watch")
            self.__init__()
        for m in scrape.models:
            gauges = scrape.gauges.get(m)
            if m not in scrape.totals:  # gauges only: each scrape is its own (latest) window
                self._point(m, scrape, readout_gauges(scrape.engine, m, gauges))
                continue
            before = self.last.totals.get(m) if self.last else None
            if before is None:
                continue
            window, restarted = scrape.totals[m].minus(before)
            if restarted:
                said.append(f"{m or 'the server'} restarted between {_when(self.last)} and {_when(scrape)} "
                            "(its counters went back to zero): that window counts only what happened since "
                            "the restart")
            self.watched[m] = self.watched[m] + window if m in self.watched else window
            self._point(m, scrape, readout_totals(scrape.engine, m, window, gauges), restarted)
        self.last = scrape
        self.events += said
        return said

    def _point(self, model: str, scrape: Scrape, r: Readout, restarted: bool = False) -> None:
        before = self.last if self.last is not None and r.counts is not None else None
        name = f"{before.name} → {scrape.name}" if before and before.name and scrape.name else scrape.name
        self.points.setdefault(model, []).append(
            Point(scrape.at, scrape.at - before.at if before else None, r, restarted, name))

    def since_watching(self, model: str) -> Readout | None:
        t = self.watched.get(model)
        return readout_totals(self.last.engine, model, t) if t is not None and self.last else None


def trend(points: list[Point]) -> dict | None:
    """α (or τ) in the first vs the second half of the windows, pooled by drafts (counters) or
    averaged (gauges); None with fewer than two windows that saw drafts."""
    live = [p for p in points if p.readout.tau is not None and p.readout.drafts != 0]
    if len(live) < 2:
        return None
    half = len(live) // 2
    out = {"windows": len(live), "from": live[0].at, "to": live[-1].at}
    for name, part in (("first", live[:half]), ("second", live[half:])):
        if part[0].readout.drafts is not None:
            pooled = sum((p.readout.counts for p in part), Counts())
            k = part[-1].readout.k
            out[name] = {"tau": metrics.mean_acceptance_length(pooled),
                         "alpha": metrics.alpha(pooled) if k and all(p.readout.k == k for p in part) else None}
        else:
            out[name] = {"tau": sum(p.readout.tau for p in part) / len(part), "alpha": None}
    return out


def _when(scrape: Scrape) -> str:
    return scrape.name or time.strftime("%H:%M:%S", time.localtime(scrape.at))
