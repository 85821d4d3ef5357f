"""The real app in a real browser: `streamlit run app.py` + headless Debian Chromium (playwright).

Flow: landing -> Step through -> play a shipped trace to the end -> the token strip shows
accepted and rejected tokens and the speedup chart is drawn -> upload a trace (and a corrupt
one). Screenshots go to tests/artifacts/. Never downloads a browser: without /usr/bin/chromium
the test skips.
"""
import re
from pathlib import Path

from specviz.services.store import shipped_traces
from specviz.trace import Trace

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"  # the server and page fixtures: conftest.py


def _shot(pg, name: str) -> None:
    pg.wait_for_timeout(800)  # let charts and animations settle
    pg.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def _round_heading(pg) -> str:
    return pg.locator("h4", has_text=re.compile(r"^Round \d+ of \d+")).first.inner_text()


def test_landing_step_through_play_upload(page, server):
    pg = page
    pg.goto(server)
    pg.wait_for_selector(".sv-cards", state="attached")
    assert "watch speculative decoding" in pg.locator("h1").first.inner_text()
    _shot(pg, "1_landing")

    pg.get_by_role("link", name="Step through").first.click()
    pg.wait_for_selector("h1:has-text('Step through speculative decoding')")
    pg.wait_for_selector(".sv-cards", state="attached")
    _shot(pg, "2_step_start")

    opening = _round_heading(pg)  # the first round that shows the idea, at its first step
    assert "step 1 of" in opening
    pg.get_by_role("button", name="Next").click()
    pg.wait_for_function("() => /step 2 of/.test(document.body.innerText)")
    pg.keyboard.press("ArrowLeft")  # the ← shortcut steps back
    pg.wait_for_function(f"() => document.body.innerText.includes({opening!r})")

    for _ in range(3):  # → three steps: the drafts scored, then checked one by one
        before = _round_heading(pg)
        pg.keyboard.press("ArrowRight")
        pg.wait_for_function(f"() => !document.body.innerText.includes({before!r})")
    pg.wait_for_selector(".card-accepted")
    _shot(pg, "2b_step_mid_round")

    pg.get_by_text("4×", exact=True).click()
    pg.get_by_role("button", name="Play").click()
    pg.wait_for_selector("button:has-text('Pause')")
    # played to the end: the last round at its last step, and the player paused itself
    pg.wait_for_function(
        "() => { const m = document.body.innerText.match(/Round (\\d+) of (\\d+) · step (\\d+) of (\\d+)/);"
        " return m && m[1] === m[2] && m[3] === m[4]; }", timeout=180_000)
    pg.wait_for_selector("button:has-text('Play')")
    heading = _round_heading(pg)

    strip = pg.locator(".sv-strip").first
    assert strip.locator(".tok-accepted").count() > 0
    assert strip.locator(".tok-rejected").count() > 0
    tip = strip.locator(".tok-accepted").first.get_attribute("title")
    assert all(s in tip for s in ("p = ", "q = ", "p/q = ", "r = ")), tip
    # the speedup chart is drawn: measured and both theories; the time chart and the gap chart
    pg.wait_for_function(
        "() => [...document.querySelectorAll('.js-plotly-plot')].some(p => "
        "/Speedup so far: measured vs theory/.test(p.querySelector('.gtitle')?.textContent || '') && "
        "p.querySelectorAll('.scatterlayer .trace').length === 3)")
    for title in ("Seconds so far: speculative vs plain", "Why the speedup is below theory"):
        pg.locator(".js-plotly-plot .gtitle", has_text=title).first.wait_for()
    anatomy = re.compile("p vs q|Target p here|Residual|Greedy: kept")  # per the selected token
    pg.locator(".js-plotly-plot .gtitle", has_text=anatomy).first.wait_for()
    _shot(pg, "3_step_played_to_end")

    upload = pg.locator("input[type=file]").first
    bad = ARTIFACTS / "corrupt.json"
    bad.write_text('{"version": 1, "rounds": "nope"')
    upload.set_input_files(str(bad))
    alert = pg.locator("[data-testid=stAlertContentError]")
    alert.wait_for()
    assert "not valid JSON" in alert.inner_text()
    assert _round_heading(pg) == heading  # the last good trace stays on screen
    _shot(pg, "4_corrupt_upload_kept_trace")

    other = next(p for p in shipped_traces().values()
                 if len(Trace.load(str(p)).rounds) != int(heading.split()[3]))
    upload.set_input_files(str(other))
    assert not alert.first.is_visible()  # hidden as soon as a file is chosen, not after its upload
    n = len(Trace.load(str(other)).rounds)
    pg.wait_for_function(f"() => / of {n} · step 1 of/.test(document.body.innerText)")
    assert pg.locator("[data-testid=stAlertContentError]").count() == 0
    _shot(pg, "5_uploaded_trace")

    pg.get_by_role("link", name="Compare").first.click()
    pg.wait_for_selector("h1:has-text('Compare two runs')")
    pg.wait_for_function("() => document.querySelectorAll('.sv-strip').length === 2")
    _shot(pg, "6_compare")
    assert not pg.problems, pg.problems


