"""Row-count-aware linear layers for batch-1 CPU decoding (a prototype for the engine).

On this CPU (MKL, fp32, one thread) nn.Linear's kernel for a handful of rows is slow: a
4-token verify pass of SmolLM2-135M costs ~1.5 plain 1-token steps, and 2-3 tokens cost
more than 4 (measured, docs/performance.md). The same product computed as W @ x^T (the
weight as the left operand) is a memory-bound skinny GEMM that costs about one weight read
for 2-5 rows, and x @ W^T with W^T stored contiguous is the faster GEMV for one row. Same
math (the sum order may differ in the last bits, like any change of kernel): the model's
outputs agree to float rounding.

relayout(model) swaps every nn.Linear of a model in place (one extra transposed copy of
each weight: +1x the model's memory) and returns the model. Inference only: the transposed
copy is taken once, so a model trained after relayout would use stale weights for one row.
"""
import torch
import torch.nn.functional as F
from torch import nn

SKINNY_MAX = 5  # rows up to which W @ x^T beats nn.Linear's kernel (measured, 1-thread fp32)


class FastLinear(nn.Module):
    """nn.Linear with the kernel picked by the number of rows: GEMV, skinny GEMM or GEMM."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.weight, self.bias = linear.weight, linear.bias  # shared with the original (tied heads stay tied)
        self.register_buffer("weight_t", linear.weight.detach().t().contiguous(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.numel() // self.in_features
        if rows == 1 and x.dtype == self.weight_t.dtype:
            y = x @ self.weight_t
        elif rows <= SKINNY_MAX and x.dtype == self.weight.dtype:
            flat = x.reshape(rows, self.in_features)
            y = (self.weight @ flat.T).T.reshape(*x.shape[:-1], self.out_features)
        else:
            return F.linear(x, self.weight, self.bias)
        return y if self.bias is None else y + self.bias


def relayout(model: nn.Module) -> nn.Module:
    """Replace every nn.Linear in model by a FastLinear (in place); returns model."""
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if type(child) is nn.Linear:
                setattr(module, name, FastLinear(child))
    return model
