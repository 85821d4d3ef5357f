"""The class features on the real pages (AppTest): links round-trip on every page, projector mode
kept across pages, a class following its presenter's page and round, the room's quiz answers,
one workshop pack with each trace once."""
import io
import json
import zipfile
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from specviz.lessons import content
from specviz.services.store import shipped_traces
from specviz.trace import Trace
from specviz.ui import classroom, projector, state, workshop

ROOT = Path(__file__).resolve().parent.parent
STEP = "pages/1_Step_through.py"
STEM = "chat__layers-4__greedy"  # a deterministic drafter: its rounds do not move when drafts are retrained
ROUNDS = len(Trace.load(str(ROOT / "data" / "traces" / f"{STEM}.json")).rounds)
LESSON_PAGES = {stem: name for stem, name in content.LESSONS.items()}


@pytest.fixture(autouse=True)
def fresh_server(tmp_path, monkeypatch):
    """Classes and the trace store in this test's own directory."""
    monkeypatch.setenv("SPECVIZ_CLASSES", str(tmp_path / "classes"))
    monkeypatch.setenv("SPECVIZ_STORE", str(tmp_path / "store"))
    classroom.registry.clear()
    state.store.clear()
    yield
    classroom.registry.clear()
    state.store.clear()


def page(path: str, **query) -> AppTest:
    at = AppTest.from_file(str(ROOT / path), default_timeout=120)
    at.query_params = {k: str(v) for k, v in query.items()}
    return ok(at.run())


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def heading(at: AppTest) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("#### Round "))


def query(at: AppTest) -> dict:
    return dict(at.query_params)


def test_step_through_link_opens_its_round_and_stepping_updates_the_address():
    at = page(STEP, trace=STEM, round=3)
    assert at.session_state["step_current"] == next(lb for lb, p in shipped_traces().items() if p.stem == STEM)
    assert heading(at).startswith(f"#### Round 3 of {ROUNDS} · step 1 of")
    ok(at.button(key="step_next").click().run())
    assert heading(at).startswith(f"#### Round 3 of {ROUNDS} · step 2 of")
    assert query(at) == {"trace": STEM, "round": "3", "stage": "2"}
    ok(at.button(key="step_last").click().run())
    assert query(at)["round"] == str(ROUNDS) and heading(at).startswith(f"#### Round {ROUNDS} of {ROUNDS}")
    # the address just written opens the same view in another browser
    again = page(STEP, **query(at))
    assert heading(again) == heading(at)


def test_step_through_link_names_the_token_the_anatomy_explains():
    at = page(STEP, trace=STEM, round=3, stage=4, token=2)
    radio = next(r for r in at.radio if r.key.startswith("step_tok_2_"))
    assert radio.value == 1 and query(at)["token"] == "2"
    ok(radio.set_value(3).run())
    assert query(at)["token"] == "4"
    again = page(STEP, **query(at))  # the address opens that token again
    assert next(r for r in again.radio if r.key.startswith("step_tok_2_")).value == 3


def test_step_through_stage_past_the_round_shows_it_complete_and_bad_values_say_so():
    at = page(STEP, trace=STEM, round=2, stage=99)
    rnd = Trace.load(str(next(p for p in shipped_traces().values() if p.stem == STEM))).rounds[1]
    from specviz.present import round_view

    n = round_view.n_stages(rnd)
    assert heading(at) == f"#### Round 2 of {ROUNDS} · step {n} of {n}"
    bad = page(STEP, trace="no-such-trace", round="x")
    said = [i.value.replace("\\", "") for i in bad.info]  # as rendered: markdown escapes removed
    assert any("No trace no-such-trace" in t for t in said) and any("Ignored round=x" in t for t in said)
    assert heading(bad).startswith("#### Round ")  # the default trace, at its opening round


def test_compare_keeps_both_traces_in_the_address():
    labels = {p.stem: lb for lb, p in shipped_traces().items()}
    at = page("pages/2_Compare.py", a="chat__lookup__greedy", b="chat__layers-4__greedy")
    assert at.session_state["cmp_a_current"] == labels["chat__lookup__greedy"]
    assert at.session_state["cmp_b_current"] == labels["chat__layers-4__greedy"]
    ok(at.selectbox(key="cmp_b_pick").set_value(labels["summarise__lookup__greedy"]).run())
    assert query(at)["b"] == "summarise__lookup__greedy" and query(at)["a"] == "chat__lookup__greedy"
    ok(at.button(key="cmp_race_go").click().run())  # the race of the left run
    lanes = "".join(h.proto.body for h in at.get("html"))
    assert "plain</b> · " in lanes and "speculative</b> · " in lanes


