"""Lesson pages under AppTest: each renders, its instruments respond, the quiz scores and explains,
predict-before-reveal hides what it asks about, reruns do not grow state, and every measured
number a lesson quotes is the one specviz.measure.metrics computes from the shipped traces.
(Page-load times are measured by scripts/lesson_load_times.py, not by a timed test.)"""
import json
import pickle
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from specviz import theory
from specviz.lessons import content
from specviz.lessons.quiz import predict_case, verdicts
from specviz.measure import metrics
from specviz.numbers import prob
from specviz.paths import LESSONS_DIR
from specviz.services.store import shipped_traces
from specviz.trace import Trace
from specviz.ui import quiz

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
    """Every text on the page (markdown, captions, notes, question labels), whitespace collapsed."""
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [i.value for i in at.info]
    return "\n".join(" ".join(p.split()) for p in parts + [r.label for r in at.radio])


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def shipped(sub: str) -> dict[str, Trace]:
    return {label: Trace.load(p) for label, p in shipped_traces().items() if sub in label}


def span(xs, suffix: str = "") -> str:
    """The range as a lesson quotes it, computed here independently of the app."""
    xs = sorted(x for x in xs if x is not None)
    lo, hi = f"{xs[0]:.2f}", f"{xs[-1]:.2f}"
    return f"{lo}{suffix}" if lo == hi else f"{lo}–{hi}{suffix}"


@pytest.mark.parametrize("page,name", LESSONS.items())
def test_lesson_renders_with_quiz(page, name):
    data = content.load(name)
    assert len(data["quiz"]) >= 5
    at = app(page)
    quiz_radios = [r for r in at.radio if r.key and r.key.startswith(f"quiz_{name}_")]
    assert len(quiz_radios) == len(data["quiz"])  # every question, predict ones included, is shown
    assert data["sections"][0]["heading"] in [s.value for s in at.subheader]
    assert not content.FACT.search(texts(at))  # every quoted fact was filled


@pytest.mark.parametrize("page,name", LESSONS.items())
def test_reruns_do_not_grow_state(page, name):
    """Clicks rerun the page; the session must not keep another copy of anything per rerun."""
    def footprint(at):
        ss = at.session_state
        kept = ss["sv_lesson_traces"] if "sv_lesson_traces" in ss else {}
        size = len(pickle.dumps({k: v for k, v in kept.items()}))
        return len(list(ss.keys())), sum(len(v) for v in kept.values()), size

    at = app(page)
    at.run()  # the second run settles widget defaults
    first = footprint(at)
    for _ in range(6):
        ok(at.run())
    assert footprint(at) == first


def test_lesson_texts_use_the_one_definition():
    """Wrong statements issue 11 found in the lesson texts must not come back."""
    raw = "\n".join(p.read_text(encoding="utf-8") for p in LESSONS_DIR.glob("*.yaml"))
    for wrong in (r"[Aa]ccepted ÷ drafted is (the acceptance rate )?α", r"c ≈ 0\.2\b", r"c around 0\.2",
                  r"Draft & Verify train", r"means the verify pass cost more", r"costs? about the same"):
        assert not re.search(wrong, raw), wrong
    questions = [q for q in content.load("2_acceptance_rate")["quiz"] if "accepted ÷ drafted" in q.get("question", "")]
    assert questions and "0.59" in questions[0]["options"][questions[0]["answer"]]
    # the worked numbers of that question are Leviathan's and vLLM's under the i.i.d. model
    assert round(theory.expected_acceptance_length(0.8, 4), 2) == 3.36
    assert round(theory.draft_acceptance_rate_expected(0.8, 4), 2) == 0.59


def test_quoted_numbers_are_the_shipped_traces_own():
    """c and α the texts quote for layers:4 are what specviz.measure.metrics computes from the traces."""
    early = [metrics.summarize(t) for t in shipped("layers-4").values()]
    c, alpha = span([s.cost_ratio for s in early]), span([s.alpha for s in early])
    assert texts(app("pages/3_Why_it_works.py")).count(f"c = {c} for") >= 1
    shown = texts(app("pages/4_Acceptance_rate.py"))
    assert f"measured α = {alpha}, c = {c}" in shown
    assert f"{span([s.speedup_measured for s in early], '×')} the speed of plain decoding" in shown
    assert f"measured α = {alpha}" in texts(app("pages/6_Beyond_draft_models.py"))


