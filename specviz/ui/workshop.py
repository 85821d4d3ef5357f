"""The workshop: one agenda across pages (next / previous) and one pack for all of it.

The pack is built on click from what this session used: every lesson's text and answer key,
the files the lessons made (the brief, measurements), and the traces of every page (the
lessons', the ones on Step through and Compare, uploads and live runs), each trace once and
the whole bounded (services/workshop.py).
"""
from pathlib import Path

import streamlit as st

from ..lessons import facts, runsheet
from ..lessons.content import LESSONS, answers, load, markdown
from ..lessons.quiz import verdicts
from ..trace import Trace
from . import projector, urlstate

AGENDA = ["app", "1_Step_through", "2_Compare", "3_Why_it_works", "4_Acceptance_rate", "5_Lossless",
          "6_Beyond_draft_models", "7_Decision_brief"]
SHOWN = {"step": "Step through", "cmp_a": "Compare, left", "cmp_b": "Compare, right"}


def title(stem: str) -> str:
    return "Home" if stem == "app" else stem.split("_", 1)[-1].replace("_", " ")


def script(stem: str) -> str:
    return "app.py" if stem == "app" else f"pages/{stem}.py"


def nav(stem: str) -> None:
    """◀ previous · where this page is in the agenda · next ▶ (page links keep the session)."""
    if stem not in AGENDA:
        return
    i, n = AGENDA.index(stem), len(AGENDA)
    query = {"projector": "true"} if projector.on() else None
    row = st.container(horizontal=True, vertical_alignment="center", key="sv_agenda")
    with row:
        if i > 0:
            st.page_link(script(AGENDA[i - 1]), label=f"{title(AGENDA[i - 1])}",
                         icon=":material/arrow_back:", query_params=query)
        st.caption(f"Workshop {i + 1} of {n}: {title(stem)}")
        if i < n - 1:
            st.page_link(script(AGENDA[i + 1]), label=f"{title(AGENDA[i + 1])}",
                         icon=":material/arrow_forward:", icon_position="right", query_params=query)


def traces() -> dict[str, Trace]:
    """Every trace this session used, by a readable name, in agenda order (duplicates included:
    the pack keeps each once)."""
    from . import state

    ss, out = st.session_state, {}
    for key, where in SHOWN.items():
        label = ss.get(f"{key}_current")
        if label:
            try:
                out[f"{where} - {label}"] = state.get(label)
            except Exception:  # noqa: BLE001 - a trace that no longer loads is left out of the pack
                pass
    for lesson, kept in ss.get("sv_lesson_traces", {}).items():
        for name, trace in kept.items():
            out[f"{lesson} - {name}"] = trace
    for label, trace in ss.get("sv_library", {}).items():
        out[label] = trace
    return out


def _lessons() -> dict[str, tuple[dict, dict]]:
    """Every lesson's data, filled with its measured facts, and its facts: name -> (data, facts)."""
    out = {}
    for name in LESSONS.values():
        known = facts.of(name)
        out[name] = (load(name, known), known)
    return out


def run_sheet(base: str = "", lessons: dict[str, tuple[dict, dict]] | None = None) -> str:
    """The run sheet (specviz.lessons.runsheet) as markdown: the lessons' facts, their questions with
    answers (a predict question's verdict on the shipped traces), the instruments' times."""
    lessons = lessons or _lessons()
    facts, questions = {}, {}
    for name, (data, known) in lessons.items():
        facts.update(known)
        found = verdicts(data["quiz"])
        for i, q in enumerate(data["quiz"]):
            answer = found.get(i, "n/a") if q.get("kind") == "predict" else f"**{q['options'][q['answer']]}**"
            questions[(name, i)] = runsheet.Question(q["question"], answer, q.get("explain", ""))
    return runsheet.markdown(runsheet.load(), facts, questions, runsheet.times(), base)


PRINT_CSS = """<style>@media print {
  [data-testid=stSidebar], [data-testid=stHeader], [data-testid=stToolbar], .st-key-sv_runsheet_tools,
  .st-key-sv_agenda, [data-testid=stSidebarCollapsedControl] {display: none !important}
  [data-testid=stMain] {margin: 0 !important}
}</style>"""


def run_sheet_view() -> None:
    """The Run sheet page: the sheet (its links to this server), printable, and downloadable."""
    text = run_sheet(urlstate.app_url())
    st.html(PRINT_CSS)
    with st.container(horizontal=True, key="sv_runsheet_tools"):
        st.download_button("Download the run sheet (.md)", text, file_name="specviz-run-sheet.md",
                           mime="text/markdown", on_click="ignore", icon=":material/download:")
        st.caption("Print it with the browser (Ctrl+P / ⌘P): the sidebar and these buttons are left out. "
                   "The workshop pack holds it too.")
    st.markdown(text)


def texts(made: dict[str, dict[str, str]]) -> dict[str, str]:
    """Every lesson (filled with its measured facts) and its answer key, the run sheet, and the
    files the lessons made (made: lesson -> file name -> text). Needs no session: it runs on click."""
    lessons, out = _lessons(), {}
    for name, (data, _) in lessons.items():
        out[f"lessons/{name}/lesson.md"] = markdown(data)
        out[f"lessons/{name}/quiz_answers.md"] = answers(data, verdicts(data["quiz"]))
        for fname, text in made.get(name, {}).items():
            out[f"lessons/{name}/{Path(fname).name}"] = text
    out["run_sheet.md"] = run_sheet(lessons=lessons)
    return out


def pack(kept: dict[str, Trace], made: dict[str, dict[str, str]]) -> bytes:
    from ..services.workshop import workshop_pack

    return workshop_pack(kept, texts(made))


KEPT = "sv_pack_kept"  # what the pack holds: traces(), refreshed at the end of every page run


def keep_for_pack() -> None:
    """Refresh, in place, the traces the pack button's callable will read on click."""
    kept = st.session_state.setdefault(KEPT, {})
    kept.clear()
    kept.update(traces())


def pack_button() -> None:
    """The pack's download button, drawn early in the page run (page.setup).

    The zip is built on click only (page runs stay cheap). A click is a request for the button's
    deferred file id, which Streamlit renews on every run: the old one is forgotten as soon as
    any run ends after this session's run has started, and the browser learns the new one only
    when the button is drawn. A click while the page reran (right after downloading the brief,
    whose button reran the page) asked for a forgotten id and nothing happened. So no download
    button reruns the page (on_click="ignore" on all of them), and this one is drawn early in a
    run, not at its end. The callable runs outside the page's run: it gets the session's dicts
    (refreshed in place by keep_for_pack at the end of each run), not the session."""
    kept, made = st.session_state.setdefault(KEPT, {}), st.session_state.setdefault("sv_lesson_texts", {})
    st.download_button("Workshop pack (.zip)", data=lambda: pack(dict(kept), made), file_name="specviz-workshop.zip",
                       on_click="ignore", mime="application/zip", key="sv_pack", width="stretch",
                       icon=":material/download:",
                       help="The whole workshop: every lesson's text with its measured numbers and "
                            "answer key, the decision brief if you made one, and every trace you "
                            "used on any page, each once (replayable without a model)")
