"""The workshop's run sheet: a plan that fills the workshop through real pages, questions and
instruments; prose without typed-in numbers; the printable page and the pack."""
import io
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

from streamlit.testing.v1 import AppTest

from specviz.lessons import content, runsheet
from specviz.lessons.content import FACT
from specviz.measure import metrics
from specviz.paths import INSTRUMENT_TIMES
from specviz.trace import Trace
from specviz.ui import workshop

ROOT = Path(__file__).resolve().parent.parent


def _prose(data) -> list[str]:
    if isinstance(data, str):
        return [data]
    if isinstance(data, list):
        return [s for x in data for s in _prose(x)]
    if isinstance(data, dict):  # links, trace names and question numbers are data, not prose
        return [s for k, v in data.items() if k not in ("link", "traces", "ask", "page") for s in _prose(v)]
    return []


def test_the_plan_fills_the_workshop_through_real_pages_questions_and_instruments():
    plan = runsheet.load()
    assert runsheet.length(plan) == 45
    blocks = runsheet.blocks(plan)
    assert blocks[0].start == 0 and blocks[-1].start + blocks[-1].minutes == 45
    for b in blocks:
        assert (ROOT / ("app.py" if b.page == "app" else f"pages/{b.page}.py")).exists(), b.page
        for q in b.ask:
            assert q["question"] < len(content.load(q["lesson"])["quiz"]), q
        for name in b.instruments:
            assert runsheet.INSTRUMENTS[name][0] == b.page, name  # shown on the page it runs on
        for stem in [*b.traces.values(), *(v for k, v in b.link.items() if k in ("trace", "a", "b"))]:
            assert (ROOT / "data" / "traces" / f"{stem}.json").exists(), stem


def test_no_number_in_the_run_sheets_prose_is_typed_in():
    """Every number the sheet says comes from data: a {{fact}}, a measured time, a block's length."""
    for text in _prose(runsheet.load()):
        bare = FACT.sub("", text)
        assert not re.search(r"\d", bare), text


def _times(tmp_path, **seconds) -> dict:
    return {"date": "2026-12-07", "machine": "test box", "load_before": 1.0, "load_after": 1.5,
            "model_load_s": 2.0, "instruments": seconds}


def test_slow_instruments_are_started_early_with_their_measured_time(tmp_path):
    measured = _times(tmp_path, tree_sweep=41.5, brief=40.7, cost_curve=18.4, draft_cost=3.0)
    md = runsheet.markdown(runsheet.load(), {}, _questions(), measured)
    early = md.split("## Start early", 1)[1].split("\n## ", 1)[0]
    assert "≈ 42 s" in early and "≈ 41 s" in early and "≈ 18 s" in early and "the cost ratio c" not in early
    lesson1 = next(i for i, b in enumerate(runsheet.blocks(runsheet.load())) if b.page == "3_Why_it_works")
    before = runsheet.blocks(runsheet.load())[lesson1 - 1]
    assert f"- at {runsheet.clock(before.start)}, for {runsheet.clock(before.start + before.minutes)} · " in early
    # two on one page: the second after the first is done (a press mid-measurement would stop it)
    both = runsheet.markdown(runsheet.load(), {}, _questions(), _times(tmp_path, tree_sweep=41.5, profiles=30.0))
    tree = next(b for b in runsheet.blocks(runsheet.load()) if "tree_sweep" in b.instruments)
    start = runsheet.blocks(runsheet.load())[runsheet.blocks(runsheet.load()).index(tree) - 1].start
    assert f"- at {runsheet.clock(start)}, for" in both and f"- at {runsheet.clock(start + 41.5 / 60)}, for" in both
    assert "load average 1.0 → 1.5" in early
    assert "**measure here** ≈ 3 s" in md and "**measure here** ≈ 42 s · **start it early**" in md
    nothing = runsheet.markdown(runsheet.load(), {}, _questions(), {})
    assert "## Start early" not in nothing and "not timed yet" in nothing


def _questions() -> dict:
    return {(name, i): runsheet.Question(q.get("question", ""), "x", "y")
            for name in content.LESSONS.values() for i, q in enumerate(content.load(name)["quiz"])}


def test_the_sheet_quotes_the_shipped_data_and_the_quizzes():
    md = workshop.run_sheet("http://host:8501")
    assert not FACT.search(md) and "n/a" not in md
    s = metrics.summarize(Trace.load(str(ROOT / "data" / "traces" / "summarise__lookup__greedy.json")))
    assert f"α = {s.alpha:.2f}, τ = {s.mean_acceptance_length:.2f} tokens per pass" in md
    assert "Open: `http://host:8501/Step_through?trace=summarise__lookup__greedy`" in md
    assert "## 0:00–3:00 · " in md and "–45:00 · " in md
    q = content.load("3_lossless")["quiz"][0]
    assert f"- {q['question']}\n  - Answer: **{q['options'][q['answer']]}**" in md
    assert "  - Answer: real run " in md and ("**accepted**" in md or "**rejected**" in md)  # a predict verdict
    if INSTRUMENT_TIMES.exists():  # the shipped measurement: every instrument timed
        assert set(json.loads(INSTRUMENT_TIMES.read_text())["instruments"]) == set(runsheet.INSTRUMENTS)
        assert "not timed yet" not in md


def test_the_lessons_and_the_run_sheet_import_no_streamlit():
    code = ("import sys, specviz.lessons.runsheet, specviz.lessons.content, specviz.lessons.facts, specviz.lessons.quiz; "
            "assert 'streamlit' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_the_run_sheet_page_prints_and_the_pack_holds_it():
    at = AppTest.from_file(str(ROOT / "pages" / "9_Run_sheet.py"), default_timeout=120).run()
    assert not at.exception
    shown = at.markdown[-1].value if at.markdown else ""
    assert shown.startswith("# ") and all(b.title in shown for b in runsheet.blocks(runsheet.load()))
    assert "@media print" in "".join(h.proto.body for h in at.get("html"))
    z = zipfile.ZipFile(io.BytesIO(workshop.pack({}, {})))
    assert z.read("run_sheet.md").decode().startswith("# ")
