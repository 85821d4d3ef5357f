"""Class widgets: start a class (code, join link, QR code), follow the presenter, the room's answers.

A page in a class does, per run:

    view = classroom.incoming(PAGE)          # the presenter's view to apply (followers), else None
    ... apply it; draw the page ...
    classroom.publish(PAGE, {...})            # the presenter's page tells followers what it shows
    classroom.bar(PAGE)                       # follower: "following ABCDE · explore on my own"

The presenter's secret lives only in the presenter's session state. Followers poll the class
every POLL_S seconds in a small fragment; a new presenter view reruns the follower's page (or
switches to the presenter's page). Detached followers keep polling (to show where the
presenter is) but stay put.
"""
import io
import os
from pathlib import Path

import qrcode
import qrcode.image.svg
import streamlit as st

from .. import class_charts
from ..classroom import ClassError, Classes, Snapshot, new_voter, normalise_code
from . import projector, safe

POLL_S = float(os.environ.get("SPECVIZ_CLASS_POLL_S", "1.0"))  # followers' poll (scripts/class_load_test.py --poll)
PLOTLY = {"displaylogo": False, "modeBarButtonsToRemove": ["select2d", "lasso2d"]}
PAGES_DIR = Path(__file__).resolve().parents[2] / "pages"
CODE, SECRET, FOLLOW, VOTER = "sv_class", "sv_class_secret", "sv_class_follow", "sv_voter"
APPLIED, PENDING = "sv_class_applied", "sv_class_pending"


@st.cache_resource(show_spinner=False)
def registry() -> Classes:
    """The server process's classes (SPECVIZ_CLASSES or the cache directory)."""
    return Classes()


def _ss():
    return st.session_state


def voter() -> str:
    """This browser session's anonymous voter token."""
    return _ss().setdefault(VOTER, new_voter())


def code() -> str | None:
    """The class this session is in: its own, or the one its address joins (?class=CODE)."""
    if _ss().get(CODE):
        return _ss()[CODE]
    joined = normalise_code(st.query_params.get("class"))
    if joined and registry().snapshot(joined) is not None:
        _ss()[CODE], _ss()[FOLLOW] = joined, True
        return joined
    return None


def presenting() -> bool:
    return bool(_ss().get(SECRET)) and code() is not None


def following() -> bool:
    return code() is not None and not presenting() and _ss().get(FOLLOW, True)


def qr_svg(url: str) -> str:
    """A QR code of the join link as SVG (white background: phones read it off a projector)."""
    img = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathFillImage, box_size=12, border=2)
    buf = io.BytesIO()
    img.save(buf)
    return buf.getvalue().decode()


def join_link(c: str) -> str:
    return f"{st.context.url or ''}?class={c}"


# the presenter
def start() -> None:
    try:
        c, secret = registry().start()
    except ClassError as e:
        st.session_state["sv_class_error"] = str(e)
        return
    _ss()[CODE], _ss()[SECRET] = c, secret
    st.query_params["class"] = c


def end() -> None:
    c, secret = _ss().get(CODE), _ss().get(SECRET)
    try:
        registry().end(c, secret)
    except ClassError:
        pass  # already expired
    leave()


def leave() -> None:
    for k in (CODE, SECRET, FOLLOW, APPLIED, PENDING):
        _ss().pop(k, None)
    st.query_params.pop("class", None)


def publish(page: str, view: dict) -> None:
    """The presenter's page says what it shows (page = file stem under pages/, or "app")."""
    if not presenting():
        return
    try:
        registry().publish(_ss()[CODE], _ss()[SECRET], {"page": page, **view})
    except ClassError as e:
        leave()
        st.warning(f"The class has ended: {e}.")


def panel() -> None:
    """Sidebar panel: start a class, or show the running one (code, link, QR, room size)."""
    st.subheader("Class")
    message = _ss().pop("sv_class_error", None)
    if message:
        st.error(message)
    c = code()
    if c is None:
        st.button("Start a class", icon=":material/co_present:", on_click=start,
                  help="students who open the join link follow your page, trace and round")
        joined = st.text_input("Join a class", placeholder="class code", max_chars=5, key="sv_join")
        if joined:
            if normalise_code(joined) and registry().snapshot(normalise_code(joined)):
                st.query_params["class"] = normalise_code(joined)
                st.rerun()
            st.caption("No live class has that code.")
        return
    if presenting():
        st.fragment(run_every=3 * POLL_S)(_room_size)(c)  # students join while the page stays put
        st.image(qr_svg(join_link(c)), width=200)
        st.code(join_link(c), language=None, wrap_lines=True)
        st.button("End the class", on_click=end, icon=":material/stop_circle:")
    else:
        st.markdown(f"In class **{c}**")
        st.button("Leave the class", on_click=leave)


