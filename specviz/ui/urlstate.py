"""A page's state in its address (st.query_params): links open the same view, stepping updates them.

A page declares its parameters once (a schema of Params), then per run:

    SCHEMA = [urlstate.Text("trace", "summarise__lookup__greedy"), urlstate.Int("round", 1, 1, n)]
    incoming = urlstate.incoming("step", SCHEMA)   # validated values of a link just opened, else None
    ... apply them to session state; draw the page ...
    urlstate.publish("step", SCHEMA, {"trace": stem, "round": rnd + 1})   # the address follows

Every value from the address is validated: a bad one falls back to its default with a notice
(`notices()`), never a traceback. `hidden("gamma")` follows TensorFlow Playground's convention:
`?gamma_hide=true` hides that control, so a presenter can share a link with it locked;
`hide_css()` does it for any keyed widget or container of a page (`.st-key-<key>`).

An address without any of a schema's parameters (a page switch: Streamlit drops the query) keeps
the session's own state; `forget()` makes the next address count in full (a class follower
taking the presenter's view).
"""
import json
import math
import re
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import urlencode, urlsplit, urlunsplit

import streamlit as st

from ..present import escape

NOTICES = "sv_url_notices"
KEYS = "sv_url_keys"  # the schema keys this session has written the address for
HIDE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,39}")  # <control>_hide: a widget or container key
TEXT = r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,119}"  # stems, ids, names: no spaces, slashes or markup


@dataclass(frozen=True)
class Param:
    """One query parameter: its name, default and what values it accepts."""

    name: str
    default: Any
    kind: str  # "int" | "float" | "choice" | "many" | "bool" | "text"
    lo: float | None = None
    hi: float | None = None
    choices: tuple = ()
    pattern: str = TEXT

    def parse(self, raw: str) -> Any:
        """The value of a raw query string, or ValueError saying what was expected."""
        raw = raw.strip()
        if self.kind == "int":
            if not re.fullmatch(r"-?\d{1,9}", raw) or not self.lo <= int(raw) <= self.hi:
                raise ValueError(f"a whole number from {self.lo:g} to {self.hi:g}")
            return int(raw)
        if self.kind == "float":
            try:
                x = float(raw)
            except ValueError:
                x = math.nan
            if not (math.isfinite(x) and self.lo <= x <= self.hi) or len(raw) > 24:
                raise ValueError(f"a number from {self.lo:g} to {self.hi:g}")
            return x
        if self.kind == "bool":
            if raw.lower() not in ("true", "false", "1", "0"):
                raise ValueError("true or false")
            return raw.lower() in ("true", "1")
        if self.kind == "choice":
            match = next((c for c in self.choices if str(c) == raw), None)
            if match is None:
                raise ValueError("one of " + ", ".join(map(str, self.choices)))
            return match
        if self.kind == "many":
            picked = [next((c for c in self.choices if str(c) == x), None) for x in raw.split(",")]
            if not raw or None in picked or len(picked) > len(self.choices):
                raise ValueError("a comma-separated list of " + ", ".join(map(str, self.choices)))
            return list(dict.fromkeys(picked))
        if not re.fullmatch(self.pattern, raw):
            raise ValueError("a name of letters, digits, '_', '-', '.' or ':'")
        return raw

    def dump(self, value: Any) -> str:
        if self.kind == "bool":
            return "true" if value else "false"
        if self.kind == "float":
            return f"{value:g}"
        if self.kind == "many":
            return ",".join(map(str, value))
        return str(value)


def Int(name: str, default: int, lo: int, hi: int) -> Param:  # noqa: N802 - reads like a type
    return Param(name, default, "int", lo, hi)


def Float(name: str, default: float, lo: float, hi: float) -> Param:  # noqa: N802
    return Param(name, default, "float", lo, hi)


def Choice(name: str, default: Any, choices) -> Param:  # noqa: N802
    return Param(name, default, "choice", choices=tuple(choices))


def Many(name: str, default: list, choices) -> Param:  # noqa: N802 - a multiselect's values
    return Param(name, list(default), "many", choices=tuple(choices))


def Bool(name: str, default: bool) -> Param:  # noqa: N802
    return Param(name, default, "bool")


def Text(name: str, default: str, pattern: str = TEXT) -> Param:  # noqa: N802
    return Param(name, default, "text", pattern=pattern)


def _one(raw: Any) -> str:
    """A query value as one string (a repeated parameter keeps its last value, like browsers)."""
    return str(raw[-1] if isinstance(raw, (list, tuple)) and raw else raw)


def parse(params: Mapping[str, Any], schema: list[Param]) -> tuple[dict, list[str]]:
    """(value of every parameter, one notice per bad value); missing or bad -> the default."""
    values, notices = {}, []
    for p in schema:
        values[p.name] = p.default
        if p.name not in params:
            continue
        raw = _one(params[p.name])
        try:
            values[p.name] = p.parse(raw)
        except ValueError as e:
            shown = raw if len(raw) <= 40 else raw[:39] + "…"
            notices.append(f"Ignored {p.name}={shown} in the address: expected {e}; "
                           f"showing {p.name} = {p.dump(p.default)} instead.")
    return values, notices


