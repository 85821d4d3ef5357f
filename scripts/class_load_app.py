"""The page that scripts/class_load_test.py serves: a Step-through view of a shipped trace (header,
round cards, strip and, unless ?lean=1, the anatomy and the four progress charts) that a
presenter drives and followers follow, through the same classroom and player code as the real
pages (which add the page frame: sidebar, address, agenda). `?presenter=1` starts a class in that
session and adds a "Next round" button (load-test only: the product starts classes from the
sidebar). `?lesson=1` serves the product's Lossless lesson page instead (its quiz: the room's
answers), with the class started the same way.

    SPECVIZ_CLASSES=/tmp/classes streamlit run scripts/class_load_app.py
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streamlit as st  # noqa: E402

from specviz.services.store import TraceStore  # noqa: E402
from specviz.ui import classroom, player, views  # noqa: E402

PAGE, KEY, STEM = "class_load_app", "step", "chat__trained-smollm2-135m-eagle__greedy"  # 30 rounds
st.set_page_config(page_title="class load test · SpecViz", layout="wide")
views.css()
ss = st.session_state


@st.cache_resource
def store() -> TraceStore:
    return TraceStore()


def goto(rnd: int, stage: int) -> None:
    """Put the player at (round, stage) (it must not reset this position to the start)."""
    ss[f"{KEY}_round"] = max(0, min(rnd, len(trace.rounds) - 1))
    ss[f"{KEY}_stage"] = stage
    ss[f"{KEY}_shown"] = f"{STEM}|{id(trace)}"


def real_page() -> None:
    """?real=1: the product's Step through page itself (page frame, sidebar, address), driven by
    the same "Next round" button; it publishes its address to the class as in a real class."""
    import runpy

    if st.query_params.get("presenter") == "1" and classroom.code() is None:
        classroom.start()
    if classroom.presenting():
        st.markdown(f"class code {classroom.code()}")
        st.button("Next round", on_click=lambda: (ss.update({f"{KEY}_round": ss[f"{KEY}_round"] + 1,
                                                             f"{KEY}_stage": 0})))
    runpy.run_path(str(Path(__file__).resolve().parent.parent / "pages" / "1_Step_through.py"))
    st.stop()


def lesson_page() -> None:
    """?lesson=1: the product's lesson 3 page (text, instruments closed, the quiz), in a class."""
    import runpy

    if st.query_params.get("presenter") == "1" and classroom.code() is None:
        classroom.start()
    if classroom.presenting():
        st.markdown(f"class code {classroom.code()}")
    runpy.run_path(str(Path(__file__).resolve().parent.parent / "pages" / "5_Lossless.py"))
    st.stop()


if st.query_params.get("real") == "1":
    real_page()
if st.query_params.get("lesson") == "1":
    lesson_page()
trace = store().resolve(STEM)
if st.query_params.get("presenter") == "1" and classroom.code() is None:
    classroom.start()
    goto(0, 0)
view = classroom.incoming(PAGE)
if view is not None:  # the presenter's round (1-based) and stage
    goto(int(view.get("round", 1)) - 1, int(view.get("stage", 0)))
if classroom.presenting():
    st.markdown(f"class code {classroom.code()}")
    st.button("Next round", on_click=lambda: goto(ss[f"{KEY}_round"] + 1, 0))
classroom.bar(PAGE)
views.header(trace)
lean = st.query_params.get("lean") == "1"  # round cards and strip only
# (anatomy without charts is not used: player.player's `(st, st)` fallback cannot be entered with `with`)
player.player(trace, KEY, STEM, anatomy=not lean, charts=not lean)
classroom.publish(PAGE, {"round": ss[f"{KEY}_round"] + 1, "stage": ss[f"{KEY}_stage"]})
