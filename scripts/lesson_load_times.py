"""Page-load times of the five lesson pages: AppTest (script run time) and real Chromium.

    python scripts/lesson_load_times.py [--repeats 5] [--no-browser] [--no-apptest]

AppTest: in one process, the first run of each page (modules imported cold) and then `repeats`
fresh sessions per page, interleaved across pages (what a new browser tab costs on a warm server),
plus a rerun of an open session (what a click costs with nothing changed).
Chromium (/usr/bin/chromium, headless, 1280×720): `streamlit run app.py` on a free port; for each
page, navigation → the quiz's score metric shown and the app no longer running; the first visit of
each page (cold server) and the median / min–max of `repeats` further visits, interleaved.
Medians with their spread; nothing is timed inside a test.
"""
import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_CACHE", str(ROOT.parent / "shared" / "hf-cache"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
PAGES = ["3_Why_it_works", "4_Acceptance_rate", "5_Lossless", "6_Beyond_draft_models", "7_Decision_brief"]


def _spread(xs: list[float]) -> str:
    return f"{statistics.median(xs):5.2f} s (min {min(xs):.2f}, max {max(xs):.2f}, n={len(xs)})"


def apptest(repeats: int) -> None:
    from streamlit.testing.v1 import AppTest

    def run(page: str, at=None) -> float:
        at = at or AppTest.from_file(str(ROOT / "pages" / f"{page}.py"), default_timeout=300)
        t0 = time.perf_counter()
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return time.perf_counter() - t0, at

    first, fresh, rerun = {}, {p: [] for p in PAGES}, {p: [] for p in PAGES}
    for p in PAGES:
        first[p], _ = run(p)
    for _ in range(repeats):
        for p in PAGES:
            s, at = run(p)
            fresh[p].append(s)
            rerun[p].append(run(p, at)[0])
    print("AppTest (script run, this process):")
    for p in PAGES:
        print(f"  {p:24s} first {first[p]:5.2f} s · new session {_spread(fresh[p])} · rerun {_spread(rerun[p])}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def browser(repeats: int) -> None:
    from playwright.sync_api import sync_playwright

    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.3)
        url = f"http://127.0.0.1:{port}"
        with sync_playwright() as pw:
            b = pw.chromium.launch(executable_path="/usr/bin/chromium",
                                   args=["--headless", "--no-sandbox", "--disable-gpu"])
            pg = b.new_page(viewport={"width": 1280, "height": 720})
            pg.set_default_timeout(120_000)
            pg.goto(url)
            pg.wait_for_selector("h1")

            def visit(page: str) -> float:
                t0 = time.perf_counter()
                pg.goto(f"{url}/{page.split('_', 1)[1]}")
                pg.wait_for_selector("[data-testid='stMetric']:has-text('score')")
                pg.wait_for_selector("[data-testid='stStatusWidget']", state="detached")
                return time.perf_counter() - t0

            first = {p: visit(p) for p in PAGES}
            warm = {p: [] for p in PAGES}
            for _ in range(repeats):
                for p in PAGES:
                    warm[p].append(visit(p))
            b.close()
    finally:
        proc.terminate()
        proc.wait(15)
    print("Chromium 1280×720 (navigation → page fully rendered):")
    for p in PAGES:
        print(f"  {p:24s} first {first[p]:5.2f} s · later visits {_spread(warm[p])}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--no-apptest", action="store_true")
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if not args.no_apptest:
        apptest(args.repeats)
    if not args.no_browser:
        browser(args.repeats)


if __name__ == "__main__":
    main()
