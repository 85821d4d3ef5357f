"""Shared fixtures: the real offline model, loaded once per test session; the app served by
`streamlit run` and a headless Debian Chromium page for the browser tests (never downloads a
browser: without /usr/bin/chromium those tests skip)."""
import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_CACHE", str(ROOT.parent / "shared" / "hf-cache"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# the tests' own cache (converted model, kernel tables, stored traces), never the user's
os.environ.setdefault("SPECVIZ_CACHE", str(ROOT / "tests" / "artifacts" / "cache"))

TARGET = "smollm2-135m-instruct"


@pytest.fixture(scope="session")
def target():
    """SmolLM2-135M-Instruct (real weights, from the offline hub cache)."""
    from specviz.runner import load_target

    return load_target(TARGET, "cpu")


ARTIFACTS = ROOT / "tests" / "artifacts"  # screenshots and the server log (gitignored)
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server():
    """`streamlit run app.py` on a free localhost port, shared by every browser test."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (apt install chromium); the browser tests never "
                    "download a browser")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with streamlit_server("app.py", ARTIFACTS / "server.log") as url:
        yield url


@contextlib.contextmanager
def streamlit_server(script, log_path: Path):
    """`streamlit run script` on a free localhost port until the block ends; yields its URL."""
    port = _free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true",
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, Path(log_path).read_text()
                time.sleep(0.3)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()


@pytest.fixture()
def page(server):
    """A fresh Chromium page; pg.problems collects console errors and uncaught page errors."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pg = browser.new_page(viewport={"width": 1600, "height": 2200})
        pg.problems = []
        pg.on("console", lambda m: m.type == "error" and pg.problems.append(f"console: {m.text}"))
        pg.on("pageerror", lambda e: pg.problems.append(f"page error: {e}"))
        pg.set_default_timeout(90_000)
        yield pg
        browser.close()