def _gammas(traces: dict[str, Trace]) -> str:
    return ", ".join(sorted({str(t.config.gamma) for t in traces.values()}))


def test_lesson_1_names_the_gamma_of_the_runs_it_quotes():
    """Verify costs quoted for γ = 4 come from γ = 4 runs only (the trained runs are γ = 1)."""
    chains = {label: t for label, t in shipped("").items() if not t.config.tree_nodes}
    v = lambda g: span([metrics.summarize(t).verify_cost for t in chains.values() if t.config.gamma == g], "×")  # noqa: E731
    assert {t.config.gamma for t in chains.values()} == {1, 4}  # what this test was written against
    shown = texts(app("pages/3_Why_it_works.py"))
    assert f"cost {v(4)} at γ = 4 (5 tokens scored) and {v(1)} at γ = 1 (2 tokens scored)" in shown
    assert f"verify passes of {v(4)} a plain step" in shown  # after "v(5) is what checking a draft costs"
    trained = {k: t for k, t in chains.items() if "trained" in k}
    assert f"for the trained draft (γ = {_gammas(trained)})" in shown and _gammas(trained) == "1"


def test_lesson_4_names_the_gamma_and_the_draft_of_what_it_quotes():
    import hashlib

    greedy = shipped("greedy")
    chain = {k: t for k, t in greedy.items() if "trained" in k and not t.config.tree_nodes}
    tau = span([metrics.summarize(t).mean_acceptance_length for t in chain.values()])
    shown = texts(app("pages/6_Beyond_draft_models.py"))
    assert f"chain of γ = {_gammas(chain)} carried τ = {tau} tokens per target pass" in shown
    # the shipped tree sweep: measured on the date its JSON records, with the draft whose weights it names
    sweep = json.loads((ROOT / "data" / "tree_sweep.json").read_text())
    then = sweep["draft_weights_sha256"]["trained:smollm2-135m-eagle"]
    now = hashlib.sha256((ROOT / "drafts" / "smollm2-135m-eagle" / "weights.safetensors").read_bytes()).hexdigest()
    assert f"measured on {sweep['date']} with" in shown
    assert ("an earlier training of trained:smollm2-135m-eagle" in shown) == (then != now)
    assert "with the same draft, measured" not in shown


def test_quiz_scores_and_explains():
    name = "3_lossless"
    q = content.load(name)["quiz"][0]
    at = app("pages/5_Lossless.py")
    at.radio(key=f"quiz_{name}_0").set_value(q["options"][q["answer"]]).run()
    ok(at)
    assert any(q["explain"] in s.value for s in at.success)
    at.radio(key=f"quiz_{name}_1").set_value(content.load(name)["quiz"][1]["options"][2]).run()
    assert any("Not quite" in e.value for e in at.error)  # a wrong answer is an st.error with the answer
    assert at.metric[-1].value == f"1 / {len(content.load(name)['quiz'])}"
    # the score counts first answers only: correcting question 2 does not raise it
    at.radio(key=f"quiz_{name}_1").set_value(content.load(name)["quiz"][1]["options"][0]).run()
    assert at.metric[-1].value.startswith("1 /")


PREDICTS = [(page, name, i) for page, name in LESSONS.items()
            for i, q in enumerate(content.load(name)["quiz"]) if q.get("kind") == "predict"]


