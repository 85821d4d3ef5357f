"""The target's decoding forward on a CPU: a few new tokens after a KV cache, without waste.

transformers' forward is written for every model and every device; at batch 1 on a CPU it
pays for things a decoding loop does not need (a DynamicCache that concatenates every
layer's keys and values on each call, mask building, output containers), and nn.Linear's
matmul kernel scales badly from 4 rows on (a verify pass has gamma + 1). Decoder runs the
same math (the model's own norms, rotary embedding, activation and weights) with:
- a KVCache that appends in place and rolls back by moving a length (no copy per round);
  after a token tree's pass, keep() moves only the accepted path's rows into place;
- linear kernels chosen per pass size by measurement on the machine it runs on
  (specviz.decoding.autotune): nn.Linear's, or a oneDNN copy of the weights packed once (q|k|v and
  gate|up as one matrix each), and for a pass of k tokens possibly a cheaper larger pass
  of j > k rows whose extra rows are discarded. Which wins differs between machines of the
  same kind (docs/performance.md), so nothing here assumes a ranking: until a Plan is
  measured the Decoder runs nn.Linear's kernel for every pass.

Memory: the packed copies cost one more copy of every linear weight (538 MB for
SmolLM2-135M in float32). They are made where oneDNN is available and while they fit
PACK_BUDGET, and dropped again when the measured plan never uses them. An early-exit
draft (layers:K) reuses its target's copies.

decoder(model) gives a model's Decoder (built once, shared by every CachedLM of it), or
None off the CPU or for architectures it does not know: then transformers' forward runs.
"""
import threading
import weakref
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .kerneltable import KERNELS

ARCHITECTURES = ("llama", "mistral", "qwen2")  # pre-norm, rotary, GQA, gated-SiLU MLP: one code path
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
    up), with the kernel the pass asks for. Returns one output per linear."""

    def __init__(self, linears: tuple[nn.Linear, ...], pack: bool):
        self.parts = [(m.weight.detach(), m.bias) for m in linears]
        self.sizes = [m.out_features for m in linears]
        self.packed = self.bias = None
        if pack:
            self.pack()

    def pack(self) -> None:
        """One packed matrix per group: a pass reads the group's weights in one sweep."""
        if self.packed is None:
            self.packed = torch.ops.mkldnn._reorder_linear_weight(torch.cat([w for w, _ in self.parts]), None)
            if any(b is not None for _, b in self.parts):
                self.bias = torch.cat([b.detach() if b is not None else w.new_zeros(len(w)) for w, b in self.parts])

    def __call__(self, x: torch.Tensor, kernel: str = "linear") -> list[torch.Tensor]:
        if kernel == "linear" or self.packed is None:
            return [F.linear(x, w, b) for w, b in self.parts]
        y = torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "none", [], "")
        return list(y.split(self.sizes, dim=-1))

    def unpack(self) -> None:
        self.packed = self.bias = None


def _linear(pack: bool, *linears: nn.Linear) -> Linear:
    """The shared Linear of these modules (a truncated model reuses its target's packed copies)."""
    kept = _LINEARS.get(linears[0])
    if kept is None or kept.parts[0][0].data_ptr() != linears[0].weight.data_ptr():
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

    def __call__(self, x, cos, sin, mask, cache: KVCache, i: int, start: int, kernel: str) -> torch.Tensor:
        t, end = x.shape[0], start + x.shape[0]
        h = self.norm1(x)
        q, k, v = (y.view(t, -1, self.head_dim).transpose(0, 1) for y in self.qkv(h, kernel))
        cache.k[i, :, start:end] = _rotate(k, cos, sin)
        cache.v[i, :, start:end] = v
        att = F.scaled_dot_product_attention(_rotate(q, cos, sin)[None], cache.k[None, i, :, :end],
                                             cache.v[None, i, :, :end], attn_mask=mask,
                                             scale=self.scaling, enable_gqa=True)
        x = x + self.o(att[0].transpose(0, 1).reshape(t, -1), kernel)[0]
        h = self.norm2(x)
        gate, up = self.gate_up(h, kernel)
        return x + self.down(self.act(gate) * up, kernel)[0]

    def linears(self) -> list[Linear]:
        return [self.qkv, self.o, self.gate_up, self.down]


@dataclass
class Plan:
    """What a pass over k new tokens runs: a kernel and a row count j >= k (rows after the k
    real ones are padding, discarded). Measured on the machine by specviz.decoding.autotune."""

    choices: dict[int, tuple[str, int]] = field(default_factory=dict)  # k -> (kernel, rows)

    def pick(self, k: int) -> tuple[str, int]:
        """(kernel, rows) for k tokens; an unmeasured k runs the kernel of the nearest measured
        size above it (the largest below, past the end) without padding; unmeasured: nn.Linear."""
        if k in self.choices:
            return self.choices[k]
        above = [j for j in self.choices if j > k]
        near = min(above) if above else max(self.choices, default=None)
        return (self.choices[near][0] if near else "linear", k)

    def uses(self, kernel: str) -> bool:
        return any(chosen == kernel for chosen, _ in self.choices.values())


