"""Smoke self-distillation on the real target: the loss falls and the checkpoint drafts losslessly."""
import argparse
import json

import pytest
import torch

from specviz import distill
from specviz.engine import plain_decode, speculative_decode
from specviz.errors import SpecVizError
from specviz.runner import encode_prompt, eos_ids
from specviz.sampling import SamplingParams
from specviz.trained import load_trained_drafter


def parse(argv: list[str]):
    parser = argparse.ArgumentParser()
    distill.add_parser(parser.add_subparsers())
    return parser.parse_args(["distill"] + argv)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("distill-data")


def tiny(out, data, kind: str, steps: int = 24) -> list[str]:
    return ["--kind", kind, "--prompts", "6", "--held-out", "1", "--max-new-tokens", "12",
            "--gen-batch", "6", "--steps", str(steps), "--batch", "4", "--save-every", str(steps),
            "--draft-vocab", "2048", "--heads", "2", "--ttt", "2", "--eval-prompts", "0",
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
    assert spec.drafted > 0


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
