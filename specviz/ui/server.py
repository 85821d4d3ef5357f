"""The Your server page's widgets: where a server's numbers come from, and what they say.

Everything lives in this browser session's state: the watch (successive scrapes) or the
per-request reading, the last error, and the bearer token (a password field: never written to
disk, a log or a URL). A failed read only sets an error line; the last good reading stays on screen.
"""
import time
from pathlib import Path

import streamlit as st

from ..numbers import num
from ..paths import SERVING_EXAMPLES
from ..present.charts import server
from ..present.escape import md
from ..services.serving import fetch, health, prometheus, readout, requests
from ..services.serving.report import production_section
from ..services.serving.watch import Point, Watch, trend
from . import projector
from .views import PLOTLY

TEST_DATA = "(test data, not a live server)"
EXAMPLES = {  # label -> files; only the first is a real run, the others are labelled test data
    "SpecViz's own run (real: SmolLM2-135M on this CPU, generate --metrics-out)": ["specviz_generate.prom"],
    f"vLLM format example {TEST_DATA}": ["vllm_example.prom"],
    f"llama.cpp format example {TEST_DATA}": ["llamacpp_example.prom"],
    f"TensorRT-LLM format example {TEST_DATA}": ["trtllm_example.prom"],
    f"SGLang counters example {TEST_DATA}": ["sglang_counters_example.prom"],
    f"SGLang gauges only, older builds {TEST_DATA}": ["sglang_example.prom"],
    f"TGI format example, an archived engine {TEST_DATA}": ["tgi_example.prom"],
    f"vLLM watched: five saved pages, acceptance collapses {TEST_DATA}":
        [f"watch_collapse/scrape{i}.prom" for i in range(1, 6)],
    f"vLLM per-request responses example {TEST_DATA}": ["vllm_requests_example.jsonl"],
    f"llama.cpp per-request timings example {TEST_DATA}": ["llamacpp_requests_example.jsonl"],
    f"MLX per-request timings example {TEST_DATA}": ["mlx_requests_example.jsonl"],
}
INTERVALS = [2, 5, 15, 30, 60]
LIVE, SAVED, PASTE, EXAMPLE = "a live /metrics URL", "saved copies", "a pasted response", "an example"


def _ss():
    return st.session_state


def _take(texts: list[tuple[str, str]], source: str, fresh: bool = False) -> None:
    """Read pages (successive scrapes, in the given order) or one file of responses into this session."""
    if any(requests.looks_like_responses(t) for _, t in texts):
        if len(texts) > 1:
            raise fetch.ScrapeError("give one file of responses at a time, without /metrics pages")
        reading = requests.read(texts[0][1])
        _ss().update(srv_reading=reading, srv_source=source, srv_view="requests", srv_error=None)
        return
    named = len(texts) > 1  # saved copies carry no time: their windows are named by file
    scrapes = [prometheus.parse(text, name=name if named else None) for name, text in texts]
    if fresh or _ss().get("srv_source") != source or "srv_watch" not in _ss():
        _ss()["srv_watch"], _ss()["srv_source"] = Watch(), source
    for scrape in scrapes:
        _ss()["srv_watch"].add(scrape)
    _ss()["srv_view"], _ss()["srv_error"] = "metrics", None


def _attempt(work) -> None:
    """Run a read; a failure becomes the one error line and the last good reading stays."""
    try:
        work()
    except fetch.ScrapeError as e:
        _ss()["srv_error"] = str(e)


def _read_url() -> None:
    url = (_ss().get("srv_url") or "").strip()
    if not url:
        _ss()["srv_error"] = "type the server's metrics URL first, e.g. http://localhost:8000/metrics"
        return
    _attempt(lambda: _take([(url, fetch.fetch(url, _ss().get("srv_token") or None))], f"{url} (live)"))
    _ss()["srv_next"] = time.time() + _ss().get("srv_interval", 15)