class Decoder:
    """A Llama-style causal LM's forward for decoding at batch 1 (see the module docstring)."""

    def __init__(self, model: nn.Module):
        inner, cfg = model.model, model.config
        linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
        self.weight_bytes = sum(m.weight.numel() * m.weight.element_size() for m in linears)
        pack = can_pack() and self.weight_bytes <= PACK_BUDGET
        self.embed, self.norm, self.rotary = inner.embed_tokens, inner.norm, inner.rotary_emb
        self.layers = [Layer(layer, pack) for layer in inner.layers[:cfg.num_hidden_layers]]
        self.head = _linear(pack, model.lm_head)
        self.kv_shape = (len(self.layers), cfg.num_key_value_heads, self.layers[0].head_dim)
        self.dtype, self.device = model.lm_head.weight.dtype, model.lm_head.weight.device
        self.where = _where(model)
        self.packable = pack
        self.plans: dict[int, Plan] = {}  # by torch thread count: the kernel ranking depends on it

    @property
    def kernels(self) -> tuple[str, ...]:
        """The kernels this Decoder can run (the packed one only while its copies exist)."""
        return KERNELS if self.head.packed is not None else KERNELS[:1]

    @property
    def extra_bytes(self) -> int:
        """What the packed copies cost (shared ones included), 0 when there are none."""
        return self.weight_bytes if self.head.packed is not None else 0

    def linears(self) -> list[Linear]:
        return [lin for layer in self.layers for lin in layer.linears()] + [self.head]

    def plan(self) -> Plan:
        """The measured plan for the current thread count (the nearest measured count's, or none)."""
        if not self.plans:
            return Plan()
        threads = torch.get_num_threads()
        return self.plans.get(threads) or self.plans[min(self.plans, key=lambda n: abs(n - threads))]

    def repack(self) -> None:
        """Packed copies again (after a plan freed them), where they are allowed."""
        if self.packable:
            for lin in self.linears():
                lin.pack()

    def use(self, plan: Plan, threads: int) -> None:
        """Run plan at this thread count; packed copies no plan uses are freed."""
        self.plans[threads] = plan
        if not any(p.uses("packed") for p in self.plans.values()):
            for lin in self.linears():
                lin.unpack()

    def new_cache(self, room: int = 256) -> KVCache:
        return KVCache(*self.kv_shape, self.dtype, self.device, room)

    def forward(self, ids: torch.Tensor, cache: KVCache, positions: torch.Tensor | None = None,
                mask: torch.Tensor | None = None, kernel: str | None = None,
                rows: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """ids [1, t] after the cached tokens -> (logits [t, V], last hidden states [t, H]).

        A token tree's pass gives its own rotary positions [t] (by depth) and mask [t, cached + t]
        (True = may attend: the prefix and the node's ancestors); by default the t tokens
        follow the cache in order, each seeing the cache and its own past. kernel and rows
        override the plan (the autotuner times candidates with them)."""
        t, start = ids.shape[1], cache.length
        picked = self.plan().pick(t)
        kernel, rows = kernel or picked[0], max(rows or (picked[1] if kernel is None else t), t)
        if rows > t:
            ids, positions, mask = _pad(ids, positions, mask, start, rows)
        cache.reserve(start + rows)
        slots = torch.arange(start, start + rows, device=ids.device)
        x = self.embed(ids[0])
        cos, sin = (c[0] for c in self.rotary(x, (slots if positions is None else positions)[None]))
        # one new token sees the whole cache: no mask; t tokens see the cache and their past
        if mask is None and rows > 1:
            mask = torch.arange(start + rows, device=ids.device) <= slots[:, None]
        for i, layer in enumerate(self.layers):
            x = layer(x, cos, sin, mask, cache, i, start, kernel)
        cache.length = start + t  # a padded pass's extra rows are rolled back
        hidden = self.norm(x)
        return self.head(hidden, kernel)[0][:t], hidden[:t]


def _pad(ids, positions, mask, start: int, rows: int):
    """A pass of t tokens padded to rows: the extra rows come after the real ones and no real
    row sees them, so the real rows' results are those of the unpadded pass."""
    t = ids.shape[1]
    ids = torch.cat([ids, ids[:, -1:].expand(1, rows - t)], dim=1)
    if positions is not None:
        positions = torch.cat([positions, positions[-1:].expand(rows - t)])
    if mask is not None:  # a tree's mask: pad rows see what the last real row sees, and themselves
        padded = torch.zeros(rows, start + rows, dtype=torch.bool, device=mask.device)
        padded[:t, :start + t] = mask
        padded[t:, :start + t] = mask[-1]
        padded[t:, start + t:] = torch.eye(rows - t, dtype=torch.bool, device=mask.device)
        mask = padded
    return ids, positions, mask


def can_pack() -> bool:
    """oneDNN's packed linear is available in this torch build (tried once: a build may list it
    and still refuse it)."""
    global _CAN_PACK
    if _CAN_PACK is None:
        try:
            w = torch.ops.mkldnn._reorder_linear_weight(torch.ones(8, 8), None)
            torch.ops.mkldnn._linear_pointwise(torch.ones(2, 8), w, None, "none", [], "")
            _CAN_PACK = torch.backends.mkldnn.is_available()
        except (RuntimeError, AttributeError):
            _CAN_PACK = False
    return _CAN_PACK


_CAN_PACK: bool | None = None
