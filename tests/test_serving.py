"""Bring your own server: vLLM/SGLang/TGI metrics -> the app's own numbers (specviz.services.serving).

The example pages in data/serving/ are test data in each engine's documented format (labelled
so in their first lines); the end-to-end test reads a file written by a real
`generate --metrics-out` run of SmolLM2-135M; the live tests use a loopback test server whose
counters grow on every read (tests/metrics_server.py).
"""
import subprocess
import sys
from pathlib import Path

import pytest

from specviz import counts, theory
from specviz.measure import exposition, metrics
from specviz.services.serving import fetch, prometheus, readout, watch
from specviz.services.serving.report import production_section
from specviz.trace import Trace

from metrics_server import STEP_POS, TOKEN, MetricsServer

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "serving"
PAGE = str(ROOT / "pages" / "8_Your_server.py")


def read(name: str) -> prometheus.Scrape:
    return prometheus.parse((DATA / name).read_text())


# ----------------------------------------------------------------------------- the examples

def test_vllm_example_sums_engines_and_gives_every_number():
    scrape = read("vllm_example.prom")
    assert scrape.engine == "vllm" and scrape.models == ["meta-llama/Llama-3.1-8B-Instruct"]
    t = scrape.totals["meta-llama/Llama-3.1-8B-Instruct"]  # two engines: 1000 + 800 drafts, ...
    assert (t.drafts, t.draft_tokens, t.accepted, t.per_pos) == (1800, 5400, 2950, (1300, 960, 690))
    r = readout.readouts(scrape)["meta-llama/Llama-3.1-8B-Instruct"]
    assert r.k == 3 and r.missing == []
    assert r.tau == pytest.approx(1 + 2950 / 1800)
    assert r.rate == pytest.approx(2950 / 5400)  # vLLM's draft acceptance rate
    assert r.alpha == pytest.approx(2950 / (2950 + 1800 - 690))  # Leviathan: drafts that stopped early
    assert r.unconditional == pytest.approx([1300 / 1800, 960 / 1800, 690 / 1800])
    assert r.conditional == pytest.approx([1300 / 1800, 960 / 1300, 690 / 960])
    assert r.expected_tau == pytest.approx(theory.expected_acceptance_length(r.alpha, 3))
    assert r.rate < r.alpha  # accepted ÷ drafted is not α at k > 1


def test_counters_fill_counts_exactly_like_the_engine_does():
    """Rounds with a fixed draft length k: Counts rebuilt from vLLM's counters equal the original."""
    k, rounds = 4, [4, 0, 2, 4, 1, 3, 0, 4]  # accepted per round, every round drafting k
    run = counts.Counts()
    for n in rounds:
        run.add_round(k, n)
    back = prometheus.parse(exposition.exposition({"m": run})).totals["m"].counts()
    for name in ("passes", "drafted", "accepted", "rejections", "drafted_at", "checked_at", "accepted_at"):
        assert getattr(back, name) == getattr(run, name), name
    assert metrics.alpha(back) == metrics.alpha(run) == sum(rounds) / (sum(rounds) + 5)  # 5 rounds stopped early
    assert metrics.acceptance_by_position(back) == metrics.acceptance_by_position(run)


def test_sglang_gauges_only_are_a_labelled_fallback_and_say_what_they_cannot():
    scrape = read("sglang_example.prom")  # an older build: no verify-call counter
    r = readout.readouts(scrape)["meta-llama/Llama-3.1-8B-Instruct"]
    assert (scrape.engine, r.tau, r.rate) == ("sglang", 3.12, 0.53)
    assert r.tau_from == r.rate_from == readout.WINDOWED and "windowed gauge" in r.rate_label
    assert r.alpha is None and r.unconditional == [] and r.counts is None
    assert any("no Leviathan α" in m and "no per-position" in m for m in r.missing)
    assert any(f"τ here is sglang:spec_accept_length, {readout.WINDOWED}" in m for m in r.missing)
    text = production_section(r, "SGLang example", "SGLang's latest window")
    assert "| τ, tokens per verify pass | 3.12 |" in text and "not available" in text
    assert "Published, not measured here" in text and "42–95 %" in text


