"""Per-request readings: the speculative-decoding numbers a server returns with each response.

vLLM (`--per-request-spec-decode-metrics summary`, experimental) returns
metrics.speculative_decoding: num_spec_steps (verify passes), num_draft_tokens,
num_accepted_draft_tokens, num_spec_tokens (k) and acceptance_histogram (index j: the steps that
accepted exactly j drafted tokens). Position i was accepted in Σ_{j>i} hist[j] steps, so the
histogram gives τ, α and per-position acceptance with the same definitions as the counters.
llama.cpp's server returns timings.draft_n and timings.draft_n_accepted: drafted and accepted
tokens, but not how many verify passes ran, so no τ. MLX servers (mlx-vlm) mirror those names
and add draft_rounds, the verify passes.

A paste or a file holds one response (JSON), a list of them, or JSON lines: one response per
line, with a stream's "data: " prefixes and its [DONE] line skipped.
"""
import json
import statistics
from dataclasses import dataclass, field

from ...numbers import num
from .fetch import ScrapeError
from .prometheus import NAMES, OWN_RATE, Totals
from .readout import Readout, readout_totals

MIN_SPREAD = 5  # requests needed before any is called an outlier
REACH, REACH_FLOOR = 1.5, 0.05  # Tukey's fences, at least 5 % of the median wide (equal requests)
HINTS = ("easy drafts, e.g. a repetition loop or copied text", "text the draft does not predict")
LIMITS = {
    "vllm": [],
    "llamacpp": ["llama.cpp's timings give drafted (draft_n) and accepted (draft_n_accepted) tokens but not "
                 "how many verify passes ran: no τ, no acceptance histogram, no α, no per-position acceptance "
                 "(predicted_n − draft_n_accepted counts every target pass, the prompt's and those that "
                 "drafted nothing included, so it is not the verify count)"],
    "mlx": ["MLX's timings give verify passes (draft_rounds), drafted and accepted tokens: τ and the rate, "
            "but no acceptance histogram, no α, no per-position acceptance"],
}


class _Skip(Exception):
    """One response that cannot be read: why, in one line."""


@dataclass
class Request:
    """One response's numbers, with the app's definitions."""

    label: str  # the response's id, or where it was in the file
    engine: str  # "vllm" | "llamacpp" | "mlx"
    totals: Totals  # its counts, as the engine returned them
    readout: Readout
    histogram: list[int] | None = None  # vLLM: verify steps that accepted exactly j drafted tokens
    outlier: str = ""  # how far out it is ("" when it is not an outlier)
    hint: str = ""  # what often makes a request land there

    def cells(self) -> dict:
        """The request as one table row (CLI and page)."""
        r = self.readout
        return {"request": self.label, "verify passes": num(r.drafts, "d"), "drafted": r.counts.drafted,
                "accepted": r.counts.accepted, "τ": num(r.tau), "accepted ÷ drafted": num(r.rate, ".3f"),
                "α": num(r.alpha, ".3f"), "histogram": " · ".join(map(str, self.histogram or [])) or "n/a",
                "outlier": {HINTS[0]: "above", HINTS[1]: "below"}.get(self.hint, "")}


@dataclass
class Spread:
    """How the requests differ, on τ (or on the rate where τ is unknown)."""

    by: str  # "τ" | "accepted ÷ drafted"
    values: list[float]
    median: float
    quartiles: tuple[float, float] | None  # None: too few requests for fences
    fences: tuple[float, float] | None


@dataclass
class Reading:
    """A file or paste of responses: each request, all of them pooled, their spread."""

    engine: str
    requests: list[Request]
    pooled: Readout  # every verify pass counted once (long requests weigh more)
    histogram: list[int] | None  # summed over the requests (vLLM)
    spread: Spread | None
    skipped: list[str] = field(default_factory=list)  # what was not read, and why

    @property
    def own_rate(self) -> str:
        return OWN_RATE[self.engine]


def looks_like_responses(text: str) -> bool:
    """Whether a text is responses (JSON, JSON lines, a stream) rather than a /metrics page."""
    start = text.lstrip().lstrip("\ufeff")
    return start[:1] in ("{", "[") or start.startswith("data:")


def read(text: str) -> Reading:
    """Responses (JSON, a JSON list or JSON lines) -> their per-request readings, or one clear error."""
    items, skipped = _items(text)
    requests = []
    for where, obj in items:
        try:
            q = _request(where, obj)
        except _Skip as e:
            skipped.append(f"{where}: {e}")
            continue
        if q is not None:
            requests.append(q)
    if not requests and skipped:
        raise ScrapeError(f"no response could be read: {skipped[0]}")
    if not requests:
        raise ScrapeError(f"none of the {len(items)} response(s) carries speculative-decoding numbers: "
                          "vLLM adds metrics.speculative_decoding with --per-request-spec-decode-metrics "
                          "summary; llama.cpp and MLX add timings.draft_n when a draft model ran")
    engines = sorted({q.engine for q in requests})
    if len(engines) > 1:
        raise ScrapeError(f"these responses mix {' and '.join(NAMES[e] for e in engines)}: read one engine at a time")
    return _reading(requests, skipped)


