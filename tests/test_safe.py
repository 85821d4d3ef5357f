"""Trace text is data: safe.md / safe.html keep links, images, HTML and script out (issue 14)."""
import re
import sys
from pathlib import Path

import pytest

from conftest import streamlit_server
from specviz.present import escape, round_view
from tests.hostile import EVIL, PAYLOADS, hostile_trace

ROOT = Path(__file__).resolve().parent.parent


def test_md_escapes_every_markdown_and_html_construct():
    for p in PAYLOADS:
        out = escape.md(p)
        assert not re.search(r"(?<!\\)[][<>*_`:$!#]", out), out  # every such character escaped
        # GFM autolink patterns broken (escapes are not enough)
        assert not re.search(r"(?i)[a-z]://|www\.|\w@|mailto:", out.replace("\\", "")), out
        assert out.replace("\\", "").replace(escape.WJ, "") == p  # nothing else changed


def test_md_shortens_and_keeps_one_line():
    assert escape.md("a\nb  c", 4) == "a b…"
    assert escape.md("a\nb", one_line=False) == "a  \nb"


def test_html_escapes_tags_and_quotes():
    assert escape.html("<a href='x'>") == "&lt;a href=&#x27;x&#x27;&gt;"


def test_render_html_of_a_hostile_trace_has_no_tags_from_the_trace():
    """The round cards and the strip (st.html) escape every trace string."""
    trace = hostile_trace()
    out = round_view.strip_html(trace, len(trace.rounds)) + "".join(
        round_view.round_html(trace, i, s) for i in range(len(trace.rounds))
        for s in range(round_view.n_stages(trace.rounds[i])))
    for tag in ("<img", "<script", "<a ", "<iframe", "<style>body"):
        assert tag not in out


APP = """
import sys
sys.path.insert(0, {root!r})
import streamlit as st
from specviz.present import escape
from tests.hostile import PAYLOADS
raw = st.query_params.get("mode") == "raw"
for i, p in enumerate(PAYLOADS):
    with st.container(key=f"md{{i}}"):
        st.markdown(p if raw else escape.md(p))
    with st.container(key=f"html{{i}}"):
        st.html(p if raw else f"<div>{{escape.html(p)}}</div>")
st.markdown("DONE")
"""


@pytest.fixture(scope="module")
def tiny_server(tmp_path_factory, chromium):
    script = tmp_path_factory.mktemp("app") / "safe_app.py"
    script.write_text(APP.format(root=str(ROOT)))
    with streamlit_server(script, script.with_suffix(".log")) as url:
        yield url


def _elements(url: str) -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium",
                                     args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.goto(url)
        # attached, not visible: unescaped, "<style>body{display:none}</style>" hides the page
        page.get_by_text("DONE").wait_for(timeout=60_000, state="attached")
        main = page.locator("[data-testid=stMain]")
        found = {sel: main.locator(sel).count() for sel in
                 (f"a[href*='{EVIL}']", f"img[src*='{EVIL}']", "script", "iframe", "strong",
                  "img")}
        found["texts"] = [page.locator(f".st-key-md{i}").inner_text() for i in range(len(PAYLOADS))]
        browser.close()
        return found


def test_hostile_strings_render_as_text_in_a_browser(tiny_server):
    """Escaped: no link, image, script, frame or emphasis; the text reads as it was written."""
    safe_found = _elements(tiny_server)
    for sel in (f"a[href*='{EVIL}']", "img", "script", "iframe", "strong"):
        assert safe_found[sel] == 0, (sel, safe_found)
    assert [t.strip().replace(escape.WJ, "") for t in safe_found["texts"]] == PAYLOADS
    # the same strings unescaped do become links and images: the check above can fail
    raw_found = _elements(tiny_server + "/?mode=raw")
    assert raw_found[f"a[href*='{EVIL}']"] > 0 and raw_found[f"img[src*='{EVIL}']"] > 0
