"""The Your server page in headless Chromium, watching a loopback test server live: the numbers
and charts update as its counters grow, with no console error. The full-page screenshot goes to
tests/artifacts/pages/Your_server.png (gitignored) for a human to look at."""
from pathlib import Path

from metrics_server import MetricsServer

SHOTS = Path(__file__).resolve().parent / "artifacts" / "pages"


def test_page_watches_a_live_server(page, server):
    pg = page
    with MetricsServer() as srv:
        pg.goto(server)
        pg.wait_for_selector(".sv-cards", state="attached")
        pg.get_by_role("link", name="Your server", exact=True).first.click()
        pg.wait_for_selector("h1:has-text('Your server')")
        sidebar = pg.locator("[data-testid=stSidebar]")
        sidebar.get_by_role("textbox", name="metrics URL").fill(srv.url + "/metrics")
        sidebar.get_by_role("textbox", name="metrics URL").press("Enter")
        sidebar.locator("[data-testid=stSelectbox]").click()
        pg.get_by_role("option", name="2", exact=True).click()
        sidebar.get_by_text("watch live").click()
        # each read adds 100 drafts; a few live reads later the windows have been counted
        pg.wait_for_selector("text=/[3-9] window\\(s\\) watched/", timeout=60_000)
        pg.get_by_text("since you started watching").click()
        pg.wait_for_function("() => document.body.innerText.includes('0.750')")
        reads = srv.state.reads
        pg.wait_for_function(f"() => /[{min(reads + 2, 9)}-9] window\\(s\\) watched|\\d\\d window/.test(document.body.innerText)",
                             timeout=60_000)
        assert srv.state.reads >= reads + 2  # still polling: the page keeps reading the server
        pg.wait_for_function("() => [...document.querySelectorAll('.stPlotlyChart')].length >= 2 && "
                             "[...document.querySelectorAll('.stPlotlyChart')].every(c => c.querySelector('.main-svg'))")
        sidebar.get_by_text("watch live").click()  # stop polling before the server goes away
        pg.wait_for_timeout(1500)
        assert pg.locator("[data-testid=stException]").count() == 0
        assert pg.locator("[data-testid=stAlertContentError]").count() == 0
        height = pg.evaluate("() => document.querySelector('[data-testid=stMain]').scrollHeight")
        pg.set_viewport_size({"width": 1600, "height": min(max(height + 40, 1400), 16000)})
        pg.wait_for_timeout(1500)
        SHOTS.mkdir(parents=True, exist_ok=True)
        pg.screenshot(path=str(SHOTS / "Your_server.png"))
    assert not pg.problems, pg.problems


def _open_example(pg, server, label: str) -> None:
    pg.goto(server)
    pg.wait_for_selector(".sv-cards", state="attached")
    pg.get_by_role("link", name="Your server", exact=True).first.click()
    pg.wait_for_selector("h1:has-text('Your server')")
    sidebar = pg.locator("[data-testid=stSidebar]")
    sidebar.get_by_text("an example", exact=True).click()
    sidebar.get_by_role("button", name="Open the example").wait_for()
    pg.wait_for_timeout(1000)  # the rerun that shows the example picker
    sidebar.locator("[data-testid=stSelectbox]").last.click()
    pg.get_by_role("option", name=label, exact=True).click()
    sidebar.get_by_role("button", name="Open the example").click()
    pg.wait_for_function("() => !document.body.innerText.includes('Nothing read yet')")


def test_new_engine_examples_render_their_numbers_and_charts(page, server):
    """TensorRT-LLM's counters, then vLLM's per-request responses: numbers, charts, no console error."""
    pg, data = page, "(test data, not a live server)"
    _open_example(pg, server, f"TensorRT-LLM format example {data}")
    pg.wait_for_function("() => document.body.innerText.includes('0.735')")  # α = 1720 ÷ 2340
    assert "TensorRT-LLM's own acceptance rate" in pg.inner_text("body")
    pg.wait_for_function("() => [...document.querySelectorAll('.stPlotlyChart .main-svg')].length >= 1")
    _open_example(pg, server, f"vLLM per-request responses example {data}")
    pg.wait_for_function("() => document.body.innerText.includes('2 outlier(s)')")
    pg.wait_for_function("() => [...document.querySelectorAll('.stPlotlyChart')].length >= 3 && "
                         "[...document.querySelectorAll('.stPlotlyChart')].every(c => c.querySelector('.main-svg'))")
    assert "chatcmpl-a8" in pg.inner_text("body")
    assert pg.locator("[data-testid=stException]").count() == 0
    assert pg.locator("[data-testid=stAlertContentError]").count() == 0
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SHOTS / "Your_server_requests.png"), full_page=True)
    assert not pg.problems, pg.problems
