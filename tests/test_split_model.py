"""Big targets: a models.yaml entry with `device_map: auto` loads through accelerate, split over
devices, and decodes losslessly. Tested on CPU with a max_memory so small that accelerate
offloads most layers to disk; the multi-GPU case is the same code path but untested here."""
import dataclasses

import pytest
import torch

from specviz.decoding.engine import plain_decode, speculative_decode
from specviz.decoding.models import load_model, load_registry
from specviz.decoding.drafters import build_drafter
from specviz.decoding.models import encode_prompt, eos_ids
from specviz.decoding.sampling import SamplingParams

from conftest import TARGET


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    spec = dataclasses.replace(load_registry().model(TARGET), key="smollm2-split", device_map="auto",
                               max_memory={"cpu": "200MB"},  # the float32 model is ~540 MB
                               offload_folder=str(tmp_path_factory.mktemp("offload")))
    return load_model(spec)


def test_registry_reads_the_split_options(tmp_path, monkeypatch):
    yaml = tmp_path / "models.yaml"
    yaml.write_text("default_pair: p\nmodels:\n  big:\n    hub_id: org/big\n    device_map: auto\n"
                    "    max_memory: {0: 20GiB, cpu: 60GiB}\npairs:\n  p: {target: big, draft: lookup}\n")
    monkeypatch.setenv("SPECVIZ_MODELS", str(yaml))
    spec = load_registry().model("big")
    assert spec.device_map == "auto" and spec.max_memory == {0: "20GiB", "cpu": "60GiB"}


def test_forced_offloading_really_splits_the_model(split):
    placed = set(split.model.hf_device_map.values())
    assert {"cpu", "disk"} <= placed and split.device == "cpu"


@pytest.mark.parametrize("drafter", ["trained:smollm2-135m-eagle", "layers:20"])
def test_split_target_decodes_losslessly(split, target, drafter):
    """Greedy speculative decoding on the split target == plain greedy on the whole one."""
    ids = encode_prompt(target.tokenizer, "Name three colours.", True)
    eos, n, greedy = eos_ids(target), 16, SamplingParams()
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    plain = plain_decode(target.model, ids, greedy, n, gen(), eos).output_ids
    assert plain_decode(split.model, ids, greedy, n, gen(), eos).output_ids == plain
    spec = speculative_decode(split.model, build_drafter(drafter, split), ids, greedy, 3, n, gen(), eos)
    assert spec.output_ids == plain and len(plain) == n
    assert spec.counts.accepted > 0 and spec.counts.rejections > 0  # multi-token verify passes ran
