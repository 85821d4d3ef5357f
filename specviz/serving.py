"""Bring your own server: a vLLM, SGLang or TGI deployment's speculative-decoding metrics,
read from its Prometheus /metrics page and turned into the same numbers as SpecViz's runs.

vLLM counts (cumulative counters, summed over engines):
  vllm:spec_decode_num_drafts_total                         drafts (target passes that verified a draft)
  vllm:spec_decode_num_draft_tokens_total                   drafted tokens
  vllm:spec_decode_num_accepted_tokens_total                accepted drafted tokens
  vllm:spec_decode_num_accepted_tokens_per_pos_total{position="i"}  drafts whose position i was accepted
With a fixed draft length k (one per-position counter per position) they fill metrics.Counts:
passes = drafts, drafted_at[i] = drafts, checked_at[i] = accepted_at[i−1] (checked_at[0] = drafts),
rejections = drafts − accepted_at[k−1]. metrics.py then gives τ = 1 + accepted ÷ drafts, vLLM's
draft acceptance rate accepted ÷ draft tokens, per-position acceptance (unconditional
accepted_at[i] ÷ drafts, conditional accepted_at[i] ÷ accepted_at[i−1]) and Leviathan's
α̂ = accepted ÷ (accepted + drafts − accepted_at[k−1]).
SGLang publishes two gauges over its latest logging window, sglang:spec_accept_length (τ) and
sglang:spec_accept_rate: τ and that rate, nothing more. TGI's tgi_request_skipped_tokens
histogram (one observation per generation step, the tokens that step added beyond one) gives τ.

Counters only grow; a counter that went down between two scrapes means the server restarted.
Fetching is deliberately plain: http(s) only, a timeout, a size cap, no redirects to another
scheme, the answer parsed as text by prometheus_client's parser and never evaluated. A server
hosted for strangers sets SPECVIZ_PUBLIC_ONLY=1: then every connection (redirects included) must
reach a public address, so a URL cannot make it read its own network (loopback, private ranges,
cloud metadata at 169.254.169.254).
"""
import http.client
import ipaddress
import math
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

from . import metrics
from .errors import RunError, first_line

TIMEOUT_S = 5.0
MAX_BYTES = 10 * 2**20  # vLLM's whole /metrics page is a few hundred KiB
VLLM = "vllm:spec_decode_num_"
SGLANG = ("sglang:spec_accept_length", "sglang:spec_accept_rate")
TGI = "tgi_request_skipped_tokens"
PUBLISHED_VERIFY = (  # the verify-cost caveat, a published figure (never a measurement here)
    "Published, not measured here: Liu, Yu, Park, Stoica and Cheung, “Speculative Decoding: "
    "Performance or Illusion?” (arXiv:2601.11580), benchmarking vLLM on H100 GPUs at batch sizes "
    "1–128, report that verification by the target takes 42–95 % of execution time and that "
    "speedups shrink as the batch grows (the GPU becomes compute-bound).")


class ScrapeError(RunError):
    """A metrics URL or payload that cannot be read: one line saying why (CLI exit code 2)."""


# ----------------------------------------------------------------------------- fetching

