"""Traces in session state: a per-session library (shipped, uploaded, live runs) and errors.

A page (or an embedded widget) owns a key prefix; `current(key)` is the trace it shows.
A failed load or run only sets an error message, so the last good trace stays on screen.

Links name a trace by a reference (`ref`): a shipped trace's file stem, or the id under which
an upload or a live run went into the server's trace store (specviz.services.store), so a link to it
works in any browser on the same server.
"""
import re
from pathlib import Path

import streamlit as st

from ..errors import SpecVizError
from ..present.escape import inert
from ..services.store import TraceStore, shipped_traces
from ..trace import Trace

LIBRARY = "sv_library"
REFS = "sv_refs"  # label -> store id of this session's uploads, live runs and opened links


@st.cache_resource(show_spinner=False)
def store() -> TraceStore:
    """The server's shared trace store (SPECVIZ_STORE, else the cache directory)."""
    return TraceStore()


@st.cache_resource(show_spinner=False)
def load_shipped(path: str, mtime: float) -> Trace:
    """A shipped example trace, parsed once per server process (mtime busts the cache)."""
    return Trace.load(path)


def library() -> dict[str, Trace]:
    """Uploaded traces and live runs of this browser session, newest last."""
    return st.session_state.setdefault(LIBRARY, {})


def labels() -> list[str]:
    """Every trace a picker can offer: this session's own first, then the shipped examples."""
    return list(reversed(library())) + list(shipped_traces())


def chain_labels() -> list[str]:
    """labels() of the runs that drafted chains (Leviathan's α, replay over γ: not for token trees)."""
    return [lb for lb in labels() if not get(lb).config.tree_nodes]


def get(label: str) -> Trace:
    if label in library():
        return library()[label]
    path: Path = shipped_traces()[label]
    return load_shipped(str(path), path.stat().st_mtime)


def default_label(preferred: str = "") -> str | None:
    """The first label containing `preferred`, else the first label there is."""
    options = labels()
    return next((o for o in options if preferred in o), options[0] if options else None)


def current(key: str, preferred: str = "") -> tuple[str, Trace] | None:
    """(label, trace) that the widget `key` shows; falls back to a default that loads."""
    ss = st.session_state
    label = ss.get(f"{key}_current")
    if label not in labels():
        label = ss[f"{key}_current"] = default_label(preferred)
    if label is None:
        return None
    try:
        return label, get(label)
    except SpecVizError as e:
        set_error(key, f"cannot load {label}: {e}")
        return None


def select(key: str, label: str) -> None:
    """Show `label` in widget `key` (call from a callback or before its picker is drawn)."""
    st.session_state[f"{key}_current"] = label
    clear_error(key)


def add(key: str, label: str, trace: Trace, show: bool = True, ref: str | None = None) -> str:
    """Put a trace in the library under a unique label (and show it in widget `key`); it goes
    into the server's store too, so that links to it work for anyone on this server."""
    lib, base, n = library(), label, 2
    while label in lib or label in shipped_traces():
        label, n = f"{base} ({n})", n + 1
    lib[label] = trace
    if ref is None:
        try:
            ref = store().put(trace)
        except (SpecVizError, OSError) as e:  # too large to share, or the disk: the session keeps it
            set_error(key, f"{label} could not be shared on this server ({e}): links to it open the "
                           "default trace instead.")
    if ref is not None:
        st.session_state.setdefault(REFS, {})[label] = ref
    if show:
        select(key, label)
    return label


def ref(label: str) -> str | None:
    """The reference a link uses for this label (None: this session's own, not stored)."""
    if label in library():
        return st.session_state.get(REFS, {}).get(label)
    path = shipped_traces().get(label)
    return path.stem if path is not None else None


def label_of(ref: str) -> str | None:
    """The label of the trace a link names (a stored one joins this session's library), or None."""
    for label, r in st.session_state.get(REFS, {}).items():
        if r == ref and label in library():
            return label
    for label, path in shipped_traces().items():
        if path.stem == ref:
            return label
    try:
        trace = store().get(ref)
    except SpecVizError:
        trace = None
    if trace is None:
        return None
    draft = re.sub(r"[^A-Za-z0-9:._-]+", "", trace.config.draft)[:40] or "draft"  # data: no markup
    return add("", f"shared: {draft} · γ {trace.config.gamma} · {ref[:6]}", trace, show=False, ref=ref)


def set_error(key: str, message: str) -> None:
    st.session_state[f"{key}_error"] = message
    st.session_state[f"{key}_error_n"] = st.session_state.get(f"{key}_error_n", 0) + 1


def clear_error(key: str) -> None:
    st.session_state.pop(f"{key}_error", None)


ERROR_BOX = "sv_errbox"  # an error box's key: <key>_sv_errbox_<serial> (library.uploader hides stale ones)


def show_error(key: str) -> None:
    """The latest user error of widget `key`, above the (unchanged) last good trace."""
    message = st.session_state.get(f"{key}_error")
    if message:  # it may quote a trace or a file name: data, never markdown
        serial = st.session_state.get(f"{key}_error_n", 0)
        st.container(key=f"{key}_{ERROR_BOX}_{serial}").error(inert(message), icon="⚠️")


def load_upload(key: str, name: str, data: bytes) -> None:
    """Parse an uploaded trace: add it, or report why it cannot be read."""
    try:
        trace = Trace.from_json(data)
    except SpecVizError as e:
        set_error(key, f"{name}: {e}. The trace on screen was kept.")
        return
    add(key, f"uploaded: {name}", trace)