@pytest.mark.parametrize("page,name,idx", PREDICTS)
def test_predict_before_reveal_hides_the_answer_until_answered(page, name, idx):
    item = content.load(name)["quiz"][idx]
    label, trace, rnd, pos = quiz._predict_setup(item)
    tok = trace.rounds[rnd].draft[pos]
    at = app(page)
    before = [h.proto.body for h in at.get("html")]
    radio = at.radio(key=f"quiz_{name}_{idx}")
    assert radio.options == ["accepted", "rejected"]
    ok(radio.set_value("accepted" if tok.accepted else "rejected").run())
    after = [h.proto.body for h in at.get("html")]
    changed = [(b, a) for b, a in zip(before, after) if a != b]
    assert len(changed) == 1  # this question's round, and only it, was revealed by the answer
    card, revealed = changed[0]
    # before: the draft's side only (token, q): no p, no verdict, no test, for any token of the round
    assert f"q {prob(tok.q)}" in card and 'focus"' in card
    assert "card-pending" in card and not re.search(r'class="num">p |β|✓|✗|accepted|rejected|p/q', card)
    assert f'class="num">p {prob(tok.p)}' in revealed
    assert ("accepted" if tok.accepted else "rejected") in revealed
    assert f"p(x) = {prob(tok.p)}" in texts(at)


def test_cost_curve_reports_measured_points_not_the_fit(offline_model):
    import torch

    before = torch.get_num_threads()
    at = app("pages/3_Why_it_works.py")
    at.slider(key="cost_max").set_value(5)
    at.slider(key="cost_repeats").set_value(1)
    at.selectbox(key="cost_threads").set_value(1)
    ok(at.button(key="cost_go").click().run())
    curve = at.session_state["sv_cost"]
    assert curve["n_tokens"] == [1, 2, 3, 4, 5] and curve["threads"] == 1
    assert len(curve["stock_seconds"]) == 5  # transformers' own forward, same run
    s, stock = curve["seconds"], curve["stock_seconds"]
    assert metric(at, "v(5): γ = 4 verify") == f"{s[4] / s[0]:.2f}×"  # the bar, not the line
    assert f"v(5) = {stock[4] / stock[0]:.2f}×" in texts(at)  # transformers' own v(5), same run
    assert metric(at, "v(2)") == f"{s[1] / s[0]:.2f}×"
    assert metric(at, "one-token pass") == f"{1000 * s[0]:.1f} ms"
    assert torch.get_num_threads() == before  # the thread count is restored after measuring
    # lesson 2 can now use the measured v(k) for its verify cost
    at = AppTest.from_file(str(ROOT / "pages/4_Acceptance_rate.py"), default_timeout=300)
    at.session_state["sv_cost"] = curve
    ok(at.run())
    assert not at.toggle(key="th_v").disabled
    ok(at.toggle(key="th_v").set_value(True).run())
    assert "(1.00×)" not in texts(at)


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


def test_acceptance_shows_both_rates_from_the_counts():
    at = app("pages/4_Acceptance_rate.py")
    label = at.selectbox(key="ac_label").value
    c = metrics.counts(Trace.load(shipped_traces()[label]))
    # by hand: α counts the checked tokens only (accepted + one per rejected round)
    assert metric(at, "α (Leviathan)") == f"{c.accepted / (c.accepted + c.rejections):.2f}"
    assert metric(at, "accepted ÷ drafted") == f"{c.accepted / c.drafted:.2f}"
    assert c.accepted / c.drafted < c.accepted / (c.accepted + c.rejections)
    beta = metrics.alpha_expected(c)
    assert metric(at, "mean β") == ("n/a" if beta is None else f"{beta:.2f}")
    table = next(d.value for d in at.dataframe if "count" in d.value.columns)
    counted = dict(zip(table["count"], table["this run"]))
    assert counted["never checked (after a rejection)"] == c.drafted - c.checked
    assert counted["checked = accepted + rejections"] == c.accepted + c.rejections
    other = next(o for o in at.selectbox(key="ac_label").options if "layers-4" in o)
    ok(at.selectbox(key="ac_label").set_value(other).run())
    c2 = metrics.counts(Trace.load(shipped_traces()[other]))
    assert metric(at, "accepted ÷ drafted") == f"{c2.accepted / c2.drafted:.2f}"


