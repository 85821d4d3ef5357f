"""Choosing, uploading and downloading traces (replay needs no model)."""
import re

import streamlit as st

from ..services.store import shipped_traces
from ..trace import Trace
from . import state, urlstate


# While a newly chosen file uploads and the page reruns (a second or more on a busy server), the
# page would still show the last run's error about the previous file. Every error box is keyed
# with its error's serial number (state.show_error); this script-only component (our own code,
# no data) hides the boxes on screen when a file is chosen: a new error has a new key and shows.
_UPLOAD_JS = """
export default function(component) {
  const onChange = (e) => {
    if (!(e.target instanceof HTMLInputElement) || e.target.type !== 'file') return;
    let style = document.getElementById('sv-stale-errors');
    if (!style) {
      style = document.createElement('style');
      style.id = 'sv-stale-errors';
      document.head.appendChild(style);
    }
    for (const box of document.querySelectorAll("[class*='_ERROR_BOX_']")) {
      const cls = [...box.classList].find((c) => c.startsWith('st-key-') && c.includes('_ERROR_BOX_'));
      if (cls && !style.textContent.includes('.' + cls + ' ')) style.textContent += '.' + cls + ' {display: none !important}\\n';
    }
  };
  document.addEventListener('change', onChange, true);
  return () => document.removeEventListener('change', onChange, true);
}
"""
_upload_watch = st.components.v2.component("specviz.upload_watch",
                                           js=_UPLOAD_JS.replace("ERROR_BOX", state.ERROR_BOX))


def _on_pick(key: str) -> None:
    state.select(key, st.session_state[f"{key}_pick"])


def _from_address(key: str, param: str, preferred: str) -> list[urlstate.Param]:
    """The trace a link names (?param=<shipped stem or stored id>) becomes the shown one."""
    # the default is a shipped trace: a link without the parameter means the same on any server
    default = next((path.stem for lb, path in shipped_traces().items() if preferred in lb), "")
    schema = [urlstate.Text(param, default)]
    came = urlstate.incoming(f"{key}_trace", schema)
    if came is not None and came[param]:
        label = state.label_of(came[param])
        if label is None:
            urlstate.notice(f"No trace {came[param]} on this server (stored traces expire); "
                            "showing the default one.")
            label = state.default_label(preferred)
        if label is not None:
            state.select(key, label)
    return schema


def picker(key: str, label: str = "trace", preferred: str = "", param: str | None = None
           ) -> tuple[str, Trace] | None:
    """Select box over this session's traces and the shipped examples; returns the shown one.

    The choice lives in `{key}_current`, not in the widget's own key: Streamlit forgets a
    widget's state on pages that do not draw it, and the choice must survive page switches.
    param: the address keeps the choice as ?param=<ref> (a link opens it).
    """
    schema = _from_address(key, param, preferred) if param else None
    shown = state.current(key, preferred)
    st.session_state[f"{key}_pick"] = shown[0] if shown else None
    st.selectbox(label, state.labels(), key=f"{key}_pick", on_change=_on_pick, args=(key,),
                 help="your live runs and uploads, then the shipped real examples")
    if schema and shown:
        urlstate.publish(f"{key}_trace", schema, {param: state.ref(shown[0]) or schema[0].default})
    return shown


def _on_upload(key: str) -> None:
    upload = st.session_state.get(f"{key}_upload")
    if upload is not None:
        state.load_upload(key, upload.name, upload.getvalue())


def uploader(key: str) -> None:
    _upload_watch(key=f"{key}_upload_watch")
    st.file_uploader("load a trace (.json)", type=["json"], key=f"{key}_upload",
                     on_change=_on_upload, args=(key,),
                     help="a trace saved from SpecViz or `python -m specviz generate --trace`; "
                          "replays without loading any model")


def download(key: str, label: str, trace: Trace) -> None:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_")[:60] or "trace"
    # the JSON is made on click only: a long trace takes tens of ms, and every run drew it
    st.download_button("save this trace (.json)", lambda: trace.to_json(), file_name=f"{name}.json",
                       mime="application/json", key=f"{key}_download", on_click="ignore",
                       width="stretch")
