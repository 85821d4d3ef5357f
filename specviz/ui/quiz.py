"""End-of-lesson check: multiple choice with immediate feedback, and predict-before-reveal.

The score lives in st.session_state only (per browser session; nothing is stored server-side).
Only the first answer to a question counts, so changing your mind after the reveal does not.
A predict question shows the round as the draft proposed it (tokens and q only): p, the test
and the verdict, which would give the answer away, appear only once the student has answered.

In a class (classroom.py) every question is also asked of the room: a student's first answer is
counted anonymously, the presenter sees the live counts per option, and students see them
(under their own answer) once the presenter reveals them.
"""
import random
import zlib

import streamlit as st

from ..lessons.quiz import explain_token, predict_case
from ..present import round_view, tokens
from . import classroom, state

SCORES = "sv_quiz_scores"


def _scores(lesson: str) -> dict[str, bool]:
    """question id -> was the first answer right."""
    return st.session_state.setdefault(SCORES, {}).setdefault(lesson, {})


def score(lesson: str) -> tuple[int, int]:
    """(correct, answered) for this session."""
    s = _scores(lesson)
    return sum(s.values()), len(s)


def _shuffled(options: list[str], answer: int, seed_text: str) -> tuple[list[str], int]:
    """Options in a fixed per-question order (the data lists the right one first)."""
    order = list(range(len(options)))
    random.Random(zlib.crc32(seed_text.encode())).shuffle(order)
    return [options[i] for i in order], order.index(answer)


def _predict_setup(item: dict):
    """predict_case over this session's traces and the shipped ones."""
    return predict_case(item, state.labels(), state.get)


def question(lesson: str, i: int, item: dict, live: str | None = None) -> None:
    """One question with immediate feedback and its explanation."""
    qid, key = f"q{i}", f"quiz_{lesson}_{i}"
    predict = item.get("kind") == "predict"
    if predict:
        setup = _predict_setup(item)
        if setup is None:
            st.caption("(Predict question skipped: no recorded trace is available.)")
            return
        label, trace, rnd, pos = setup
        tok = trace.rounds[rnd].draft[pos]
        st.markdown(f"**{i + 1}. {item['question']}**")
        st.caption(f"Real run: {label} · round {rnd + 1} of {len(trace.rounds)}, draft token "
                   f"{pos + 1} “{tokens.visible(tok.text)}” (outlined)")
        options, answer = ["accepted", "rejected"], 0 if tok.accepted else 1
        answered = st.session_state.get(key) is not None
        # before the answer: the draft's side only (stage 0); after: up to its check
        st.html(round_view.round_html(trace, rnd, 2 + pos if answered else 0, focus=pos))
        label_text, shown = "your answer", "collapsed"
    else:
        options, answer = _shuffled(item["options"], item["answer"], item["question"])
        label_text, shown = f"**{i + 1}. {item['question']}**", "visible"  # one element, not two
    choice = st.radio(label_text, options, index=None, key=key, label_visibility=shown)
    room = f"{lesson}.{qid}"
    classroom.ask(room, options, live=room == live)  # the presenter: the room's answers
    if choice is None:
        return
    if not st.session_state.get(f"{key}_sent"):  # a student: the first answer goes to the room
        st.session_state[f"{key}_sent"] = classroom.answer(room, options.index(choice)) or None
    right = options.index(choice) == answer
    _scores(lesson).setdefault(qid, right)
    (st.success if right else st.error)(("Correct. " if right else f"Not quite: the answer is "
                                         f"“{options[answer]}”. ") + item.get("explain", ""))
    if predict:
        st.markdown(explain_token(trace, rnd, pos))
    classroom.room_result(room)


def quiz(lesson: str, items: list[dict]) -> None:
    """The whole end-of-lesson check with a running score."""
    st.subheader("End-of-lesson check")
    st.caption("Immediate feedback; your score is kept in this browser session only.")
    live = classroom.live_question([f"{lesson}.q{i}" for i in range(len(items))])
    for i, item in enumerate(items):
        with st.container(border=True):
            question(lesson, i, item, live)
    correct, answered = score(lesson)
    st.metric("score", f"{correct} / {len(items)}", help=f"{answered} answered; first answers count")
    if answered and st.button("Reset this quiz", key=f"quiz_{lesson}_reset"):
        for i in range(len(items)):
            st.session_state.pop(f"quiz_{lesson}_{i}", None)  # the room keeps the first answers
        _scores(lesson).clear()
        st.rerun()