def _items(text: str) -> tuple[list[tuple[str, object]], list[str]]:
    """(where, JSON value) for each response, and the lines that are not JSON."""
    text = text.strip().lstrip("\ufeff")
    if not text:
        raise ScrapeError("nothing to read: paste a response, or give a .json or .jsonl file of them")
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        whole = None
    if isinstance(whole, list):
        return [(f"item {i + 1}", o) for i, o in enumerate(whole)], []
    if whole is not None:
        return [("the response", whole)], []
    items, bad = [], []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        line = line[5:].strip() if line.startswith("data:") else line
        if not line or line == "[DONE]" or line.startswith(":"):  # blank, end of stream, SSE comment
            continue
        try:
            items.append((f"line {n}", json.loads(line)))
        except json.JSONDecodeError:
            bad.append(n)
    if not items:
        looks = " (it looks like a Prometheus metrics page: read it as one)" if text[:1] == "#" or \
            "{" in text.splitlines()[0] and not text.startswith("{") else ""
        raise ScrapeError(f"this is neither a JSON response nor JSON lines{looks}: line {bad[0]} is not JSON")
    shown = ", ".join(map(str, bad[:5])) + (" …" if len(bad) > 5 else "")
    return items, [f"{len(bad)} line(s) that are not JSON (line {shown})"] if bad else []


def _count(d: dict, key: str) -> int:
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or v != int(v):
        raise _Skip(f"{key} is {json.dumps(v)[:40]}, not a count")
    return int(v)


def _request(where: str, obj) -> Request | None:
    """One response's numbers; None when it carries none (a stream chunk, another endpoint)."""
    if not isinstance(obj, dict):
        raise _Skip("not a JSON object")
    label = str(obj.get("id") or where)[:80]
    metrics = obj.get("metrics")
    spec = metrics.get("speculative_decoding") if isinstance(metrics, dict) else None
    if isinstance(spec, dict):
        return _vllm(label, spec)
    timings = obj.get("timings")
    if isinstance(timings, dict) and "draft_n" in timings:
        return _timings(label, timings)
    return None


def _vllm(label: str, d: dict) -> Request:
    steps, drafted, accepted, k = (_count(d, n) for n in ("num_spec_steps", "num_draft_tokens",
                                                          "num_accepted_draft_tokens", "num_spec_tokens"))
    hist = d.get("acceptance_histogram")
    if hist is not None:
        if not isinstance(hist, list) or len(hist) != k + 1:
            raise _Skip(f"acceptance_histogram should list k + 1 = {k + 1} counts (num_spec_tokens = {k})")
        hist = [_count({"acceptance_histogram entry": h}, "acceptance_histogram entry") for h in hist]
        if sum(hist) != steps or sum(j * n for j, n in enumerate(hist)) != accepted:
            raise _Skip("acceptance_histogram does not add up to num_spec_steps and num_accepted_draft_tokens")
    if accepted > drafted:
        raise _Skip("more draft tokens accepted than drafted")
    per_pos = tuple(sum(hist[i + 1:]) for i in range(k)) if hist else None
    limits = [] if hist else ["this response has no acceptance_histogram: no α, no per-position acceptance"]
    t = Totals(steps, accepted, drafted, per_pos)
    r = readout_totals("vllm", label, t, limits=limits)
    own = d.get("mean_acceptance_length")
    if isinstance(own, (int, float)) and r.tau is not None and abs(own - r.tau) > 1e-6 * r.tau:
        r.missing.append(f"vLLM's own mean_acceptance_length {own:.3f} differs from 1 + accepted ÷ steps = "
                         f"{r.tau:.3f}: the response's numbers disagree")
    return Request(label, "vllm", t, r, hist)


def _timings(label: str, t: dict) -> Request:
    drafted, accepted = _count(t, "draft_n"), _count(t, "draft_n_accepted")
    if accepted > drafted:
        raise _Skip("draft_n_accepted is larger than draft_n")
    engine = "mlx" if "draft_rounds" in t else "llamacpp"
    totals = Totals(_count(t, "draft_rounds") if engine == "mlx" else None, accepted, drafted)
    return Request(label, engine, totals, readout_totals(engine, label, totals, limits=LIMITS[engine]))


def _reading(requests: list[Request], skipped: list[str]) -> Reading:
    engine, total = requests[0].engine, requests[0].totals
    for q in requests[1:]:
        total = total + q.totals
    hists = [q.histogram for q in requests]
    same = all(h and len(h) == len(hists[0]) for h in hists)
    pooled = readout_totals(engine, "all requests", total, limits=LIMITS[engine] if engine != "vllm" else
                            ([] if same else ["the requests' acceptance histograms differ in length"]))
    spread = _spread(requests)
    return Reading(engine, requests, pooled, [sum(c) for c in zip(*hists)] if same else None, spread, skipped)


def _spread(requests: list[Request]) -> Spread | None:
    by = "τ" if all(q.readout.tau is not None for q in requests) else "accepted ÷ drafted"
    pairs = [(q, q.readout.tau if by == "τ" else q.readout.rate) for q in requests]
    pairs = [(q, v) for q, v in pairs if v is not None]
    if len(pairs) < 2:
        return None
    values = [v for _, v in pairs]
    median = statistics.median(values)
    if len(values) < MIN_SPREAD:
        return Spread(by, values, median, None, None)
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    reach = max(REACH * (q3 - q1), REACH_FLOOR * abs(median))
    low, high = q1 - reach, q3 + reach
    for q, v in pairs:
        if v > high:
            q.outlier, q.hint = f"{by} {v:.2f} above the others (> {high:.2f})", HINTS[0]
        elif v < low:
            q.outlier, q.hint = f"{by} {v:.2f} below the others (< {low:.2f})", HINTS[1]
    return Spread(by, values, median, (q1, q3), (low, high))