def fetch(url: str, token: str | None = None, timeout: float | None = None,
          max_bytes: int = MAX_BYTES) -> str:
    """The text of a /metrics page. The bearer token goes only to the URL's own origin."""
    timeout = TIMEOUT_S if timeout is None else timeout
    url, token = url.strip(), (token or "").strip() or None
    parts = _split(url)
    if token and any(ch.isspace() or ord(ch) < 32 for ch in token):
        raise ScrapeError("the bearer token contains spaces or control characters: paste the token alone")
    req = urllib.request.Request(url, headers={"Accept": "text/plain", "User-Agent": "SpecViz"})
    if token:  # unredirected: never forwarded by urllib itself; _Redirects re-adds it same-origin only
        req.add_unredirected_header("Authorization", f"Bearer {token}")
    opener = urllib.request.OpenerDirector()
    plain, tls = ((_PublicHTTPHandler(), _PublicHTTPSHandler()) if public_only() else
                  (urllib.request.HTTPHandler(), urllib.request.HTTPSHandler()))
    for handler in (plain, tls,
                    urllib.request.HTTPErrorProcessor(), urllib.request.HTTPDefaultErrorHandler(),
                    _Redirects(_origin(parts), token)):  # no proxy, file:, ftp: or data: handlers
        opener.add_handler(handler)
    deadline = time.monotonic() + timeout
    try:
        with opener.open(req, timeout=timeout) as resp:
            length = resp.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > max_bytes:
                raise _too_big(max_bytes)
            return decode(_read_capped(resp, max_bytes, deadline, timeout), max_bytes)
    except ScrapeError:
        raise
    except urllib.error.HTTPError as e:
        raise ScrapeError(_http_error(e.code, e.reason)) from None
    except urllib.error.URLError as e:
        raise ScrapeError(_network_error(parts, e.reason, timeout)) from None
    except (TimeoutError, socket.timeout):
        raise ScrapeError(f"{parts.netloc} sent no answer within {timeout:g} s; SpecViz kept what it had") from None
    except (OSError, ValueError, http.client.HTTPException) as e:  # reset, bad status line, ...
        raise ScrapeError(f"{parts.netloc} did not answer like an HTTP server "
                          f"({type(e).__name__}: {first_line(e, 120)})") from None


def _split(url: str) -> urllib.parse.SplitResult:
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as e:
        raise ScrapeError(f"not a valid URL ({first_line(e, 100)}): use e.g. http://host:8000/metrics") from None
    if parts.scheme not in ("http", "https"):
        shown = f"{parts.scheme}:" if parts.scheme else "no scheme"
        raise ScrapeError(f"only http:// and https:// URLs are read (got {shown}): use e.g. "
                          "http://host:8000/metrics")
    if not parts.hostname:
        raise ScrapeError("the URL has no host: use e.g. http://host:8000/metrics")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise ScrapeError("the URL contains spaces or control characters")
    return parts


def public_only() -> bool:
    return os.environ.get("SPECVIZ_PUBLIC_ONLY", "").strip() not in ("", "0")


def refused(ip: str) -> bool:
    """Whether a public-only server refuses this address (anything not globally routable)."""
    addr = ipaddress.ip_address(ip.split("%")[0])
    mapped = getattr(addr, "ipv4_mapped", None)
    return not (mapped or addr).is_global


def _public_socket(address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None):
    """socket.create_connection that refuses to stay connected to a non-public address.

    The check is on the address actually reached, after DNS, so a name that resolves to
    127.0.0.1 (or changes its answer between a check and the connection) is refused too."""
    sock = socket.create_connection(address, timeout, source_address)
    ip = sock.getpeername()[0]
    if refused(ip):
        sock.close()
        raise ScrapeError(f"{address[0]} is not a public address ({ip}: loopback, private, link-local "
                          "or reserved); this server reads only public addresses (SPECVIZ_PUBLIC_ONLY is set)")
    return sock


class _PublicConnection:
    """Mixin: an http.client connection that connects through _public_socket."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = _public_socket  # http.client sets it per instance


class _PublicHTTP(_PublicConnection, http.client.HTTPConnection):
    pass


class _PublicHTTPS(_PublicConnection, http.client.HTTPSConnection):
    pass


class _PublicHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(_PublicHTTP, req)


class _PublicHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req):
        return self.do_open(_PublicHTTPS, req, context=self._context)


def _origin(parts) -> tuple:
    return parts.scheme, (parts.hostname or "").lower(), parts.port or {"http": 80, "https": 443}[parts.scheme]


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follow at most 3 redirects, http(s) only; the token only to the original origin."""

    max_redirections = 3

    def __init__(self, origin: tuple, token: str | None):
        self.origin, self.token = origin, token

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and self.token and _origin(urllib.parse.urlsplit(newurl)) == self.origin:
            new.add_unredirected_header("Authorization", f"Bearer {self.token}")
        return new

    def http_error_302(self, req, fp, code, msg, headers):
        # urllib refuses non-http schemes with a bare "HTTP Error 302"; say what happened instead
        where = urllib.parse.urljoin(req.full_url, headers.get("location") or headers.get("uri") or "")
        scheme = urllib.parse.urlsplit(where).scheme
        if scheme not in ("http", "https"):
            raise ScrapeError(f"the server redirected to a {scheme or 'scheme-less'} URL; only "
                              "http(s) redirects are followed")
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


