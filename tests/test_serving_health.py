"""Health alarms over watched windows (specviz.services.serving.health): each alarm fires on a crafted
collapse / decay / jump and none fires on a steady run; the CLI exits 5 with --fail-on-alarm.
Windows are built from counters (200 drafts, k = 3 unless said); the arithmetic is in the comments."""
import subprocess
import sys
from pathlib import Path

import pytest

from specviz.services.serving import health, prometheus, readout

from metrics_server import MetricsServer

ROOT = Path(__file__).resolve().parent.parent
COLLAPSE = ROOT / "data" / "serving" / "watch_collapse"


def window(*accepted_at: int, drafts: int = 200) -> readout.Readout:
    """A vLLM window: `drafts` drafts of k = len(accepted_at), accepted at each position."""
    t = prometheus.Totals(drafts, sum(accepted_at), drafts * len(accepted_at), tuple(accepted_at))
    return readout.readout_totals("vllm", "m", t)


STEADY = [window(160, 120, 80), window(156, 118, 82), window(162, 121, 79), window(158, 122, 80),
          window(161, 119, 81)]  # τ 2.80, 2.78, 2.81, 2.80, 2.81: sampling noise only


def names(n: int) -> list[str]:
    return [f"w{i + 1}" for i in range(n)]


def test_a_steady_run_raises_no_alarm():
    assert health.check(STEADY, names(5)) == []


def test_a_collapse_toward_one_fires():
    windows = STEADY[:3] + [window(20, 6, 2)]  # τ = 1 + 28 ÷ 200 = 1.14
    (alarm,) = health.check(windows, names(4))
    # before: 1 + (360 + 355 + 362 = 1077) ÷ 600 = 2.795; 0.14 ≤ 0.25 × 1.795 = 0.449
    assert (alarm.kind, alarm.where) == ("collapse", "w4")
    assert "τ collapsed toward 1.0: 2.80 → 1.14" in alarm.message  # 2.795 shown to two places
    assert str(alarm).startswith("collapse at w4: ")


def test_a_later_position_decaying_while_tau_holds_fires():
    windows = STEADY[:4] + [window(180, 130, 50)]  # τ = 1 + 360 ÷ 200 = 2.80, as before
    (alarm,) = health.check(windows, names(5))
    # position 3 given 1 and 2: before (80+82+79+80 = 321) ÷ (120+118+121+122 = 481) = 0.667, now 50 ÷ 130 = 0.385
    assert (alarm.kind, alarm.where) == ("decay", "w5")
    assert "position 3 fell 0.67 → 0.38" in alarm.message and "τ held (2.80 → 2.80)" in alarm.message


def test_decay_needs_the_mean_to_hold():
    # position 3 falls as much, but τ falls 2.80 → 2.05 (> 10 %): a plain drop, not a hidden decay
    windows = STEADY[:4] + [window(110, 70, 30)]  # τ = 1 + 210 ÷ 200 = 2.05
    assert [a.kind for a in health.check(windows, names(5))] == []  # 1.05 > 0.25 × 1.8 and < 0.5 × 1.8 away


def test_a_sudden_jump_fires_both_ways():
    up = STEADY[:4] + [window(198, 196, 194)]  # τ = 1 + 588 ÷ 200 = 3.94 (a repetition loop)
    (alarm,) = health.check(up, names(5))
    # usual level: median of 1.80, 1.78, 1.81, 1.80 = 1.80; |2.94 − 1.80| = 1.14 ≥ 0.5 × 1.80 = 0.90
    assert alarm.kind == "jump" and "up" in alarm.message and "usually 2.80, now 3.94" in alarm.message
    down = STEADY[:4] + [window(100, 50, 20)]  # τ = 1 + 170 ÷ 200 = 1.85: a drop of 0.95, not to ~1
    assert [a.kind for a in health.check(down, names(5))] == ["jump"]