def test_tgi_example_gives_tau_only_and_is_labelled_archived():
    r = readout.readouts(read("tgi_example.prom"))[""]
    assert r.tau == pytest.approx(1 + 770 / 800) and r.alpha is None and r.rate is None
    assert "TGI" in r.missing[0] and prometheus.ARCHIVED in r.missing


def test_vllm_without_per_position_counters_says_alpha_cannot_be_separated():
    text = "\n".join(line for line in (DATA / "vllm_example.prom").read_text().splitlines()
                     if "per_pos" not in line)
    r = readout.readouts(prometheus.parse(text))["meta-llama/Llama-3.1-8B-Instruct"]
    assert r.alpha is None and r.tau == pytest.approx(1 + 2950 / 1800)
    assert "no per-position counters, so α cannot be separated from τ" in r.missing[0]


def test_llamacpp_example_reads_like_vllm_with_its_own_rate_named():
    r = readout.readouts(read("llamacpp_example.prom"))[""]  # llama.cpp labels no model_name
    assert (r.engine, r.name, r.k, r.drafts) == ("llamacpp", "llama.cpp", 4, 400)
    assert r.tau == pytest.approx(3.45)  # 1 + 980 ÷ 400
    assert r.rate == pytest.approx(0.70)  # 980 ÷ 1400 drafted tokens
    assert r.alpha == pytest.approx(980 / 1220)  # 980 ÷ (980 + 400 drafts − 160 fully accepted) = 0.803
    assert r.unconditional == pytest.approx([0.825, 0.675, 0.55, 0.40])  # 330, 270, 220, 160 ÷ 400
    assert r.conditional == pytest.approx([330 / 400, 270 / 330, 220 / 270, 160 / 220])
    # 1400 ÷ 400 = 3.5 tokens per draft < k = 4: --draft-p-min ended some drafts early
    assert any("shorter than k = 4 (3.50" in m and "lower bounds" in m for m in r.missing)
    assert "tested" in prometheus.OWN_RATE["llamacpp"] and "not α" in prometheus.OWN_RATE["llamacpp"]


def test_llamacpp_before_its_first_speculative_request_and_positions_that_appear_later():
    text = (DATA / "llamacpp_example.prom").read_text()
    early = "\n".join(x for x in text.splitlines() if "per_pos" not in x)  # absent until a request speculated
    r = readout.readouts(prometheus.parse(early))[""]
    assert r.alpha is None and r.tau == pytest.approx(3.45)
    assert "llama.cpp adds them with its first speculative request" in r.missing[0]
    w = watch.Watch()
    w.add(prometheus.parse(early, at=0))
    said = w.add(prometheus.parse(text, at=60))  # the counters appear: not a restart, they were zero
    window = w.points[""][-1].readout
    assert not said and window.drafts == 0 and window.unconditional == [None] * 4  # counters did not grow
    w = watch.Watch()
    w.add(scrape_of(100, 300, 150, (70, 50), at=0))  # position 2 not accepted yet: no counter for it
    said = w.add(scrape_of(200, 600, 330, (150, 110, 10), at=60))
    window = w.points["m"][-1].readout
    assert not said and window.counts.accepted_at == [80, 60, 10]  # 10 − 0 at the new position


