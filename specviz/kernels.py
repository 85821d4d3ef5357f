"""The target's decoding forward on a CPU: a few new tokens after a KV cache, without waste.

transformers' forward is written for every model and every device; at batch 1 on a CPU it
pays for things a decoding loop does not need (a DynamicCache that concatenates every
layer's keys and values on each call, mask building, output containers), and nn.Linear's
matmul kernel scales badly from 4 rows on (a verify pass has gamma + 1). Decoder runs the
same math (the model's own norms, rotary embedding, activation and weights) with:
- a KVCache that appends in place and rolls back by moving a length (no copy per round);
  after a token tree's pass, keep() moves only the accepted path's rows into place;
- linear kernels chosen by row count: nn.Linear's for 1-3 rows (the fastest there), from
  4 rows a oneDNN copy of the weights packed once, q|k|v and gate|up as one matrix each
  (bf16 models: the packed copy for every row count, where it uses the CPU's bf16 units).

Memory: the packed copies cost one more copy of every linear weight (538 MB for
SmolLM2-135M in float32). They are made only on x86 (AVX2/AVX-512, where this was
measured) and while they fit PACK_BUDGET; otherwise the Decoder keeps nn.Linear's kernel
for every row count and costs nothing extra. An early-exit draft (layers:K) reuses its
target's copies.
Numbers and the candidates that lost: docs/performance.md, "The verify pass at the roofline".

decoder(model) gives a model's Decoder (built once, shared by every CachedLM of it), or
None off the CPU or for architectures it does not know: then transformers' forward runs.
"""
import threading
import weakref

import torch
import torch.nn.functional as F
from torch import nn

ARCHITECTURES = ("llama", "mistral", "qwen2")  # pre-norm, rotary, GQA, gated-SiLU MLP: one code path
PACKED_FROM = 4  # rows from which the packed float32 kernel beats nn.Linear's (measured)
PACK_BUDGET = 1 << 30  # bytes of packed copies per model; beyond it nothing is packed

_DECODERS: "weakref.WeakKeyDictionary[nn.Module, Decoder | None]" = weakref.WeakKeyDictionary()
_LINEARS: "weakref.WeakKeyDictionary[nn.Linear, Linear]" = weakref.WeakKeyDictionary()  # by first member
_LOCK = threading.Lock()


def decoder(model: nn.Module) -> "Decoder | None":
    """model's Decoder, built on first use (again if its weights moved); None where
    transformers' forward should run."""
    with _LOCK:
        built = _DECODERS.get(model)
        if model not in _DECODERS or _where(model) != (built.where if built else None):
            _DECODERS[model] = Decoder(model) if supported(model) else None
        return _DECODERS[model]


def _where(model: nn.Module) -> tuple | None:
    """Where the weights live now: a model moved or cast after its Decoder was built needs a new one."""
    weight = getattr(getattr(model, "lm_head", None), "weight", None)
    return None if weight is None else (weight.data_ptr(), weight.dtype, weight.device)


def supported(model: nn.Module) -> bool:
    """A Llama-style causal LM wholly on the CPU, without sliding windows or extra norms."""
    cfg, inner = getattr(model, "config", None), getattr(model, "model", None)
    if cfg is None or inner is None or getattr(cfg, "model_type", None) not in ARCHITECTURES:
        return False
    if getattr(cfg, "sliding_window", None) is not None or not isinstance(getattr(model, "lm_head", None), nn.Linear):
        return False
    if getattr(model, "hf_device_map", None):  # split by accelerate: its hooks move the weights
        return False
    if model.lm_head.weight.dtype not in (torch.float32, torch.bfloat16):
        return False
    if any(p.device.type != "cpu" for p in model.parameters()):
        return False
    attn = inner.layers[0].self_attn
    return not any(hasattr(attn, name) for name in ("q_norm", "k_norm"))


class KVCache:
    """Every layer's keys and values in buffers with room to spare.

    Appending writes in place, rollback moves the length, and running out of room doubles it
    (one copy, amortised over as many tokens as the cache already holds).
    """

    def __init__(self, layers: int, kv_heads: int, head_dim: int, dtype, device, room: int = 256):
        self.k = torch.empty(layers, kv_heads, room, head_dim, dtype=dtype, device=device)
        self.v = torch.empty_like(self.k)
        self.length = 0

    def reserve(self, n: int) -> None:
        room = self.k.shape[2]
        if n > room:
            k, v = self.k, self.v
            self.k = k.new_empty(k.shape[0], k.shape[1], max(n, 2 * room), k.shape[3])
            self.v = torch.empty_like(self.k)
            self.k[:, :, :self.length] = k[:, :, :self.length]
            self.v[:, :, :self.length] = v[:, :, :self.length]

    def truncate(self, n: int) -> None:
        self.length = min(self.length, n)

    def keep(self, start: int, rows: list[int]) -> None:
        """Keep the cached positions start + rows[i] (ascending) at start + i, drop the rest after
        start: only the kept rows move, the prefix stays where it is."""
        n = len(rows)
        if rows != list(range(n)):
            idx = torch.tensor(rows, device=self.k.device) + start
            for t in (self.k, self.v):
                t[:, :, start:start + n] = t[:, :, idx]  # indexing copies the rows out first
        self.length = min(self.length, start + n)


