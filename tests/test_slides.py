"""Take it to the slides: a trace as one offline HTML file stepped with the keyboard and as an
animated GIF of chosen rounds (specviz.present.slides), from the CLI and from Step through; the HTML
opened from file:// in Chromium with the network cut off."""
import io
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from specviz.cli import main
from specviz.errors import RunError
from specviz.numbers import prob
from specviz.present import round_view, slides, tokens
from specviz.trace import Trace

from conftest import CHROMIUM, CHROMIUM_ARGS
from hostile import hostile_trace

ROOT = Path(__file__).resolve().parent.parent
TRACES = ROOT / "data" / "traces"
SAMPLED = TRACES / "code-edit__lookup__sampled.json"  # rejections, residuals, the target's own steps
TREE = TRACES / "chat__tree16-eagle__greedy.json"


class _Elements(HTMLParser):
    """Every element, attribute and style text of a page, as a browser would parse it."""

    def __init__(self, page: str):
        super().__init__()
        self.tags, self.attrs, self.styles, self._in_style = [], [], [], False
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += [(tag, k, v or "") for k, v in attrs]
        self.styles += [v or "" for k, v in attrs if k == "style"]
        self._in_style = tag == "style"

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)


def fetches(page: str) -> list:
    """What opening the page would fetch: resource attributes, elements that load, CSS url() and @import."""
    p = _Elements(page)
    loads = [a for a in p.attrs if a[1] in ("src", "href", "srcset", "poster", "action", "data", "formaction")]
    loaders = [t for t in p.tags if t in ("img", "iframe", "link", "object", "embed", "video", "audio", "a")]
    css = [s for s in p.styles if "url(" in s or "@import" in s]
    return loads + loaders + css


def test_parse_rounds_counts_from_one_and_says_which_rounds_exist():
    assert slides.parse_rounds("1-3", 10) == [0, 1, 2]
    assert slides.parse_rounds(" 2, 5-6,5 ", 10) == [1, 4, 5]
    assert slides.parse_rounds("8-12", 10) == [7, 8, 9]  # clipped to the trace
    assert slides.parse_rounds(None, 3) == [0, 1, 2]
    for bad, says in [("11-20", "rounds 1 to 10"), ("5-3", "selects no round"), ("0", "selects no round"),
                      ("a-b", "expected rounds like"), ("", "expected rounds like")]:
        with pytest.raises(RunError, match=says):
            slides.parse_rounds(bad, 10)
    with pytest.raises(RunError, match="no rounds"):
        slides.parse_rounds(None, 0)


@pytest.mark.parametrize("path", [SAMPLED, TREE], ids=["chain", "tree"])
def test_the_html_is_self_contained_and_shows_every_round_with_its_numbers(path):
    t = Trace.load(str(path))
    page = slides.to_html(t)
    assert fetches(page) == []  # nothing to fetch: no server, no internet
    assert "http://" not in page and "https://" not in page
    assert page.count("<script>") == 1 and "<script " not in page and "<link" not in page
    sections = re.findall(r'<section class="round" data-round="(\d+)"', page)
    assert sections == [str(i) for i in range(len(t.rounds))]
    assert page.count(" hidden>") == len(t.rounds) - 1  # one round on screen at a time
    for i, rnd in enumerate(t.rounds):  # each round's accept tests, in the app's numbers
        for tok in round_view.round_tokens(rnd, i):
            assert prob(tok.p) in page and tok.decision.replace("<", "&lt;") in page.replace("&#x27;", "'")
    rnd = next(r for r in t.rounds if r.correction.kind == "resampled")
    if rnd.correction.top_residual:
        assert "from the residual norm(max(0, p − q))" in page
    assert tokens.FATES["bonus"][2] in page  # the legend's words, the app's palette
    for colour, _, _ in tokens.FATES.values():
        assert colour in page


def test_the_html_keeps_a_hostile_trace_inert():
    page = slides.to_html(hostile_trace())  # every string a trace holds carries links, images, HTML
    assert "https://" in page and fetches(page) == []  # shown as text, never fetched
    assert _Elements(page).tags.count("script") == 1