def _on_upload() -> None:
    uploads = sorted(_ss().get("srv_upload") or [], key=lambda u: u.name)  # time order = name order
    if uploads:
        shown = ", ".join(u.name for u in uploads)
        _attempt(lambda: _take([(u.name, fetch.decode(u.getvalue())) for u in uploads],
                               f"{shown} (saved)", True))


def _read_paste() -> None:
    text = _ss().get("srv_paste") or ""
    if not text.strip():
        _ss()["srv_error"] = "nothing to read: paste a response (JSON), JSON lines of them, or a /metrics page"
        return
    _attempt(lambda: _take([("pasted", fetch.decode(text.encode("utf-8")))], "a pasted response", True))


def _open_example() -> None:
    label = _ss().get("srv_example")
    _attempt(lambda: _take([(Path(f).name, fetch.decode((SERVING_EXAMPLES / f).read_bytes())) for f in EXAMPLES[label]],
                           label, True))


def controls() -> None:
    """Where the numbers come from: a live URL (read on request, or watched), saved copies, a paste, an example."""
    mode = st.radio("read the numbers of", [LIVE, SAVED, PASTE, EXAMPLE], key="srv_mode")
    if mode == LIVE:
        st.text_input("metrics URL", key="srv_url", placeholder="http://localhost:8000/metrics",
                      help="vLLM, SGLang, llama.cpp (--metrics) and TGI serve Prometheus metrics at /metrics, "
                           "trtllm-serve at /prometheus/metrics; http or https")
        st.text_input("bearer token (optional)", type="password", key="srv_token",
                      help="kept only in this browser session (never written to disk, a log or a "
                           "URL) and sent only to the URL's own host")
        st.selectbox("when watching, read every (s)", INTERVALS, index=2, key="srv_interval")
        st.button("Read now", key="srv_read", on_click=_read_url, type="primary", width="stretch")
        st.toggle("watch live", key="srv_live", on_change=lambda: _ss().update(srv_next=0.0),
                  help="read the URL again at the interval above while this page is open")
    elif mode == SAVED:
        st.file_uploader("saved /metrics pages, or responses", key="srv_upload", on_change=_on_upload,
                         accept_multiple_files=True,
                         help="one or more saved pages (`curl -s host:8000/metrics > 01.prom`), read in file-name "
                              "order as successive scrapes; or one .json/.jsonl file of responses (vLLM's "
                              "metrics.speculative_decoding, llama.cpp's or MLX's timings)")
    elif mode == PASTE:
        st.text_area("a response (JSON), or JSON lines of them", key="srv_paste", height=180,
                     placeholder='{"id": "chatcmpl-…", "metrics": {"speculative_decoding": {…}}}')
        st.button("Read the response", key="srv_paste_read", on_click=_read_paste, type="primary", width="stretch")
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
    if _ss().get("srv_view") == "requests":
        _requests(_ss()["srv_reading"], _ss()["srv_source"])
        return
    watch: Watch | None = _ss().get("srv_watch")
    if watch is None or watch.last is None:
        st.info("Nothing read yet. Point the sidebar at your server's /metrics URL, upload saved copies "
                "or responses, paste a response, or open an example.")
        return
    source, scrape = _ss()["srv_source"], watch.last
    st.caption(f"Source: `{_shown(source)}` · last read {time.strftime('%H:%M:%S', time.localtime(scrape.at))} · "
               f"{len(next(iter(watch.points.values()), []))} window(s) watched")
    for event in watch.events[-3:]:
        st.warning(md(event, 400))  # model names come from the server: no markdown from it
    models = scrape.models
    model = st.selectbox("model", models, key="srv_model") if len(models) > 1 else models[0]
    counted = model in scrape.totals
    spans = ["since the server started"] if counted else [f"{prometheus.NAMES[scrape.engine]}'s latest window"]
    if counted and watch.points.get(model):
        spans.append("since you started watching")
    span = st.radio("numbers over", spans, horizontal=True, key="srv_span") if len(spans) > 1 else spans[0]
    r = watch.since_watching(model) if span == "since you started watching" else readout.readouts(scrape)[model]
    _numbers(r)
    _notes(r)
    if r.unconditional:
        st.plotly_chart(projector.scaled(server.position_acceptance(r)), config=PLOTLY, key="srv_pos")
    points = watch.points.get(model, [])
    if points:
        st.plotly_chart(projector.scaled(server.over_time(points)), config=PLOTLY, key="srv_time")
    else:
        st.caption("Over time: read the server again (or watch it live, or upload several saved copies) to see "
                   "windows between readings.")
    _health(points)
    _what_if(r)
    _brief(r, source, span, trend(points))


