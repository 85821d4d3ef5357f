"""Each lesson in a real browser (headless Debian Chromium): renders, quiz answers, presenter keys.

Screenshots go to tests/artifacts/lessons/. Uses the server and page fixtures of conftest.py, so it
skips when /usr/bin/chromium is missing and never downloads a browser.
"""
from pathlib import Path

from specviz.ui import lesson

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"  # the server and page fixtures: conftest.py
LESSONS = {"Why_it_works": "1_why_it_works", "Acceptance_rate": "2_acceptance_rate",
           "Lossless": "3_lossless", "Beyond_draft_models": "4_beyond_draft_models",
           "Decision_brief": "5_decision_brief"}
SHOTS = ARTIFACTS / "lessons"


def _shot(pg, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.wait_for_timeout(1500)  # let plotly and mermaid draw
    pg.screenshot(path=str(SHOTS / f"{name}.png"))


def test_every_lesson_renders_and_its_quiz_answers(page, server):
    pg = page
    for path, name in LESSONS.items():
        data = lesson.load(name)
        pg.goto(f"{server}/{path}")
        pg.wait_for_selector(f"h1:has-text('{data['title'].split('·')[0].strip()}')")
        pg.wait_for_selector("text=End-of-lesson check")
        first = data["quiz"][0]
        pg.get_by_text(first["options"][first["answer"]], exact=True).first.click()
        pg.wait_for_selector("text=Correct.")
        _shot(pg, name)
        assert not [p for p in pg.problems if "page error" in p], pg.problems


def test_presenter_mode_steps_with_the_keyboard(page, server):
    pg = page
    pg.goto(f"{server}/Why_it_works")
    pg.wait_for_selector("text=End-of-lesson check")
    pg.get_by_text("Presenter mode").click()
    pg.wait_for_selector("text=section 1 of")
    pg.locator("h1").first.click()  # focus the page, not the toggle
    pg.keyboard.press("PageDown")
    pg.wait_for_selector("text=section 2 of")
    _shot(pg, "presenter_mode")
