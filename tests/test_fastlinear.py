"""FastLinear (the row-count-aware CPU kernel choice) computes nn.Linear's function."""
import torch
from torch import nn

from specviz.fastlinear import FastLinear, relayout


def test_fast_linear_matches_nn_linear_for_every_row_count():
    torch.manual_seed(0)
    for bias in (False, True):
        lin = nn.Linear(64, 96, bias=bias)
        fast = FastLinear(lin)
        for shape in [(1, 64), (1, 1, 64), (2, 64), (1, 3, 64), (1, 5, 64), (2, 3, 64), (4, 7, 64)]:
            x = torch.randn(*shape)
            torch.testing.assert_close(fast(x), lin(x), rtol=1e-5, atol=1e-5)
            assert fast(x).shape == lin(x).shape


def test_relayout_keeps_parameters_shared_and_the_state_dict_unchanged():
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 8, bias=False))
    model[2].weight = nn.Parameter(torch.randn(8, 16))
    keys = set(model.state_dict())
    weight = model[0].weight
    x = torch.randn(3, 8)
    before = model(x)
    relayout(model)
    assert isinstance(model[0], FastLinear) and isinstance(model[2], FastLinear)
    assert model[0].weight is weight  # shared, not copied: tied weights stay tied
    assert set(model.state_dict()) == keys  # checkpoints load and save as before
    torch.testing.assert_close(model(x), before, rtol=1e-5, atol=1e-5)