def _read_capped(resp, max_bytes: int, deadline: float, timeout: float) -> bytes:
    """Read at most max_bytes, giving up at the deadline (a server trickling bytes is slow too)."""
    chunks, size = [], 0
    read = getattr(resp, "read1", resp.read)
    while True:
        chunk = read(65536)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise _too_big(max_bytes)
        if time.monotonic() > deadline:
            raise ScrapeError(f"the server answered too slowly (not done after {timeout:g} s); "
                              "SpecViz kept what it had")
        chunks.append(chunk)


def _too_big(max_bytes: int) -> ScrapeError:
    return ScrapeError(f"the answer is larger than {max_bytes // 2**20} MiB: that is not a "
                       "metrics page SpecViz reads (a /metrics page is a few hundred KiB)")


def _http_error(code: int, reason) -> str:
    hint = {401: ": the server wants a bearer token (or a different one)",
            403: ": the token is not allowed to read this page",
            404: ": check the path (vLLM, SGLang and TGI serve /metrics)"}.get(code, "")
    return f"the server answered HTTP {code} {reason or ''}".rstrip() + hint


def _network_error(parts, reason, timeout: float) -> str:
    if isinstance(reason, ScrapeError):
        return str(reason)
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return f"{parts.netloc} sent no answer within {timeout:g} s; SpecViz kept what it had"
    if isinstance(reason, ConnectionRefusedError):
        return f"nothing is listening at {parts.netloc} (connection refused): is the server up, and the port right?"
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve the host {parts.hostname!r}: check the spelling"
    return f"cannot reach {parts.netloc}: {first_line(reason if isinstance(reason, BaseException) else Exception(reason), 150)}"


def decode(body: bytes, max_bytes: int = MAX_BYTES) -> str:
    """Bytes of a metrics page (fetched or uploaded) as text, or one clear error."""
    if len(body) > max_bytes:
        raise _too_big(max_bytes)
    if b"\x00" in body:
        raise ScrapeError("the answer is binary data, not a Prometheus text metrics page")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise ScrapeError("the answer is not UTF-8 text, so not a Prometheus metrics page") from None


# ----------------------------------------------------------------------------- parsing

