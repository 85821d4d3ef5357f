"""Every page in a real browser (headless Debian Chromium): it renders, draws its charts, shows
no Streamlit exception, and the browser console logs no error. Full-page screenshots go to
tests/artifacts/pages/ (gitignored) for a human to look at.

Uses the server and page fixtures of conftest.py: skips without /usr/bin/chromium and never
downloads a browser.
"""
from pathlib import Path

import pytest

from specviz.lessons import content

SHOTS = Path(__file__).resolve().parent / "artifacts" / "pages"
LESSONS = {"Why_it_works": "1_why_it_works", "Acceptance_rate": "2_acceptance_rate",
           "Lossless": "3_lossless", "Beyond_draft_models": "4_beyond_draft_models",
           "Decision_brief": "5_decision_brief"}
PAGES = {  # url path -> (h1 text, selector proving the content rendered, how many of it)
    "": ("watch speculative decoding", ".sv-cards", 1),
    "Step_through": ("Step through speculative decoding", ".sv-cards", 1),
    "Compare": ("Compare two runs", ".sv-strip", 2),
    "Your_server": ("Your server", "text=Read now", 1),
    "Run_sheet": ("run sheet", "text=Ask the room", 1),
    **{path: (content.load(name)["title"].split("·")[0].strip(), "text=End-of-lesson check", 1)
       for path, name in LESSONS.items()},
}


@pytest.mark.parametrize("path", list(PAGES), ids=[p or "landing" for p in PAGES])
def test_page_renders_without_errors(path, page, server):
    pg = page
    title, selector, count = PAGES[path]
    pg.goto(server)  # from the landing page, as a user goes: opening /Page directly makes the
    pg.wait_for_selector(".sv-cards", state="attached")  # frontend probe /Page/_stcore/health first, a 404
    if path:  # the console reports (streamlit/streamlit#7074, upstream and harmless)
        pg.get_by_role("link", name=path.replace("_", " "), exact=True).first.click()
    pg.wait_for_selector(f"h1:has-text('{title}')")
    pg.wait_for_selector(selector, state="attached")  # a round with no drafts has an empty card row
    pg.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]")
    assert pg.locator(selector).count() >= count  # counted once the page's script has finished
    # every plotly chart on the page has drawn its plot area
    pg.wait_for_function("() => [...document.querySelectorAll('.stPlotlyChart')].every("
                         "c => c.querySelector('.js-plotly-plot .main-svg'))")
    pg.wait_for_timeout(1500)  # let plotly, mermaid and the player's first frame settle
    assert pg.locator("[data-testid=stException]").count() == 0
    assert pg.locator("[data-testid=stAlertContentError]").count() == 0
    # Streamlit scrolls inside its main block, so a full-page shot is one viewport: grow the
    # viewport to the page's height instead
    height = pg.evaluate("() => document.querySelector('[data-testid=stMain]').scrollHeight")
    pg.set_viewport_size({"width": 1600, "height": min(max(height + 40, 2200), 16000)})
    pg.wait_for_timeout(1500)
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SHOTS / f"{path or 'landing'}.png"))
    assert not pg.problems, pg.problems
