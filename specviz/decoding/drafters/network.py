"""The trained drafts' network: small modules over a frozen target (specviz.train makes them,
drafters/trained.py runs them).

Three shapes, all reusing the target's frozen token embeddings and LM head (so a
checkpoint holds only the new parameters):
  eagle   one or more decoder layers over [target hidden state; embedding of the next
          token] (EAGLE, Li et al. 2024), drafting autoregressively on its own features;
  layers  a few decoder layers on token embeddings alone, initialised from the target's
          first layers (a standalone small LM);
  medusa  k residual heads on the target's last hidden state predicting tokens
          t+2 .. t+k+1 (Medusa-1, Cai et al. 2024).
A draft may use a reduced vocabulary (FR-Spec, Zhao et al. 2025): its head scores only the
most frequent tokens of its training data, and q = 0 elsewhere keeps verification exact.
"""
import torch
import torch.nn.functional as F
from torch import nn

KINDS = ("eagle", "layers", "medusa")


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight, self.eps = nn.Parameter(torch.ones(dim)), eps

    def forward(self, x):
        x32 = x.float()
        return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype) * self.weight


def rope(positions: torch.Tensor, head_dim: int, theta: float, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin [T, head_dim] for the given positions (Llama's rotate-half layout)."""
    inv = 1.0 / theta ** (torch.arange(0, head_dim, 2, device=positions.device).float() / head_dim)
    angles = positions.float()[:, None] * inv[None]
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos().to(dtype), angles.sin().to(dtype)


def apply_rope(x, cos, sin):
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rotated * sin


class Attention(nn.Module):
    def __init__(self, hidden: int, heads: int, kv_heads: int, head_dim: int):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, head_dim
        self.q_proj = nn.Linear(hidden, heads * head_dim, bias=False)
        self.k_proj = nn.Linear(hidden, kv_heads * head_dim, bias=False)
        self.v_proj = nn.Linear(hidden, kv_heads * head_dim, bias=False)
        self.o_proj = nn.Linear(heads * head_dim, hidden, bias=False)

    def forward(self, x, cos, sin, past=None, mask=None):
        """x [B, T, H]; past (k, v) [B, kvh, S, hd] goes before this step's keys.

        mask [T, S+T] bool (True = may attend) or None for plain causal attention.
        Returns the output and this step's (k, v) alone.
        """
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        keys, values = (torch.cat([past[0], k], 2), torch.cat([past[1], v], 2)) if past else (k, v)
        rep = self.heads // self.kv_heads
        keys, values = keys.repeat_interleave(rep, 1), values.repeat_interleave(rep, 1)
        if mask is None and past is not None and past[0].shape[2] and t > 1:
            mask = causal_after(past[0].shape[2], t, x.device)
        if mask is None:
            out = F.scaled_dot_product_attention(q, keys, values, is_causal=t > 1)
        else:
            out = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)
        return self.o_proj(out.transpose(1, 2).reshape(b, t, -1)), (k, v)


def causal_after(n_past: int, t: int, device) -> torch.Tensor:
    """[t, n_past + t] mask: every new position sees the past and the new ones up to itself."""
    cols = torch.arange(n_past + t, device=device)
    return cols[None] <= (n_past + torch.arange(t, device=device))[:, None]


class MLP(nn.Module):
    def __init__(self, hidden: int, inner: int):
        super().__init__()
        self.gate_proj = nn.Linear(hidden, inner, bias=False)
        self.up_proj = nn.Linear(hidden, inner, bias=False)
        self.down_proj = nn.Linear(inner, hidden, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    """A Llama decoder layer with the same parameter names, so a target layer's weights load."""

    def __init__(self, cfg: dict):
        super().__init__()
        h = cfg["hidden"]
        self.input_layernorm = RMSNorm(h, cfg["eps"])
        self.self_attn = Attention(h, cfg["heads"], cfg["kv_heads"], cfg["head_dim"])
        self.post_attention_layernorm = RMSNorm(h, cfg["eps"])
        self.mlp = MLP(h, cfg["inner"])

    def forward(self, x, cos, sin, past=None, mask=None):
        attn, kv = self.self_attn(self.input_layernorm(x), cos, sin, past, mask)
        x = x + attn
        return x + self.mlp(self.post_attention_layernorm(x)), kv


class ResBlock(nn.Module):
    """Medusa's head block: x + SiLU(W x), W zero-initialised so a new head starts as the LM head."""

    def __init__(self, hidden: int):
        super().__init__()
        self.linear = nn.Linear(hidden, hidden)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x):
        return x + F.silu(self.linear(x))


class Draft(nn.Module):
    """The trainable part of a draft; the frozen embeddings and head are passed in."""

    def __init__(self, cfg: dict):
        super().__init__()
        self.cfg = cfg
        if cfg["kind"] == "medusa":
            self.heads = nn.ModuleList(ResBlock(cfg["hidden"]) for _ in range(cfg["n_heads"]))
            return
        if cfg["kind"] == "eagle":
            self.fc = nn.Linear(2 * cfg["hidden"], cfg["hidden"], bias=True)
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg["n_layers"]))
        self.norm = RMSNorm(cfg["hidden"], cfg["eps"])

    def inputs(self, embeds, feats=None):
        """Layer input: token embeddings, or fc([feature; embedding]) for EAGLE."""
        return self.fc(torch.cat([feats, embeds], -1)) if self.cfg["kind"] == "eagle" else embeds

    def run_layers(self, x, positions, past=None, mask=None):
        """Decoder layers over x [B, T, H] -> (normed features, new per-layer (k, v))."""
        cos, sin = rope(positions, self.cfg["head_dim"], self.cfg["rope_theta"], x.dtype)
        kvs = []
        for i, layer in enumerate(self.layers):
            x, kv = layer(x, cos, sin, past[i] if past else None, mask)
            kvs.append(kv)
        return self.norm(x), kvs


def frozen_head(target, vocab_ids: torch.Tensor) -> torch.Tensor:
    """The target's LM head rows for the draft vocabulary [Nd, H] (a copy, never trained)."""
    return target.lm_head.weight.detach()[vocab_ids.to(target.lm_head.weight.device)].clone()