@pytest.mark.parametrize("stem", list(LESSON_PAGES))
def test_lesson_section_and_projector_round_trip(stem):
    name = LESSON_PAGES[stem]
    sections = content.load(name)["sections"]
    at = page(f"pages/{stem}.py", projector="true", section=2)
    assert at.session_state[projector.KEY] is True
    assert at.subheader[0].value == sections[1]["heading"]  # one section at a time
    assert not any(t.value for t in at.title)  # the title is on the first section only
    ok(at.button(key=f"{name}_slide_next").click().run())
    assert at.subheader[0].value == sections[2]["heading"] and query(at)["section"] == "3"
    ok(at.button(key=f"{name}_slide_prev").click().run())
    ok(at.button(key=f"{name}_slide_prev").click().run())
    assert at.title[0].value == content.load(name)["title"]
    assert "section" not in query(at)  # the first section is the default: left out of links
    assert not [n for n in at.number_input if n.key == "sv_seed"]  # the seed is fixed


@pytest.mark.parametrize("path", ["app.py", STEP, "pages/2_Compare.py", "pages/8_Your_server.py"])
def test_projector_mode_comes_from_and_goes_to_the_address(path):
    at = page(path, projector="true")
    assert at.session_state[projector.KEY] is True
    assert projector.CSS.split("{")[0] in "".join(h.proto.body for h in at.get("html"))
    ok(at.toggle(key=projector.WIDGET).set_value(False).run())
    assert "projector" not in query(at)
    ok(at.toggle(key=projector.WIDGET).set_value(True).run())
    assert query(at)["projector"] == "true"


def test_projector_mode_enlarges_chart_type():
    def layouts(at):  # the trace's charts (the "This machine" panel's is off the projector's page)
        shown = [json.loads(c.proto.spec)["layout"] for c in at.get("plotly_chart")]
        return [lay for lay in shown if "costs here" not in str(lay.get("title", {}).get("text", ""))]

    plain = layouts(page(STEP, trace=STEM, round=3, stage=4))
    big = layouts(page(STEP, trace=STEM, round=3, stage=4, projector="true"))
    assert len(big) == len(plain) >= 4
    for p, b in zip(plain, big):  # explicit sizes: the app's chart theme would draw unset ones small
        assert b["title"]["font"]["size"] >= 1.5 * p["title"]["font"]["size"]
        for axis in ("xaxis", "yaxis"):
            assert p[axis]["tickfont"]["size"] == 12 and b[axis]["tickfont"]["size"] >= 24
            assert b[axis]["title"]["font"]["size"] >= 24
        assert b["legend"]["font"]["size"] >= 24
    big = page(STEP, trace=STEM, round=3, stage=4, projector="true")
    assert not any(t.value for t in big.title)  # Step through's first screen is the round


def _start(at: AppTest) -> str:
    next(b for b in at.button if b.label == "Start a class").click().run()
    return at.session_state[classroom.CODE]


def test_followers_see_the_presenters_trace_and_round_and_a_detached_one_stays_put():
    presenter = page(STEP)
    code = _start(ok(presenter))
    ok(presenter.selectbox(key="step_pick").set_value(
        next(lb for lb, p in shipped_traces().items() if p.stem == STEM)).run())
    for _ in range(3):
        ok(presenter.button(key="step_next").click().run())
    shown = heading(presenter)
    students = [page(STEP, **{"class": code}) for _ in range(2)]
    for s in students:
        assert heading(ok(s.run())) == shown  # first run joins, the poll takes the view
        assert classroom.SECRET not in s.session_state
    away, still = students
    next(b for b in away.button if b.label == "Explore on my own").click().run()
    ok(presenter.button(key="step_last").click().run())
    assert heading(ok(still.run())) == heading(presenter)
    assert heading(ok(away.run())) == shown  # detached: stays put
    next(b for b in away.button if b.label == "Follow the presenter again").click().run()
    assert heading(ok(away.run())) == heading(presenter)


def _button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


@pytest.mark.parametrize("away_on", ["pages/2_Compare.py", "pages/5_Lossless.py"])
def test_a_student_reattaches_from_another_page_at_once(away_on):
    presenter = page(STEP, trace=STEM, round=3)
    code = _start(ok(presenter))
    ok(presenter.button(key="step_next").click().run())
    student = page("app.py", **{"class": code})  # the join link; the app's pages can switch
    assert heading(ok(student.run())) == heading(presenter)
    ok(_button(student, "Explore on my own").click().run())
    student.query_params.clear()  # a page switch: Streamlit drops the query
    ok(student.switch_page(away_on).run())
    assert not any(m.value.startswith("#### Round ") for m in student.markdown)
    # the presenter does not move: re-attaching must not wait for the presenter's next step
    ok(_button(student, "Follow the presenter again").click().run())
    assert heading(student) == heading(presenter) and query(student)["trace"] == STEM


