"""A tiny benchmark run: plain, our engine and Hugging Face agree token for token (no timing asserts)."""
import argparse

from specviz import bench


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
    from specviz.adaptive import HeuristicGamma

    policy = HeuristicGamma(4, 1, 6)
    policy.update(4, 4)
    assert policy.gamma == 6
    policy.update(6, 6)
    assert policy.gamma == 6  # capped
    for _ in range(10):
        policy.update(policy.gamma, 0)
    assert policy.gamma == 1
