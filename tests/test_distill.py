"""Smoke self-distillation on the real target: the loss falls and the checkpoint drafts losslessly."""
import argparse
import json
import random

import pytest
import torch

from specviz.cli import distill
from specviz.decoding.drafters.network import Draft
from specviz.decoding.drafters.trained import load_trained_drafter, read_draft
from specviz.decoding.engine import plain_decode, speculative_decode
from specviz.decoding.models import encode_prompt, eos_ids
from specviz.decoding.sampling import SamplingParams
from specviz.errors import SpecVizError
from specviz.measure.prompts import EVAL_REQUESTS, HELD_OUT_TASKS, eval_requests
from specviz.train import data as D
from specviz.train.prompts import HELD_OUT_REWRITES, REWRITES, TASKS, clean_request, copy_request


def parse(argv: list[str]):
    parser = argparse.ArgumentParser()
    distill.add_parser(parser.add_subparsers())
    return parser.parse_args(["distill"] + argv)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("distill-data")


def tiny(out, data, kind: str, steps: int = 24) -> list[str]:
    return ["--kind", kind, "--tasks", "1", "--requests-per-task", "3", "--copy-prompts", "3",
            "--held-out-per-task", "1", "--max-new-tokens", "12", "--gen-batch", "8",
            "--steps", str(steps), "--batch", "4", "--save-every", str(steps),
            "--draft-vocab", "2048", "--heads", "2", "--ttt", "2", "--eval-temperatures", "",
            "--out", str(out), "--data", str(data), "--device", "cpu"]


@pytest.mark.parametrize("kind", ["eagle", "medusa", "layers"])
def test_smoke_training_lowers_the_loss_and_drafts_losslessly(target, data_dir, tmp_path, kind):
    out = tmp_path / kind
    args = parse(tiny(out, data_dir, kind, steps=24 if kind == "eagle" else 12))
    assert args.func(args) == 0
    history = json.loads((out / "train_state.json").read_text())["history"]
    first, last = history[0]["loss"], sum(h["loss"] for h in history[-3:]) / 3
    assert last < 0.8 * first, (first, last)
    card = json.loads((out / "card.json").read_text())
    assert card["kind"] == kind and card["command"].startswith("python -m specviz distill")

    drafter = load_trained_drafter(str(out), target)
    ids = encode_prompt(target.tokenizer, "Name three uses of a paperclip.", True)
    eos, params = eos_ids(target), SamplingParams()
    plain = plain_decode(target.model, ids, params, 12, torch.Generator(), eos)
    spec = speculative_decode(target.model, drafter, ids, params, 3, 12, torch.Generator(), eos)
    assert spec.output_ids == plain.output_ids
    assert spec.counts.drafted > 0


def test_training_resumes_from_its_checkpoint(target, data_dir, tmp_path):
    out = tmp_path / "resume"
    args = parse(tiny(out, data_dir, "medusa", steps=4) + ["--save-every", "2"])
    assert args.func(args) == 0
    args = parse(tiny(out, data_dir, "medusa", steps=6) + ["--save-every", "2"])
    assert args.func(args) == 0
    steps = [h["step"] for h in json.loads((out / "train_state.json").read_text())["history"]]
    assert steps == [1, 2, 3, 4, 5, 6]  # steps 5-6 continued the saved run


def test_bad_arguments_are_one_line_errors(tmp_path):
    args = parse(["--steps", "0", "--out", str(tmp_path / "x")])
    with pytest.raises(SpecVizError):
        args.func(args)
    with pytest.raises(SpecVizError, match="no trained draft"):
        load_trained_drafter(str(tmp_path / "nothing-here"), None)


def test_fuse_is_gone_and_an_old_fused_draft_is_refused_in_one_line(tmp_path):
    """distill --fuse (EAGLE-3 fused target layers) was removed: the engine never handed a draft
    those layers. Its flag is unknown now, and a draft it trained loads as a one-line error."""
    with pytest.raises(SystemExit):
        parse(["--fuse", "--feature-layers", "2,15", "--out", str(tmp_path / "x")])
    from safetensors.torch import save_file

    cfg = {"kind": "eagle", "n_layers": 1, "n_heads": 4, "hidden": 8, "heads": 2, "kv_heads": 1, "head_dim": 4,
           "inner": 16, "eps": 1e-5, "rope_theta": 10000.0, "feature_layers": [2], "n_features": 2}
    tensors = Draft(cfg).state_dict() | {"fuse.weight": torch.zeros(8, 16), "vocab_ids": torch.arange(10)}
    (tmp_path / "fused").mkdir()
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp_path / "fused" / "weights.safetensors"),
              metadata={"config": json.dumps(cfg)})
    with pytest.raises(SpecVizError, match=r"^draft fused fuses target layers .*retrain it without --fuse$"):
        read_draft(tmp_path / "fused", "cpu", torch.float32)
    cfg = dict(cfg, feature_layers=[], n_features=1)  # the shipped draft's card still says so: it loads
    save_file({k: v.contiguous() for k, v in (Draft(cfg).state_dict() | {"vocab_ids": torch.arange(10)}).items()},
              str(tmp_path / "fused" / "weights.safetensors"), metadata={"config": json.dumps(cfg)})
    assert read_draft(tmp_path / "fused", "cpu", torch.float32)[0].cfg["n_features"] == 1