def _shown(source: str) -> str:
    return " ".join(source.replace("`", "'").split())[:200]  # user/server text, shown literally


def _cards(pairs: list[tuple[str, str, str | None]]) -> None:
    for col, (label, value, why) in zip(st.columns(len(pairs)), pairs):
        col.metric(label, value, border=True, help=why)


def _numbers(r: readout.Readout) -> None:
    gauge = r.tau_from != readout.COUNTERS
    passes = prometheus.PASSES.get(r.engine, "drafts")
    _cards([("α (Leviathan)", num(r.alpha, ".3f"),
             "accepted ÷ (accepted + drafts that stopped before position k): the probability that a checked "
             "drafted token is accepted"),
            ("τ (gauge)" if gauge else "τ per pass", num(r.tau),
             f"{r.name}'s τ gauge, {readout.WINDOWED}" if gauge else
             "generated tokens ÷ verify calls" if r.engine == "sglang" else
             "1 + accepted ÷ verify passes (only the passes that verified a draft count)"),
            ("E[τ] at α", num(r.expected_tau),
             "Leviathan's (1 − α^(k+1)) / (1 − α): close to τ when the i.i.d. model fits"),
            ("vLLM rate" + (" (gauge)" if r.rate_from != readout.COUNTERS else ""),
             num(r.rate, ".3f"), f"{r.rate_label}: equals α only at k = 1, so it is never fed to "
                                 "Leviathan's formulas"),
            (f"{passes} counted", num(r.drafts, ",d"),
             f"k = {r.k}" if r.k else None)])


def _notes(r: readout.Readout) -> None:
    """The engine's own rate beside the app's, its windowed gauges, and what its numbers cannot give."""
    st.caption(f"**{r.name}'s own acceptance rate.** {prometheus.OWN_RATE[r.engine]}.")
    if r.gauges:
        shown = " · ".join(f"`{n}` = {v:.2f}" for n, v in r.gauges.items())
        st.caption(f"Gauges beside the counters, never mixed in (each {readout.WINDOWED}): {shown}")
    for note in r.missing:
        st.info(_sentence(note))


def _sentence(note: str) -> str:
    """A note as a sentence (an engine's name keeps its own case)."""
    return (note if note.startswith("llama.cpp") else note[0].upper() + note[1:]) + "."


def _health(points: list[Point]) -> None:
    st.markdown("#### Health")
    names = [p.name or time.strftime("%H:%M:%S", time.localtime(p.at)) for p in points]
    judged = sum(health.judged(p.readout) for p in points)
    if judged <= health.MIN_BEFORE:
        st.caption(f"Alarms compare each window with the ones before it: they need at least "
                   f"{health.MIN_BEFORE + 1} windows of {health.MIN_DRAFTS}+ drafts "
                   f"({judged} so far). They flag τ collapsing toward 1.0, a draft position's acceptance "
                   "falling while τ holds, and sudden jumps.")
        return
    alarms = health.check([p.readout for p in points], names)
    for alarm in alarms:
        st.warning(md(f"Alarm: {alarm}", 600))
    if not alarms:
        st.success(f"No alarm over {judged} windows: no collapse toward τ = 1, no position decaying while τ "
                   "holds, no sudden jump.")
    st.caption("`python -m specviz watch URL --fail-on-alarm` exits with code 5 on an alarm (for a cron or CI job).")


