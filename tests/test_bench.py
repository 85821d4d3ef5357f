"""A tiny benchmark run: plain, our engine and Hugging Face agree token for token (no timing asserts)."""
import argparse
import re

import pytest

from specviz.cli import bench


def test_tiny_bench_outputs_agree(target, capsys):
    parser = argparse.ArgumentParser()
    bench.add_parser(parser.add_subparsers())
    args = parser.parse_args(["bench", "--drafters", "layers:2,lookup", "--gammas", "2",
                              "--prompts", "1", "--copy-prompts", "1", "--max-new-tokens", "10",
                              "--repeats", "1", "--device", "cpu", "--max-k", "3", "--vk-repeats", "1"])
    assert args.func(args) == 0  # non-zero when any greedy output differs from plain decoding
    out = capsys.readouterr().out
    assert "| ours | layers:2 | 2 |" in out and "| hf | lookup | 2 |" in out
    assert "| ours | lookup | heuristic |" in out  # the adaptive policy ran
    assert "| NO |" not in out
    assert "ours / Hugging Face generate = " in out  # HF's plain generate is timed by default
    vk = [line for line in out.splitlines() if line.startswith(("| SpecViz engine, v(k)", "| transformers stock, v(k)"))]
    # k = 1..3 and the tree's pass over its 8 nodes + the root
    assert len(vk) == 2 and all(line.split("|")[2].strip() == "1.00" and len(line.split("|")) == 7 for line in vk)
    assert "| ours | layers:2 | tree 8 |" in out  # a drafter that can branch: a tree row beside its chains
    versus = out.split("chain vs tree")[1]
    assert "| layers:2 | chain γ=2 |" in versus and "| layers:2 | tree 8 |" in versus
    assert "| lookup |" not in versus  # prompt lookup proposes one continuation: no tree


def test_adaptive_policy_follows_hf_heuristic():
    from specviz.decoding.gamma import HeuristicGamma

    policy = HeuristicGamma(4, 1, 6)
    policy.update(4, 4)
    assert policy.gamma == 6
    policy.update(6, 6)
    assert policy.gamma == 6  # capped
    for _ in range(10):
        policy.update(policy.gamma, 0)
    assert policy.gamma == 1


def test_sampled_bench_with_auto_gamma_and_task_rows(target, capsys, tmp_path, monkeypatch):
    """--temperature samples every method, --gammas auto picks the pair's gamma from its measured
    alpha and c, held-out task prompts are labelled and --by-task reports them per type."""
    import json

    import yaml

    from specviz.decoding.gamma import choose_gamma
    from specviz.paths import MODELS_YAML

    registry = yaml.safe_load(MODELS_YAML.read_text(encoding="utf-8"))
    registry["pairs"]["measured-lookup"] = {"target": "smollm2-135m-instruct", "draft": "lookup", "gamma": 2,
                                            "offline": True, "measured": {"alpha": {0: 0.9, 1.0: 0.9}}}
    (tmp_path / "models.yaml").write_text(yaml.safe_dump(registry), encoding="utf-8")
    monkeypatch.setenv("SPECVIZ_MODELS", str(tmp_path / "models.yaml"))
    parser = argparse.ArgumentParser()
    bench.add_parser(parser.add_subparsers())
    args = parser.parse_args(["bench", "--drafters", "lookup,layers:2@2", "--gammas", "1,auto,online", "--no-adaptive",
                              "--temperature", "0.7", "--prompts", "1", "--copy-prompts", "0",
                              "--held-out-tasks", "1", "--by-task", "--max-new-tokens", "6", "--repeats", "2",
                              "--device", "cpu", "--max-k", "4", "--vk-repeats", "1",
                              "--json", str(tmp_path / "b.json")])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "sampled at T = 0.7" in out and "| sampled |" in out and "| hf |" not in out
    assert "| ours | layers:2 | 2 |" in out and "| ours | layers:2 | 1 |" not in out  # its own gamma
    result = json.loads((tmp_path / "b.json").read_text())
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", result["date"]) and result["draft_weights_sha256"] == {}  # no trained draft
    v = result["tuned_v"][:4]  # --max-k 4: the tuned engine's pass costs, what auto reads
    c = float(re.search(r"c = ([0-9.]+)", result["auto_gamma"][0]).group(1))  # lookup's c, measured here
    chosen = choose_gamma(0.9, c, v).gamma
    assert f"| ours | lookup | auto→{chosen} |" in out and f"lookup: auto γ = {chosen}:" in out
    assert "| ours | lookup | online |" in out  # γ re-chosen per round from the request's acceptance
    assert result["tasks"][0] == "email" and result["tasks"][1:] == [f"held-out {t}" for t in (
        "speech", "review", "idiom", "quiz", "job_ad", "dialogue", "rules", "agenda")]
    assert {r["task"] for r in result["by_task"]} == set(result["tasks"])
    ours = [r for r in result["rows"] if r["method"] == "ours"]
    assert all(r["speedup_prompt_min"] <= r["speedup_prompt_median"] <= r["speedup_prompt_max"] for r in ours)
    assert all(r["speedup_lo"] <= r["speedup_hi"] and len(r["speedups"]) == 2 for r in ours)  # per repeat


def test_gammas_parse_auto_and_reject_junk():
    from specviz.errors import RunError

    assert bench.parse_gammas("2,auto, 4,online") == [2, "auto", 4, "online"]
    for bad in ("0", "x", "", "auto2"):
        with pytest.raises(RunError):
            bench.parse_gammas(bad)
