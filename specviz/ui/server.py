"""The Your server page's widgets: where a server's metrics come from, and what they say.

Everything lives in this browser session's state: the watch (successive scrapes), the last
error, and the bearer token (a password field: never written to disk, a log or a URL). A
failed read only sets an error line; the last good reading stays on screen.
"""
import time
from pathlib import Path

import streamlit as st

from .. import server_charts, serving
from . import projector
from ..brief import production_section
from .views import PLOTLY, plain

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "data" / "serving"
EXAMPLES = {  # label -> file; only the first is a real run, the others are labelled test data
    "SpecViz's own run (real: SmolLM2-135M on this CPU, generate --metrics-out)": "specviz_generate.prom",
    "vLLM format example (test data, not a live server)": "vllm_example.prom",
    "SGLang format example (test data, not a live server)": "sglang_example.prom",
    "TGI format example (test data, not a live server)": "tgi_example.prom",
}
INTERVALS = [2, 5, 15, 30, 60]
LIVE, SAVED, EXAMPLE = "a live /metrics URL", "a saved copy", "an example"


def _ss():
    return st.session_state


def _take(text: str, source: str, fresh: bool = False) -> None:
    """Parse a page and add it to the watch of `source` (another source, or fresh, starts a new watch)."""
    scrape = serving.parse(text)
    if fresh or _ss().get("srv_source") != source or "srv_watch" not in _ss():
        _ss()["srv_watch"], _ss()["srv_source"] = serving.Watch(), source
    _ss()["srv_watch"].add(scrape)
    _ss()["srv_error"] = None


def _attempt(work) -> None:
    """Run a read; a failure becomes the one error line and the last good reading stays."""
    try:
        work()
    except serving.ScrapeError as e:
        _ss()["srv_error"] = str(e)


def _read_url() -> None:
    url = (_ss().get("srv_url") or "").strip()
    if not url:
        _ss()["srv_error"] = "type the server's metrics URL first, e.g. http://localhost:8000/metrics"
        return
    _attempt(lambda: _take(serving.fetch(url, _ss().get("srv_token") or None), f"{url} (live)"))
    _ss()["srv_next"] = time.time() + _ss().get("srv_interval", 15)


def _on_upload() -> None:
    upload = _ss().get("srv_upload")
    if upload is not None:
        _attempt(lambda: _take(serving.decode(upload.getvalue()), f"{upload.name} (a saved copy)", True))


def _open_example() -> None:
    label = _ss().get("srv_example")
    path = EXAMPLES_DIR / EXAMPLES[label]
    _attempt(lambda: _take(serving.decode(path.read_bytes()), label, True))


def controls() -> None:
    """Where the metrics come from: a live URL (read on request, or watched), an upload, an example."""
    mode = st.radio("read the metrics of", [LIVE, SAVED, EXAMPLE], key="srv_mode")
    if mode == LIVE:
        st.text_input("metrics URL", key="srv_url", placeholder="http://localhost:8000/metrics",
                      help="vLLM, SGLang and TGI serve Prometheus metrics at /metrics; http or https")
        st.text_input("bearer token (optional)", type="password", key="srv_token",
                      help="kept only in this browser session (never written to disk, a log or a "
                           "URL) and sent only to the URL's own host")
        st.selectbox("when watching, read every (s)", INTERVALS, index=2, key="srv_interval")
        st.button("Read now", key="srv_read", on_click=_read_url, type="primary", width="stretch")
        st.toggle("watch live", key="srv_live", on_change=lambda: _ss().update(srv_next=0.0),
                  help="read the URL again at the interval above while this page is open")
    elif mode == SAVED:
        st.file_uploader("a saved /metrics page", key="srv_upload", on_change=_on_upload,
                         help="e.g. `curl -s http://host:8000/metrics > metrics.txt`, or a file written "
                              "by `python -m specviz generate --metrics-out`")
    else:
        st.selectbox("example", list(EXAMPLES), key="srv_example")
        st.button("Open the example", key="srv_open", on_click=_open_example, width="stretch")


def view() -> None:
    """The readings: polled live while `watch live` is on (only that part of the page reruns)."""
    live = _ss().get("srv_mode") == LIVE and _ss().get("srv_live")
    every = _ss().get("srv_interval", 15) if live else None
    st.fragment(run_every=every)(_readings)()