def test_a_page_switch_that_lost_its_race_is_made_by_the_next_run():
    """A follower's switch to the presenter's page can be overtaken by a rerun of the page it is
    on (Streamlit folds the two requests into one run of that page): the view stays pending and
    that run switches again (it was dropped, and the student stayed until the presenter moved)."""
    presenter = page(STEP, trace=STEM, round=3)
    code = _start(ok(presenter))
    student = page("app.py", **{"class": code})
    ok(student.run())
    ok(student.switch_page("pages/2_Compare.py").run())
    snap = classroom.registry().snapshot(code)
    student.session_state[classroom.APPLIED] = snap.version  # taken, but the switch did not happen
    student.session_state[classroom.PENDING] = snap.view
    ok(student.run())  # a run of Compare, as the lost race gives
    assert heading(student) == heading(presenter)


def test_only_the_live_question_polls_and_revealing_it_moves_on():
    path, name = "pages/5_Lossless.py", "3_lossless"
    presenter = page(path)
    _start(ok(presenter))
    ok(presenter.run())
    n = len(content.load(name)["quiz"])
    watch = [b.key for b in presenter.button if b.label == "Watch this question live"]
    assert len(watch) == n - 1 and f"sv_live_{name}.q0" not in watch  # q0 is live: the only poll
    ok(presenter.button(key=f"sv_reveal_{name}.q0").click().run())
    ok(presenter.run())  # (the live chart's rerun after a reveal)
    watch = [b.key for b in presenter.button if b.label == "Watch this question live"]
    assert f"sv_live_{name}.q0" in watch and f"sv_live_{name}.q1" not in watch  # q1 is live now
    ok(presenter.button(key=f"sv_live_{name}.q3").click().run())
    watch = [b.key for b in presenter.button if b.label == "Watch this question live"]
    assert f"sv_live_{name}.q3" not in watch and f"sv_live_{name}.q1" in watch


def test_the_presenter_sees_the_rooms_quiz_answers():
    path = "pages/5_Lossless.py"
    presenter = page(path)
    code = _start(presenter)
    name = "3_lossless"
    items = content.load(name)["quiz"]
    i = next(k for k, q in enumerate(items) if q.get("kind") != "predict")
    qid = f"{name}.q{i}"
    ok(presenter.run())
    students = [page(path, **{"class": code}) for _ in range(3)]
    for n, s in enumerate(students):
        radio = s.radio(key=f"quiz_{name}_{i}")
        ok(radio.set_value(radio.options[n % 2]).run())
        ok(radio.set_value(radio.options[1]).run())  # a changed mind is not counted again
    t = classroom.registry().tally(code, presenter.session_state[classroom.SECRET], qid)
    assert t.answered == 3 and sorted(t.counts, reverse=True)[:2] == [2, 1]
    ok(presenter.run())
    room = [json.loads(c.proto.spec) for c in presenter.get("plotly_chart") if "sv_room_" in c.proto.id]
    asked = next(r for r in room if "3 answered" in r["layout"]["title"]["text"])
    assert asked["layout"]["yaxis"]["type"] == "category"  # options like "0.4" are labels, not numbers
    assert sorted(asked["data"][0]["x"], reverse=True)[:2] == [2, 1]


def test_workshop_pack_has_each_trace_once():
    path = next(iter(shipped_traces().values()))
    a, b = Trace.load(str(path)), Trace.load(str(path))  # the same run loaded twice
    other = Trace.load(str(list(shipped_traces().values())[1]))
    kept = {"Step through - x": a, "Compare, left - x": b, "lesson - y": other, "upload": a}
    z = zipfile.ZipFile(io.BytesIO(workshop.pack(kept, {})))
    files = [n for n in z.namelist() if n.startswith("traces/")]
    assert len(files) == 2
    bodies = [z.read(n) for n in files]
    assert len(set(bodies)) == 2
    assert any(f"lessons/{n}/lesson.md" in z.namelist() for n in content.LESSONS.values())
    for body in bodies:
        Trace.from_json(body)  # replayable


def test_workshop_pack_is_bounded(monkeypatch):
    from specviz.services import workshop as pack

    paths = list(shipped_traces().values())[:4]
    monkeypatch.setattr(pack, "PACK_TRACES", 3)
    z = zipfile.ZipFile(io.BytesIO(pack.workshop_pack({p.stem: Trace.load(str(p)) for p in paths}, {})))
    assert len([n for n in z.namelist() if n.startswith("traces/")]) == 3
    assert paths[3].stem in z.read("README.txt").decode()