@dataclass
class Totals:
    """One model's cumulative counters (vLLM, or TGI's histogram), summed over engines."""

    drafts: float  # vLLM: drafts; TGI: generation steps
    accepted: float
    draft_tokens: float | None = None  # None: the server does not count drafted tokens (TGI)
    per_pos: tuple[float, ...] | None = None  # accepted at position i; None: not exposed
    created: float | None = None  # the counters' creation time, when exposed (restart marker)

    def minus(self, before: "Totals") -> tuple["Totals", bool]:
        """What happened between two scrapes, and whether the server restarted in between.

        A counter that went down (or a new creation time) means a restart: the new values
        are then everything since the restart (Prometheus's rate() does the same).
        """
        pairs = [(self.drafts, before.drafts), (self.accepted, before.accepted),
                 (self.draft_tokens or 0, before.draft_tokens or 0)]
        pairs += list(zip(self.per_pos or (), before.per_pos or ()))
        restarted = any(now < then for now, then in pairs) or (
            self.created is not None and before.created is not None and self.created != before.created)
        restarted |= len(self.per_pos or ()) != len(before.per_pos or ())  # k changed: a new config
        if restarted:
            return self, True
        return Totals(self.drafts - before.drafts, self.accepted - before.accepted,
                      None if self.draft_tokens is None else self.draft_tokens - (before.draft_tokens or 0),
                      None if self.per_pos is None else tuple(a - b for a, b in zip(self.per_pos, before.per_pos)),
                      self.created), False

    def __add__(self, other: "Totals") -> "Totals":
        pos = None
        if self.per_pos is not None and other.per_pos is not None and len(self.per_pos) == len(other.per_pos):
            pos = tuple(a + b for a, b in zip(self.per_pos, other.per_pos))
        tokens = None if self.draft_tokens is None or other.draft_tokens is None else self.draft_tokens + other.draft_tokens
        return Totals(self.drafts + other.drafts, self.accepted + other.accepted, tokens, pos, other.created)

    def counts(self) -> metrics.Counts:
        """These counters as metrics.Counts (fixed draft length k = number of position counters)."""
        c = metrics.Counts(passes=int(self.drafts), accepted=int(self.accepted),
                           drafted=int(self.draft_tokens or 0), tokens=int(self.drafts + self.accepted))
        if self.per_pos:
            at = [int(v) for v in self.per_pos]
            c.drafted_at = [int(self.drafts)] * len(at)
            c.checked_at = [int(self.drafts)] + at[:-1]
            c.accepted_at = at
            c.rejections = int(self.drafts) - at[-1]
        return c


@dataclass
class Gauges:
    """SGLang's latest-window gauges for one model (mean over its ranks when there are several)."""

    accept_length: float | None
    accept_rate: float | None
    ranks: int = 1


@dataclass
class Scrape:
    """One reading of a metrics page."""

    at: float  # unix time
    engine: str  # "vllm" | "sglang" | "tgi"
    totals: dict[str, Totals] = field(default_factory=dict)  # vLLM / TGI: model -> counters
    gauges: dict[str, Gauges] = field(default_factory=dict)  # SGLang: model -> gauges
    families: int = 0

    @property
    def models(self) -> list[str]:
        return sorted(self.totals or self.gauges)


def parse(text: str, at: float | None = None) -> Scrape:
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
            " (it looks like JSON)" if text.lstrip()[:1] in "{[" else ""
        raise ScrapeError(f"this is not a Prometheus metrics page{looks}: its lines are not "
                          "`name{labels} value`") from None
    samples = [s for f in families for s in f.samples]
    if any(s.name.startswith(VLLM) for s in samples):
        return Scrape(at, "vllm", totals=_vllm(samples), families=len(families))
    if any(s.name in SGLANG for s in samples):
        return Scrape(at, "sglang", gauges=_sglang(samples), families=len(families))
    if any(s.name.startswith(TGI + "_") for s in samples):
        return Scrape(at, "tgi", totals=_tgi(samples), families=len(families))
    seen = "vLLM without its spec_decode counters" if any(s.name.startswith("vllm:") for s in samples) else \
        "SGLang without its spec_accept gauges" if any(s.name.startswith("sglang:") for s in samples) else \
        f"{len(families)} metric families, none of them vLLM's, SGLang's or TGI's"
    raise ScrapeError(f"no speculative-decoding metrics on this page ({seen}): is speculative "
                      "decoding enabled on the server? SpecViz reads vllm:spec_decode_*, "
                      "sglang:spec_accept_* and tgi_request_skipped_tokens")


def _value(s) -> float:
    if not math.isfinite(s.value) or s.value < 0:
        raise ScrapeError(f"{s.name} has the value {s.value}: counters are finite and never negative")
    return float(s.value)