def test_trtllm_example_uses_its_per_position_counters_for_every_number():
    scrape = read("trtllm_example.prom")
    r = readout.readouts(scrape)["nvidia/Llama-3.1-8B-Instruct-FP8"]
    assert (scrape.engine, r.k, r.drafts) == ("trtllm", 3, 1000)  # drafted at position 0
    assert r.tau == pytest.approx(2.72)  # 1 + (780 + 560 + 380) ÷ 1000
    assert r.rate == pytest.approx(1720 / 3000)  # not the iteration totals 1765 ÷ 3090
    assert r.alpha == pytest.approx(1720 / 2340)  # 1720 ÷ (1720 + 1000 − 380) = 0.735
    assert r.conditional == pytest.approx([0.78, 560 / 780, 380 / 560])
    assert r.tau_from == readout.COUNTERS and r.gauges == pytest.approx(
        {"trtllm_spec_decode_acceptance_length": 2.9, "trtllm_spec_decode_draft_overhead": 0.18})
    assert any("requests still running are not in these numbers" in m for m in r.missing)
    dynamo = (DATA / "trtllm_example.prom").read_text().replace("trtllm_", "trtllm:")  # behind Dynamo
    assert readout.readouts(prometheus.parse(dynamo))["nvidia/Llama-3.1-8B-Instruct-FP8"].alpha == pytest.approx(r.alpha)


def test_trtllm_without_per_position_counters_gives_the_rate_and_labels_its_gauge():
    text = "\n".join(x for x in (DATA / "trtllm_example.prom").read_text().splitlines()
                     if "spec_decode_drafted_" not in x and "spec_decode_accepted_" not in x)
    r = readout.readouts(prometheus.parse(text))["nvidia/Llama-3.1-8B-Instruct-FP8"]
    assert r.drafts is None and r.alpha is None and r.unconditional == []
    assert r.rate == pytest.approx(1765 / 3090)  # the iteration totals, the only counters left
    assert r.tau == 2.9 and r.tau_from == readout.WINDOWED  # the gauge, labelled
    assert any("no τ from counters" in m for m in r.missing)
    assert any(readout.WINDOWED in m for m in r.missing) and "windowed gauge" in readout.line(r)


def test_trtllm_drafts_of_varying_length_make_alpha_a_lower_bound():
    t = prometheus.Totals(100, 150, 260, (80, 50, 20), drafted_pos=(100, 100, 60))
    c = t.counts()
    # reaching position i takes accepting i − 1 and drafting i: checks ≤ (100, min(80, 100), min(50, 60))
    assert c.checked_at == [100, 80, 50] and c.rejections == 20 + 30 + 30
    r = readout.readout_totals("trtllm", "m", t)
    assert r.alpha == pytest.approx(150 / 230)  # 150 ÷ (150 + 80)
    assert any("varying length" in m and "lower bounds" in m for m in r.missing)


def test_sglang_counters_give_tau_and_the_gauges_stay_a_labelled_side_note():
    r = readout.readouts(read("sglang_counters_example.prom"))["meta-llama/Llama-3.1-8B-Instruct"]
    assert r.tau == pytest.approx(3.0) and r.drafts == 32000  # 96000 generated ÷ 32000 verify calls
    assert r.tau_from == readout.COUNTERS and r.rate is None and r.alpha is None
    assert r.gauges == {"sglang:spec_accept_length": 3.52, "sglang:spec_accept_rate": 0.63}  # the last window
    assert "first token" in r.missing[0] and "no α" in r.missing[0]
    w = watch.Watch()
    later = (DATA / "sglang_counters_example.prom").read_text().replace(" 96000.0", " 105000.0") \
        .replace(" 32000.0", " 35600.0")
    w.add(read("sglang_counters_example.prom"))
    w.add(prometheus.parse(later))
    assert w.points["meta-llama/Llama-3.1-8B-Instruct"][-1].readout.tau == pytest.approx(2.5)  # 9000 ÷ 3600


# ----------------------------------------------------------------------------- end to end, real model

