"""Choosing, uploading and downloading traces (replay needs no model)."""
import re

import streamlit as st

from ..trace import Trace
from . import state


def _on_pick(key: str) -> None:
    state.select(key, st.session_state[f"{key}_pick"])


def picker(key: str, label: str = "trace", preferred: str = "") -> tuple[str, Trace] | None:
    """Select box over this session's traces and the shipped examples; returns the shown one.

    The choice lives in `{key}_current`, not in the widget's own key: Streamlit forgets a
    widget's state on pages that do not draw it, and the choice must survive page switches.
    """
    shown = state.current(key, preferred)
    st.session_state[f"{key}_pick"] = shown[0] if shown else None
    st.selectbox(label, state.labels(), key=f"{key}_pick", on_change=_on_pick, args=(key,),
                 help="your live runs and uploads, then the shipped real examples")
    return shown


def _on_upload(key: str) -> None:
    upload = st.session_state.get(f"{key}_upload")
    if upload is not None:
        state.load_upload(key, upload.name, upload.getvalue())


def uploader(key: str) -> None:
    st.file_uploader("load a trace (.json)", type=["json"], key=f"{key}_upload",
                     on_change=_on_upload, args=(key,),
                     help="a trace saved from SpecViz or `python -m specviz generate --trace`; "
                          "replays without loading any model")


def download(key: str, label: str, trace: Trace) -> None:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_")[:60] or "trace"
    st.download_button("save this trace (.json)", trace.to_json(), file_name=f"{name}.json",
                       mime="application/json", key=f"{key}_download", on_click="ignore",
                       width="stretch")
