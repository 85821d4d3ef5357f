"""The frame of every page: config and styles, the sidebar (page links, projector mode, the
class, the workshop pack, a link to this view), a follower's class bar, the agenda.

    page.setup("Step through", "1_Step_through")   # first
    ... the page, whose widgets keep their state in the address (urlstate) ...
    page.done()                                     # last: the address goes to the class

The address is the one description of a view: a link opens it, and in a class the presenter's
page publishes its address and followers' pages open it (classroom.py), so following works on
every page without page-specific code.
"""
import re

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from ..paths import PAGES_DIR
from . import classroom, projector, urlstate, workshop
from .views import css

PAGE = "sv_page"  # the stem of the page this session is on ("app", "1_Step_through", ...)
SLOTS = "sv_page_slots"
PRIVATE = ("class", "projector")  # never part of a shared view or link
VIEW_KEY = re.compile(r"[a-z][a-z0-9_]{0,31}")
PAGE_PATHS = tuple(p.stem.split("_", 1)[-1] for p in sorted(PAGES_DIR.glob("*.py")))  # their URL paths


def setup(title: str, stem: str, hideable: dict[str, str] | None = None,
          address: dict[str, tuple[str, urlstate.Param]] | None = None) -> None:
    """Start a page: apply a presenter's view (followers), config, styles, sidebar, class bar.

    hideable: controls of this page a shared link can hide (key -> what it is).
    address: widgets of this page whose values the address keeps (urlstate.bind)."""
    ss = st.session_state
    ss[PAGE], ss[urlstate.PAGE_PATH] = stem, "" if stem == "app" else stem.split("_", 1)[-1]
    ss[urlstate.PAGE_PATHS] = PAGE_PATHS
    classroom.switch_to_pending(stem)  # a follower whose presenter is on another page goes there
    _take_presenters_view(stem)
    projector.sync()
    # the default favicon: emoji and material icons would be fetched from a CDN (offline here)
    st.set_page_config(page_title=f"{title} · SpecViz", layout="wide",
                       initial_sidebar_state="collapsed" if projector.on() else "auto")
    css()
    projector.style()
    urlstate.hide_css()
    with st.sidebar:
        slots = {"link": st.container()}
        try:  # our own links: Streamlit's automatic menu would call the landing page "app"
            page_links(home=True)
        except StreamlitPageNotFoundError:
            pass  # a page run as its own entrypoint (AppTest.from_file) has no app.py to link to
        projector.toggle()
        classroom.panel()
        st.divider()
        workshop.pack_button()
    classroom.bar(stem)
    if projector.on():
        _nav(stem)
    slots["notices"] = st.container()
    if address:
        urlstate.bind(f"{stem}_widgets", address)
    ss[SLOTS] = (slots, hideable or {}, address or {})


def done() -> None:
    """End a page: address notices, the copy-link control, what the pack holds, the agenda; the
    class sees this view (presenter)."""
    ss = st.session_state
    stem = ss.get(PAGE, "app")
    slots, hideable, address = ss.pop(SLOTS, ({}, {}, {}))
    if address:
        urlstate.publish_bound(f"{stem}_widgets", address)
    if "notices" in slots:
        with slots["notices"]:
            urlstate.notices()
    if "link" in slots:
        with slots["link"]:
            urlstate.copy_current("Link to this view", "sv_link", hideable)
    workshop.keep_for_pack()
    if not projector.on():
        st.divider()
        _nav(stem)
    sync()


def sync() -> None:
    """The presenter's page tells the class what it shows: its address (also from fragments)."""
    if not classroom.presenting():
        return
    qp = st.query_params
    view = {k: qp[k] for k in qp if k not in PRIVATE and not k.endswith("_hide")
            and VIEW_KEY.fullmatch(k) and len(qp[k]) <= 200}
    classroom.publish(st.session_state.get(PAGE, "app"), view)


def _take_presenters_view(stem: str) -> None:
    """A follower opens the presenter's view like a link: its address, in full."""
    view = classroom.incoming(stem)
    if view is None:
        return
    mine = {k: st.query_params[k] for k in st.query_params if k in PRIVATE or k.endswith("_hide")}
    st.query_params.from_dict({**{k: str(v) for k, v in view.items() if k != "page"}, **mine})
    urlstate.forget()


def _nav(stem: str) -> None:
    try:
        workshop.nav(stem)
    except StreamlitPageNotFoundError:
        pass  # run as its own entrypoint (AppTest.from_file): no other pages to link to


def page_links(home: bool = False) -> None:
    """A link to every page in pages/, in their numbered order, titled from the file name."""
    query = {"projector": "true"} if projector.on() else None
    if home:
        st.page_link("app.py", label="Home", query_params=query)
    for path in sorted(PAGES_DIR.glob("*.py")):
        title = path.stem.split("_", 1)[-1].replace("_", " ")
        st.page_link(f"pages/{path.name}", label=title, query_params=query)