def _room_size(c: str) -> None:
    st.markdown(f"Class code **{c}** · {registry().present(c)} following")


# followers
def incoming(page: str) -> dict | None:
    """The presenter's view this follower should now show (once per presenter change)."""
    view = _ss().pop(PENDING, None)
    return view if view is not None and view.get("page") == page and following() else None


def _page_path(page: str) -> str | None:
    if page == "app":
        return "app.py"
    path = PAGES_DIR / f"{page}.py"
    return f"pages/{path.name}" if path.parent == PAGES_DIR and path.exists() else None


def _take(snap: Snapshot, page: str) -> None:
    """Adopt the presenter's newest view: rerun this page, or switch to the presenter's page."""
    _ss()[APPLIED], _ss()[PENDING] = snap.version, snap.view
    target = snap.view.get("page", page)
    if target != page and _page_path(target):
        st.switch_page(_page_path(target))
    st.rerun()


def _poll(page: str) -> None:
    c = code()
    snap = registry().snapshot(c, voter()) if c else None
    if snap is None:
        leave()
        st.rerun()
    where = _where(snap.view)
    if following():
        row = st.container(horizontal=True, vertical_alignment="center")
        row.caption(f"Following class {c}{where} · update {snap.version}")
        row.button("Explore on my own", key="sv_detach", on_click=_set_follow, args=(False,),
                   icon=":material/explore:")
        if snap.version != _ss().get(APPLIED):
            _take(snap, page)
    else:
        row = st.container(horizontal=True, vertical_alignment="center")
        row.caption(f"Exploring on your own · the presenter of class {c}{where}")
        if row.button("Follow the presenter again", key="sv_attach", type="primary",
                      icon=":material/sync:"):
            _set_follow(True)
            _take(snap, page)


def _set_follow(on: bool) -> None:
    _ss()[FOLLOW] = on
    if on:
        _ss().pop(APPLIED, None)


def _where(view: dict) -> str:
    parts = []
    if view.get("page"):
        parts.append(str(view["page"]).split("_", 1)[-1].replace("_", " "))
    if view.get("round") is not None:
        parts.append(f"round {view['round']}")
    return (" · presenter on " + ", ".join(safe.md(p) for p in parts)) if parts else ""


def bar(page: str) -> None:
    """The follower's status bar (a fragment polling the class every POLL_S seconds); in a
    class, on every page, the address keeps ?class=CODE."""
    c = code()
    if c is not None and st.query_params.get("class") != c:
        st.query_params["class"] = c  # a page switch drops the query: a reload must stay in the class
    if c is None or presenting():
        return
    st.fragment(run_every=POLL_S)(_poll)(page)


# the room's answers
def ask(qid: str, options: list[str]) -> None:
    """Presenter: open this question for the room (idempotent) and show the live answers."""
    if not presenting():
        return
    c, secret = _ss()[CODE], _ss()[SECRET]
    try:
        registry().ask(c, secret, qid, options)
    except ClassError as e:
        st.warning(f"Cannot collect the room's answers: {e}.")
        return
    st.fragment(run_every=POLL_S)(_room_chart)(qid)


def _room_chart(qid: str) -> None:
    c, secret = _ss().get(CODE), _ss().get(SECRET)
    try:
        t = registry().tally(c, secret, qid)
    except ClassError:
        return
    if t is None:
        return
    st.plotly_chart(projector.scaled(class_charts.answers(t)), key=f"sv_room_{qid}", config=PLOTLY)
    label = "Hide the room's answers from students" if t.revealed else "Show students the room's answers"
    if st.button(label, key=f"sv_reveal_{qid}"):
        registry().reveal(c, secret, qid, not t.revealed)
        st.rerun(scope="fragment")


def answer(qid: str, option: int) -> bool:
    """Follower: send this session's answer (first answer counts); False if not counted."""
    c = code()
    if c is None or presenting():
        return False
    return registry().answer(c, qid, voter(), option)


def room_result(qid: str) -> None:
    """Follower: the room's answers, once the presenter reveals them (polled)."""
    if code() is None or presenting():
        return
    st.fragment(run_every=POLL_S)(_revealed)(qid)


def _revealed(qid: str) -> None:
    snap = registry().snapshot(code()) if code() else None
    t = snap.revealed.get(qid) if snap else None
    if t is None:
        st.caption("The room's answers appear here when the presenter shows them.")
        return
    st.plotly_chart(projector.scaled(class_charts.answers(t)), key=f"sv_res_{qid}", config=PLOTLY)
