"""CLI smoke on the real SmolLM2-135M-Instruct: generate --json with each kind of drafter, show."""
import json

import pytest

from specviz.cli import main

PROMPT = "Fix the spelling: 'Teh cat sat on teh mat becuase it was tired.'"
KEYS = {"prompt_ids", "output_ids", "text", "alpha", "alpha_expected", "mean_acceptance_length",
        "expected_acceptance_length", "draft_acceptance_rate", "rounds", "speedup_measured",
        "speedup_theoretical", "speedup_verify_aware", "acceptance_conditional", "acceptance_unconditional"}
NAMES = ("alpha ", "alpha_expected ", "mean_acceptance_length τ", "expected_acceptance_length E[τ]",
         "draft_acceptance_rate ", "speedup_theoretical ", "speedup_verify_aware ")


@pytest.mark.parametrize("draft", ["layers:4", "lookup:3", "smollm2-135m-instruct"])
def test_generate_json_is_plain_greedy_and_show_replays_it(target, draft, tmp_path, capsys):
    path = tmp_path / "run.json"
    code = main(["generate", "--prompt", PROMPT, "--target", "smollm2-135m-instruct", "--draft", draft,
                 "--gamma", "3", "--max-new-tokens", "16", "--trace", str(path), "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    summary = json.loads(out.out)
    assert KEYS <= summary.keys() and summary["output_ids"] and summary["text"]
    assert summary["same_as_baseline"] is True  # greedy: identical to plain decoding, same run
    assert 0 <= summary["alpha"] <= 1 and summary["mean_acceptance_length"] >= 1
    # greedy β is 1 exactly where the argmaxes agree, so its mean over checked positions is α
    assert summary["alpha_expected"] == pytest.approx(summary["alpha"])
    if draft == "smollm2-135m-instruct":  # the target drafting for itself agrees with itself
        assert summary["alpha"] >= 0.9
    assert summary["expected_acceptance_length"] >= 1 and summary["speedup_verify_aware"] > 0
    assert main(["show", str(path)]) == 0
    shown = capsys.readouterr().out
    assert all(name in shown for name in NAMES) and f"draft {draft}" in shown
    assert main(["show", "--json", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["alpha"] == summary["alpha"]


def test_show_names_every_metric_and_both_per_position_rates(tmp_path, capsys):
    from test_replay import make_trace

    # 10 rounds, γ 4: position 1 accepted, position 2 rejected, positions 3-4 never checked
    path = tmp_path / "t.json"
    make_trace([[True, False, False, False]] * 10, gamma=4, n_out=20).save(str(path))
    assert main(["show", str(path)]) == 0
    text = capsys.readouterr().out
    assert "alpha 0.50 (Leviathan" in text  # 10 accepted ÷ (10 + 10 rounds ending in a rejection)
    assert "draft_acceptance_rate 0.25 (vLLM" in text  # 10 accepted ÷ 40 drafted
    assert "mean_acceptance_length τ 2.00" in text  # 1 + 10 accepted ÷ 10 passes
    assert "expected_acceptance_length E[τ] 1.94" in text  # 1 + .5 + .25 + .125 + .0625 = 1.9375
    assert "alpha_expected not recorded" in text  # the trace has no β
    assert "10 rounds · 40 drafted tokens · 10 accepted · 20 tokens" in text
    cond = next(line for line in text.splitlines() if line.startswith("conditional"))
    uncond = next(line for line in text.splitlines() if line.startswith("unconditional"))
    assert cond.split()[-4:] == ["1.00", "0.00", "n/a", "n/a"]  # 3 and 4 were never checked
    assert uncond.split()[-4:] == ["1.00", "0.00", "0.00", "0.00"]  # accepted ÷ rounds drafting there
    assert main(["show", "--json", str(path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert KEYS - {"prompt_ids", "output_ids", "text"} <= data.keys()
    assert data["acceptance_conditional"] == [1.0, 0.0, None, None] and data["alpha_expected"] is None


def test_show_rejects_a_corrupt_trace_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": 1, "config": ')
    assert main(["show", str(bad)]) == 4
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and len(err.splitlines()) == 1
