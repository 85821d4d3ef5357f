"""Projector mode as Chromium draws it at 1280×720: every chart's ticks, legends and axis titles at
least 24 px (read from the computed style of plotly's SVG text), no chart title cut off, the
Compare table, the token tree and its mask enlarged, and each lesson section's instrument on the
first screen. Prints the sizes per page; screenshots go to tests/artifacts/projector/.

Uses the server fixture of conftest.py: skips without /usr/bin/chromium, never downloads a browser.
"""
from pathlib import Path

import pytest

from conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from specviz.lessons import content

W, H = 1280, 720
SHOTS = ARTIFACTS / "projector"
LESSONS = {"Why_it_works": "1_why_it_works", "Acceptance_rate": "2_acceptance_rate",
           "Lossless": "3_lossless", "Beyond_draft_models": "4_beyond_draft_models",
           "Decision_brief": "5_decision_brief"}
PAGES = [("Step through, a chain", "Step_through?trace=chat__layers-4__greedy&round=3&stage=99"),
         ("Step through, a tree", "Step_through?trace=chat__tree16-eagle__greedy&round=2&stage=99"),
         ("Compare", "Compare")]
PAGES += [(f"{path} §{i} {s['instrument']}", f"{path}?section={i}") for path, name in LESSONS.items()
          for i, s in enumerate(content.load(name)["sections"], 1) if s.get("instrument")]

SIZES = r"""() => {
  const shown = e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  const px = sel => [...document.querySelectorAll(sel)].filter(shown).map(e => parseFloat(getComputedStyle(e).fontSize));
  const min = sel => { const x = px(sel); return x.length ? Math.min(...x) : null; };
  const P = '.js-plotly-plot ';
  const cut = [...document.querySelectorAll('.js-plotly-plot')].filter(shown).flatMap(p => {
    const box = p.getBoundingClientRect();
    return [...p.querySelectorAll('.gtitle')].filter(t => { const r = t.getBoundingClientRect();
      return r.top < box.top - 1 || r.left < box.left - 1 || r.right > box.right + 1; }).map(t => t.textContent); });
  const instrument = document.querySelector('[class*="st-key-sv_instrument"]');
  return {charts: document.querySelectorAll('.js-plotly-plot').length,
    tick: min(P + '.xaxislayer-above text,' + P + '.yaxislayer-above text,' + P + '.colorbar text'),
    legend: min(P + '.legendtext'), title: min(P + '.gtitle'),
    axis: min(P + '[class^="g-x"][class$="title"] text,' + P + '[class^="g-y"][class$="title"] text'),
    table: min('[data-testid=stTable] td,[data-testid=stTable] th'),
    dataframes: document.querySelectorAll('[data-testid=stDataFrame]').length,
    tree: min('.sv-tree-svg text'), mask: min('.sv-mask-svg text'), cut,
    instrument: instrument ? Math.round(instrument.getBoundingClientRect().top) : null};
}"""


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _settled(pg, shows: str) -> None:
    """The page has run (what it shows is there, no skeleton, no run in progress) and plotly drew."""
    pg.wait_for_selector(shows)
    pg.wait_for_selector("[data-testid='stSkeleton']", state="detached")
    pg.wait_for_selector("[data-testid='stStatusWidget']", state="detached")
    charts = pg.locator("[data-testid='stPlotlyChart']")
    for i in range(charts.count()):
        charts.nth(i).locator(".main-svg").first.wait_for()
    pg.wait_for_timeout(1500)  # plotly has placed its text


def measure(browser, server, path: str, name: str) -> dict:
    pg = browser.new_context(viewport={"width": W, "height": H}).new_page()
    pg.set_default_timeout(120_000)
    pg.goto(f"{server}/{path}{'&' if '?' in path else '?'}projector=true")
    shows = ("[class*='st-key-sv_instrument']" if "section=" in path else ".sv-round" if "Step" in path
             else "[data-testid=stTable]")
    _settled(pg, shows)
    top = pg.evaluate(SIZES)  # before anything is opened: the first screen as the room sees it
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / name.replace(" ", "_").replace(",", "").replace("§", "s")
    pg.screenshot(path=f"{shot}.png")
    sandbox = pg.get_by_text("Open the sandbox")
    if sandbox.count():  # its charts, drawn once it is open
        sandbox.first.click()
        pg.locator("[data-testid='stPlotlyChart'] .main-svg").first.wait_for()
        _settled(pg, shows)
        pg.locator("[data-testid='stPlotlyChart']").first.scroll_into_view_if_needed()
        pg.screenshot(path=f"{shot}_open.png")
    sizes = pg.evaluate(SIZES) | {"instrument": top["instrument"]}
    pg.context.close()
    return sizes


def test_projector_type_is_readable_and_instruments_open_on_the_first_screen(browser, server):
    rows = {name: measure(browser, server, path, name) for name, path in PAGES}
    print(f"\n{'page':<40}{'charts':>7}{'tick':>7}{'legend':>7}{'axis':>7}{'title':>7}{'table':>7}"
          f"{'tree':>7}{'mask':>7}{'instrument top':>16}")
    for name, r in rows.items():
        print(f"{name:<40}{r['charts']:>7}" + "".join(f"{'-' if r[k] is None else round(r[k], 1):>7}" for k in
              ("tick", "legend", "axis", "title", "table", "tree", "mask")) + f"{str(r['instrument']):>16}")
    for name, r in rows.items():
        if r["charts"]:
            assert r["tick"] >= 24 and r["axis"] >= 24 and r["title"] >= 24, (name, r)
            assert r["legend"] is None or r["legend"] >= 24, (name, r)
        assert r["cut"] == [], (name, r["cut"])  # no chart title runs off its chart
        assert r["dataframes"] == 0 or not name.startswith("Compare"), name
        if "§" in name:  # the section's instrument starts on the first screen, with room to show
            assert r["instrument"] is not None and r["instrument"] <= H - 80, (name, r["instrument"])
    assert rows["Compare"]["table"] >= 24
    assert rows["Step through, a chain"]["charts"] >= 8  # the time lanes among them
    for name in ("Step through, a tree", "Beyond_draft_models §4 tree_round"):
        assert rows[name]["tree"] >= 20 and rows[name]["mask"] >= 16, (name, rows[name])
