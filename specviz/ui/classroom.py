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

import qrcode
import qrcode.image.svg
import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from ..paths import PAGES_DIR
from ..present import escape
from ..present.charts.classroom import answers
from ..services.classroom import ClassError, Classes, Snapshot, Tally, new_voter, normalise_code
from . import projector, urlstate

POLL_S = float(os.environ.get("SPECVIZ_CLASS_POLL_S", "1.0"))  # followers' poll (scripts/class_load_test.py --poll)
PLOTLY = {"displaylogo": False, "modeBarButtonsToRemove": ["select2d", "lasso2d"]}
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
    return f"{urlstate.base_url()}?class={c}"


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
    """The presenter's view this follower should now show on `page` (once per presenter change).
    A view for another page stays pending: switch_to_pending() goes there."""
    view = _ss().get(PENDING)
    if view is None or not following():
        _ss().pop(PENDING, None)
        return None
    if view.get("page", page) != page:
        return None
    return _ss().pop(PENDING)


def switch_to_pending(page: str) -> None:
    """A follower whose pending view is on another page goes there (page.setup calls it first).

    st.switch_page from the polling fragment can lose a race: a fragment rerun the browser asks
    for meanwhile carries this page's script, and Streamlit coalesces the two into a run of this
    page. The pending view survives that run, and this run switches again."""
    view = _ss().get(PENDING)
    if view is None or not following() or view.get("page", page) == page:
        return
    path = _page_path(str(view.get("page")))
    try:
        if path is not None:
            st.switch_page(path)
    except StreamlitPageNotFoundError:
        pass  # run as its own entrypoint (AppTest.from_file): no other pages
    _ss().pop(PENDING)  # no such page here: stay


def _page_path(page: str) -> str | None:
    if page == "app":
        return "app.py"
    path = PAGES_DIR / f"{page}.py"
    return f"pages/{path.name}" if path.parent == PAGES_DIR and path.exists() else None


def _take(snap: Snapshot, page: str) -> None:
    """Adopt the presenter's newest view: rerun this page, or switch to the presenter's page."""
    _ss()[APPLIED], _ss()[PENDING] = snap.version, snap.view
    switch_to_pending(page)
    st.rerun()


def _poll(page: str) -> None:
    c = code()
    snap = registry().snapshot(c, voter()) if c else None
    if snap is None:
        leave()
        st.rerun()
    if _revealed_changed(snap):
        st.rerun()  # a reveal (or new answers to a revealed question) this page shows: redraw it
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
    return (" · presenter on " + ", ".join(escape.md(p) for p in parts)) if parts else ""


def bar(page: str) -> None:
    """The follower's status bar (a fragment polling the class every POLL_S seconds); in a
    class, on every page, the address keeps ?class=CODE."""
    c = code()
    if c is not None and st.query_params.get("class") != c:
        st.query_params["class"] = c  # a page switch drops the query: a reload must stay in the class
    _read_room(c)
    if c is None or presenting():
        return
    st.fragment(run_every=POLL_S)(_poll)(page)


# the room's answers
#
# One read of the class per page run (bar: _read_room) gives every chart on the page its counts.
# Only one question polls: the presenter's live one (the first not yet revealed, or the one the
# presenter picked). Students poll nothing more: their status bar's poll, which reads the class
# anyway, reruns their page when a question it shows is revealed or its revealed counts change.
ROOM, WATCHED, LIVE = "sv_room", "sv_room_watched", "sv_room_live"


def _read_room(c: str | None) -> None:
    """This run's room: the presenter's tallies of every question, a student's revealed ones."""
    _ss()[WATCHED] = set()  # the questions whose results this run draws (room_result)
    room: dict[str, Tally] = {}
    if c is not None and presenting():
        try:
            room = registry().tallies(c, _ss()[SECRET])
        except ClassError:
            pass
    elif c is not None:
        snap = registry().snapshot(c)
        room = snap.revealed if snap else {}
    _ss()[ROOM] = room


def _room() -> dict[str, Tally]:
    return _ss().get(ROOM) or {}


def _revealed_changed(snap: Snapshot) -> bool:
    drawn = _room()
    return any(snap.revealed.get(q) != drawn.get(q) for q in _ss().get(WATCHED, ()))


def live_question(qids: list[str]) -> str | None:
    """The question whose answers the presenter watches live: the one picked, else the first
    not yet revealed."""
    picked = _ss().get(LIVE)
    if picked in qids:
        return picked
    room = _room()
    return next((q for q in qids if not (q in room and room[q].revealed)), None)


def ask(qid: str, options: list[str], live: bool = True) -> None:
    """Presenter: open this question for the room (idempotent) and show its answers, polled if
    live, else as of this page run (with a button to watch it live)."""
    if not presenting():
        return
    c, secret = _ss()[CODE], _ss()[SECRET]
    try:
        registry().ask(c, secret, qid, options)
    except ClassError as e:
        st.warning(f"Cannot collect the room's answers: {e}.")
        return
    if live:
        st.fragment(run_every=POLL_S)(_room_chart)(qid)
        return
    tally = _room().get(qid) or Tally(list(options), [0] * len(options), False)
    _room_panel(qid, tally, live=False)


def _room_chart(qid: str) -> None:
    c, secret = _ss().get(CODE), _ss().get(SECRET)
    try:
        t = registry().tally(c, secret, qid)
    except ClassError:
        return
    if t is None:
        return
    drawn = _room().get(qid)
    if t.revealed and not (drawn and drawn.revealed) and _ss().get(LIVE) != qid:
        st.rerun()  # revealed since the page was drawn: the next question goes live
    _room_panel(qid, t, live=True)


def _room_panel(qid: str, t: Tally, live: bool) -> None:
    """The presenter's chart of one question's answers, its reveal button and (not live) a
    button to watch it live."""
    st.plotly_chart(projector.scaled(answers(t.options, t.counts)), key=f"sv_room_{qid}", config=PLOTLY)
    row = st.container(horizontal=True)
    label = "Hide the room's answers from students" if t.revealed else "Show students the room's answers"
    row.button(label, key=f"sv_reveal_{qid}", on_click=_reveal, args=(qid, not t.revealed))
    if not live:
        row.button("Watch this question live", key=f"sv_live_{qid}", on_click=_ss().__setitem__,
                   args=(LIVE, qid), help="its answers update as they come in (one question at a time)")


def _reveal(qid: str, shown: bool) -> None:
    try:
        registry().reveal(_ss()[CODE], _ss()[SECRET], qid, shown)
    except ClassError as e:
        _ss()["sv_class_error"] = str(e)
    if shown and _ss().get(LIVE) == qid:
        _ss().pop(LIVE)  # the next question not yet revealed goes live


def answer(qid: str, option: int) -> bool:
    """Follower: send this session's answer (first answer counts); False if not counted."""
    c = code()
    if c is None or presenting():
        return False
    return registry().answer(c, qid, voter(), option)


def room_result(qid: str) -> None:
    """Follower: the room's answers, once the presenter reveals them (the status bar's poll
    redraws the page when they are)."""
    if code() is None or presenting():
        return
    _ss().setdefault(WATCHED, set()).add(qid)
    t = _room().get(qid)
    if t is None:
        st.caption("The room's answers appear here when the presenter shows them.")
        return
    st.plotly_chart(projector.scaled(answers(t.options, t.counts)), key=f"sv_res_{qid}", config=PLOTLY)
