"""A workshop in real Chromium: "Link to this view" opens the same view in a fresh browser (after
stepping, on several pages), a student re-attaches from another page at once, the workshop pack
downloads right after another download. Screenshots go to tests/artifacts/ (the server and
Chromium: conftest.py; never downloads a browser)."""
import re
from pathlib import Path

import pytest

from conftest import ARTIFACTS
from test_class_browser import ROUND, _heading, browser  # noqa: F401 - browser: the fixture, shared
from test_class_browser import _page as _sized_page

ROOT = Path(__file__).resolve().parent.parent


def _page(browser, width=1400, height=1000):
    return _sized_page(browser, width, height)


def _settled(pg) -> None:
    pg.locator("[data-testid=stApp][data-test-script-state=notRunning]").wait_for()
    pg.wait_for_selector("[data-testid='stStatusWidget']", state="detached")


def _copied_link(pg) -> str:
    """Open "Link to this view" in the sidebar and read the link it offers (once it shows the
    address: it reads the address as it changes, a few times a second)."""
    pg.keyboard.press("Escape")  # an open popover or menu first closes
    pg.locator("[data-testid=stSidebar]").get_by_text("Link to this view").first.click()
    box = pg.locator(".sv-link-url").first
    box.wait_for()
    for _ in range(40):
        if box.input_value() == pg.url:
            break
        pg.wait_for_timeout(100)
    return box.input_value()


def test_link_to_this_view_opens_the_stepped_round_in_a_fresh_browser(browser, server):
    pg = _page(browser)
    pg.goto(server)
    pg.get_by_role("link", name="Step through").first.click()  # as a lecturer goes there
    pg.locator("h4", has_text=ROUND).first.wait_for()
    _settled(pg)
    for _ in range(4):  # the player steps in a fragment: the sidebar is not redrawn
        before = _heading(pg)
        pg.get_by_role("button", name="Next").click()
        pg.wait_for_function(f"() => !document.body.innerText.includes({before!r})")
    pg.get_by_role("button", name="Last").click()
    pg.wait_for_function("() => /Round (\\d+) of \\1 ·/.test(document.body.innerText)")
    before = _heading(pg)
    pg.get_by_role("button", name="Back").click()
    pg.wait_for_function(f"() => !document.body.innerText.includes({before!r})")
    _settled(pg)
    shown = _heading(pg)
    rnd, stage = re.search(r"Round (\d+) of \d+ · step (\d+)", shown).groups()
    want = f"/[?&]round={rnd}(&|$)/.test(location.search) && /[?&]stage={stage}(&|$)/.test(location.search)"
    pg.wait_for_function(f"() => {want}")  # the address follows the player
    link = _copied_link(pg)
    assert link == pg.url and "/Step_through/Step_through" not in link
    assert link.startswith(f"{server}/Step_through?") and f"round={rnd}" in link and f"stage={stage}" in link
    pg.screenshot(path=str(ARTIFACTS / "link_popover.png"))

    fresh = _page(browser)  # a new context: no session, no cookies
    fresh.goto(link)
    fresh.locator("h4", has_text=ROUND).first.wait_for()
    assert _heading(fresh) == shown
    assert fresh.locator("[data-testid=stSidebar]").count() == 1  # a whole page, not a blank one

    # and on a page without a player: Compare keeps both traces
    pg.goto(f"{server}/Compare?a=chat__lookup__greedy&b=summarise__lookup__greedy")
    pg.wait_for_function("() => document.querySelectorAll('.sv-strip').length === 2")
    _settled(pg)
    link = _copied_link(pg)
    assert link.startswith(f"{server}/Compare?") and "a=chat__lookup__greedy" in link
    fresh.goto(link)
    fresh.wait_for_function("() => document.querySelectorAll('.sv-strip').length === 2")
    strips = lambda p: [p.locator(".sv-strip").nth(i).inner_text() for i in (0, 1)]  # noqa: E731
    assert strips(fresh) == strips(pg) and strips(pg)[0] != strips(pg)[1]