def test_generate_metrics_out_end_to_end_on_the_real_model(tmp_path, offline_model):
    """A real run writes vLLM's format; the importer gives the run's own numbers back."""
    prom, trace_path = tmp_path / "run.prom", tmp_path / "run.json"
    cmd = [sys.executable, "-m", "specviz", "generate", "--prompt", "List three fruits.", "--draft",
           "lookup", "--gamma", "3", "--max-new-tokens", "40", "--no-baseline", "--device", "cpu",
           "--trace", str(trace_path), "--metrics-out", str(prom)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    run = metrics.counts(Trace.load(trace_path))
    r = readout.readouts(prometheus.parse(prom.read_text()))["smollm2-135m-instruct"]
    drafting = run.drafted_at[0]  # vLLM counts a draft only when something was drafted
    assert r.drafts == drafting and r.counts.accepted == run.accepted and r.counts.drafted == run.drafted
    assert r.tau == pytest.approx(1 + run.accepted / drafting)
    assert r.rate == pytest.approx(metrics.draft_acceptance_rate(run))
    assert r.unconditional[0] == pytest.approx(run.accepted_at[0] / run.drafted_at[0])
    assert r.conditional[0] == pytest.approx(metrics.acceptance_by_position(run)[0][0])
    # with every draft k long the importer's α is the run's α; shorter drafts make it a lower bound
    if run.drafted == drafting * 3:
        assert r.alpha == pytest.approx(metrics.alpha(run))
    else:
        assert r.alpha <= metrics.alpha(run) and "lower bounds" in " ".join(r.missing)
    shown = subprocess.run([sys.executable, "-m", "specviz", "watch", str(prom)], cwd=ROOT,
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and f"{drafting} drafts" in shown.stdout and f"α {r.alpha:.2f}" in shown.stdout
    section = production_section(r, "run.prom", "since the server started")
    assert f"| {r.alpha:.3f} |" in section and "What would γ ± 1 do" in section


def test_the_shipped_real_run_file_reads():
    r = readout.readouts(read("specviz_generate.prom"))["smollm2-135m-instruct"]
    assert r.k and r.alpha is not None and r.drafts > 0


# ----------------------------------------------------------------------------- windows and restarts

def scrape_of(drafts, tokens, accepted, pos, at, created=None) -> prometheus.Scrape:
    return prometheus.Scrape(at, "vllm", {"m": prometheus.Totals(drafts, accepted, tokens, tuple(pos), created)})


def test_windows_are_counter_deltas_and_sum_since_watching():
    w = watch.Watch()
    w.add(scrape_of(100, 300, 150, (70, 50, 30), at=0))
    w.add(scrape_of(200, 600, 330, (150, 110, 70), at=10))
    w.add(scrape_of(250, 750, 390, (175, 130, 85), at=20))
    first, second = (p.readout for p in w.points["m"])
    assert first.drafts == 100 and first.alpha == pytest.approx(180 / (180 + 100 - 40))
    assert second.drafts == 50 and second.counts.accepted == 60
    assert w.since_watching("m").drafts == 150 and not w.events
    assert watch.trend(w.points["m"])["second"]["alpha"] == pytest.approx(60 / (60 + 50 - 15))


def test_restart_is_detected_when_counters_go_down():
    w = watch.Watch()
    w.add(scrape_of(1000, 3000, 1500, (700, 500, 300), at=0))
    said = w.add(scrape_of(40, 120, 60, (28, 20, 12), at=15))  # the server restarted in between
    assert len(said) == 1 and "restarted" in said[0] and "went back to zero" in said[0]
    p = w.points["m"][-1]
    assert p.restarted and p.readout.drafts == 40  # the window counts only what followed the restart
    assert w.since_watching("m").drafts == 40


def test_restart_is_detected_by_a_new_creation_time_even_if_counters_grew_past():
    w = watch.Watch()
    w.add(scrape_of(10, 30, 15, (7, 5, 3), at=0, created=1000.0))
    said = w.add(scrape_of(500, 1500, 700, (350, 230, 120), at=60, created=1050.0))
    assert said and w.points["m"][-1].restarted and w.points["m"][-1].readout.drafts == 500


# ----------------------------------------------------------------------------- bad URLs and payloads

@pytest.mark.parametrize("url, says", [
    ("ftp://example.com/metrics", "only http:// and https://"),
    ("file:///etc/passwd", "only http:// and https://"),
    ("localhost:8000/metrics", "only http:// and https://"),
    ("javascript:alert(1)", "only http:// and https://"),
    ("http:///metrics", "no host"),
    ("http://host:port/metrics", "not a valid URL"),
    ("http://127.0.0.1:1/metrics", "connection refused"),
    ("http://no-such-host.invalid/metrics", "cannot resolve the host"),
])
def test_bad_urls_give_one_clear_message(url, says):
    with pytest.raises(fetch.ScrapeError) as e:
        fetch.fetch(url, timeout=2)
    assert says in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("path, says", [
    ("/slow", "no answer within 1 s"),
    ("/trickle", "too slowly"),
    ("/huge", "larger than 1 MiB"),
    ("/huge-unannounced", "larger than 1 MiB"),
    ("/html", "not a Prometheus metrics page"),
    ("/binary", "binary data"),
    ("/latin1", "not UTF-8"),
    ("/empty", "empty"),
    ("/other", "no speculative-decoding metrics"),
    ("/nan", "never negative"),
    ("/nowhere", "HTTP 404"),
    ("/auth", "HTTP 401"),
    ("/to-file", "redirected to a file URL"),
    ("/to-ftp", "redirected to a ftp URL"),
])
def test_bad_payloads_give_one_clear_message(path, says):
    with MetricsServer() as srv, pytest.raises(fetch.ScrapeError) as e:
        prometheus.parse(fetch.fetch(srv.url + path, timeout=1, max_bytes=2**20))
    assert says in str(e.value) and "\n" not in str(e.value)


def test_bearer_token_goes_to_its_own_origin_only():
    with MetricsServer() as srv:
        assert prometheus.parse(fetch.fetch(srv.url + "/auth", TOKEN)).engine == "vllm"
        assert prometheus.parse(fetch.fetch(srv.url + "/to-metrics", TOKEN)).engine == "vllm"  # same origin
        srv.state.auth_seen.clear()
        with pytest.raises(fetch.ScrapeError, match="HTTP 401"):  # localhost is another origin
            fetch.fetch(srv.url + "/to-other-origin", TOKEN)
        assert srv.state.auth_seen == [f"Bearer {TOKEN}", None]
        with pytest.raises(fetch.ScrapeError, match="bearer token contains"):
            fetch.fetch(srv.url + "/auth", "abc\r\nX-Evil: 1")


def test_a_public_only_server_refuses_its_own_network(monkeypatch):
    assert [fetch.refused(ip) for ip in ("127.0.0.1", "10.1.2.3", "192.168.0.9", "169.254.169.254",
                                           "100.64.0.1", "::1", "fe80::1%eth0", "::ffff:127.0.0.1")] == [True] * 8
    assert not any(fetch.refused(ip) for ip in ("8.8.8.8", "2606:4700:4700::1111"))
    with MetricsServer() as srv:
        assert prometheus.parse(fetch.fetch(srv.url + "/metrics")).engine == "vllm"  # the default: a local tool
        monkeypatch.setenv("SPECVIZ_PUBLIC_ONLY", "1")
        for url in (srv.url + "/metrics", srv.url.replace("127.0.0.1", "localhost") + "/metrics"):
            with pytest.raises(fetch.ScrapeError, match="reads only public addresses") as e:
                fetch.fetch(url, timeout=2)
            assert "\n" not in str(e.value)
        assert len(srv.state.auth_seen) == 1  # the refused connections sent no request


# ----------------------------------------------------------------------------- live: CLI and page

def test_cli_watch_prints_each_window(tmp_path):
    with MetricsServer() as srv:
        done = subprocess.run([sys.executable, "-m", "specviz", "watch", srv.url + "/metrics",
                               "--count", "4", "--interval", "1", "--fail-on-alarm"], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr  # a steady server: no alarm
    lines = [x for x in done.stdout.strip().splitlines() if not x.startswith("  · ")]  # notes under a reading
    assert "since the server started" in lines[0] and "100 drafts" in lines[0]
    assert "vLLM's “draft acceptance rate” is accepted ÷ draft tokens" in done.stdout
    assert [("(last" in x and "100 drafts · τ 2.80 · α 0.75 (k = 3)" in x) for x in lines[1:]] == [True] * 3
    bad = subprocess.run([sys.executable, "-m", "specviz", "watch", "ftp://x/metrics"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "only http" in bad.stderr


def _metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_page_follows_a_live_server_and_keeps_its_reading_on_errors(monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setattr(fetch, "TIMEOUT_S", 1.0)  # /slow answers after 3 s

    with MetricsServer() as srv:
        at = AppTest.from_file(PAGE, default_timeout=60).run()
        at.sidebar.text_input(key="srv_url").input(srv.url + "/metrics")
        at.sidebar.button(key="srv_read").click().run()
        assert not at.exception and not at.error
        assert _metric(at, "drafts counted") == "100"  # lifetime: the first read
        at.sidebar.button(key="srv_read").click().run()
        at.radio(key="srv_span").set_value("since you started watching").run()
        assert _metric(at, "α (Leviathan)") == "0.750" and _metric(at, "τ per pass") == "2.80"
        at.sidebar.button(key="srv_read").click().run()
        assert _metric(at, "drafts counted") == "200"  # two windows of 100 drafts each
        assert len(at.get("plotly_chart")) == 2  # per position, over time
        srv.state.restart()
        at.sidebar.button(key="srv_read").click().run()
        assert any("restarted" in w.value for w in at.warning)
        # a bad URL: one error, and the last good reading stays on screen
        at.sidebar.text_input(key="srv_url").input(srv.url + "/html")
        at.sidebar.button(key="srv_read").click().run()
        assert [e.value for e in at.error] and "not a Prometheus metrics page" in at.error[0].value
        assert _metric(at, "α (Leviathan)") == "0.750"
        at.sidebar.text_input(key="srv_url").input(srv.url + "/slow")
        at.sidebar.button(key="srv_read").click().run()
        assert len(at.error) == 1 and "no answer within" in at.error[0].value
        assert _metric(at, "α (Leviathan)") == "0.750"
    assert STEP_POS[-1] == 40  # the windows' α above: 180 ÷ (180 + 100 − 40)


def test_page_reads_examples_and_offers_the_brief_section():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.sidebar.radio(key="srv_mode").set_value("an example").run()
    gauges_only = "SGLang gauges only, older builds (test data, not a live server)"
    at.sidebar.selectbox(key="srv_example").set_value(gauges_only).run()
    at.sidebar.button(key="srv_open").click().run()
    assert not at.exception and not at.error
    assert _metric(at, "τ (gauge)") == "3.12" and _metric(at, "α (Leviathan)") == "n/a"
    assert "test data" in at.caption[0].value
    assert any("no Leviathan α" in i.value for i in at.info)
    at.sidebar.selectbox(key="srv_example").set_value("vLLM format example (test data, not a live server)").run()
    at.sidebar.button(key="srv_open").click().run()
    assert _metric(at, "α (Leviathan)") == "0.727"
    assert any("Production:" in m.value for m in at.markdown)


def test_bench_metrics_out_writes_one_model_per_method(tmp_path):
    from specviz.measure.bench import Method
    from specviz.cli.bench import write_metrics

    a, b = counts.Counts(), counts.Counts()
    for n in (3, 1, 0):
        a.add_round(3, n)
    b.add_round(2, 2)
    methods = [Method("plain"), Method("ours", "lookup", 3, counts={0: [b, a], 1: [a]}),
               Method("ours", "layers:4", 2, counts={0: [b]})]  # prompt -> counts of each repeat; the last repeat is written
    write_metrics(str(tmp_path / "b.prom"), methods, "t", "test env")
    scrape = prometheus.parse((tmp_path / "b.prom").read_text())
    assert scrape.models == ["t + layers:4 γ=2", "t + lookup γ=3"]
    r = readout.readouts(scrape)["t + lookup γ=3"]
    assert r.drafts == 6 and r.alpha == pytest.approx(metrics.alpha(a + a))