def _truncated(pg) -> list[str]:
    """Texts the page cuts with an ellipsis: metric labels and values, chart titles."""
    return pg.evaluate("""() => {
        const cut = [];
        for (const el of document.querySelectorAll(
                '[data-testid=stMetricLabel] *, [data-testid=stMetricValue] *')) {
            if (getComputedStyle(el).textOverflow === 'ellipsis' && el.scrollWidth > el.clientWidth)
                cut.push(el.textContent);
        }
        for (const svg of document.querySelectorAll('.js-plotly-plot .main-svg')) {
            const t = svg.querySelector('.gtitle');
            if (t && t.getBBox().x + t.getBBox().width > svg.getBoundingClientRect().width) cut.push(t.textContent);
        }
        return cut;
    }""")


def test_step_through_at_1280_by_720(page, server):
    """What a lecturer's laptop shows: nothing cut, the cards, the gap chart; screenshots of the
    first screen and of the whole page (played to the end) go to tests/artifacts/."""
    pg = page
    pg.set_viewport_size({"width": 1280, "height": 720})
    pg.goto(server)
    pg.wait_for_selector(".sv-cards", state="attached")
    pg.get_by_role("link", name="Step through").first.click()
    pg.wait_for_selector("h1:has-text('Step through speculative decoding')")
    cards = "[data-testid=stMetricLabel]:not([class*=st-key-sv_machine] *)"  # the run's, not This machine's
    pg.wait_for_function(f"() => document.querySelectorAll('{cards}').length === 10")
    pg.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]")
    labels = pg.locator(cards).all_inner_texts()
    assert [t.strip() for t in labels] == ["α (Leviathan)", "mean β", "τ per pass", "E[τ] at α", "vLLM rate",
                                           "c draft cost", "v verify cost", "measured", "theory",
                                           "theory with v"]
    _shot(pg, "7_step_1280x720")
    pg.keyboard.press("End")  # the last round, complete: every chart drawn
    pg.wait_for_function(
        "() => { const m = document.body.innerText.match(/Round (\\d+) of (\\d+) · step (\\d+) of (\\d+)/);"
        " return m && m[1] === m[2] && m[3] === m[4]; }")
    pg.locator(".js-plotly-plot .gtitle", has_text="Why the speedup is below theory").first.wait_for()
    pg.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 7")
    pg.wait_for_timeout(1500)
    assert _truncated(pg) == []
    pg.locator("[data-testid=stRadio] [role=radiogroup] label").first.click()  # a drafted token: the greedy anatomy
    pg.locator(".js-plotly-plot .gtitle", has_text="Greedy: kept iff").first.wait_for()
    pg.wait_for_timeout(1000)
    assert _truncated(pg) == []
    height = pg.evaluate("() => document.querySelector('[data-testid=stMain]').scrollHeight")
    pg.set_viewport_size({"width": 1280, "height": min(height + 40, 12000)})
    pg.wait_for_timeout(1500)
    assert _truncated(pg) == []
    _shot(pg, "8_step_1280_full")
    assert not pg.problems, pg.problems