def _vllm(samples) -> dict[str, Totals]:
    raw: dict[str, dict] = {}
    for s in samples:
        if not s.name.startswith(VLLM):
            continue
        model = s.labels.get("model_name", "")
        d = raw.setdefault(model, {"drafts": 0.0, "draft_tokens": 0.0, "accepted": 0.0, "pos": {},
                                   "have": set(), "created": None})
        name = s.name[len(VLLM):]
        if name.endswith("_created"):
            if name == "drafts_created":
                d["created"] = max(d["created"] or 0.0, _value(s))
            continue
        name = name.removesuffix("_total")
        if name == "accepted_tokens_per_pos":
            pos = s.labels.get("position", "")
            if not pos.isdigit():
                raise ScrapeError(f"a per-position counter has position={pos!r}: expected 0, 1, 2, ...")
            d["pos"][int(pos)] = d["pos"].get(int(pos), 0.0) + _value(s)
        elif name in ("drafts", "draft_tokens", "accepted_tokens"):
            key = "accepted" if name == "accepted_tokens" else name
            d[key] += _value(s)
            d["have"].add(key)
    out = {}
    for model, d in raw.items():
        if "drafts" not in d["have"] or "accepted" not in d["have"]:
            raise ScrapeError(f"vLLM's spec_decode counters are incomplete for {model or 'the model'}: "
                              "SpecViz needs at least num_drafts and num_accepted_tokens")
        pos = d["pos"]
        if pos and sorted(pos) != list(range(len(pos))):
            raise ScrapeError(f"the per-position counters have positions {sorted(pos)}: expected 0 .. k−1")
        per_pos = tuple(pos[i] for i in range(len(pos))) if pos else None
        out[model] = Totals(d["drafts"], d["accepted"], d["draft_tokens"] if "draft_tokens" in d["have"] else None,
                            per_pos, d["created"])
    return out


def _sglang(samples) -> dict[str, Gauges]:
    found: dict[str, dict[str, list[float]]] = {}
    for s in samples:
        if s.name in SGLANG:
            found.setdefault(s.labels.get("model_name", ""), {}).setdefault(s.name, []).append(_value(s))
    out = {}
    for model, g in found.items():
        lengths = [v for v in g.get(SGLANG[0], []) if v > 0]  # 0: no decode step in the window
        rates = g.get(SGLANG[1], [])
        out[model] = Gauges(sum(lengths) / len(lengths) if lengths else None,
                            sum(rates) / len(rates) if rates and lengths else None,
                            max(len(g.get(SGLANG[0], [])), 1))
    return out


def _tgi(samples) -> dict[str, Totals]:
    got = {s.name: s for s in samples if s.name in (TGI + "_sum", TGI + "_count")}
    if len(got) < 2:
        raise ScrapeError(f"TGI's {TGI} has no _sum and _count: SpecViz cannot compute τ from it")
    return {"": Totals(_value(got[TGI + "_count"]), _value(got[TGI + "_sum"]))}


# ----------------------------------------------------------------------------- the numbers

@dataclass
class Readout:
    """Every number a scrape (or a window between two) allows, from the one metrics module."""

    engine: str
    model: str
    counts: metrics.Counts | None  # None for SGLang's gauges
    k: int | None  # the fixed draft length (vLLM: one per-position counter per position)
    tau: float | None  # τ, tokens per target pass that verified a draft
    rate: float | None  # vLLM's accepted ÷ draft tokens, or SGLang's spec_accept_rate
    alpha: float | None  # Leviathan's α (needs per-position counters)
    conditional: list[float | None]  # per position, given the earlier ones were accepted
    unconditional: list[float | None]  # per position, of all drafts (vLLM's survival curve)
    missing: list[str]  # what these metrics cannot give, in plain words

    @property
    def drafts(self) -> int:
        return self.counts.passes if self.counts else 0

    @property
    def expected_tau(self) -> float | None:
        """Leviathan's E[τ] at the measured α and k (the i.i.d. model's check against τ)."""
        return metrics.expected_acceptance_length(self.alpha, self.k) if self.alpha is not None and self.k else None


