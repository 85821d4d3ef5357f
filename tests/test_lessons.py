"""Lesson pages under AppTest: each renders, its instrument responds, the quiz scores and explains."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from specviz.ui import lesson

ROOT = Path(__file__).resolve().parent.parent
LESSONS = {"pages/3_Why_it_works.py": "1_why_it_works", "pages/4_Acceptance_rate.py": "2_acceptance_rate",
           "pages/5_Lossless.py": "3_lossless", "pages/6_Beyond_draft_models.py": "4_beyond_draft_models",
           "pages/7_Decision_brief.py": "5_decision_brief"}


def app(page: str) -> AppTest:
    return ok(AppTest.from_file(str(ROOT / page), default_timeout=300).run())


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def texts(at: AppTest) -> str:
    return "\n".join([m.value for m in at.markdown] + [c.value for c in at.caption])


@pytest.mark.parametrize("page,name", LESSONS.items())
def test_lesson_renders_with_quiz(page, name):
    data = lesson.load(name)
    assert len(data["quiz"]) >= 5
    at = app(page)
    quiz = [r for r in at.radio if r.key and r.key.startswith(f"quiz_{name}_")]
    assert len(quiz) == len(data["quiz"])  # every question, predict ones included, is shown
    assert data["sections"][0]["heading"] in [s.value for s in at.subheader]


def test_quiz_scores_and_explains():
    name = "3_lossless"
    q = lesson.load(name)["quiz"][0]
    at = app("pages/5_Lossless.py")
    at.radio(key=f"quiz_{name}_0").set_value(q["options"][q["answer"]]).run()
    ok(at)
    assert any(q["explain"] in s.value for s in at.success)
    at.radio(key=f"quiz_{name}_1").set_value(lesson.load(name)["quiz"][1]["options"][2]).run()
    assert any("Not quite" in e.value for e in at.error)  # a wrong answer is an st.error with the answer
    assert at.metric[-1].value == f"1 / {len(lesson.load(name)['quiz'])}"
    # the score counts first answers only: correcting question 2 does not raise it
    at.radio(key=f"quiz_{name}_1").set_value(lesson.load(name)["quiz"][1]["options"][0]).run()
    assert at.metric[-1].value.startswith("1 /")


def test_predict_before_reveal_uses_a_real_round():
    name = "3_lossless"
    idx = next(i for i, q in enumerate(lesson.load(name)["quiz"]) if q.get("kind") == "predict")
    at = app("pages/5_Lossless.py")
    radio = at.radio(key=f"quiz_{name}_{idx}")
    assert radio.options == ["accepted", "rejected"]
    radio.set_value("rejected").run()
    ok(at)
    shown = texts(at)
    assert "p(x) =" in shown and ("accepted" in shown or "rejected" in shown)


def test_cost_curve_measures_on_the_real_model():
    import torch

    before = torch.get_num_threads()
    at = app("pages/3_Why_it_works.py")
    at.slider(key="cost_max").set_value(4)
    at.slider(key="cost_repeats").set_value(1)
    at.selectbox(key="cost_threads").set_value(1)
    ok(at.button(key="cost_go").click().run())
    labels = [m.label for m in at.metric]
    assert "one-token pass" in labels and "slope (ms / extra token)" in labels
    assert at.session_state["sv_cost"]["n_tokens"] == [1, 2, 3, 4]
    assert at.session_state["sv_cost"]["threads"] == 1
    assert len(at.session_state["sv_cost"]["stock_seconds"]) == 4  # transformers' curve, same run
    verify = next(m for m in at.metric if m.label == "4-token pass (γ = 3)")
    assert verify.value.endswith("×") and "transformers' stock forward" in verify.delta
    assert torch.get_num_threads() == before  # the thread count is restored after measuring


def test_theory_and_replay_respond_to_inputs():
    at = app("pages/4_Acceptance_rate.py")
    before = texts(at)
    ok(at.slider(key="th_c").set_value(0.5).run())
    assert "at this c" in texts(at) and texts(at) != before  # best γ per α changes with c
    options = at.selectbox(key="rp_label").options
    other = next(o for o in options if o != at.selectbox(key="rp_label").value)
    before = texts(at)
    ok(at.selectbox(key="rp_label").set_value(other).run())
    assert "Estimate" in texts(at) and texts(at) != before


def test_lab_strict_matches_loose_drifts():
    at = app("pages/5_Lossless.py")
    at.select_slider(key="lab_n").set_value(2000)
    ok(at.button(key="lab_go").click().run())
    rows = at.dataframe[0].value
    verdict = dict(zip(rows["method"], rows["verdict"]))
    assert verdict["strict"] == "matches p"
    assert "DRIFTS from p" in [verdict[v] for v in ("topk", "ratio", "no_residual", "greedy_draft")]
    assert "distribution_lab.json" in at.session_state["sv_lesson_texts"]["3_lossless"]  # in the pack


def test_beyond_draft_models_shows_diagram_and_published_figures():
    at = app("pages/6_Beyond_draft_models.py")
    assert "published" in texts(at).lower()
    assert any("Cai et al. 2024" in str(df.value) for df in at.dataframe)


def test_decision_brief_from_shipped_runs_downloads():
    at = app("pages/7_Decision_brief.py")
    shown = texts(at)
    assert "## Recommendation" in shown and "## Measurement plan" in shown
    assert at.session_state["sv_lesson_texts"]["5_decision_brief"]["decision_brief.md"].startswith("# Decision brief")


def test_presenter_mode_steps_sections():
    name = "1_why_it_works"
    sections = lesson.load(name)["sections"]
    at = app("pages/3_Why_it_works.py")
    ok(at.toggle(key=lesson.PRESENTER).set_value(True).run())
    assert [s.value for s in at.subheader] == [sections[0]["heading"]]  # one section at a time
    ok(at.button(key=f"{name}_slide_next").click().run())
    assert [s.value for s in at.subheader] == [sections[1]["heading"]]
    assert not [n for n in at.number_input if n.key == "sv_seed"]


def test_decision_brief_measures_a_workload_live():
    at = app("pages/7_Decision_brief.py")
    ok(at.radio(key="br_source").set_value("measure my workload now").run())
    for key, prompt in (("br_chat", "Say hi."), ("br_summarise", "Repeat: red green blue red green blue"),
                        ("br_code edit", "Rename x to y: x = 1")):
        at.text_area(key=key).set_value(prompt)
    at.number_input(key="br_max").set_value(8)
    at.text_input(key="br_notes").set_value("workshop laptop")
    ok(at.button(key="br_go").click().run())
    md = at.session_state["sv_lesson_texts"]["5_decision_brief"]["decision_brief.md"]
    assert "| chat | 1 |" in md and "| code edit | 1 |" in md
    assert "MiB of weights" in md  # the draft's memory overhead was measured
    assert "workshop laptop" in md and "smollm2-135m-instruct" in md
    assert len(at.session_state["sv_lesson_traces"]["5_decision_brief"]) == 3