class Linear:
    """nn.Linear's function for one linear, or several that read the same input (q, k, v; gate,
    up), with the kernel picked by the number of rows. Returns one output per linear."""

    def __init__(self, linears: tuple[nn.Linear, ...], pack: bool):
        self.parts = [(m.weight.detach(), m.bias) for m in linears]
        self.sizes = [m.out_features for m in linears]
        self.packed_from = 1 if self.parts[0][0].dtype == torch.bfloat16 else PACKED_FROM
        self.packed = self.bias = None
        if pack:  # one packed matrix per group: a pass reads the group's weights in one sweep
            self.packed = torch.ops.mkldnn._reorder_linear_weight(torch.cat([w for w, _ in self.parts]), None)
            if any(b is not None for _, b in self.parts):
                self.bias = torch.cat([b.detach() if b is not None else w.new_zeros(len(w)) for w, b in self.parts])

    def __call__(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self.packed is None or x.shape[0] < self.packed_from:
            return [F.linear(x, w, b) for w, b in self.parts]
        y = torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "none", [], "")
        return list(y.split(self.sizes, dim=-1))


def _linear(pack: bool, *linears: nn.Linear) -> Linear:
    """The shared Linear of these modules (a truncated model reuses its target's packed copies)."""
    kept = _LINEARS.get(linears[0])
    if kept is None or kept.parts[0][0].data_ptr() != linears[0].weight.data_ptr() or (pack and kept.packed is None):
        _LINEARS[linears[0]] = Linear(linears, pack)
    return _LINEARS[linears[0]]


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding, in transformers' order of operations (so the rounding matches)."""
    half = x.shape[-1] // 2
    return x * cos + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin


class Layer:
    """One decoder layer over t new tokens: x [t, H] -> [t, H], writing its keys and values."""

    def __init__(self, layer, pack: bool):
        a, mlp = layer.self_attn, layer.mlp
        self.norm1, self.norm2, self.act = layer.input_layernorm, layer.post_attention_layernorm, mlp.act_fn
        self.head_dim, self.scaling = a.head_dim, a.scaling
        self.qkv, self.o = _linear(pack, a.q_proj, a.k_proj, a.v_proj), _linear(pack, a.o_proj)
        self.gate_up, self.down = _linear(pack, mlp.gate_proj, mlp.up_proj), _linear(pack, mlp.down_proj)

    def __call__(self, x, cos, sin, mask, cache: KVCache, i: int, start: int) -> torch.Tensor:
        t, end = x.shape[0], start + x.shape[0]
        h = self.norm1(x)
        q, k, v = (y.view(t, -1, self.head_dim).transpose(0, 1) for y in self.qkv(h))
        cache.k[i, :, start:end] = _rotate(k, cos, sin)
        cache.v[i, :, start:end] = v
        att = F.scaled_dot_product_attention(_rotate(q, cos, sin)[None], cache.k[None, i, :, :end],
                                             cache.v[None, i, :, :end], attn_mask=mask,
                                             scale=self.scaling, enable_gqa=True)
        x = x + self.o(att[0].transpose(0, 1).reshape(t, -1))[0]
        h = self.norm2(x)
        gate, up = self.gate_up(h)
        return x + self.down(self.act(gate) * up)[0]


class Decoder:
    """A Llama-style causal LM's forward for decoding at batch 1 (see the module docstring)."""

    def __init__(self, model: nn.Module):
        inner, cfg = model.model, model.config
        linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
        weight_bytes = sum(m.weight.numel() * m.weight.element_size() for m in linears)
        pack = (torch.backends.mkldnn.is_available() and weight_bytes <= PACK_BUDGET  # measured on x86 only
                and torch.backends.cpu.get_cpu_capability().startswith("AVX"))
        self.extra_bytes = weight_bytes if pack else 0  # what the packed copies cost (shared ones included)
        self.embed, self.norm, self.rotary = inner.embed_tokens, inner.norm, inner.rotary_emb
        self.layers = [Layer(layer, pack) for layer in inner.layers[:cfg.num_hidden_layers]]
        self.head = _linear(pack, model.lm_head)
        self.kv_shape = (len(self.layers), cfg.num_key_value_heads, self.layers[0].head_dim)
        self.dtype, self.device = model.lm_head.weight.dtype, model.lm_head.weight.device
        self.where = _where(model)

    def new_cache(self, room: int = 256) -> KVCache:
        return KVCache(*self.kv_shape, self.dtype, self.device, room)

    def forward(self, ids: torch.Tensor, cache: KVCache, positions: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """ids [1, t] after the cached tokens -> (logits [t, V], last hidden states [t, H]).

        A token tree's pass gives its own rotary positions [t] (by depth) and mask [t, cached + t]
        (True = may attend: the prefix and the node's ancestors); by default the t tokens
        follow the cache in order, each seeing the cache and its own past."""
        t, start = ids.shape[1], cache.length
        cache.reserve(start + t)
        slots = torch.arange(start, start + t, device=ids.device)
        x = self.embed(ids[0])
        cos, sin = (c[0] for c in self.rotary(x, (slots if positions is None else positions)[None]))
        # one new token sees the whole cache: no mask; t tokens see the cache and their past
        if mask is None and t > 1:
            mask = torch.arange(start + t, device=ids.device) <= slots[:, None]
        for i, layer in enumerate(self.layers):
            x = layer(x, cos, sin, mask, cache, i, start)
        cache.length = start + t
        hidden = self.norm(x)
        return self.head(hidden)[0], hidden
