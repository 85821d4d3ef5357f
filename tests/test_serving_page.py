"""The Your server page (AppTest) on each engine's example, a watched collapse, per-request
responses and bad pastes: the numbers shown are the ones worked out by hand in test_serving*.py."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from specviz.ui.server import EXAMPLES, TEST_DATA

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "pages" / "8_Your_server.py")


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def opened(label: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.sidebar.radio(key="srv_mode").set_value("an example").run()
    at.sidebar.selectbox(key="srv_example").set_value(label).run()
    at.sidebar.button(key="srv_open").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    return at


def text(at) -> str:
    kinds = ("caption", "info", "markdown", "warning", "success")
    return " ".join(x.value for kind in kinds for x in getattr(at, kind))


def test_every_example_but_the_real_run_is_labelled_test_data():
    assert all(TEST_DATA in label for label in list(EXAMPLES)[1:]) and "real" in list(EXAMPLES)[0]


@pytest.mark.parametrize("label, shown", [
    (f"llama.cpp format example {TEST_DATA}",
     {"τ per pass": "3.45", "α (Leviathan)": "0.803", "vLLM rate": "0.700"}),
    (f"TensorRT-LLM format example {TEST_DATA}",
     {"τ per pass": "2.72", "α (Leviathan)": "0.735", "vLLM rate": "0.573"}),
    (f"SGLang counters example {TEST_DATA}",
     {"τ per pass": "3.00", "α (Leviathan)": "n/a", "verify calls counted": "32,000"}),
])
def test_each_engine_example_shows_its_numbers_and_its_own_rate(label, shown):
    at = opened(label)
    assert {name: metric(at, name) for name in shown} == shown
    words = text(at)
    assert "own acceptance rate" in words
    assert len(at.get("plotly_chart")) == (0 if "SGLang" in label else 1)  # per position, where counted
    if "SGLang" in label:  # the gauges beside, labelled, never mixed in
        assert "never mixed in (each a windowed gauge: the last window, not the run)" in words and "3.52" in words


def test_tgi_is_labelled_archived():
    at = opened(f"TGI format example, an archived engine {TEST_DATA}")
    assert "TGI is archived" in text(at)


def test_a_watched_collapse_raises_the_alarm_on_the_page():
    at = opened(f"vLLM watched: five saved pages, acceptance collapses {TEST_DATA}")
    assert "4 window(s) watched" in text(at)
    (warning,) = [w.value.replace("\\", "") for w in at.warning]  # markdown-escaped: shown literally
    assert "Alarm: collapse at scrape4.prom → scrape5.prom" in warning and "2.80 → 1.14" in warning
    steady = opened(f"vLLM format example {TEST_DATA}")  # one reading: nothing to compare yet
    assert not steady.warning and "they need at least 3 windows" in text(steady)


def test_per_request_responses_show_pooled_spread_outliers_and_every_request():
    at = opened(f"vLLM per-request responses example {TEST_DATA}")
    assert metric(at, "requests") == "8" and metric(at, "τ, all requests") == "2.60"  # 1 + 519 ÷ 324
    assert metric(at, "α (Leviathan)") == "0.719" and metric(at, "median request") == "2.63"  # 519 ÷ 722
    assert "2 outlier(s) outside 2.26–2.92" in text(at)
    rows = at.dataframe[-1].value
    assert len(rows) == 8 and rows["outlier"].astype(bool).sum() == 2
    assert len(at.get("plotly_chart")) == 3  # spread, histogram, per position
    llama = opened(f"llama.cpp per-request timings example {TEST_DATA}")
    assert metric(llama, "τ, all requests") == "n/a" and metric(llama, "vLLM rate") == "0.714"
    assert "not how many verify passes ran: no τ" in text(llama)


@pytest.mark.parametrize("paste, says", [
    ("", "nothing to read"),
    ("<html>Sign in</html>", "not a Prometheus metrics page (it looks like HTML)"),
    ("{broken\nnot json either", "neither a JSON response nor JSON lines"),
])
def test_a_bad_paste_gives_one_line_and_keeps_the_last_reading(paste, says):
    at = opened(f"vLLM per-request responses example {TEST_DATA}")
    at.sidebar.radio(key="srv_mode").set_value("a pasted response").run()
    at.sidebar.text_area(key="srv_paste").input(paste).run()
    at.sidebar.button(key="srv_paste_read").click().run()
    assert not at.exception and len(at.error) == 1 and says in at.error[0].value
    assert metric(at, "τ, all requests") == "2.60"  # still the last good reading


def test_a_pasted_vllm_response_is_read():
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.sidebar.radio(key="srv_mode").set_value("a pasted response").run()
    at.sidebar.text_area(key="srv_paste").input((ROOT / "data/serving/vllm_request_example.json").read_text()).run()
    at.sidebar.button(key="srv_paste_read").click().run()
    assert not at.exception and not at.error
    assert metric(at, "τ, all requests") == "1.23"  # 1 + 10 ÷ 43
    assert metric(at, "α (Leviathan)") == "0.200"  # 10 ÷ (10 + 43 − 3)
