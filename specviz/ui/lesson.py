"""Lesson renderer: text and quizzes from specviz/lessons/*.yaml, one section at a time in projector mode.

A page calls `render(name, instruments, facts)`: each section's markdown is shown, followed by
the live instrument the section names. Lesson texts never state a measured number themselves:
they write `{{name}}` and `facts()` fills it from the shipped traces (or says "n/a").
Projector mode (sidebar, every page: projector.py) shows one section at a time (PageDown /
PageUp: what a presentation clicker sends; the section is in the address as ?section=N), the
title and summary once, and fixes the seed. The workshop pack (workshop.py) holds every lesson.
"""
from typing import Callable

import streamlit as st
import yaml

from ..content import FACT, fill  # noqa: F401 - FACT: what a lesson's placeholders look like
from ..paths import LESSONS_DIR
from ..trace import Trace
from . import page, projector, quiz, urlstate, workshop



@st.cache_resource(show_spinner=False)
def _load(path: str, mtime: float) -> dict:
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def load(name: str, facts: dict[str, str] | None = None) -> dict:
    """One lesson's data: title, summary, sections, quiz (with `{{fact}}` filled when facts are given)."""
    path = next(LESSONS_DIR.glob(f"{name}*.yaml"), None)
    if path is None:
        raise FileNotFoundError(f"no lesson {name!r} in {LESSONS_DIR}")
    data = _load(str(path), path.stat().st_mtime)
    return fill(data, facts) if facts is not None else data


def presenting() -> bool:
    return projector.on()


def seed() -> int:
    """The seed for live runs and labs: fixed at 0 in projector mode, reproducible in class."""
    return 0 if presenting() else int(st.session_state.get("sv_seed", 0))


def traces(lesson: str) -> dict[str, Trace]:
    """Traces this session produced or used in a lesson (they go into the workshop pack)."""
    return st.session_state.setdefault("sv_lesson_traces", {}).setdefault(lesson, {})


def keep_trace(lesson: str, name: str, trace: Trace) -> None:
    """Keep a trace for the pack under a stable name: a rerun replaces it, it never adds a copy."""
    traces(lesson)[name] = trace


def texts(lesson: str) -> dict[str, str]:
    """Extra text files for the workshop pack (e.g. the decision brief)."""
    return st.session_state.setdefault("sv_lesson_texts", {}).setdefault(lesson, {})


def _sidebar() -> None:
    if not presenting():
        with st.sidebar:
            st.number_input("seed for live runs", 0, 2**31 - 1, key="sv_seed")


def markdown(data: dict) -> str:
    """The lesson as one markdown document."""
    parts = [f"# {data['title']}", data.get("summary", "")]
    parts += [f"## {s['heading']}\n\n{s['body']}" for s in data["sections"]]
    return "\n\n".join(parts)


def answers(data: dict, verdicts: dict[int, str] | None = None) -> str:
    """Teacher's key: every question with its answer and explanation; a predict question with
    its verdict (verdicts: question index -> markdown, quiz.verdicts)."""
    lines = [f"# {data['title']}: answers", ""]
    for i, q in enumerate(data["quiz"], 1):
        if q.get("kind") == "predict":
            verdict = (verdicts or {}).get(i - 1, "no recorded trace has such a token")
            lines.append(f"{i}. {q['question']}\n   Verdict on the {verdict}\n"
                         f"   {q.get('explain', '')}")
        else:
            lines.append(f"{i}. {q['question']}\n   **{q['options'][q['answer']]}**. {q['explain']}")
    return "\n".join(lines)


def _section(section: dict, instruments: dict[str, Callable[[], None]]) -> None:
    """A section's heading, text and instrument; presenting, the instrument comes first, so the
    room sees it on the first screen and the text is under it."""
    st.subheader(section["heading"])
    name = section.get("instrument")
    if not presenting():
        st.markdown(section["body"])
    if name in instruments:
        with st.container(key=f"sv_instrument_{name}"):
            instruments[name]()
    if presenting():
        st.markdown(section["body"])


def render(name: str, instruments: dict[str, Callable[[], None]],
           facts: Callable[[], dict[str, str]] | None = None,
           address: Callable[[], dict[str, tuple[str, urlstate.Param]]] | None = None) -> None:
    """The lesson page: title, sections with their instruments, then the quiz.

    facts(): the measured numbers the lesson's text quotes, by name (see `fill`).
    address(): the instruments' main settings the address keeps (urlstate.bind)."""
    data = load(name, facts() if facts else {})
    stem = next(s for s, n in workshop.LESSONS.items() if n == name)
    page.setup(data["title"].split("·")[-1].strip(), stem, address=address() if address else None)
    _sidebar()
    if presenting():
        _presenter(name, data, instruments)
    else:
        st.title(data["title"])
        st.markdown(f"*{data.get('summary', '').strip()}*")
        for section in data["sections"]:
            _section(section, instruments)
        st.divider()
        quiz.quiz(name, data["quiz"])
    page.done()


def _step(key: str, at: int) -> None:
    st.session_state[key] = at


def _presenter(name: str, data: dict, instruments) -> None:
    """One section (or the quiz) at a time, stepped with buttons or PageDown / PageUp; the
    title and summary once, on the first."""
    sections, key = data["sections"], f"{name}_slide"
    n = len(sections) + 1  # the quiz is the last slide
    schema = [urlstate.Int("section", 1, 1, n)]
    came = urlstate.incoming(key, schema)
    if came is not None:
        st.session_state[key] = came["section"] - 1
    at = min(st.session_state.get(key, 0), n - 1)
    row = st.container(horizontal=True, vertical_alignment="center", key="sv_slides")
    with row:
        st.button("back", icon=":material/chevron_left:", key=f"{key}_prev", shortcut="PageUp",
                  disabled=at == 0, on_click=_step, args=(key, at - 1))
        st.button("next", icon=":material/chevron_right:", icon_position="right", key=f"{key}_next",
                  shortcut="PageDown", disabled=at == n - 1, type="primary", on_click=_step, args=(key, at + 1))
        st.caption((f"{data['title']} · " if at else "") + f"section {at + 1} of {n} · PageDown / PageUp")
    urlstate.publish(key, schema, {"section": at + 1})
    if at == 0:
        st.title(data["title"])
        st.markdown(f"*{data.get('summary', '').strip()}*")
    if at < len(sections):
        _section(sections[at], instruments)
    else:
        quiz.quiz(name, data["quiz"])