def _readings() -> None:
    if _ss().get("srv_mode") == LIVE and _ss().get("srv_live") and time.time() >= _ss().get("srv_next", 0.0):
        _read_url()
    if _ss().get("srv_error"):
        st.error(_ss()["srv_error"])
    watch: serving.Watch | None = _ss().get("srv_watch")
    if watch is None or watch.last is None:
        st.info("Nothing read yet. Point the sidebar at your server's /metrics URL, upload a saved "
                "copy, or open an example.")
        return
    source, scrape = _ss()["srv_source"], watch.last
    shown = " ".join(source.replace("`", "'").split())[:200]  # user/server text, shown literally
    st.caption(f"Source: `{shown}` · last read {time.strftime('%H:%M:%S', time.localtime(scrape.at))} · "
               f"{len(next(iter(watch.points.values()), []))} window(s) watched")
    for event in watch.events[-3:]:
        st.warning(plain(event, 400))  # model names come from the server: no markdown from it
    models = scrape.models
    model = st.selectbox("model", models, key="srv_model") if len(models) > 1 else models[0]
    spans = ["since the server started"]
    if scrape.engine != "sglang" and watch.points.get(model):
        spans.append("since you started watching")
    if scrape.engine == "sglang":
        spans = ["SGLang's latest window"]
    span = st.radio("numbers over", spans, horizontal=True, key="srv_span") if len(spans) > 1 else spans[0]
    r = watch.since_watching(model) if span == "since you started watching" else serving.readouts(scrape)[model]
    _numbers(r)
    for note in r.missing:
        st.info(note[0].upper() + note[1:] + ".")
    if r.unconditional:
        st.plotly_chart(projector.scaled(server_charts.position_acceptance(r)), config=PLOTLY, key="srv_pos")
    points = watch.points.get(model, [])
    if points and (scrape.engine == "sglang" or len(points) >= 1):
        st.plotly_chart(projector.scaled(server_charts.over_time(points)), config=PLOTLY, key="srv_time")
    elif scrape.engine != "sglang":
        st.caption("Over time: read the server again (or watch it live) to see windows between readings.")
    _what_if(r)
    _brief(r, source, span, serving.trend(points))


def _numbers(r: serving.Readout) -> None:
    f = lambda x, spec=".2f": "n/a" if x is None else format(x, spec)  # noqa: E731
    rate, whose = "accepted ÷ drafted", {"vllm": "vLLM's", "sglang": "SGLang's", "tgi": "TGI's"}[r.engine]
    cols = st.columns(5)
    cols[0].metric("α (Leviathan)", f(r.alpha, ".3f"), border=True,
                   help="accepted ÷ (accepted + drafts that stopped before position k): the probability "
                        "that a checked drafted token is accepted")
    cols[1].metric("τ tokens / verify pass", f(r.tau), border=True,
                   help="1 + accepted ÷ drafts: vLLM counts only the passes that verified a draft")
    cols[2].metric("E[τ] at α", f(r.expected_tau), border=True,
                   help="Leviathan's (1 − α^(k+1)) / (1 − α): close to τ when the i.i.d. model fits")
    cols[3].metric(rate, f(r.rate, ".3f"), border=True,
                   help=f"{whose} draft acceptance rate, accepted ÷ drafted tokens: equals α only "
                        "at k = 1, so it is never fed to Leviathan's formulas")
    cols[4].metric("drafts counted" if r.counts else "draft length k", f"{r.drafts:,}" if r.counts else "n/a",
                   border=True, help=f"k = {r.k}" if r.k else None)


def _what_if(r: serving.Readout) -> None:
    if r.alpha is None or not r.k:
        return
    rows = [{"γ": w["gamma"], "E[τ] tokens / verify pass": round(w["expected_tau"], 2),
             "expected draft acceptance rate": round(w["expected_draft_acceptance_rate"], 3),
             "": "now" if w["gamma"] == r.k else ""} for w in serving.what_if(r.alpha, r.k)]
    st.markdown("#### What would γ ± 1 do? (an estimate)")
    projector.table(rows)
    st.caption(f"Estimate, not a measurement: Leviathan's formula at the measured α = {r.alpha:.3f}, "
               "assuming every position is accepted with that same probability. Each drafted token "
               "costs draft time and a slot in the verify pass, and the counters say nothing about time.")


def _brief(r: serving.Readout, source: str, span: str, trend: dict | None) -> None:
    text = production_section(r, source, span, trend)
    st.session_state["sv_production_section"] = text  # the Decision brief page can append it
    with st.expander("The decision brief's production section", expanded=False):
        st.markdown(text)
    st.download_button("download the production section (.md)", text, file_name="production-section.md",
                       mime="text/markdown", key="srv_brief_dl", on_click="ignore")
