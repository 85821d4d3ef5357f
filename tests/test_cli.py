"""CLI smoke on the real SmolLM2-135M-Instruct: generate --json with each kind of drafter, show."""
import json

import pytest

from specviz.cli import main

PROMPT = "Fix the spelling: 'Teh cat sat on teh mat becuase it was tired.'"
KEYS = {"prompt_ids", "output_ids", "text", "alpha", "alpha_expected", "mean_acceptance_length",
        "expected_acceptance_length", "draft_acceptance_rate", "rounds", "speedup_measured",
        "speedup_theoretical", "speedup_verify_aware"}


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
    assert main(["show", str(path)]) == 0
    shown = capsys.readouterr().out
    assert "alpha (Leviathan)" in shown and f"draft {draft}" in shown


def test_show_rejects_a_corrupt_trace_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": 1, "config": ')
    assert main(["show", str(bad)]) == 4
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and len(err.splitlines()) == 1