def encode(values: Mapping[str, Any], schema: list[Param]) -> dict[str, str]:
    """The query parameters of these values; defaults are left out to keep links short."""
    return {p.name: p.dump(values[p.name]) for p in schema
            if p.name in values and values[p.name] != p.default}


def query_string(values: Mapping[str, Any], schema: list[Param], keep: Mapping[str, str] = {}) -> str:
    """'?a=1&b=2' for a link (keep: other parameters to carry, e.g. the class code)."""
    q = {**keep, **encode(values, schema)}
    return "?" + urlencode(q) if q else ""


# Streamlit side
def _current(schema: list[Param]) -> dict[str, str]:
    qp = st.query_params
    return {p.name: _one(qp.get_all(p.name)) for p in schema if qp.get_all(p.name)}


def incoming(key: str, schema: list[Param]) -> dict | None:
    """Validated values of a link just opened (or an address edited), else None.

    The address is compared with what this session last wrote: equal means the page's own
    session state is newer, so nothing comes in; so does an address without any of these
    parameters once the session has written them (the user came back from another page)."""
    ss, now = st.session_state, _current(schema)
    last = ss.get(f"{key}_url")
    if last == now or (not now and last is not None):
        return None
    values, notices = parse(now, schema)
    ss[NOTICES] = ss.get(NOTICES, []) + notices
    ss[f"{key}_url"] = encode(values, schema)  # the address after clean-up
    ss.setdefault(KEYS, set()).add(key)
    return values


def forget() -> None:
    """Make the next address count in full, defaults included (a follower takes the presenter's view)."""
    for key in st.session_state.pop(KEYS, set()):
        st.session_state.pop(f"{key}_url", None)


def notice(text: str) -> None:
    """Add a notice about the address (shown by notices(), once)."""
    st.session_state[NOTICES] = st.session_state.get(NOTICES, []) + [text]


def publish(key: str, schema: list[Param], values: Mapping[str, Any]) -> None:
    """Make the address show these values (only parameters of this schema are touched)."""
    want = encode(values, schema)
    qp = st.query_params
    for p in schema:
        if p.name in want:
            if qp.get(p.name) != want[p.name] or len(qp.get_all(p.name)) > 1:
                qp[p.name] = want[p.name]
        elif p.name in qp:
            del qp[p.name]
    st.session_state[f"{key}_url"] = want
    st.session_state.setdefault(KEYS, set()).add(key)


def bind(key: str, widgets: Mapping[str, tuple[str, Param]]) -> None:
    """Widgets whose values live in the address (name -> (widget key, its Param)): a link's
    values become theirs. Call before they are drawn, and publish_bound() after."""
    came = incoming(key, [p for _, p in widgets.values()])
    if came is not None:
        for wkey, p in widgets.values():
            st.session_state[wkey] = came[p.name]


def publish_bound(key: str, widgets: Mapping[str, tuple[str, Param]]) -> None:
    """The address shows the bound widgets' values (a widget not drawn now: its default)."""
    ss = st.session_state
    publish(key, [p for _, p in widgets.values()],
            {p.name: ss[wkey] if wkey in ss else p.default for wkey, p in widgets.values()})


def notices() -> None:
    """Say which address values were ignored (once, under the page title)."""
    for text in st.session_state.pop(NOTICES, []):
        st.info(escape.md(text), icon=":material/link_off:")


def hidden(control: str) -> bool:
    """TensorFlow Playground's convention: `<control>_hide=true` in the address hides a control."""
    return st.query_params.get(f"{control}_hide", "").lower() == "true"


def hide_params() -> dict[str, str]:
    """The `_hide` flags of the address (carried along in shared links)."""
    return {k: "true" for k in st.query_params if k.endswith("_hide") and hidden(k[:-5])}


def hide_css() -> None:
    """Hide every control the address names with `<key>_hide=true` (a keyed widget or container:
    Streamlit gives it the class st-key-<key>). Its value still applies, as in the Playground."""
    keys = [k[:-5] for k in hide_params() if HIDE.fullmatch(k[:-5])]
    if keys:
        st.html("<style>" + ",".join(f".st-key-{k}" for k in keys) + "{display:none !important}</style>")


PAGE_PATH = "sv_page_path"  # the page's path under the app's address (set by page.setup)
PAGE_PATHS = "sv_page_paths"  # every page's path (set by page.setup)


def app_url() -> str:
    """The app's own address as the browser sees it (no page path, no query, no trailing /).
    st.context.url is the address the browser showed when it asked for this run: on a page other
    than Home it ends in that page's path (which may be the page being left)."""
    url = urlsplit(st.context.url or "")
    folder, _, last = url.path.removesuffix("/").rpartition("/")
    if last in st.session_state.get(PAGE_PATHS, ()):  # "[/base]/Step_through" -> "[/base]"
        url = url._replace(path=folder)
    return urlunsplit(url._replace(query="", fragment="")).removesuffix("/")


