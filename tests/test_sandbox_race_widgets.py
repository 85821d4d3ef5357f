"""The sandbox and race widgets under AppTest: settings in the address, bad input, the race runs."""
from streamlit.testing.v1 import AppTest

SANDBOX = """
from specviz.ui import sandbox, urlstate
sandbox.sandbox("sb")
urlstate.notices()
"""

RACE = """
import streamlit as st
from specviz.store import TraceStore
from specviz.ui import race
race.race_view(TraceStore().resolve("chat__lookup__greedy"), "race")
"""


def test_sandbox_settings_come_from_and_go_to_the_address(tmp_path, monkeypatch):
    monkeypatch.setenv("SPECVIZ_STORE", str(tmp_path))
    at = AppTest.from_string(SANDBOX, default_timeout=60)
    at.query_params = {"sb_p": "50,30,20,0,0", "sb_q": "20,60,20,0,0", "sb_draws": "100"}
    at.run()
    assert not at.exception
    assert at.metric[0].value == "0.700"  # β = 0.2 + 0.3 + 0.2
    assert len(at.get("plotly_chart")) == 4
    at.slider(key="sb_p4").set_value(100).run()
    assert at.query_params["sb_p"] == "50,30,20,0,100"
    assert at.query_params["sb_draws"] == "100"


def test_sandbox_bad_input_is_a_message():
    at = AppTest.from_string(SANDBOX, default_timeout=60)
    at.query_params = {"sb_p": "0,0,0,0,0", "sb_draws": "7"}
    at.run()
    assert not at.exception
    assert len(at.info) == 1 and "Ignored sb\\_draws\\=7" in at.info[0].value
    assert "at least one token needs a weight above 0" in at.error[0].value
    at = AppTest.from_string(SANDBOX, default_timeout=60)
    at.query_params = {"sb_p": "<script>", "sb_q": "1,2"}
    at.run()
    assert not at.exception and at.metric[0].value == "0.750"  # defaults kept


def _lanes(at) -> str:
    return next(h.proto.body for h in at.get("html") if "sv-lane-head" in h.proto.body)


def test_race_runs_and_finishes():
    at = AppTest.from_string(RACE, default_timeout=30).run()
    assert not at.exception and "0 / 40 tokens" in _lanes(at)
    at.button[0].click().run()
    at.session_state["race_t0"] -= 1.6  # 0.8 s of race at ½×: plain (36.5 ms a token) is halfway
    at.run()
    plain = int(_lanes(at).split("plain</b> · ")[1].split(" /")[0])
    assert 20 <= plain <= 26 and "finished" not in _lanes(at)
    at.session_state["race_t0"] -= 10  # as if 10 s had passed (5 s of race at ½×)
    at.run()
    body = _lanes(at)
    assert "plain</b> · 40 / 40 tokens · finished in 1.46 s" in body
    assert "speculative</b> · 40 / 40 tokens · finished in 1.73 s" in body
    assert "0.84× plain decoding" in at.caption[-1].value
