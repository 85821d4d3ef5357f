"""Each lesson in a real browser (headless Debian Chromium, 1280×720): renders without page errors,
every chart draws, the quiz answers, a predict question reveals only after the answer, presenter
keys step. Screenshots (first screen and full page) go to tests/artifacts/lessons/ to be looked at.

Uses the server and page fixtures of conftest.py, so it skips when /usr/bin/chromium is missing
and never downloads a browser.
"""
from pathlib import Path

from specviz.lessons import content

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"  # the server and page fixtures: conftest.py
LESSONS = {"Why_it_works": "1_why_it_works", "Acceptance_rate": "2_acceptance_rate",
           "Lossless": "3_lossless", "Beyond_draft_models": "4_beyond_draft_models",
           "Decision_brief": "5_decision_brief"}
SHOTS = ARTIFACTS / "lessons"


def _shot(pg, name: str, full: bool = False) -> None:
    """A screenshot of the first screen, or (full) of the whole page at the same width."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    size = pg.viewport_size
    if full:  # Streamlit scrolls inside its main block, so grow the window to the content
        height = pg.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
        pg.set_viewport_size({"width": size["width"], "height": height})
    pg.wait_for_timeout(2500 if full else 1000)  # let plotly, tables and mermaid draw at the new size
    pg.screenshot(path=str(SHOTS / f"{name}.png"))
    pg.set_viewport_size(size)


def _loaded(pg) -> None:
    pg.wait_for_selector("[data-testid='stMetric']:has-text('score')")  # the quiz is the last element
    pg.wait_for_selector("[data-testid='stStatusWidget']", state="detached")


def test_every_lesson_renders_and_its_quiz_answers(page, server):
    pg = page
    pg.set_viewport_size({"width": 1280, "height": 720})
    for path, name in LESSONS.items():
        data = content.load(name)
        pg.goto(f"{server}/{path}")
        pg.wait_for_selector(f"h1:has-text('{data['title'].split('·')[0].strip()}')")
        _loaded(pg)
        _shot(pg, f"{name}_first_screen")
        charts = pg.locator("[data-testid='stPlotlyChart']")
        for i in range(charts.count()):  # every chart on the page drew its plot
            charts.nth(i).locator(".main-svg").first.wait_for()
        first = data["quiz"][0]
        pg.get_by_text(first["options"][first["answer"]], exact=True).first.click()
        pg.wait_for_selector("text=Correct.")
        _shot(pg, f"{name}_full", full=True)
        assert not [p for p in pg.problems if "page error" in p], pg.problems


def test_predict_question_reveals_only_after_the_answer(page, server):
    pg = page
    pg.set_viewport_size({"width": 1280, "height": 720})
    pg.goto(f"{server}/Lossless")
    _loaded(pg)
    card = pg.locator(".card.focus").first
    card.scroll_into_view_if_needed()
    assert "card-pending" in card.get_attribute("class") and "p " not in card.inner_text().replace("q ", "")
    _shot(pg, "predict_before")
    pg.locator("[data-testid='stRadio']").last.get_by_text("rejected", exact=True).click()  # the last question
    pg.wait_for_selector(".card.focus:not(.card-pending)")
    assert "p " in pg.locator(".card.focus").first.inner_text()
    _shot(pg, "predict_after")


def test_projector_mode_steps_with_the_keyboard(page, server):
    pg = page
    pg.set_viewport_size({"width": 1280, "height": 720})
    pg.goto(f"{server}/Why_it_works?projector=true")
    pg.wait_for_selector("text=section 1 of")  # one section at a time: no quiz on this one
    pg.wait_for_selector("[data-testid='stStatusWidget']", state="detached")
    pg.wait_for_timeout(500)  # the page has settled (a press during its first run may be dropped)
    pg.keyboard.press("PageDown")  # the first key press steps: nothing to click first
    pg.wait_for_selector("text=section 2 of")
    assert "section=2" in pg.url
    _shot(pg, "projector_mode")


def test_measuring_instruments_draw_in_the_browser(page, server):
    """Lesson 1's cost curve and c, and lesson 3's lab, measured on the real model in the browser."""
    pg = page
    pg.set_viewport_size({"width": 1280, "height": 720})
    pg.goto(f"{server}/Why_it_works")
    _loaded(pg)
    pg.get_by_role("button", name="Measure on this device").click()
    chart = pg.locator("[data-testid='stPlotlyChart']").first
    chart.locator(".main-svg").first.wait_for(timeout=300_000)
    assert pg.get_by_text("v(5): γ = 4 verify").count() == 1
    pg.get_by_role("button", name="Measure c").click()
    pg.wait_for_selector("text=Measured now on this machine, medians of 7 repeats", timeout=300_000)
    chart.scroll_into_view_if_needed()
    _shot(pg, "1_why_it_works_measured", full=True)
    pg.goto(f"{server}/Lossless")
    _loaded(pg)
    pg.get_by_role("button", name="Run the lab on the real model").click()
    pg.locator("[data-testid='stPlotlyChart'] .main-svg").first.wait_for(timeout=300_000)
    _loaded(pg)
    _shot(pg, "3_lossless_lab", full=True)
    assert not [p for p in pg.problems if "page error" in p], pg.problems