def readout_totals(engine: str, model: str, t: Totals) -> Readout:
    c = t.counts()
    missing = []
    k = len(t.per_pos) if t.per_pos else None
    if engine == "tgi":
        missing.append("TGI's tgi_request_skipped_tokens histogram gives τ (one observation per "
                       "generation step, each request's first step included) but counts neither "
                       "drafted tokens nor rejections: no draft acceptance rate, no α, no per-position acceptance")
    elif k is None:
        missing.append("this server exposes no per-position counters, so α cannot be separated "
                       "from τ (and there is no per-position acceptance)")
    if t.draft_tokens is None and engine == "vllm":
        missing.append("no num_draft_tokens counter: vLLM's draft acceptance rate is not available")
    if c.passes == 0:
        missing.append("no drafts were verified in this window (no traffic, or nothing speculated)")
    elif k and t.draft_tokens is not None and t.draft_tokens < t.drafts * k * 0.999:
        missing.append(f"some drafts were shorter than k = {k} ({t.draft_tokens / t.drafts:.2f} draft "
                       "tokens per draft): the per-position counters assume k positions per draft, "
                       "so α and the later positions' rates are lower bounds")
    cond, uncond = metrics.acceptance_by_position(c) if k else ([], [])
    return Readout(engine, model, c, k, metrics.mean_acceptance_length(c),
                   metrics.draft_acceptance_rate(c) if t.draft_tokens is not None else None,
                   metrics.alpha(c) if k else None, cond, uncond, missing)


SGLANG_MISSING = ("SGLang's gauges give τ (spec_accept_length) and its acceptance rate "
                  "(spec_accept_rate, accepted ÷ drafted in its own help text) for its latest logging "
                  "window only. They give no Leviathan α, no per-position acceptance, no draft length, "
                  "and no counts to pool: the trend is the gauge values at each scrape, not weighted by traffic")


def readout_gauges(model: str, g: Gauges) -> Readout:
    missing = [SGLANG_MISSING]
    if g.accept_length is None:
        missing.append("the gauges read 0: no decode step in SGLang's latest window")
    if g.ranks > 1:
        missing.append(f"{g.ranks} ranks report these gauges; shown is their plain mean")
    return Readout("sglang", model, None, None, g.accept_length, g.accept_rate, None, [], [], missing)


def readouts(scrape: Scrape) -> dict[str, Readout]:
    """model -> its readout over the server's lifetime (since its last restart)."""
    if scrape.engine == "sglang":
        return {m: readout_gauges(m, g) for m, g in scrape.gauges.items()}
    return {m: readout_totals(scrape.engine, m, t) for m, t in scrape.totals.items()}


def what_if(alpha: float, k: int) -> list[dict]:
    """An estimate, not a measurement: Leviathan's E[τ] at the measured α for γ = k − 1, k, k + 1."""
    return [{"gamma": g, "expected_tau": metrics.expected_acceptance_length(alpha, g),
             "expected_draft_acceptance_rate": metrics.draft_acceptance_rate_expected(alpha, g)}
            for g in (k - 1, k, k + 1) if g >= 1]


def _f(x: float | None, spec: str = ".2f") -> str:
    return "n/a" if x is None else format(x, spec)


def line(r: Readout) -> str:
    """One line of a readout for the terminal."""
    name = {"vllm": "vLLM", "sglang": "SGLang", "tgi": "TGI"}[r.engine]
    parts = [f"{r.drafts} drafts" if r.counts else "latest window", f"τ {_f(r.tau)}",
             f"α {_f(r.alpha)}" + (f" (k = {r.k})" if r.k else ""),
             f"{name} acceptance rate {_f(r.rate)}"]
    if r.unconditional:
        parts.append("per position " + " ".join(_f(v) for v in r.unconditional) + " of all drafts, "
                     + " ".join(_f(v) for v in r.conditional) + " given the earlier ones")
    return " · ".join(parts)


# ----------------------------------------------------------------------------- watching over time