def test_the_gif_has_one_frame_per_chosen_round():
    t = Trace.load(str(SAMPLED))
    gif = Image.open(io.BytesIO(slides.to_gif(t, slides.parse_rounds("2-5", len(t.rounds)))))
    assert gif.format == "GIF" and gif.n_frames == 4 and gif.size == slides.GIF_SIZE
    assert gif.info["loop"] == 0 and gif.info["duration"] == slides.GIF_SECONDS * 1000
    frames = []
    for k in range(gif.n_frames):
        gif.seek(k)
        frames.append(gif.convert("RGB").tobytes())
    assert len(set(frames)) == 4  # every round drawn, none the same


def test_show_writes_html_and_gif_and_refuses_bad_input_in_one_line(tmp_path, capsys):
    html_out, gif_out = tmp_path / "run.html", tmp_path / "run.gif"
    assert main(["show", str(TREE), "--html", str(html_out), "--gif", str(gif_out), "--rounds", "1-3"]) == 0
    assert Image.open(gif_out).n_frames == 3
    assert re.findall(r'data-round="(\d+)"', html_out.read_text())[:3] == ["0", "1", "2"]
    assert "written (3 rounds)" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": 3, "config": ')
    n = len(Trace.load(str(TREE)).rounds)
    for argv, code, says in [([str(bad), "--html", str(html_out)], 4, "not valid JSON"),
                             ([str(TREE), "--gif", str(gif_out), "--rounds", f"{n + 1}-{n + 5}"], 2,
                              f"rounds 1 to {n}"),
                             ([str(TREE), "--gif", str(gif_out), "--rounds", "4-2"], 2, "selects no round"),
                             ([str(TREE), "--rounds", "1-2"], 2, "--html or --gif"),
                             ([str(TREE), "--html", str(tmp_path / "no" / "dir.html")], 2, "cannot write")]:
        assert main(["show", *argv]) == code, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and says in err and len(err.splitlines()) == 1, err


def test_step_through_offers_the_slides_and_a_gif_of_chosen_rounds():
    at = AppTest.from_file(str(ROOT / "pages" / "1_Step_through.py"), default_timeout=120)
    at.query_params["trace"] = SAMPLED.stem
    at.run()
    assert not at.exception
    labels = [b.proto.label for b in at.get("download_button")]
    assert "slides (.html)" in labels and not any(lb.endswith("(.gif)") for lb in labels)
    at.slider(key="step_gif_rounds").set_value((2, 4)).run()
    next(b for b in at.button if b.label.startswith("Make a GIF of rounds 2–4")).click().run()
    assert not at.exception
    (_, gif) = at.session_state["step_gif"]
    assert Image.open(io.BytesIO(gif)).n_frames == 3
    assert "GIF of rounds 2–4 (.gif)" in [b.proto.label for b in at.get("download_button")]


def test_the_html_steps_with_the_keyboard_offline_in_chromium(tmp_path, chromium):
    from playwright.sync_api import sync_playwright

    t = Trace.load(str(SAMPLED))
    out = tmp_path / "slides.html"
    assert main(["show", str(SAMPLED), "--html", str(out)]) == 0
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 720}, offline=True)
        asked = []
        context.route("**/*", lambda route: route.continue_() if route.request.url == out.as_uri()
                      else (asked.append(route.request.url), route.abort()))
        pg = context.new_page()
        problems = []
        pg.on("pageerror", lambda e: problems.append(str(e)))
        pg.goto(out.as_uri())
        shown = lambda: pg.locator("section.round:not([hidden])")  # noqa: E731
        assert shown().count() == 1 and shown().get_attribute("data-round") == "0"
        assert pg.locator(".sv-strip .tok:not(.later)").count() == len(round_view.strip_tokens(t.rounds[:1]))
        pg.keyboard.press("ArrowRight")
        pg.keyboard.press("ArrowRight")
        assert shown().get_attribute("data-round") == "2" and "Round 3 of" in shown().inner_text()
        assert pg.locator("#where").inner_text().startswith("round 3")
        assert pg.locator(".sv-strip .tok:not(.later)").count() == len(round_view.strip_tokens(t.rounds[:3]))
        pg.keyboard.press("ArrowLeft")
        assert shown().get_attribute("data-round") == "1"
        pg.keyboard.press("End")
        assert shown().get_attribute("data-round") == str(len(t.rounds) - 1)
        pg.screenshot(path=str(tmp_path / "slides.png"))
        browser.close()
    assert asked == [] and problems == []  # nothing fetched, nothing broken
