"""Every page under streamlit.testing.v1.AppTest: renders with shipped traces, steps, errors."""
import json
import threading
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from specviz import theory
from specviz.decoding.models import load_registry
from specviz.measure import metrics
from specviz.present import round_view
from specviz.present.cards import metric_cards
from specviz.services.store import shipped_traces
from specviz.trace import Trace
from specviz.ui import run as run_ui, state

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["app.py", "pages/1_Step_through.py", "pages/2_Compare.py"]
STEP = "pages/1_Step_through.py"


def app(page: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / page), default_timeout=120)
    return at.run()


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def headings(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown]


def round_heading(at: AppTest) -> str:
    return next(h for h in headings(at) if h.startswith("#### Round "))


def html(at: AppTest) -> str:
    return "".join(h.proto.body for h in at.get("html"))


def cards(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def plots(at: AppTest) -> list[dict]:
    return [json.loads(e.proto.spec) for e in at.get("plotly_chart")]


def shown_trace(at: AppTest, key: str = "step") -> Trace:
    label = at.session_state[f"{key}_current"]
    lib = at.session_state["sv_library"] if "sv_library" in at.session_state else {}
    return lib[label] if label in lib else Trace.load(str(shipped_traces()[label]))


def upload(at: AppTest, name: str, data: dict) -> AppTest:
    at.file_uploader(key="step_upload").set_value((name, json.dumps(data).encode(), "application/json"))
    return ok(at.run())


def version_1(trace: Trace) -> dict:
    """A trace as SpecViz 0.1 wrote it: version 1, no β, an empty draft closed by a "bonus"."""
    d = trace.to_dict()
    d["version"] = 1
    for rnd in d["rounds"]:
        for tok in rnd["draft"]:
            tok.pop("beta")
        if rnd["correction"]["kind"] == "target":
            rnd["correction"]["kind"] = "bonus"
    return d


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_a_shipped_trace(page):
    at = ok(app(page))
    assert not at.error
    if page != "pages/2_Compare.py":
        assert "sv-cards" in html(at)  # the staged round view of a real trace
    else:
        assert html(at).count('class="sv-strip"') == 2


def test_player_steps_through_stages_and_rounds():
    at = ok(app(STEP))
    opening = round_view.opening_round(shown_trace(at)) + 1  # a round that shows the idea
    assert round_heading(at).startswith(f"#### Round {opening} of ") and "step 1 of" in round_heading(at)
    at.button(key="step_next").click().run()
    assert "step 2 of" in round_heading(ok(at))
    at.button(key="step_back").click().run()
    assert "step 1 of" in round_heading(ok(at))
    at.button(key="step_last").click().run()
    last = round_heading(ok(at))
    total = last.split(" of ")[1].split(" ")[0]
    assert last.startswith(f"#### Round {total} of {total}")
    assert "tok-accepted" in html(at) or "tok-rejected" in html(at)
    at.slider(key="step_slider").set_value(2).run()
    assert round_heading(ok(at)).startswith("#### Round 2 of ")
    at.button(key="step_first").click().run()
    assert round_heading(ok(at)).startswith("#### Round 1 of ")


def test_the_default_trace_and_the_home_demo_open_on_a_round_with_an_accept_and_a_rejection():
    for page, key in (("app.py", "home"), (STEP, "step")):
        at = ok(app(page))
        rnd = shown_trace(at, key).rounds[at.session_state[f"{key}_round"]]
        assert {d.accepted for d in rnd.draft} == {True, False}, page


def test_metric_cards_show_the_one_definition_of_each_metric():
    at = ok(app(STEP))
    t = shown_trace(at)
    s = metrics.summarize(t)
    machine = ("plain step", "verify pass v(2)", "verify pass v(5)", "chosen γ")
    got = {k: v for k, v in cards(at).items() if k not in machine}  # the machine panel's are below
    f = lambda x, unit="": "n/a" if x is None else f"{x:.2f}{unit}"  # noqa: E731
    assert got == {"α (Leviathan)": f(s.alpha), "mean β": f(s.alpha_expected),
                   "τ per pass": f(s.mean_acceptance_length), "E[τ] at α": f(s.expected_acceptance_length),
                   "vLLM rate": f(s.draft_acceptance_rate), "c draft cost": f(s.cost_ratio),
                   "v verify cost": f(s.verify_cost), "measured": f(s.speedup_measured, "×"),
                   "theory": f(s.speedup_theoretical, "×"), "theory with v": f(s.speedup_verify_aware, "×")}
    assert None not in (s.alpha, s.mean_acceptance_length, s.speedup_measured, s.verify_cost)
    # Leviathan's α is accepted ÷ checked, not vLLM's accepted ÷ drafted (they differ at γ = 4)
    assert got["α (Leviathan)"] != got["vLLM rate"]
    helps = {m.label: m.proto.help for m in at.metric}
    assert f"{s.accepted} ÷ {s.checked}" in helps["α (Leviathan)"]
    assert f"{s.accepted} ÷ {s.drafted}" in helps["vLLM rate"] and "Not Leviathan" in helps["vLLM rate"]
    assert all(len(label) <= 14 for label in got)  # short enough for a card at 1280 px


def _card_helps(stem: str) -> tuple[Trace, metrics.Summary, dict[str, tuple[str, str]]]:
    t = Trace.load(str(ROOT / "data" / "traces" / f"{stem}.json"))
    return t, metrics.summarize(t), {label: (value, why) for row in metric_cards(t) for label, value, why in row}


def test_the_theory_card_says_what_it_computes_the_drafts_the_run_made():
    # prompt lookup drafts only what it finds: fewer than γ = 4 per pass in this run
    t, s, cards = _card_helps("summarise__lookup__greedy")
    value, why = cards["theory"]
    c = metrics.counts(t)
    assert c.mean_gamma < t.config.gamma
    assert f"γ̄ = {s.drafted} ÷ {s.rounds} = {c.mean_gamma:.2f}" in why
    quoted = metrics.expected_acceptance_length_of(c) / (c.mean_gamma * s.cost_ratio + 1)
    assert value == f"{quoted:.2f}×"
    at_gamma = theory.speedup_theoretical(s.alpha, t.config.gamma, s.cost_ratio)
    assert f"{at_gamma:.2f}×" != value and f"would give {at_gamma:.2f}×" in why  # named as what it is not
    _, _, full = _card_helps("code-edit__layers-4__greedy")  # drafted γ every round: no such aside
    assert "would give" not in full["theory"][1]


def test_the_tau_card_counts_output_tokens_and_names_drafts_accepted_after_the_eos():
    t, s, cards = _card_helps("summarise__hybrid-smollm2-135m-eagle__sampled")
    value, why = cards["τ per pass"]
    assert value == f"{len(t.output_ids) / len(t.rounds):.2f}"
    assert f"= {len(t.output_ids)} ÷ {len(t.rounds)}" in why
    assert f"less {s.accepted + s.rounds - len(t.output_ids)} accepted after the output ended" in why


def test_the_gap_chart_is_drawn_with_the_runs_gap():
    at = ok(app(STEP))
    g = metrics.trace_gap(shown_trace(at))
    gap = next(p for p in plots(at) if p["data"][0]["type"] == "waterfall")
    x = gap["data"][0]["x"]
    levels = [sum(x[:i + 1]) for i in range(5)]
    assert levels == pytest.approx([v for _, v in g.steps()])
    assert gap["data"][0]["text"][-1] == f"{g.measured:.2f}×"


def test_a_version_1_trace_renders_and_says_beta_is_not_recorded():
    at = ok(app(STEP))
    t = next(Trace.load(str(p)) for p in shipped_traces().values()
             if any(not r.draft for r in Trace.load(str(p)).rounds))
    upload(at, "old.json", version_1(t))
    assert not at.error and at.session_state["step_current"] == "uploaded: old.json"
    assert cards(at)["mean β"] == "n/a"
    assert "not recorded" in next(m.proto.help for m in at.metric if m.label == "mean β")
    assert cards(at)["α (Leviathan)"] == f"{metrics.summarize(t).alpha:.2f}"
    at.button(key="step_last").click().run()
    page = html(ok(at))
    assert "tok-target" in page and "β not recorded" in page  # the empty rounds: the target's own step


def test_a_trace_without_baseline_shows_n_a_never_n_a_times():
    at = ok(app(STEP))
    d = shown_trace(at).to_dict()
    d["baseline"] = {"output_ids": [], "s_per_token": 0.0, "text": ""}
    upload(at, "no-baseline.json", d)
    got = cards(at)
    assert got["measured"] == got["theory"] == got["theory with v"] == got["c draft cost"] == "n/a"
    assert got["α (Leviathan)"] != "n/a" and not any("n/a×" in v for v in got.values())
    assert not any(p["data"] and p["data"][0]["type"] == "waterfall" for p in plots(at))
    assert any("needs drafts and a baseline" in c.value for c in at.caption)


def test_trace_text_is_data_not_markdown():
    at = ok(app(STEP))
    d = shown_trace(at).to_dict()
    link = "[click](https://example.com) ![x](https://example.com/x.png) <b>bold</b> :red[red]"
    d["config"]["draft"] = link
    d["prompt"] = link
    d["env"]["torch"] = link
    upload(at, "hostile.json", d)
    shown = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert "](https" not in shown.replace("\\]\\(https", "")  # every bracket escaped
    assert "\\[click\\]\\(https" in shown and "\\<b\\>" in shown and "\\:red\\[red\\]" in shown
    assert "<b>" not in html(at)


def test_an_error_quoting_a_trace_is_escaped():
    at = ok(app(STEP))
    upload(at, "v.json", {"version": "[x](https://example.com)"})
    # no link syntax and no bare link left (a word joiner breaks GFM's autolink; views.inert)
    assert at.error and "'\\[x](https\u2060:\\/\\/example.com)'" in at.error[0].value


def test_play_advances_and_pause_stops():
    at = ok(app(STEP))
    at.button(key="step_play").click().run()
    assert at.session_state["step_playing"]
    time.sleep(0.9)
    at.run()
    assert at.session_state["step_round"] > 0 or at.session_state["step_stage"] > 0
    at.button(key="step_play").click().run()
    assert not ok(at).session_state["step_playing"]


def test_choosing_another_shipped_trace():
    at = ok(app(STEP))
    other = list(shipped_traces())[-1]
    at.selectbox(key="step_pick").set_value(other).run()
    assert ok(at).session_state["step_current"] == other


@pytest.mark.parametrize("content, message", [
    (b"{not json", "not valid JSON"),
    (b'{"version": 99}', "unsupported trace version 99"),
    (b'{"version": 1, "config": {}}', "malformed trace"),
])
def test_bad_upload_shows_an_error_and_keeps_the_trace(content, message):
    at = ok(app(STEP))
    before = at.session_state["step_current"]
    shown = [m for m in headings(at) if m.startswith("target ")]
    at.file_uploader(key="step_upload").set_value(("bad.json", content, "application/json")).run()
    ok(at)
    assert at.error and message in at.error[0].value
    assert at.session_state["step_current"] == before
    assert [m for m in headings(at) if m.startswith("target ")] == shown
    assert "sv-cards" in html(at)


def test_good_upload_replays_without_a_model():
    at = ok(app(STEP))
    path = list(shipped_traces().values())[0]
    at.file_uploader(key="step_upload").set_value((path.name, path.read_bytes(), "application/json")).run()
    ok(at)
    assert not at.error
    assert at.session_state["step_current"] == f"uploaded: {path.name}"
    assert "sv-cards" in html(at)


def test_compare_uploads_corrupt_trace_keeps_both():
    at = ok(app("pages/2_Compare.py"))
    at.file_uploader(key="cmp_a_upload").set_value(("x.json", b"[]", "application/json")).run()
    assert ok(at).error and "not a SpecViz trace" in at.error[0].value
    assert html(at).count('class="sv-strip"') == 2


def test_empty_prompt_is_refused_before_any_model_loads():
    at = ok(app(STEP))
    at.text_area(key="step_prompt").set_value("   ").run()
    at.button(key="step_run").click().run()
    ok(at)
    assert at.error and "prompt is empty" in at.error[0].value
    assert "step_job" not in at.session_state
    assert "sv-cards" in html(at)  # the last good trace is still on screen


def _wait_for_job(at: AppTest, seen: list, timeout: float = 240) -> None:
    end = time.monotonic() + timeout
    while "step_job" in at.session_state and time.monotonic() < end:
        time.sleep(0.3)
        at.run()
        ok(at)
        seen.append(html(at))


def test_a_model_that_is_not_available_shows_an_error():
    """An online-only pair on this offline machine: a clear error, the trace stays."""
    at = ok(app(STEP))
    before = at.session_state["step_current"]
    at.selectbox(key="step_pair").set_value("gpt2-large-with-distilgpt2").run()
    at.number_input(key="step_max_new").set_value(2).run()
    at.button(key="step_run").click().run()
    _wait_for_job(at, [])
    assert at.error and "cannot load openai-community/gpt2-large" in at.error[0].value
    assert at.session_state["step_current"] == before
    assert "sv-cards" in html(at)


def test_live_run_streams_rounds_into_the_view(monkeypatch, offline_model):
    """A real run of the default model; the first round is held until the view has shown it."""
    shown = threading.Event()
    add = run_ui.Job.add_round

    def gated(job, rnd):
        add(job, rnd)
        if len(job.rounds) == 1:
            shown.wait(60)

    monkeypatch.setattr(run_ui.Job, "add_round", gated)
    at = ok(app(STEP))
    at.number_input(key="step_max_new").set_value(4).run()
    at.button(key="step_run").click().run()
    end = time.monotonic() + 240
    while time.monotonic() < end and not shown.is_set():
        time.sleep(0.3)
        at.run()
        job = at.session_state["step_job"] if "step_job" in at.session_state else None
        if job is not None and job.rounds and "sv-strip" in html(ok(at)):
            assert any("Live run" in h for h in headings(at))
            assert at.get("progress")
            shown.set()
    assert shown.is_set(), "the live view never showed a streamed round"
    _wait_for_job(at, [])
    assert not at.error, [e.value for e in at.error]
    default = load_registry().pairs[load_registry().default_pair].draft
    assert at.session_state["step_current"].startswith(f"live: {default}")
    assert "sv-cards" in html(at) and round_heading(at).startswith("#### Round ")


def test_gamma_out_of_range_is_refused():
    """The slider cannot leave 1..16, but the widgets' run call is checked all the same."""
    def page():
        from specviz.ui import run, state

        run.start("t", "hello", gamma=99)
        state.show_error("t")

    at = ok(AppTest.from_function(page).run())
    assert at.error and "gamma must be 1 .. 16" in at.error[0].value


def test_out_of_memory_mid_run_keeps_the_trace_on_screen(monkeypatch, offline_model):
    """The engine's OOM path (a RuntimeError after one round) on the real model."""
    from specviz.decoding import record

    real = record.speculative_decode

    def oom_after_one_round(*args, on_round, **kw):
        def boom(rnd):
            on_round(rnd)
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(*args, on_round=boom, **kw)

    monkeypatch.setattr(record, "speculative_decode", oom_after_one_round)
    at = ok(app(STEP))
    before = at.session_state["step_current"]
    at.number_input(key="step_max_new").set_value(4).run()
    at.button(key="step_run").click().run()
    _wait_for_job(at, [])
    assert at.error and "out of memory" in at.error[0].value and "after 1 round:" in at.error[0].value
    assert at.session_state["step_current"] == before
    assert any(label.startswith("live: ") for label in at.session_state["sv_library"])
    assert "sv-cards" in html(at)


def test_without_stage_animation_next_steps_whole_rounds():
    at = ok(app(STEP))
    at.toggle(key="step_animate").set_value(False).run()
    at.button(key="step_next").click().run()
    heading = round_heading(ok(at))
    steps = heading.split("step ")[1]
    opening = round_view.opening_round(shown_trace(at)) + 1
    assert heading.startswith(f"#### Round {opening + 1} of ") and steps.split(" of ")[0] == steps.split(" of ")[1]


def test_cancel_keeps_the_rounds_decoded_so_far(monkeypatch, offline_model):
    """Cancel a real run after its first round: the partial trace is shown, marked unfinished."""
    first = threading.Event()
    release = threading.Event()
    add = run_ui.Job.add_round

    def gated(job, rnd):
        add(job, rnd)
        if len(job.rounds) == 1:
            first.set()
            release.wait(60)

    monkeypatch.setattr(run_ui.Job, "add_round", gated)
    at = ok(app(STEP))
    at.number_input(key="step_max_new").set_value(64).run()
    at.button(key="step_run").click().run()
    assert first.wait(240), "the run never finished a round"
    at.run()
    at.button(key="step_cancel").click().run()
    release.set()
    _wait_for_job(at, [])
    ok(at)
    assert at.session_state["step_current"].startswith("live: ")
    trace = at.session_state["sv_library"][at.session_state["step_current"]]
    assert trace.stop_reason == "cancelled" and len(trace.rounds) <= 2
    assert any("did not finish (cancelled)" in w.value for w in at.warning)
    assert cards(at) and not any("n/a×" in v for v in cards(at).values())


def test_the_chosen_trace_survives_a_page_switch():
    at = ok(app("app.py"))
    at.switch_page(STEP).run()
    other = list(shipped_traces())[-1]
    at.selectbox(key="step_pick").set_value(other).run()
    at.switch_page("pages/2_Compare.py").run()
    at.switch_page("pages/1_Step_through.py").run()
    assert ok(at).session_state["step_current"] == other
    assert at.selectbox(key="step_pick").value == other


def test_compare_shows_the_same_numbers_as_the_cards():
    at = ok(app("pages/2_Compare.py"))
    table = at.dataframe[0].value.set_index("")
    for side in ("left", "right"):
        label = at.session_state[f"cmp_{'a' if side == 'left' else 'b'}_current"]
        rows = metric_cards(Trace.load(str(shipped_traces()[label])))
        for label_, value, _ in (card for row in rows for card in row):
            assert table.loc[label_, side] == value
    assert table.loc["α (Leviathan)", "left"] != table.loc["vLLM rate", "left"]


def test_this_machine_panel_reads_the_machines_saved_measurements(tmp_path, monkeypatch):
    """Step through's "This machine" shows the cached kernel table and draft costs of this
    machine (no model loaded), and the γ they imply for the default pair; unmeasured, it says so."""
    from specviz.decoding import kerneltable, machine
    from specviz.decoding.gamma import alpha_at, choose_gamma
    from specviz.decoding.models import cpu_threads

    monkeypatch.setenv("SPECVIZ_CACHE", str(tmp_path))
    at = ok(app(STEP))
    assert any("Not measured on this machine yet" in i.value for i in at.info)
    reg = load_registry()
    pair = reg.pairs[reg.default_pair]
    spec = reg.model(pair.target)
    fp = kerneltable.fingerprint(spec.model_id, spec.dtype, cpu_threads())
    secs = {"linear": [0.050, 0.052, 0.055, 0.082], "packed": [0.060, 0.062, 0.062, 0.064]}
    table = kerneltable.KernelTable(fp, [1, 2, 3, 4], secs, secs, secs, 3, "2026-12-06T10:00:00+00:00", 1.0, 4.2)
    kerneltable.save_table(table)
    costs = {p.draft: {"c": 0.07, "drafted": 30, "measured": "2026-12-06T10:01:00+00:00"} for p in reg.pairs.values()}
    kerneltable.table_path(fp).with_suffix(".c.json").write_text(json.dumps(costs))
    at = ok(app(STEP))
    got = cards(at)
    want = choose_gamma(alpha_at(pair.alpha, 0.0), 0.07, table.v_list())
    assert got["plain step"] == "50.0 ms" and got["verify pass v(2)"] == "1.04×"
    assert got["chosen γ"] == f"γ = {want.gamma}"
    shown = " ".join(m.value for m in at.markdown)
    assert want.reason() in shown and "2026-12-06T10:00:00+00:00" in " ".join(c.value for c in at.caption)
    assert machine.saved_profile(spec, [pair], cpu_threads()).costs[pair.draft].c == 0.07
