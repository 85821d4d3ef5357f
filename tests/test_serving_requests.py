"""Per-request readings (specviz.services.serving.requests): vLLM's metrics.speculative_decoding, llama.cpp's
and MLX's timings, in JSON, JSON lists, JSON lines and streams; spread, outliers, bad input. The
example files in data/serving/ are test data written by hand (labelled so in their `_example` key);
every number below is worked out by hand in its comment."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from specviz.services.serving import fetch, requests

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "serving"


def read(name: str) -> requests.Reading:
    return requests.read((DATA / name).read_text())


def vllm_line(hist: list[int], **extra) -> str:
    steps, acc, k = sum(hist), sum(j * n for j, n in enumerate(hist)), len(hist) - 1
    spec = {"mean_acceptance_length": 1 + acc / steps, "acceptance_histogram": hist, "num_spec_steps": steps,
            "num_accepted_draft_tokens": acc, "num_draft_tokens": k * steps, "num_spec_tokens": k} | extra
    return json.dumps({"id": f"r{steps}-{acc}", "metrics": {"speculative_decoding": spec}})


def test_one_vllm_response_gives_tau_alpha_and_positions_from_its_histogram():
    reading = read("vllm_request_example.json")  # the numbers shown in vLLM PR #48915
    (q,) = reading.requests
    r = q.readout
    assert (reading.engine, q.histogram, r.drafts, r.k) == ("vllm", [39, 1, 0, 3], 43, 3)
    assert r.tau == pytest.approx(1 + 10 / 43)  # 1.2326, vLLM's own mean_acceptance_length
    assert r.rate == pytest.approx(10 / 129)  # 0.0775, vLLM's draft_acceptance_rate
    assert r.alpha == pytest.approx(0.2)  # 10 ÷ (10 + 43 steps − 3 that accepted all three)
    # position 1 accepted in 1 + 0 + 3 = 4 steps, position 2 in 0 + 3, position 3 in 3
    assert r.unconditional == pytest.approx([4 / 43, 3 / 43, 3 / 43])
    assert r.conditional == pytest.approx([4 / 43, 3 / 4, 3 / 3])
    assert r.missing == []  # vLLM's own numbers agree with the histogram


def test_vllm_json_lines_pool_spread_and_name_the_outliers():
    reading = read("vllm_requests_example.jsonl")
    assert len(reading.requests) == 8 and reading.skipped == []
    a1 = reading.requests[0].readout  # histogram 10 · 8 · 7 · 15 over 40 steps
    assert a1.tau == pytest.approx(2.675)  # 1 + (8 + 2·7 + 3·15 = 67) ÷ 40
    assert a1.alpha == pytest.approx(67 / 92)  # 67 ÷ (67 + 40 − 15)
    p = reading.pooled  # 324 steps, 519 accepted, 121 steps that accepted all three
    assert (p.drafts, p.counts.accepted, reading.histogram) == (324, 519, [96, 58, 49, 121])
    assert p.tau == pytest.approx(1 + 519 / 324) and p.rate == pytest.approx(519 / 972)
    assert p.alpha == pytest.approx(519 / 722)  # 519 ÷ (519 + 324 − 121)
    # τ sorted: 1.40 2.463 2.524 2.625 2.634 2.675 2.675 3.825; quartiles (inclusive) at 1.75 and 5.25:
    # Q1 = 2.463 + 0.75·(2.524 − 2.463) = 2.5087, Q3 = 2.675; reach 1.5·0.1663 = 0.2494
    s = reading.spread
    assert s.by == "τ" and s.quartiles == pytest.approx((2.50871, 2.675), abs=1e-4)
    assert s.fences == pytest.approx((2.2593, 2.9244), abs=1e-4)
    outliers = {q.label: (q.outlier, q.hint) for q in reading.requests if q.outlier}
    assert set(outliers) == {"chatcmpl-a6", "chatcmpl-a8"}  # 3.825 above, 1.40 below
    assert outliers["chatcmpl-a6"][0] == "τ 3.83 above the others (> 2.92)"
    assert "repetition" in outliers["chatcmpl-a6"][1]
    assert outliers["chatcmpl-a8"][0] == "τ 1.40 below the others (< 2.26)"


def test_llamacpp_timings_give_the_rate_and_say_tau_cannot_be_derived():
    reading = read("llamacpp_requests_example.jsonl")
    assert reading.engine == "llamacpp" and len(reading.requests) == 6
    assert all(q.readout.tau is None and q.readout.drafts is None for q in reading.requests)
    assert reading.requests[0].readout.rate == pytest.approx(77 / 96)
    assert reading.pooled.rate == pytest.approx(490 / 686)  # (77+131+40+120+30+92) ÷ (96+180+52+150+90+118)
    assert "not how many verify passes ran: no τ" in reading.pooled.missing[0]
    assert reading.histogram is None and reading.spread.by == "accepted ÷ drafted"
    # rates sorted .333 .728 .769 .780 .800 .802: Q1 .7381, Q3 .7949, low fence .7381 − 1.5·.0568 = .653
    assert [q.label for q in reading.requests if q.outlier] == ["line 5"]  # 30 ÷ 90 = 0.333
    assert "tested" in reading.own_rate


def test_mlx_timings_count_verify_rounds_so_tau_follows():
    reading = read("mlx_requests_example.jsonl")
    assert reading.engine == "mlx" and reading.requests[0].readout.tau == pytest.approx(3.7)  # 1 + 81 ÷ 30
    assert reading.pooled.tau == pytest.approx(1 + 211 / 95)  # (81 + 90 + 40) ÷ (30 + 40 + 25)
    assert reading.pooled.alpha is None and "no acceptance histogram" in reading.pooled.missing[0]
    assert reading.spread.fences is None  # three requests: too few to call any an outlier


def test_a_stream_and_stray_lines_are_read_and_said():
    text = "\n".join(["data: " + json.dumps({"id": "c", "choices": [{"delta": {"content": "Hi"}}]}),
                      "", ": keep-alive", "data: " + vllm_line([2, 3, 5]), "data: [DONE]", "oops {",
                      vllm_line([1, 1, 8], mean_acceptance_length=9.9)])
    reading = requests.read(text)
    assert [q.readout.tau for q in reading.requests] == pytest.approx([2.3, 2.7])  # 1 + 13 ÷ 10, 1 + 17 ÷ 10
    assert reading.skipped == ["1 line(s) that are not JSON (line 6)"]
    assert "differs from 1 + accepted ÷ steps = 2.700" in reading.requests[1].readout.missing[-1]


@pytest.mark.parametrize("text, says", [
    ("", "nothing to read"),
    ("   \n\n", "nothing to read"),
    ("not json\nat all {", "neither a JSON response nor JSON lines: line 1 is not JSON"),
    ("# HELP vllm:x y\nvllm:x 1", "looks like a Prometheus metrics page"),
    ('{"id": "x", "choices": []}', "none of the 1 response(s) carries speculative-decoding numbers"),
    ('[1, 2]', "no response could be read: item 1: not a JSON object"),
    (vllm_line([1, 2]).replace('"num_spec_steps": 3', '"num_spec_steps": 4'), "does not add up"),
    (vllm_line([1, 2]).replace('"num_spec_tokens": 1', '"num_spec_tokens": true'), "not a count"),
    ('{"timings": {"draft_n": 5, "draft_n_accepted": 9}}', "draft_n_accepted is larger than draft_n"),
    (vllm_line([1, 2]) + '\n{"timings": {"draft_n": 5, "draft_n_accepted": 2}}', "mix llama.cpp and vLLM"),
])
def test_bad_responses_give_one_clear_line(text, says):
    with pytest.raises(fetch.ScrapeError) as e:
        requests.read(text)
    assert says in str(e.value) and "\n" not in str(e.value)


def test_cli_reads_responses_and_says_bad_files_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "specviz", "watch", str(DATA / "vllm_requests_example.jsonl")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "8 vLLM response(s)" in done.stdout and "τ 2.60" in done.stdout  # pooled 1 + 519 ÷ 324
    assert "median 2.63, middle half 2.51–2.67, range 1.40–3.83" in done.stdout
    assert "chatcmpl-a8: " in done.stdout and "← outlier: τ 1.40 below" in done.stdout
    for name, content in (("empty.jsonl", ""), ("garbage.jsonl", "{oops\n[not json\n")):
        (tmp_path / name).write_text(content)
        bad = subprocess.run([sys.executable, "-m", "specviz", "watch", str(tmp_path / name)], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
        assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and name in bad.stderr, bad.stderr
        assert "Traceback" not in bad.stderr
