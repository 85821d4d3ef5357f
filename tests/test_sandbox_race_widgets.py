"""The sandbox and race widgets under AppTest: settings in the address, bad input, the race runs."""
from streamlit.testing.v1 import AppTest

SANDBOX = """
from specviz.ui import sandbox, urlstate
sandbox.sandbox("sb")
urlstate.notices()
"""

RACE = """
import streamlit as st
from specviz.services.store import TraceStore
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
    from specviz.measure import metrics
    from specviz.present.race import race
    from specviz.services.store import TraceStore

    trace = TraceStore().resolve("chat__lookup__greedy")  # its measured pace decides every number below
    r, n = race(trace), len(trace.baseline.output_ids)
    at = AppTest.from_string(RACE, default_timeout=30).run()
    assert not at.exception and f"0 / {n} tokens" in _lanes(at)
    at.button[0].click().run()
    half = r.plain.finish / 2  # race time at which plain decoding is halfway
    at.session_state["race_t0"] -= 2 * half  # wall seconds at ½×
    at.run()
    plain = int(_lanes(at).split("plain</b> · ")[1].split(" /")[0])
    assert abs(plain - r.plain.done(half)) <= 3 and "finished" not in _lanes(at)  # a few ms of page run
    at.session_state["race_t0"] -= 2 * r.length + 10  # well past both finishes at ½×
    at.run()
    body = _lanes(at)
    assert f"plain</b> · {n} / {n} tokens · finished in {r.plain.finish:.2f} s" in body
    assert (f"speculative</b> · {len(r.spec.times)} / {len(r.spec.times)} tokens · finished in "
            f"{r.spec.finish:.2f} s") in body
    assert f"{metrics.measured_speedup(trace):.2f}× plain decoding" in at.caption[-1].value
