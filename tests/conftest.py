"""Shared fixtures: the real offline model, loaded once per test session; the app served by
`streamlit run` and a headless Debian Chromium page for the browser tests (never downloads a
browser: without /usr/bin/chromium those tests skip).

Markers come from the fixtures a test uses (directly or through other fixtures), never by hand:
`model` (the real SmolLM2 model: `target`, `offline_model`), `browser` (`chromium`), and `slow`
for both and for `cli_runs` and `scripts_run` (subprocesses that load the model or drive
followers). The edit loop is `python -m pytest -m "not slow"`; CI runs everything. A test that
loads the real model without saying so fails (see `_model_guard`), so the list cannot rot."""
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
ARTIFACTS = ROOT / "tests" / "artifacts"  # screenshots and the server log (gitignored)
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MARKS = {"target": ("model", "slow"), "offline_model": ("model", "slow"),
         "chromium": ("browser", "slow"), "cli_runs": ("slow",), "scripts_run": ("slow",)}


def pytest_collection_modifyitems(items):
    for item in items:
        for mark in sorted({m for name in item.fixturenames for m in MARKS.get(name, ())}):
            item.add_marker(mark)


@pytest.fixture(scope="session")
def offline_model() -> str:
    """The models.yaml key of the real offline model, for tests that load it themselves (a live
    run in AppTest, a CLI subprocess): marks them `model` and `slow`."""
    return TARGET


@pytest.fixture(scope="session")
def target(offline_model):
    """SmolLM2-135M-Instruct (real weights, from the offline hub cache)."""
    from specviz.decoding.record import load_target

    return load_target(offline_model, "cpu")


@pytest.fixture(autouse=True)
def _model_guard(request, monkeypatch):
    """Outside `model` tests, loading a real (offline) model fails the test: add the
    `offline_model` fixture to such a test, so `-m "not slow"` stays fast."""
    if request.node.get_closest_marker("model"):
        yield
        return
    from specviz.decoding import models

    loads, real_load = [], models._load

    def guarded(spec, *args, **kwargs):
        if spec.offline or spec.hub_id in {m.hub_id for m in models.load_registry().models.values() if m.offline}:
            loads.append(spec.key)
            raise AssertionError(f"this test loads the real model {spec.key}: add the offline_model fixture")
        return real_load(spec, *args, **kwargs)

    monkeypatch.setattr(models, "_CACHE", {})  # a model loaded by an earlier test is loaded again
    monkeypatch.setattr(models, "_load", guarded)
    yield
    assert not loads, f"this test loads the real model {loads[0]}: add the offline_model fixture"


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium (never downloaded): skips, saying why, where it is missing."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (apt install chromium); the browser tests never "
                    "download a browser")
    return CHROMIUM


@pytest.fixture(scope="session")
def scripts_run():
    """Runs one of scripts/*.py in a subprocess (a load test: followers over real websockets)."""
    def run(name: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(ROOT / "scripts" / name), *args],
                              capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    return run


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server(chromium):
    """`streamlit run app.py` on a free localhost port, shared by every browser test."""
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
