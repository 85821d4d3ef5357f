"""URL state: validation, round trips through st.query_params, the _hide convention."""
import pytest
from streamlit.testing.v1 import AppTest

from specviz.ui import urlstate as u

SCHEMA = [u.Text("trace", "summarise__lookup__greedy"), u.Int("round", 1, 1, 40),
          u.Int("stage", 1, 1, 9), u.Choice("speed", "1×", ["0.5×", "1×", "2×"]),
          u.Float("temperature", 0.0, 0.0, 2.0), u.Bool("animate", True)]


def test_parse_valid_values_and_defaults():
    values, notices = u.parse({"trace": "chat__lookup__greedy", "round": "3", "speed": "2×",
                               "temperature": "0.7", "animate": "false"}, SCHEMA)
    assert values == {"trace": "chat__lookup__greedy", "round": 3, "stage": 1, "speed": "2×",
                      "temperature": 0.7, "animate": False}
    assert notices == []
    assert u.parse({}, SCHEMA) == ({p.name: p.default for p in SCHEMA}, [])


@pytest.mark.parametrize("name,raw", [
    ("round", "abc"), ("round", "0"), ("round", "41"), ("round", "3.5"), ("round", "1e9"),
    ("round", "9" * 40), ("temperature", "nan"), ("temperature", "inf"), ("temperature", "-1"),
    ("speed", "3×"), ("animate", "yes"), ("trace", "../../etc/passwd"), ("trace", "<script>"),
    ("trace", "a b"), ("trace", "[x](https://evil.example)"), ("trace", ""), ("trace", "x" * 500)])
def test_bad_values_fall_back_with_a_notice(name, raw):
    values, notices = u.parse({name: raw}, SCHEMA)
    default = next(p.default for p in SCHEMA if p.name == name)
    assert values[name] == default
    assert len(notices) == 1 and notices[0].startswith(f"Ignored {name}=")


def test_encode_round_trip_leaves_defaults_out():
    values = {"trace": "chat__lookup__greedy", "round": 7, "stage": 1, "speed": "0.5×",
              "temperature": 1.25, "animate": True}
    q = u.encode(values, SCHEMA)
    assert q == {"trace": "chat__lookup__greedy", "round": "7", "speed": "0.5×", "temperature": "1.25"}
    assert u.parse(q, SCHEMA) == (values, [])
    assert u.query_string(values, SCHEMA, {"class": "ABCDE"}).startswith("?class=ABCDE&trace=")
    assert u.parse({"round": ["2", "5"]}, SCHEMA)[0]["round"] == 5  # a repeated parameter: the last


PAGE = """
import streamlit as st
from specviz.ui import urlstate as u
SCHEMA = [u.Text("trace", "a"), u.Int("round", 1, 1, 40), u.Int("stage", 1, 1, 9)]
ss = st.session_state
came = u.incoming("pg", SCHEMA)
if came is not None:
    ss.trace, ss.round, ss.stage = came["trace"], came["round"], came["stage"]
    ss.applied = ss.get("applied", 0) + 1
u.notices()
def nxt():
    ss.round += 1
if not u.hidden("next"):
    st.button("next", on_click=nxt)
st.markdown(f"showing {ss.trace} round {ss.round} stage {ss.stage}")
u.publish("pg", SCHEMA, {"trace": ss.trace, "round": ss.round, "stage": ss.stage})
u.copy_link({"trace": ss.trace, "round": ss.round, "stage": ss.stage}, SCHEMA, keep={"class": "ABCDE"})
"""


def _shown(at) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("showing"))


def test_a_link_opens_its_view_and_stepping_updates_the_address():
    at = AppTest.from_string(PAGE)
    at.query_params = {"trace": "chat__lookup__greedy", "round": "3", "class": "ABCDE"}
    at.run()
    assert not at.exception and _shown(at) == "showing chat__lookup__greedy round 3 stage 1"
    at.button[0].click().run()
    assert _shown(at).endswith("round 4 stage 1")
    assert at.query_params["round"] == "4" and at.query_params["trace"] == "chat__lookup__greedy"
    assert at.query_params["class"] == "ABCDE"  # parameters of others are left alone
    assert "stage" not in at.query_params  # the default is left out
    at.button[0].click().run()
    assert at.query_params["round"] == "5" and at.session_state.applied == 1  # own writes don't re-apply
    assert at.code[0].value == "?class=ABCDE&trace=chat__lookup__greedy&round=5"  # AppTest has no base URL


def test_an_edited_address_is_applied_again():
    at = AppTest.from_string(PAGE)
    at.run()
    at.query_params = {"round": "9"}
    at.run()
    assert _shown(at) == "showing a round 9 stage 1"


def test_bad_values_in_the_address_show_a_notice_not_a_traceback():
    at = AppTest.from_string(PAGE)
    at.query_params = {"round": "lots", "stage": "99", "trace": "<img src=x>"}
    at.run()
    assert not at.exception and _shown(at) == "showing a round 1 stage 1"
    assert len(at.info) == 3 and any("Ignored round\\=lots" in i.value for i in at.info)
    assert at.query_params == {}  # the address is cleaned up to what is shown
    at.run()
    assert len(at.info) == 0  # said once


def test_hide_convention():
    at = AppTest.from_string(PAGE)
    at.query_params = {"next_hide": "true"}
    at.run()
    assert len(at.button) == 0 and at.code[0].value == "?next_hide=true&class=ABCDE"  # links keep it
    at = AppTest.from_string(PAGE)
    at.query_params = {"next_hide": "nope"}
    at.run()
    assert len(at.button) == 1