def test_projector_mode_is_kept_across_pages_without_the_address():
    at = page("app.py")
    ok(at.toggle(key=projector.WIDGET).set_value(True).run())
    at.query_params.clear()  # a page switch: Streamlit drops the query
    ok(at.switch_page("pages/3_Why_it_works.py").run())
    assert at.session_state[projector.KEY] is True and at.query_params["projector"] == "true"
    assert any("section 1 of" in c.value for c in at.caption)  # one section at a time


def test_the_class_code_is_kept_across_pages_without_the_address():
    presenter = page("app.py")
    code = _start(ok(presenter))
    student = page("app.py", **{"class": code})
    for at in (presenter, student):
        at.query_params.clear()  # a page switch: Streamlit drops the query
        ok(at.switch_page("pages/5_Lossless.py").run())
        assert at.query_params["class"] == code  # a reload of this address stays in the class
    assert any(f"Following class {code}" in c.value for c in student.caption)


def test_lesson_3_sandbox_opens_on_demand_and_from_a_link():
    path = "pages/5_Lossless.py"
    at = page(path)
    assert not [s for s in at.slider if s.key.startswith("sb_")]  # closed: no torch on load
    ok(at.toggle(key="sb_open").set_value(True).run())
    ok(at.slider(key="sb_q0").set_value(90).run())
    assert query(at)["sb_q"].startswith("90,")
    again = page(path, **query(at))  # the link opens the sandbox as it was
    assert again.slider(key="sb_q0").value == 90 and again.toggle(key="sb_open").value


def test_a_link_can_hide_controls_and_the_copy_link_keeps_the_view():
    at = page(STEP, trace=STEM, round=3, step_runbox_hide="true", projector="true")
    styles = "".join(h.proto.body for h in at.get("html"))
    assert ".st-key-step_runbox{display:none" in styles  # TensorFlow Playground's _hide
    # "Link to this view": the browser shows its live address less projector and class (a script);
    # the server's own version of that link goes along as the component's data
    live = next(e for e in at.get("bidi_component") if e.key == "sv_link_live")
    link = json.loads(live.proto.bytes)["server"]
    assert json.loads(live.proto.bytes)["drop"] == ["class", "projector"]
    assert f"trace={STEM}" in link and "round=3" in link and "step_runbox_hide=true" in link
    assert "projector" not in link


def test_lesson_instrument_settings_round_trip():
    at = page("pages/4_Acceptance_rate.py", alpha="0.5,0.95", c="0.2")
    assert at.multiselect(key="th_alphas").value == [0.5, 0.95] and at.slider(key="th_c").value == 0.2
    ok(at.slider(key="th_c").set_value(0.3).run())
    assert query(at) == {"alpha": "0.5,0.95", "c": "0.3"}
    bad = page("pages/4_Acceptance_rate.py", alpha="0.5,2", c="x")
    assert bad.slider(key="th_c").value == 0.05 and len([i for i in bad.info if "Ignored" in i.value]) == 2
    one = page("pages/3_Why_it_works.py", drafters="lookup")
    assert one.multiselect(key="c_drafters").value == ["lookup"]
    ok(one.multiselect(key="c_drafters").select("layers:8").run())
    assert query(one)["drafters"] == "lookup,layers:8"
    trees = page("pages/6_Beyond_draft_models.py", drafter="layers:4", budgets="16,64", tokens="48")
    assert (trees.selectbox(key="ts_draft").value, trees.multiselect(key="ts_budgets").value,
            trees.select_slider(key="ts_tokens").value) == ("layers:4", [16, 64], 48)
    ok(trees.select_slider(key="ts_tokens").set_value(24).run())
    assert query(trees) == {"drafter": "layers:4", "budgets": "16,64", "tokens": "24"}
    brief = page("pages/7_Decision_brief.py", evidence="measure my workload now", gamma="3", repeats="5")
    assert (brief.number_input(key="br_gamma").value, brief.number_input(key="br_repeats").value) == (3, 5)
    ok(brief.number_input(key="br_max").set_value(64).run())
    assert query(brief) == {"evidence": "measure my workload now", "gamma": "3", "tokens": "64", "repeats": "5"}


def test_one_presenter_step_is_one_class_update():
    """Followers rerun their whole page per update: a step must not publish twice."""
    presenter = page(STEP, trace=STEM, round=3)
    code = _start(presenter)
    version = lambda: classroom.registry().snapshot(code).version  # noqa: E731
    ok(presenter.run())
    for button in ("step_next", "step_next", "step_last", "step_first"):
        before = version()
        ok(presenter.button(key=button).click().run())
        assert version() == before + 1, button
    ok(presenter.run())  # a rerun showing the same view publishes nothing
    assert version() == before + 1