def test_small_windows_and_too_short_a_watch_are_not_judged():
    assert health.check(STEADY[:2] + [window(2, 1, 0, drafts=20)], names(3)) == []  # 20 drafts < 30
    assert health.check([STEADY[0], window(20, 6, 2)], names(2)) == []  # one window before: nothing to compare


def test_gauge_windows_are_judged_on_their_values():
    def sglang(tau: float) -> readout.Readout:
        return readout.readout_gauges("sglang", "m", {"spec_accept_length": [tau], "spec_accept_rate": [0.6]})

    windows = [sglang(3.1), sglang(3.0), sglang(3.2), sglang(1.2)]  # mean level 2.1; 0.2 ≤ 0.25 × 2.1
    assert [a.kind for a in health.check(windows, names(4))] == ["collapse"]
    assert health.check([sglang(3.1), sglang(3.0), sglang(3.2), sglang(3.1)], names(4)) == []


def test_an_alarm_that_lasts_is_counted_once():
    windows = STEADY[:3] + [window(20, 6, 2), window(18, 5, 1)]
    (alarm,) = health.check(windows, names(5))
    assert alarm.windows == 2 and "(and 1 later window)" in str(alarm)


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "specviz", "watch", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def test_cli_fail_on_alarm_exits_5_on_a_collapse_and_0_on_a_steady_watch():
    pages = sorted(str(p) for p in COLLAPSE.glob("scrape*.prom"))
    done = run(*pages, "--fail-on-alarm")
    assert done.returncode == 5, done.stderr
    assert "(scrape4.prom → scrape5.prom): 200 drafts · τ 1.14" in done.stdout  # 1 + 28 ÷ 200
    assert "! alarm for meta-llama/Llama-3.1-8B-Instruct: collapse at scrape4.prom → scrape5.prom" in done.stdout
    assert run(*pages).returncode == 0  # printed, but no --fail-on-alarm
    steady = run(*pages[:4], "--fail-on-alarm")
    assert steady.returncode == 0 and "no health alarm over these windows" in steady.stdout
    assert "exit" in run("--help").stdout and "5 a health alarm fired" in " ".join(run("--help").stdout.split())


def test_cli_live_watch_stops_with_5_at_the_first_alarm():
    with MetricsServer() as srv:
        done = run(srv.url + "/collapsing", "--interval", "1", "--count", "8", "--fail-on-alarm")
    assert done.returncode == 5, done.stderr
    # reads 2 and 3: 100 drafts, τ 2.80; read 4: 1 + (4 + 1 + 0) ÷ 100 = 1.05 against 2.80 → collapse
    assert srv.state.reads == 4 and "τ 1.05" in done.stdout
    assert "collapse at" in done.stdout and "2.80 → 1.05" in done.stdout


@pytest.mark.parametrize("name, says", [
    ("llamacpp_example.prom", "400 drafts · τ 3.45 · α 0.80 (k = 4) · accepted ÷ drafted 0.70"),
    ("trtllm_example.prom", "1000 drafts · τ 2.72 · α 0.74 (k = 3) · accepted ÷ drafted 0.57"),
    ("sglang_counters_example.prom", "32000 verify calls · τ 3.00"),
    ("tgi_example.prom", "TGI is archived"),
])
def test_cli_reads_each_engine_example(name, says):
    done = run(str(ROOT / "data" / "serving" / name))
    assert done.returncode == 0 and says in done.stdout, done.stderr


@pytest.mark.parametrize("content, says", [
    ("", "the metrics page is empty"),
    ("<html><body>Login</body></html>", "not a Prometheus metrics page (it looks like HTML)"),
    ("# TYPE up gauge\nup 1\n", "no speculative-decoding metrics on this page"),
])
def test_cli_bad_saved_copies_give_one_line(tmp_path, content, says):
    path = tmp_path / "copy.prom"
    path.write_text(content)
    done = run(str(COLLAPSE / "scrape1.prom"), str(path))
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and says in done.stderr and "copy.prom" in done.stderr