def _what_if(r: readout.Readout) -> None:
    if r.alpha is None or not r.k:
        return
    rows = [{"γ": w["gamma"], "E[τ] tokens / verify pass": round(w["expected_tau"], 2),
             "expected draft acceptance rate": round(w["expected_draft_acceptance_rate"], 3),
             "": "now" if w["gamma"] == r.k else ""} for w in readout.what_if(r.alpha, r.k)]
    st.markdown("#### What would γ ± 1 do? (an estimate)")
    projector.table(rows)
    st.caption(f"Estimate, not a measurement: Leviathan's formula at the measured α = {r.alpha:.3f}, "
               "assuming every position is accepted with that same probability. Each drafted token "
               "costs draft time and a slot in the verify pass, and the counters say nothing about time.")


def _brief(r: readout.Readout, source: str, span: str, trend: dict | None) -> None:
    text = production_section(r, source, span, trend)
    st.session_state["sv_production_section"] = text  # the Decision brief page can append it
    with st.expander("The decision brief's production section", expanded=False):
        st.markdown(text)
    st.download_button("download the production section (.md)", text, file_name="production-section.md",
                       mime="text/markdown", key="srv_brief_dl", on_click="ignore")


def _requests(reading: requests.Reading, source: str) -> None:
    """Per-request readings: every response, all of them pooled, their spread and outliers."""
    p, s = reading.pooled, reading.spread
    st.caption(f"Source: `{_shown(source)}` · {len(reading.requests)} {reading.pooled.name} response(s), "
               "each with its own speculative-decoding numbers")
    for note in reading.skipped:
        st.warning(md(f"Skipped {note}.", 400))
    _cards([("requests", str(len(reading.requests)), None),
            ("τ, all requests", num(p.tau), "1 + accepted ÷ verify passes, every pass counted once "
                                                    "(long requests weigh more)"),
            ("α (Leviathan)", num(p.alpha, ".3f"), "accepted ÷ (accepted + steps that stopped early), "
                                                          "from the pooled acceptance histograms"),
            ("vLLM rate", num(p.rate, ".3f"), p.rate_label),
            ("median request", f"{s.median:.2f}" if s else "n/a",
             f"the middle request's {s.by if s else 'τ'}: each request counts once, however long")])
    st.caption(f"**{p.name}'s own acceptance rate.** {reading.own_rate}.")
    for note in p.missing:
        st.info(_sentence(note))
    if s and s.quartiles:
        out = sum(bool(q.outlier) for q in reading.requests)
        st.markdown(f"**{s.by} across requests:** median {s.median:.2f}, middle half {s.quartiles[0]:.2f}–"
                    f"{s.quartiles[1]:.2f}, range {min(s.values):.2f}–{max(s.values):.2f}; {out} outlier(s) "
                    f"outside {s.fences[0]:.2f}–{s.fences[1]:.2f} (1.5 × the middle half beyond it).")
        for q in reading.requests:
            if q.outlier:
                st.markdown(f"- {md(q.label, 80)}: {md(q.outlier, 120)}, {q.hint}")
    elif s:
        st.caption(f"Outliers need at least {requests.MIN_SPREAD} requests.")
    if s:
        st.plotly_chart(projector.scaled(server.request_spread(reading)), config=PLOTLY, key="srv_spread")
    if reading.histogram:
        st.plotly_chart(projector.scaled(server.acceptance_histogram(reading.histogram)), config=PLOTLY,
                        key="srv_hist")
    if p.unconditional:
        st.plotly_chart(projector.scaled(server.position_acceptance(p)), config=PLOTLY, key="srv_pos")
    st.markdown("#### Every request")
    st.dataframe([q.cells() for q in reading.requests], hide_index=True)