def test_slower_compares_alpha_with_break_even_alpha_and_shows_the_gap():
    t = next(iter(shipped("chat · layers-4 · greedy").values()))
    s = metrics.summarize(t)
    at = app("pages/4_Acceptance_rate.py")
    shown = texts(at)
    assert f"**{theory.break_even_alpha(4, s.cost_ratio):.2f}** by Leviathan's formula" in shown
    assert f"**{theory.break_even_alpha(4, s.cost_ratio, s.verify_cost):.2f}** with the run's measured v" in shown
    assert f"The run's α = **{s.alpha:.2f}**" in shown
    assert any("gap_chart" in c.proto.id for c in at.get("plotly_chart"))
    assert at.selectbox(key="gap_label").value == "chat · layers-4 · greedy"  # the gap of the slower run
    g = metrics.trace_gap(t)
    assert f"measured (loop overhead and noise remain): {g.measured:.2f}×" in shown
    assert f"with the measured verify cost v: {g.with_verify:.2f}×" in shown
    other = "summarise · lookup · greedy"
    ok(at.selectbox(key="gap_label").set_value(other).run())
    g = metrics.trace_gap(Trace.load(shipped_traces()[other]))
    assert f"ideal: E[τ], free draft, verify = 1 step: {g.ideal:.2f}×" in texts(at)


def test_lab_strict_matches_loose_drifts(offline_model):
    at = app("pages/5_Lossless.py")
    at.select_slider(key="lab_n").set_value(2000)
    ok(at.button(key="lab_go").click().run())
    rows = at.dataframe[0].value
    verdict = dict(zip(rows["method"], rows["verdict"]))
    assert verdict["strict"] == "matches p"
    assert "DRIFTS from p" in [verdict[v] for v in ("topk", "ratio", "no_residual", "greedy_draft")]
    assert "distribution_lab.json" in at.session_state["sv_lesson_texts"]["3_lossless"]  # in the pack


def test_beyond_draft_models_profiles_use_leviathan_alpha():
    at = app("pages/6_Beyond_draft_models.py")
    assert "published" in texts(at).lower()
    assert any("Cai et al. 2024" in str(df.value) for df in at.dataframe)
    fig = next(c for c in at.get("plotly_chart") if "pf_chart" in c.proto.id)
    import json
    dots = {d["name"]: d["y"][0] for d in json.loads(fig.proto.spec)["data"] if d.get("type") == "scatter"}
    lookup = list(shipped("· lookup ·").values())
    name = next(n for n in dots if n.startswith("lookup (γ = 4)"))
    assert dots[name] == pytest.approx(metrics.alpha(metrics.pooled(lookup)))  # accepted ÷ checked, pooled


def test_decision_brief_from_shipped_runs_downloads():
    at = app("pages/7_Decision_brief.py")
    shown = texts(at)
    assert "## Recommendation" in shown and "## Measurement plan" in shown
    assert at.session_state["sv_lesson_texts"]["5_decision_brief"]["decision_brief.md"].startswith("# Decision brief")


def test_decision_brief_adds_the_production_section_read_on_your_server_page():
    from specviz.services.serving import prometheus, readout
    from specviz.services.serving.report import production_section

    example = sorted((ROOT / "data" / "serving").glob("vllm*.prom"))[0]
    reading = prometheus.parse(example.read_text(encoding="utf-8"))
    section = production_section(next(iter(readout.readouts(reading).values())), example.name,
                                 "since the server started")
    at = AppTest.from_file(str(ROOT / "pages/7_Decision_brief.py"), default_timeout=120)
    at.session_state["sv_production_section"] = section
    ok(at.run())
    md = at.session_state["sv_lesson_texts"]["5_decision_brief"]["decision_brief.md"]
    assert md.startswith("# Decision brief") and md.rstrip().endswith(section.rstrip())
    ok(at.checkbox(key="br_production").uncheck().run())
    assert "## Production" not in at.session_state["sv_lesson_texts"]["5_decision_brief"]["decision_brief.md"]


def test_projector_mode_steps_sections():
    from specviz.ui import projector

    name = "1_why_it_works"
    sections = content.load(name)["sections"]
    at = app("pages/3_Why_it_works.py")
    ok(at.toggle(key=projector.WIDGET).set_value(True).run())
    assert [s.value for s in at.main.subheader] == [sections[0]["heading"]]  # one section at a time
    ok(at.button(key=f"{name}_slide_next").click().run())
    assert [s.value for s in at.main.subheader] == [sections[1]["heading"]]
    assert not [n for n in at.number_input if n.key == "sv_seed"]


