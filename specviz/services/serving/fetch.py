"""Reading a metrics page safely: http(s) only, a timeout, a size cap, no redirects to another
scheme, the bearer token only to the URL's own origin. A server hosted for strangers sets
SPECVIZ_PUBLIC_ONLY=1: then every connection (redirects included) must reach a public address, so
a URL cannot make it read its own network (loopback, private ranges, cloud metadata at
169.254.169.254). Saved copies and uploads go through `decode` (the same size cap and text checks).
"""
import http.client
import ipaddress
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request

from ...errors import RunError, first_line

TIMEOUT_S = 5.0
MAX_BYTES = 10 * 2**20  # vLLM's whole /metrics page is a few hundred KiB


class ScrapeError(RunError):
    """A metrics URL or payload that cannot be read: one line saying why (CLI exit code 2)."""


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
            404: ": check the path (vLLM, SGLang, llama.cpp with --metrics and TGI serve /metrics; "
                 "trtllm-serve serves /prometheus/metrics)"}.get(code, "")
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
    """Bytes of a metrics page or of responses (fetched or uploaded) as text, or one clear error."""
    if len(body) > max_bytes:
        raise _too_big(max_bytes)
    if b"\x00" in body:
        raise ScrapeError("this is binary data, not text: SpecViz reads a /metrics page or JSON responses")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise ScrapeError("this is not UTF-8 text, so neither a /metrics page nor JSON responses") from None
