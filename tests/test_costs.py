"""Pass-cost measurement on the real model and the pure helpers around it."""
import copy

import pytest

from specviz.decoding.drafters import build_drafter
from specviz.decoding.models import encode_prompt
from specviz.measure import costs


def test_fit_and_ratio_on_known_numbers():
    curve = costs.CostCurve([1, 2, 3, 4], [0.030, 0.032, 0.034, 0.036], 10, 3, "cpu")
    intercept, slope = curve.fit()
    assert slope == pytest.approx(0.002) and intercept == pytest.approx(0.028)
    assert curve.ratio(1) == pytest.approx(1.0)
    assert curve.ratio(4) == pytest.approx(0.036 / 0.030)
    assert curve.slope_fraction == pytest.approx(0.002 / 0.030)
    assert costs.CostCurve.from_dict(curve.to_dict()) == curve


def test_measure_pass_costs_on_the_real_model(target):
    ids = encode_prompt(target.tokenizer, "Hello there", True)
    seen = []
    curve = costs.measure_pass_costs(target.model, ids, max_tokens=4, repeats=2,
                                     progress=lambda f, m: seen.append(f))
    assert curve.n_tokens == [1, 2, 3, 4] and all(s > 0 for s in curve.seconds)
    assert curve.context == len(ids) and seen[-1] == 1.0


def test_draft_cost_and_memory(target):
    ids = encode_prompt(target.tokenizer, "Hello there", True)
    early = build_drafter("layers:4", target)
    c = costs.measure_draft_cost(target.model, early, ids, repeats=2)
    assert c["c"] > 0 and c["target_step_s"] > 0
    mem = costs.draft_memory(target.model, early)
    cfg = target.model.config
    kv = 2 * 4 * cfg.num_key_value_heads * (cfg.hidden_size // cfg.num_attention_heads) * 4
    assert mem == {"extra_param_bytes": 0, "kv_bytes_per_token": kv}  # early exit shares every weight
    assert costs.draft_memory(target.model, build_drafter("lookup", target))["extra_param_bytes"] == 0
    separate = copy.copy(early)
    separate.lm = copy.copy(early.lm)
    separate.lm.model = copy.deepcopy(early.lm.model)  # a draft with its own weights
    assert costs.draft_memory(target.model, separate)["extra_param_bytes"] > 0


def test_pass_costs_time_the_engine_and_transformers_stock_forward(target):
    ids = encode_prompt(target.tokenizer, "Hello there", True)
    curve = costs.measure_pass_costs(target.model, ids, max_tokens=3, repeats=1)
    assert len(curve.seconds) == len(curve.stock_seconds) == 3
    assert curve.v(1) == curve.stock_v(1) == 1.0 and curve.v(3) == curve.seconds[2] / curve.seconds[0]
    assert costs.measure_pass_costs(target.model, ids, 2, 1, stock=False).stock_v(2) is None
    old = costs.CostCurve.from_dict({k: v for k, v in curve.to_dict().items() if k != "stock_seconds"})
    assert old.stock_v(2) is None  # curves saved before the stock timing still load