def test_held_out_sets_never_meet_the_training_prompts():
    train_seeds = {r for _, seeds in TASKS.values() for r in seeds}
    held_seeds = {r for _, seeds in HELD_OUT_TASKS.values() for r in seeds}
    evals = {r for _, r in EVAL_REQUESTS}
    assert not set(TASKS) & set(HELD_OUT_TASKS)
    assert not train_seeds & held_seeds and not evals & (train_seeds | held_seeds)
    assert not {n for n, _ in REWRITES} & {n for n, _ in HELD_OUT_REWRITES}
    first = [task for task, _ in eval_requests()[:len({t for t, _ in EVAL_REQUESTS})]]
    assert len(set(first)) == len(first)  # every task type once before any twice


def test_request_filter_and_copy_requests():
    seeds = ["List five ways to save water at home."]
    assert clean_request(" What are good snacks for a hike?\n2. More", seeds) == "What are good snacks for a hike?"
    assert clean_request(" List five ways to save water at home.", seeds) is None  # a seed, copied
    assert clean_request(" 3. Tell me", seeds) is None and clean_request(" ok", seeds) is None
    rng = random.Random(0)
    text = "Their dog likes walking in the park every morning. It barks at birds and chases squirrels happily."
    fixed = copy_request("Fix this:\n\n{text}", "fix", text, rng)
    assert fixed.startswith("Fix this:") and fixed != "Fix this:\n\n" + text  # mistakes were added
    code = "Here you go:\n```python\ndef add(a, b):\n    return a + b\n```\nDone."
    assert copy_request("Explain:\n\n{code}", "x", code, rng).endswith("return a + b\n```")
    assert copy_request("Explain:\n\n{code}", "x", text, rng) is None  # no code block


def test_data_generation_resumes_from_its_partial_file(target, tmp_path, monkeypatch):
    """A killed generation keeps the prompts it finished; the rerun generates only the rest."""
    asked = []

    def fake_generate(model, prompts, max_new, temperature, gen, topk, eos, pad, keep=True):
        asked.extend(map(tuple, prompts))
        return [{"tokens": torch.tensor(p + [7, 8], dtype=torch.int32), "prompt_len": len(p),
                 "hidden": torch.zeros(len(p) + 1, 4, dtype=torch.float16),
                 "top_ids": torch.zeros(len(p) + 1, 2, dtype=torch.int32),
                 "top_logp": torch.zeros(len(p) + 1, 2, dtype=torch.float16)} for p in prompts]

    monkeypatch.setattr(D, "generate_batch", fake_generate)
    args = parse(["--out", str(tmp_path / "o"), "--gen-batch", "2", "--max-new-tokens", "2", "--topk", "2"])
    requests = [{"task": "fact", "request": f"Question number {i}?"} for i in range(5)]
    temps = D.assign_temperatures(5, [0, 0.7], 0)
    full = D.build_data(target, requests, temps, args, tmp_path / "a" / "train.safetensors")
    rows = D.load_rows(tmp_path / "a" / "train.safetensors")
    assert [r["index"] for r in rows] == list(range(5)) and len(asked) == 5
    assert [r["temperature"] for r in rows] == pytest.approx(temps)
    D.save_data(tmp_path / "b" / "train.partial", rows[:3])  # as if killed after 3 prompts
    asked.clear()
    again = D.build_data(target, requests, temps, args, tmp_path / "b" / "train.safetensors")
    assert len(asked) == 2  # only the two missing prompts
    assert not (tmp_path / "b" / "train.partial").exists()
    for key in ("tokens", "lengths", "prompt_lens", "hidden", "top_ids", "index", "temperature"):
        assert torch.equal(full[key], again[key]), key
