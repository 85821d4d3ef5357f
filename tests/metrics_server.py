"""A loopback HTTP server for the serving tests: a fake vLLM /metrics whose counters grow by a
fixed step on every read (a test server, never presented as a real one), plus misbehaving paths.

Counters per read: drafts +100, draft tokens +300, accepted +180 (k = 3, per position
+80, +60, +40), so every window between two reads has α = 180 ÷ (180 + 100 − 40) = 0.75 and
τ = 2.8. `restart()` puts the counters back to zero, as a restarted server does. /collapsing
serves the same page until its third read, then accepts almost nothing (per read: +4, +1, +0 at
the positions, τ = 1.05): the health alarm's collapse.
"""
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STEP = {"drafts": 100, "draft_tokens": 300, "accepted_tokens": 180}
STEP_POS = (80, 60, 40)
COLLAPSED_POS = (4, 1, 0)
TOKEN = "s3cret-token"


class State:
    def __init__(self):
        self.reads, self.created, self.lock = 0, 1750000000.0, threading.Lock()
        self.auth_seen: list[str | None] = []  # Authorization headers received, in order

    def restart(self) -> None:
        with self.lock:
            self.reads, self.created = 0, self.created + 1000

    def page(self, collapse_after: int | None = None) -> str:
        with self.lock:
            self.reads += 1
            n, created = self.reads, self.created
        steady = n if collapse_after is None else min(n, collapse_after)
        pos = [steady * s + (n - steady) * c for s, c in zip(STEP_POS, COLLAPSED_POS)]
        totals = {"drafts": n * STEP["drafts"], "draft_tokens": n * STEP["draft_tokens"], "accepted_tokens": sum(pos)}
        labels = 'engine="0",model_name="test-model"'
        out = ["# Test server on loopback (SpecViz tests): not a real vLLM"]
        for name, total in totals.items():
            out += [f"# TYPE vllm:spec_decode_num_{name}_total counter",
                    f"vllm:spec_decode_num_{name}_total{{{labels}}} {total}.0",
                    f"vllm:spec_decode_num_{name}_created{{{labels}}} {created}"]
        out.append("# TYPE vllm:spec_decode_num_accepted_tokens_per_pos_total counter")
        out += [f'vllm:spec_decode_num_accepted_tokens_per_pos_total{{{labels},position="{i}"}} {v}.0'
                for i, v in enumerate(pos)]
        return "\n".join(out) + "\n"


def handler(state: State, base: str):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def _send(self, code: int, body: bytes, headers: dict | None = None):
            self.send_response(code)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            if "Content-Length" not in (headers or {}):
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):  # noqa: C901 - one branch per misbehaviour
            path = self.path
            state.auth_seen.append(self.headers.get("Authorization"))
            if path == "/metrics":
                self._send(200, state.page().encode(), {"Content-Type": "text/plain; version=0.0.4"})
            elif path == "/collapsing":
                self._send(200, state.page(collapse_after=3).encode())
            elif path == "/auth":
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self._send(401, b"unauthorized")
                else:
                    self._send(200, state.page().encode())
            elif path == "/slow":
                time.sleep(3)
                self._send(200, state.page().encode())
            elif path == "/trickle":
                self.send_response(200)
                self.send_header("Content-Length", "100000")
                self.end_headers()
                for _ in range(40):  # each byte well within the socket timeout, the whole far beyond
                    self.wfile.write(b"#")
                    self.wfile.flush()
                    time.sleep(0.1)
            elif path == "/huge":
                self._send(200, b"", {"Content-Length": str(50 * 2**20)})
            elif path == "/huge-unannounced":
                self.send_response(200)
                self.end_headers()  # no Content-Length: read until close
                chunk = b"# " + b"x" * 65534 + b"\n"
                try:
                    for _ in range(200):
                        self.wfile.write(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True
            elif path == "/html":
                self._send(200, b"<!doctype html><html><body><h1>Welcome</h1></body></html>")
            elif path == "/binary":
                self._send(200, bytes(range(256)) * 4)
            elif path == "/latin1":
                self._send(200, "vllm:spec_decode_num_drafts_total 1\n# caf\xe9".encode("latin-1"))
            elif path == "/empty":
                self._send(200, b"")
            elif path == "/other":
                self._send(200, b"# TYPE node_load1 gauge\nnode_load1 0.5\n")
            elif path == "/nan":
                self._send(200, b"vllm:spec_decode_num_drafts_total NaN\nvllm:spec_decode_num_accepted_tokens_total 1\n")
            elif path == "/to-file":
                self._send(302, b"", {"Location": "file:///etc/passwd"})
            elif path == "/to-ftp":
                self._send(302, b"", {"Location": "ftp://example.com/metrics"})
            elif path == "/to-metrics":
                self._send(302, b"", {"Location": f"{base}/auth"})
            elif path == "/to-other-origin":  # 127.0.0.1 vs localhost: another origin, same server
                self._send(302, b"", {"Location": base.replace("127.0.0.1", "localhost") + "/auth"})
            else:
                self._send(404, b"not found")
    return Handler


class MetricsServer:
    """Start with `with MetricsServer() as srv:`; srv.url is http://127.0.0.1:PORT."""

    def __enter__(self):
        self.state = State()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), None)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.httpd.RequestHandlerClass = handler(self.state, self.url)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