@dataclass
class Point:
    """One window between two scrapes (SGLang: the gauges at one scrape)."""

    at: float
    seconds: float | None
    readout: Readout
    restarted: bool = False


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
            said.append(f"the page now shows {scrape.engine} metrics instead of {self.last.engine}: "
                        "started a new watch")
            self.__init__()
        if scrape.engine == "sglang":
            for m, g in scrape.gauges.items():
                self.points.setdefault(m, []).append(Point(scrape.at, None, readout_gauges(m, g)))
        elif self.last is not None:
            for m, now in scrape.totals.items():
                before = self.last.totals.get(m)
                if before is None:
                    continue
                window, restarted = now.minus(before)
                if restarted:
                    said.append(f"{m or 'the server'} restarted between {_clock(self.last.at)} and "
                                f"{_clock(scrape.at)} (its counters went back to zero): that window "
                                "counts only what happened since the restart")
                self.watched[m] = self.watched[m] + window if m in self.watched else window
                self.points.setdefault(m, []).append(Point(scrape.at, scrape.at - self.last.at,
                                                           readout_totals(scrape.engine, m, window), restarted))
        self.last = scrape
        self.events += said
        return said

    def since_watching(self, model: str) -> Readout | None:
        t = self.watched.get(model)
        return readout_totals(self.last.engine, model, t) if t is not None and self.last else None


def trend(points: list[Point]) -> dict | None:
    """α (or τ) in the first vs the second half of the windows, pooled by drafts (counters) or
    averaged (gauges); None with fewer than two windows that saw drafts."""
    live = [p for p in points if p.readout.tau is not None and (p.readout.counts is None or p.readout.drafts)]
    if len(live) < 2:
        return None
    half = len(live) // 2
    first, second = live[:half], live[half:]
    out = {"windows": len(live), "from": live[0].at, "to": live[-1].at}
    if live[0].readout.counts is not None:
        for name, part in (("first", first), ("second", second)):
            pooled = sum((p.readout.counts for p in part), metrics.Counts())
            k = part[-1].readout.k
            out[name] = {"tau": metrics.mean_acceptance_length(pooled),
                         "alpha": metrics.alpha(pooled) if k and all(p.readout.k == k for p in part) else None}
    else:
        for name, part in (("first", first), ("second", second)):
            out[name] = {"tau": sum(p.readout.tau for p in part) / len(part), "alpha": None}
    return out


def _clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t))


# ----------------------------------------------------------------------------- writing vLLM's format

def exposition(runs: dict[str, metrics.Counts], comment: str = "") -> str:
    """Runs' Counts as vLLM's spec_decode counters in Prometheus text format, one model_name each.

    vLLM counts a draft only when something was drafted, so drafts = passes that drafted
    position 0; its per-position counters are the run's accepted_at.
    """
    from prometheus_client import CollectorRegistry, Counter, generate_latest

    registry, names = CollectorRegistry(), ["model_name", "engine"]
    made = {name: Counter(f"vllm:spec_decode_num_{name}", doc, names, registry=registry)
            for name, doc in (("drafts", "Number of spec decoding drafts."),
                              ("draft_tokens", "Number of draft tokens."),
                              ("accepted_tokens", "Number of accepted tokens."))}
    per_pos = Counter("vllm:spec_decode_num_accepted_tokens_per_pos", "Accepted tokens per draft position.",
                      [*names, "position"], registry=registry)
    for model, c in runs.items():
        made["drafts"].labels(model, "0").inc(c.drafted_at[0] if c.drafted_at else 0)
        made["draft_tokens"].labels(model, "0").inc(c.drafted)
        made["accepted_tokens"].labels(model, "0").inc(c.accepted)
        for i, v in enumerate(c.accepted_at):
            per_pos.labels(model, "0", str(i)).inc(v)
    head = "".join(f"# {line}\n" for line in comment.splitlines())
    return head + generate_latest(registry).decode()
