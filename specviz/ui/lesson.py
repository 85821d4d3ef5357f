"""Lesson renderer: text and quizzes from specviz/lessons/*.yaml, presenter mode, workshop pack.

A page calls `render(name, instruments)`: each section's markdown is shown, followed by the
live instrument the section names. Presenter mode (sidebar) enlarges everything, shows one
section at a time (PageDown / PageUp: what a presentation clicker sends) and fixes the seed.
"""
from pathlib import Path
from typing import Callable

import streamlit as st
import yaml

from ..brief import workshop_pack
from ..trace import Trace
from . import page, quiz

LESSONS_DIR = Path(__file__).resolve().parent.parent / "lessons"
PRESENTER = "sv_presenter"
PRESENTER_CSS = """<style>
.stMainBlockContainer, .block-container {max-width: 1200px; padding-top: 1.5rem;}
.stMarkdown p, .stMarkdown li {font-size: 1.45rem !important; line-height: 1.55;}
h1 {font-size: 2.8rem !important;} h2, h3 {font-size: 2.1rem !important;}
.stRadio label p {font-size: 1.3rem !important;}
[data-testid="stMetricValue"] {font-size: 2.6rem !important;}
header[data-testid="stHeader"] {display: none;}
</style>"""


def load(name: str) -> dict:
    """One lesson's data: title, summary, sections, quiz."""
    path = next(LESSONS_DIR.glob(f"{name}*.yaml"), None)
    if path is None:
        raise FileNotFoundError(f"no lesson {name!r} in {LESSONS_DIR}")
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def presenting() -> bool:
    return bool(st.session_state.get(PRESENTER, False))


def seed() -> int:
    """The seed for live runs and labs: fixed at 0 in presenter mode, reproducible in class."""
    return 0 if presenting() else int(st.session_state.get("sv_seed", 0))


def traces(lesson: str) -> dict[str, Trace]:
    """Traces this session produced or used in a lesson (they go into the workshop pack)."""
    return st.session_state.setdefault("sv_lesson_traces", {}).setdefault(lesson, {})


def keep_trace(lesson: str, name: str, trace: Trace) -> None:
    traces(lesson)[name] = trace


def texts(lesson: str) -> dict[str, str]:
    """Extra text files for the workshop pack (e.g. the decision brief)."""
    return st.session_state.setdefault("sv_lesson_texts", {}).setdefault(lesson, {})


def _sidebar(name: str, data: dict) -> None:
    with st.sidebar:
        st.toggle("Presenter mode", key=PRESENTER,
                  help="Large fonts, one section at a time (PageDown / PageUp), seed fixed to 0")
        if not presenting():
            st.number_input("seed for live runs", 0, 2**31 - 1, key="sv_seed")
        st.download_button("Workshop pack (.zip)", data=_pack(name, data), file_name=f"specviz-{name}.zip",
                           mime="application/zip", key=f"{name}_pack", width="stretch",
                           help="This lesson's traces (replayable without a model), its text, the "
                                "quiz with answers, and the decision brief if you made one")


def _pack(name: str, data: dict) -> bytes:
    files = {"lesson.md": markdown(data), "quiz_answers.md": answers(data), **texts(name)}
    return workshop_pack(traces(name), files)


def markdown(data: dict) -> str:
    """The lesson as one markdown document."""
    parts = [f"# {data['title']}", data.get("summary", "")]
    parts += [f"## {s['heading']}\n\n{s['body']}" for s in data["sections"]]
    return "\n\n".join(parts)


def answers(data: dict) -> str:
    """Teacher's key: every fixed question with its answer and explanation."""
    lines = [f"# {data['title']}: answers", ""]
    for i, q in enumerate(data["quiz"], 1):
        if q.get("kind") == "predict":
            lines.append(f"{i}. (predict before reveal on trace “{q['trace']}”) {q.get('explain', '')}")
        else:
            lines.append(f"{i}. {q['question']}\n   **{q['options'][q['answer']]}**. {q['explain']}")
    return "\n".join(lines)


def _section(section: dict, instruments: dict[str, Callable[[], None]]) -> None:
    st.subheader(section["heading"])
    st.markdown(section["body"])
    name = section.get("instrument")
    if name in instruments:
        instruments[name]()


def render(name: str, instruments: dict[str, Callable[[], None]]) -> None:
    """The lesson page: title, sections with their instruments, then the quiz."""
    data = load(name)
    page.setup(data["title"].split("·")[-1].strip())
    _sidebar(name, data)
    st.title(data["title"])
    st.markdown(f"*{data.get('summary', '').strip()}*")
    sections = data["sections"]
    if presenting():
        st.html(PRESENTER_CSS)
        _presenter(name, sections, instruments, data)
        return
    for section in sections:
        _section(section, instruments)
    st.divider()
    quiz.quiz(name, data["quiz"])


def _presenter(name: str, sections: list[dict], instruments, data: dict) -> None:
    """One section (or the quiz) at a time, stepped with buttons or PageDown / PageUp."""
    key = f"{name}_slide"
    n = len(sections) + 1  # the quiz is the last slide
    at = min(st.session_state.get(key, 0), n - 1)
    row = st.columns([2, 2, 5], vertical_alignment="center")
    if row[0].button("◀ back", key=f"{key}_prev", shortcut="PageUp", disabled=at == 0, width="stretch"):
        at -= 1
    if row[1].button("next ▶", key=f"{key}_next", shortcut="PageDown", disabled=at == n - 1,
                     type="primary", width="stretch"):
        at += 1
    st.session_state[key] = at
    row[2].progress((at + 1) / n, text=f"section {at + 1} of {n} · PageDown / PageUp to step")
    if at < len(sections):
        _section(sections[at], instruments)
    else:
        quiz.quiz(name, data["quiz"])