def base_url() -> str:
    """This page's address as the browser sees it, without its query."""
    root = app_url()
    path = st.session_state.get(PAGE_PATH, "")
    return f"{root}/{path}" if path else (root + "/" if root else "")


def link(values: Mapping[str, Any], schema: list[Param], keep: Mapping[str, str] = {}) -> str:
    """A full link to this page showing these values (the server's own address, as the browser sees it)."""
    return base_url() + query_string(values, schema, {**hide_params(), **keep})


def current_link(drop: tuple[str, ...] = ()) -> str:
    """A link to what this page shows now: its whole address, less the parameters in drop."""
    q = {k: _one(st.query_params.get_all(k)) for k in st.query_params if k not in drop}
    return base_url() + ("?" + urlencode(q) if q else "")


def copy_link(values: Mapping[str, Any], schema: list[Param], label: str = "Link to this step",
              keep: Mapping[str, str] = {}) -> None:
    """A "copy link to this step" control: the link in a code box with its copy button."""
    with st.popover(label, icon=":material/link:"):
        st.code(link(values, schema, keep), language=None, wrap_lines=True)
        st.caption("Copy it with the button on the right. It opens this view for anyone on this "
                   "server; add `<control>_hide=true` to hide a control.")


# The link shown is read from the browser's own address when the box is shown and while it is
# open: a player steps in a fragment, which updates the address but never redraws the sidebar, so a
# link drawn by the page's last full run would keep the round the page was opened at. Our own
# script (no data in it; the parameters to drop and to add come in as data, set as URL fields).
_LINK_HTML = """<div class="sv-link"><input class="sv-link-url" readonly aria-label="link to this view">
<button class="sv-link-copy" type="button">Copy</button><span class="sv-link-note"></span></div>"""
_LINK_CSS = """
.sv-link {display: flex; gap: .4rem; align-items: center; flex-wrap: wrap; font-family: sans-serif}
.sv-link-url {flex: 1 1 16rem; min-width: 0; font: .85rem/1.6 monospace; padding: .3rem .5rem;
  border: 1px solid rgba(49, 51, 63, .3); border-radius: .4rem; background: rgba(240, 242, 246, .6)}
.sv-link-copy {font: inherit; padding: .35rem .8rem; border-radius: .4rem; cursor: pointer;
  border: 1px solid rgba(49, 51, 63, .3); background: white}
.sv-link-note {font-size: .8rem; color: #555}
"""
_LINK_JS = """
export default function(component) {
  const { parentElement } = component;
  const data = JSON.parse(new TextDecoder().decode(component.data));  // bytes: see copy_current
  const box = parentElement.querySelector('.sv-link-url');
  const note = parentElement.querySelector('.sv-link-note');
  const live = () => {
    const url = new URL(window.location.href);
    for (const name of data.drop) url.searchParams.delete(name);
    for (const [name, value] of Object.entries(data.extra)) url.searchParams.set(name, value);
    url.hash = '';
    return url.toString();
  };
  const show = () => { const url = live(); if (box.value !== url) box.value = url; };
  show();
  const timer = setInterval(show, 250);
  box.onfocus = () => { show(); box.select(); };
  parentElement.querySelector('.sv-link-copy').onclick = async () => {
    show();
    box.select();
    try {
      await navigator.clipboard.writeText(box.value);
      note.textContent = 'copied';
    } catch (e) {  // no clipboard API over plain http to another host: the selection still copies
      note.textContent = document.execCommand('copy') ? 'copied' : 'selected: press Ctrl+C';
    }
  };
  return () => clearInterval(timer);
}
"""
_live_link = st.components.v2.component("specviz.view_link", html=_LINK_HTML, css=_LINK_CSS, js=_LINK_JS)


def copy_current(label: str = "Link to this step", key: str = "sv_link", hideable: dict[str, str] = {},
                 drop: tuple[str, ...] = ("class", "projector")) -> None:
    """"Copy link to this step": the page's whole address as the browser shows it now (its class
    code and projector mode left out), and controls a presenter can hide from whoever opens it.
    The server's own version of the link (current_link) goes along as data, for tests."""
    with st.popover(label, icon=":material/link:", help="a link that opens exactly this view"):
        hide = []
        if hideable:
            hide = st.multiselect("hide these controls from whoever opens it", list(hideable),
                                  format_func=hideable.get, key=f"{key}_hide")
        extra = {f"{k}_hide": "true" for k in hide}
        url = current_link(drop)
        url += ("&" if "?" in url else "?") + urlencode(extra) if extra else ""
        # JSON as bytes: a dict is checked for data frames, a first pandas import in each session's
        # thread at once, which pandas' circular imports can break ("partially initialized module")
        _live_link(key=f"{key}_live", data=json.dumps({"drop": list(drop), "extra": extra, "server": url}).encode())
        st.caption("Copy it with the button: it opens this view (this round and step, as you step) for "
                   "anyone on this server.")
