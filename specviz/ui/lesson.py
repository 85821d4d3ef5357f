"""Lesson renderer: text and quizzes from specviz/lessons/*.yaml, presenter mode, workshop pack.

A page calls `render(name, instruments, facts)`: each section's markdown is shown, followed by
the live instrument the section names. Lesson texts never state a measured number themselves:
they write `{{name}}` and `facts()` fills it from the shipped traces (or says "n/a").
Presenter mode (sidebar) enlarges everything, shows one section at a time (PageDown / PageUp:
what a presentation clicker sends) and fixes the seed.
"""
import re
from pathlib import Path
from typing import Callable

import streamlit as st
import yaml

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


FACT = re.compile(r"\{\{(\w+)\}\}")


def fill(data, facts: dict[str, str]):
    """A copy of the lesson data with every `{{name}}` replaced by facts[name] (a missing fact: n/a)."""
    if isinstance(data, str):
        return FACT.sub(lambda m: facts.get(m.group(1), "n/a"), data)
    if isinstance(data, list):
        return [fill(x, facts) for x in data]
    if isinstance(data, dict):
        return {k: fill(v, facts) for k, v in data.items()}
    return data


def presenting() -> bool:
    return bool(st.session_state.get(PRESENTER, False))


def seed() -> int:
    """The seed for live runs and labs: fixed at 0 in presenter mode, reproducible in class."""
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


def _sidebar(name: str, data: dict) -> None:
    with st.sidebar:
        st.toggle("Presenter mode", key=PRESENTER,
                  help="Large fonts, one section at a time (PageDown / PageUp), seed fixed to 0")
        if not presenting():
            st.number_input("seed for live runs", 0, 2**31 - 1, key="sv_seed")
        # the zip is built on click only (in Streamlit's download thread), from what this session
        # kept by then: page runs stay cheap
        kept, extra = traces(name), texts(name)
        st.download_button("Workshop pack (.zip)", data=lambda: _pack(data, kept, extra),
                           file_name=f"specviz-{name}.zip", on_click="ignore",
                           mime="application/zip", key=f"{name}_pack", width="stretch",
                           help="This lesson's traces (replayable without a model), its text, the "
                                "quiz with answers, and the decision brief if you made one")


def _pack(data: dict, kept: dict[str, Trace], extra: dict[str, str]) -> bytes:
    from ..brief import workshop_pack

    return workshop_pack(kept, {"lesson.md": markdown(data), "quiz_answers.md": answers(data), **extra})


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


def render(name: str, instruments: dict[str, Callable[[], None]],
           facts: Callable[[], dict[str, str]] | None = None) -> None:
    """The lesson page: title, sections with their instruments, then the quiz.

    facts(): the measured numbers the lesson's text quotes, by name (see `fill`)."""
    data = load(name, facts() if facts else {})
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
