"""Class widgets across sessions (AppTest): start, join by link, follow, detach and re-attach,
the room's answers aggregated across sessions and revealed on demand, the QR code."""
import re

import pytest
from streamlit.testing.v1 import AppTest

from specviz.ui import classroom

PAGE = """
import streamlit as st
from specviz.ui import classroom
ss = st.session_state
ss.setdefault("round", 1)
view = classroom.incoming("demo")
if view is not None:
    ss.round = view["round"]
with st.sidebar:
    classroom.panel()
classroom.bar("demo")
def nxt():
    ss.round += 1
st.button("next", on_click=nxt)
st.markdown(f"showing round {ss.round}")
classroom.publish("demo", {"round": ss.round})
classroom.ask("demo.q1", ["accepted", "rejected"])
for i, o in enumerate(["accepted", "rejected"]):
    if st.button(f"answer {o}"):
        ss.counted = classroom.answer("demo.q1", i)
classroom.room_result("demo.q1")
"""


@pytest.fixture(autouse=True)
def fresh_registry(tmp_path, monkeypatch):
    monkeypatch.setenv("SPECVIZ_CLASSES", str(tmp_path))
    classroom.registry.clear()
    yield
    classroom.registry.clear()


def _app(**query) -> AppTest:
    at = AppTest.from_string(PAGE, default_timeout=20)
    at.query_params = dict(query)
    return at.run()


def _round(at) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("showing round"))


def _button(at, label: str):
    return next(b for b in at.button if b.label == label)


def _start(at) -> str:
    _button(at, "Start a class").click().run()
    code = at.session_state[classroom.CODE]
    assert at.query_params["class"] == code
    return code


def test_presenter_leads_followers_follow_detach_and_reattach():
    presenter = _app()
    code = _start(presenter)
    assert presenter.session_state[classroom.SECRET]
    link = presenter.sidebar.code[0].value
    assert link.endswith(f"?class={code}") and presenter.session_state[classroom.SECRET] not in link
    students = [_app(**{"class": code}) for _ in range(2)]
    for s in students:
        assert not s.exception and _round(s) == "showing round 1"
        assert classroom.SECRET not in s.session_state
        assert any(f"Following class {code}" in c.value for c in s.caption)
    for _ in range(2):
        _button(presenter, "next").click().run()
    assert _round(presenter) == "showing round 3"
    for s in students:
        assert _round(s.run()) == "showing round 3"
    # one student explores on their own: stays put while the presenter moves on
    away, still = students
    _button(away, "Explore on my own").click().run()
    _button(away, "next").click().run()
    _button(presenter, "next").click().run()
    assert _round(away.run()) == "showing round 4"  # its own step, not the presenter's
    assert _round(still.run()) == "showing round 4"  # the presenter's
    _button(presenter, "next").click().run()
    assert _round(away.run()) == "showing round 4" and _round(still.run()) == "showing round 5"
    _button(away, "Follow the presenter again").click().run()
    assert _round(away) == "showing round 5"
    assert f"{2} following" in presenter.run().sidebar.markdown[0].value


def test_students_cannot_drive_and_a_wrong_code_joins_nothing():
    presenter = _app()
    code = _start(presenter)
    student = _app(**{"class": code})
    _button(student, "next").click().run()  # a student's own step publishes nothing
    assert _round(student) == "showing round 2"
    assert _round(presenter.run()) == "showing round 1"
    assert classroom.registry().snapshot(code).view["round"] == 1
    lost = _app(**{"class": "ZZZZZ"})
    assert classroom.CODE not in lost.session_state and not lost.exception
    assert any(b.label == "Start a class" for b in lost.sidebar.button)


def test_room_answers_aggregate_across_sessions_and_reveal_on_demand():
    presenter = _app()
    code = _start(presenter)
    students = [_app(**{"class": code}) for _ in range(5)]
    for i, s in enumerate(students):
        _button(s, "answer rejected" if i < 3 else "answer accepted").click().run()
        assert s.session_state.counted is True
        assert "appear here when the presenter" in " ".join(c.value for c in s.caption)
    _button(students[0], "answer accepted").click().run()
    assert students[0].session_state.counted is False  # first answer counts
    presenter.run()
    t = classroom.registry().tally(code, presenter.session_state[classroom.SECRET], "demo.q1")
    assert t.counts == [2, 3] and t.answered == 5
    assert "5 answered" in presenter.get("plotly_chart")[0].proto.spec
    _button(presenter, "Show students the room's answers").click().run()
    s = students[4].run()
    assert len(s.get("plotly_chart")) == 1 and "5 answered" in s.get("plotly_chart")[0].proto.spec


def test_ending_the_class_releases_everyone():
    presenter = _app()
    code = _start(presenter)
    student = _app(**{"class": code})
    _button(presenter, "End the class").click().run()
    assert classroom.CODE not in presenter.session_state and "class" not in presenter.query_params
    student.run()
    assert classroom.CODE not in student.session_state and not student.exception


def test_qr_code_is_an_svg_of_the_link():
    svg = classroom.qr_svg("http://127.0.0.1:8501/?class=ABCDE")
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "<script" not in svg
    assert re.search(r'<path[^>]+d="M', svg)