def test_decision_brief_measures_a_workload_live(offline_model):
    at = app("pages/7_Decision_brief.py")
    ok(at.radio(key="br_source").set_value("measure my workload now").run())
    for key, prompt in (("br_chat", "Say hi."), ("br_summarise", "Repeat: red green blue red green blue"),
                        ("br_code edit", "Rename x to y: x = 1")):
        at.text_area(key=key).set_value(prompt)
    at.number_input(key="br_max").set_value(8)
    at.number_input(key="br_repeats").set_value(2)
    at.text_input(key="br_notes").set_value("workshop laptop")
    ok(at.button(key="br_go").click().run())
    md = at.session_state["sv_lesson_texts"]["5_decision_brief"]["decision_brief.md"]
    table = [[c.strip() for c in line.strip("|").split("|")] for line in md.split("\n") if line.startswith("| ")]
    rows = {r[0]: dict(zip(table[0], r)) for r in table[1:]}
    for w in ("chat", "summarise / rewrite", "code edit"):  # two repeats of one prompt each
        assert rows[w]["runs"] == "2" and rows[w]["repeats"] == "2"
        assert rows[w]["α expected (mean β)"] != "not recorded"  # live runs record β
    runs = at.session_state["sv_brief_runs"]["chat"]
    assert [t.prompt for t in runs] == ["Say hi.", "Say hi."]
    assert "MiB of weights" in md  # the draft's memory overhead was measured
    assert "workshop laptop" in md and "smollm2-135m-instruct" in md
    assert len(at.session_state["sv_lesson_traces"]["5_decision_brief"]) == 6


def test_workshop_pack_holds_the_lesson_with_its_numbers_and_traces():
    """The pack is built on click from what the session kept: the filled lesson, answers, traces."""
    import io
    import zipfile

    from specviz.ui import workshop

    at = app("pages/4_Acceptance_rate.py")
    kept = at.session_state["sv_lesson_traces"]["2_acceptance_rate"]
    assert set(kept) >= {"replayed", "slower-than-plain", "workload-chat"}
    z = zipfile.ZipFile(io.BytesIO(workshop.pack(kept, {"2_acceptance_rate": {"notes.md": "x"}})))
    names, d = set(z.namelist()), "lessons/2_acceptance_rate/"
    assert {d + "lesson.md", d + "quiz_answers.md", d + "notes.md", "traces/slower-than-plain.json"} <= names
    md = z.read(d + "lesson.md").decode()
    assert not content.FACT.search(md) and "accepted ÷ drafted" in md
    Trace.from_json(z.read("traces/slower-than-plain.json"))  # replayable


def test_lesson_pages_load_without_torch():
    """No model work on load: opening every lesson imports neither torch nor transformers
    (a fresh process, since other tests import them)."""
    import subprocess
    import sys

    code = ("import sys\nfrom streamlit.testing.v1 import AppTest\n"
            f"for page in {list(LESSONS)!r}:\n"
            f"    at = AppTest.from_file({str(ROOT)!r} + '/' + page, default_timeout=300).run()\n"
            "    assert not at.exception, (page, [e.value for e in at.exception])\n"
            "    assert 'torch' not in sys.modules and 'transformers' not in sys.modules, page\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize("name", list(LESSONS.values()))
def test_the_answer_key_gives_every_predict_questions_verdict(name):
    """The pack's key says what the predict-before-reveal questions reveal: which real token of
    which run, and whether it was accepted or rejected (it gave only the trace's name)."""
    data = content.load(name)
    key = content.answers(data, verdicts(data["quiz"]))
    for i, item in enumerate(data["quiz"]):
        if item.get("kind") != "predict":
            continue
        label, trace, rnd, pos = predict_case(item, list(shipped_traces()),
                                                   lambda lb: Trace.load(str(shipped_traces()[lb])))
        verdict = "accepted" if trace.rounds[rnd].draft[pos].accepted else "rejected"
        entry = key.split(f"\n{i + 1}. ", 1)[1].split(f"\n{i + 2}. ", 1)[0]
        assert f"Verdict on the real run {label}, round {rnd + 1} of {len(trace.rounds)}" in entry
        assert f"**{verdict}**" in entry