def _players(pg) -> int:
    return pg.locator("h4", has_text=ROUND).count()


@pytest.mark.parametrize("away", ["Compare", "Lossless"])
def test_a_student_reattaches_from_another_page_at_once_and_exploring_keeps_one_player(browser, server, away):
    import time

    presenter, student = _page(browser), _page(browser)
    presenter.goto(f"{server}/Step_through?trace=chat__layers-4__greedy&round=3")
    _settled(presenter)
    presenter.get_by_role("button", name="Start a class").click()
    presenter.wait_for_function("() => /class=[A-Z0-9]{5}/.test(location.search)")
    code = re.search(r"class=([A-Z0-9]{5})", presenter.url).group(1)
    presenter.get_by_role("button", name="Next").click()
    student.goto(f"{server}/?class={code}")
    student.get_by_text(f"Following class {code}").wait_for()
    student.wait_for_function(f"() => document.body.innerText.includes({_heading(presenter)!r})")

    student.get_by_role("button", name="Explore on my own").click()
    student.get_by_text("Exploring on your own").wait_for()
    for _ in range(3):  # exploring: the student's own steps, one player throughout
        before = _heading(student)
        student.get_by_role("button", name="Next").click()
        student.wait_for_function(f"() => !document.body.innerText.includes({before!r})")
        _settled(student)
        assert _players(student) == 1 and student.get_by_role("button", name="Next").count() == 1
    student.get_by_role("link", name=away).first.click()
    student.locator("h1", has_text={"Compare": "Compare two runs", "Lossless": "Lesson 3"}[away]).wait_for()
    student.get_by_text("Exploring on your own").wait_for()
    _settled(student)
    assert _players(student) == 0

    shown = _heading(presenter)  # the presenter does not move from here on
    t = time.monotonic()
    student.get_by_role("button", name="Follow the presenter again").click()
    student.wait_for_function(f"() => document.body.innerText.includes({shown!r})", timeout=15_000)
    took = time.monotonic() - t
    student.get_by_text(f"Following class {code}").wait_for()
    _settled(student)
    assert _players(student) == 1 and "/Step_through" in student.url
    print(f"re-attached from {away} in {took:.1f} s")
    student.screenshot(path=str(ARTIFACTS / f"student_reattached_from_{away}.png"))
    # following again: the presenter's next step arrives, still one player
    presenter.get_by_role("button", name="Next").click()
    presenter.wait_for_function(f"() => !document.body.innerText.includes({shown!r})")
    student.wait_for_function(f"() => document.body.innerText.includes({_heading(presenter)!r})")
    assert _players(student) == 1


def test_the_workshop_pack_downloads_right_after_any_other_download(browser, server):
    """A download that reruns the page (the brief) and then at once the pack: the pack's button
    must not ask for a file id its page run has already forgotten (it failed silently)."""
    import io
    import zipfile

    pg = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True).new_page()
    pg.set_default_timeout(90_000)

    def download(text: str):
        with pg.expect_download(timeout=20_000) as d:
            pg.get_by_text(text).first.click()
        return d.value

    pg.goto(f"{server}/Decision_brief")
    pg.get_by_text("Download the brief").first.wait_for()
    _settled(pg)
    for _ in range(3):
        assert download("Download the brief").suggested_filename == "decision_brief.md"
        pack = download("Workshop pack (.zip)")  # at once: the brief's rerun is still going
        names = zipfile.ZipFile(io.BytesIO(Path(pack.path()).read_bytes())).namelist()
        assert "lessons/5_decision_brief/decision_brief.md" in names and "run_sheet.md" in names
    pg.goto(f"{server}/Step_through")
    pg.get_by_text("save this trace").first.wait_for()
    _settled(pg)
    assert download("save this trace").suggested_filename.endswith(".json")
    assert download("Workshop pack (.zip)").suggested_filename == "specviz-workshop.zip"
