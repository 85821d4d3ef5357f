"""Page-load times of the five lesson pages: AppTest (script run time) and real Chromium.

    python scripts/lesson_load_times.py [--repeats 5] [--no-browser] [--no-apptest]

AppTest: in one process, the first run of each page (modules imported cold) and then `repeats`
fresh sessions per page, interleaved across pages (what a new browser tab costs on a warm server),
plus a rerun of an open session (what a click costs with nothing changed).
Chromium (/usr/bin/chromium, headless, 1280×720): `streamlit run app.py` on a free port; for each
page, navigation → the quiz's score metric shown and the app no longer running; the first visit of
each page (cold server) and the median / min–max of `repeats` further visits, interleaved. Two ways
in: a new tab (the whole frontend loads) and a click on the page's sidebar link (in-app navigation).
A reference page (an empty Streamlit page with one metric, served the same way) is measured in the
same loop: on a loaded 2-core machine even it takes a second, so compare against it.
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


REFERENCE = """import streamlit as st
st.set_page_config(layout="wide")
st.title("reference")
st.metric("score", "0 / 5")
"""


def _serve(cwd: Path, script: str) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", script, "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.3)
    return proc, f"http://127.0.0.1:{port}"


def browser(repeats: int, roots: list[Path]) -> None:
    """Chromium page loads of every lesson of each app copy in `roots`, visits interleaved."""
    import tempfile

    from playwright.sync_api import sync_playwright

    ref_dir = Path(tempfile.mkdtemp())
    (ref_dir / "reference.py").write_text(REFERENCE)
    servers = [_serve(root, "app.py") for root in roots]
    ref, ref_url = _serve(ref_dir, "reference.py")
    names = [str(r) for r in roots]
    try:
        with sync_playwright() as pw:
            b = pw.chromium.launch(executable_path="/usr/bin/chromium",
                                   args=["--headless", "--no-sandbox", "--disable-gpu"])
            pg = b.new_page(viewport={"width": 1280, "height": 720})
            pg.set_default_timeout(120_000)

            def done(t0: float) -> float:
                pg.wait_for_selector("[data-testid='stMetric']:has-text('score')")
                pg.wait_for_selector("[data-testid='stStatusWidget']", state="detached")
                return time.perf_counter() - t0

            def tab(url: str, page: str) -> float:
                t0 = time.perf_counter()
                pg.goto(url if page == "reference" else f"{url}/{page.split('_', 1)[1]}")
                return done(t0)

            def link(page: str) -> float:  # from the lesson before it, already on screen
                title = page.split("_", 1)[1].replace("_", " ")
                t0 = time.perf_counter()
                pg.locator("[data-testid='stSidebar'] a").filter(has_text=title).first.click()
                pg.wait_for_selector(f"h1:has-text('Lesson {int(page[0]) - 2} ')")  # the new page, not the old
                return done(t0)

            first = {(n, p): tab(url, p) for n, (_, url) in zip(names, servers) for p in PAGES}
            first[("", "reference")] = tab(ref_url, "reference")
            warm: dict = {}
            for _ in range(repeats):
                warm.setdefault(("", "reference"), []).append(tab(ref_url, "reference"))
                for n, (_, url) in zip(names, servers):
                    for p in PAGES:
                        warm.setdefault((n, p), []).append(tab(url, p))
                    tab(url, PAGES[-1])
                    for p in PAGES:
                        warm.setdefault((n, p, "link"), []).append(link(p))
            b.close()
    finally:
        for proc, _ in [*servers, (ref, None)]:
            proc.terminate()
            proc.wait(15)
    print("Chromium 1280×720 (→ page fully rendered): new tab, first visit · new tab, later · sidebar link")
    print(f"  {'reference (empty page)':24s} first {first[('', 'reference')]:5.2f} s · later "
          f"{_spread(warm[('', 'reference')])}")
    for n in names:
        print(f" {n}")
        for p in PAGES:
            print(f"  {p:24s} first {first[(n, p)]:5.2f} s · later {_spread(warm[(n, p)])} · "
                  f"link {_spread(warm[(n, p, 'link')])}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--no-apptest", action="store_true")
    ap.add_argument("--compare", type=Path, nargs="*", default=[],
                    help="other copies of the app (e.g. an older commit) measured in the same loop")
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if not args.no_apptest:
        apptest(args.repeats)
    if not args.no_browser:
        browser(args.repeats, [ROOT, *args.compare])
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
