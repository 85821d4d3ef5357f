"""Lesson renderer: text and quizzes from specviz/lessons/*.yaml, one section at a time in projector mode.

A page calls `render(name, instruments)`: each section's markdown is shown, followed by the live
instrument the section names. Lesson texts never state a measured number themselves: they write
`{{name}}` and specviz.lessons.facts fills it from the shipped traces (or says "n/a").
Projector mode (sidebar, every page: projector.py) shows one section at a time (PageDown /
PageUp: what a presentation clicker sends; the section is in the address as ?section=N), the
title and summary once, and fixes the seed. The workshop pack (workshop.py) holds every lesson.
"""
from typing import Callable

import streamlit as st

from ..lessons import facts
from ..lessons.content import LESSONS, load
from ..trace import Trace
from . import page, projector, quiz, urlstate



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
           address: Callable[[], dict[str, tuple[str, urlstate.Param]]] | None = None) -> None:
    """The lesson page: title, sections with their instruments, then the quiz; the text quotes the
    measured numbers of lessons.facts. address(): the instruments' main settings the address keeps
    (urlstate.bind)."""
    data = load(name, facts.of(name))
    stem = next(s for s, n in LESSONS.items() if n == name)
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
