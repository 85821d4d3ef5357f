"""Trained drafts: small modules over a frozen target, and the drafters that run them.

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
Weights load with safetensors only.
"""
import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ModelError, first_line
from ..models import LoadedModel, Progress
from ..paths import DRAFTS_DIR
from ..sampling import SamplingParams, choose, probs_from_logits

KINDS = ("eagle", "layers", "medusa")


# ----------------------------------------------------------------------------- modules

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


def draft_config(target_config, kind: str, n_layers: int = 1, n_heads: int = 4) -> dict:
    """The module's shape, copied from the target's config."""
    c = target_config
    rope_theta = (getattr(c, "rope_parameters", None) or {}).get("rope_theta") or getattr(c, "rope_theta", 10000.0)
    return {"kind": kind, "n_layers": n_layers, "n_heads": n_heads, "hidden": c.hidden_size,
            "heads": c.num_attention_heads, "kv_heads": c.num_key_value_heads,
            "head_dim": getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads,
            "inner": c.intermediate_size, "eps": c.rms_norm_eps, "rope_theta": float(rope_theta)}


def init_from_target(draft: Draft, target) -> None:
    """Start from the target: its first layers and final norm (EAGLE's fc passes the embedding)."""
    if draft.cfg["kind"] == "medusa":
        return
    inner = target.model
    for i, layer in enumerate(draft.layers):
        layer.load_state_dict(inner.layers[i].state_dict())
    draft.norm.load_state_dict(inner.norm.state_dict())
    if draft.cfg["kind"] == "eagle":
        h = draft.cfg["hidden"]
        with torch.no_grad():
            draft.fc.weight.zero_()
            draft.fc.weight[:, h:] = torch.eye(h)  # the feature half starts at zero and is learnt
            draft.fc.bias.zero_()


def frozen_head(target, vocab_ids: torch.Tensor) -> torch.Tensor:
    """The target's LM head rows for the draft vocabulary [Nd, H] (a copy, never trained)."""
    return target.lm_head.weight.detach()[vocab_ids.to(target.lm_head.weight.device)].clone()


# ----------------------------------------------------------------------------- checkpoints

def save_draft(path: Path, draft: Draft, vocab_ids: torch.Tensor, card: dict, dtype=torch.float16) -> None:
    """weights.safetensors (new parameters + draft vocabulary) and card.json."""
    from safetensors.torch import save_file

    path.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu", dtype).contiguous() for k, v in draft.state_dict().items()}
    tensors["vocab_ids"] = vocab_ids.to("cpu", torch.int64).contiguous()
    save_file(tensors, str(path / "weights.safetensors"), metadata={"config": json.dumps(draft.cfg)})
    (path / "card.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")


def read_draft(path: Path, device: str, dtype: torch.dtype) -> tuple[Draft, torch.Tensor, dict]:
    """A saved draft: (module, vocab ids, card); safetensors only, never pickle."""
    from safetensors import safe_open

    weights = path / "weights.safetensors"
    if not weights.exists():
        raise ModelError(f"no trained draft at {path}: expected {weights.name} there "
                         "(train one with `python -m specviz distill`)")
    try:
        with safe_open(str(weights), framework="pt") as f:
            cfg = json.loads(f.metadata()["config"])
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # a corrupt or foreign file: say so in one line
        raise ModelError(f"cannot read trained draft {weights}: {first_line(e)}") from None
    if cfg.get("kind") not in KINDS:
        raise ModelError(f"{weights} has an unknown draft kind {cfg.get('kind')!r}")
    if cfg.get("n_features", 1) > 1:  # trained by `distill --fuse` before it was removed
        raise ModelError(f"draft {path.name} fuses target layers (EAGLE-3, distill --fuse), which SpecViz "
                         "does not run: retrain it without --fuse")
    vocab_ids = tensors.pop("vocab_ids").to(device)
    draft = Draft(cfg)
    draft.load_state_dict({k: v.float() for k, v in tensors.items()})
    card_path = path / "card.json"
    card = json.loads(card_path.read_text(encoding="utf-8")) if card_path.exists() else {}
    return draft.to(device, dtype).eval(), vocab_ids, card


def resolve(name: str) -> Path:
    """drafts/NAME in the repo, or a path to a draft directory."""
    if not name:
        raise ModelError("trained needs a name: trained:NAME (a folder in drafts/) or trained:PATH")
    path = Path(name).expanduser()
    path = path if path.is_dir() else DRAFTS_DIR / name
    if not (path / "weights.safetensors").exists():
        raise ModelError(f"no trained draft {name!r}: expected {path / 'weights.safetensors'} "
                         "(a folder in drafts/ or a path; train one with `python -m specviz distill`)")
    return path


# ----------------------------------------------------------------------------- drafters

class TrainedDrafter:
    """Base: holds the module, the frozen embedding/head, and maps draft logits to q over V."""

    wants_hidden, samples = False, True

    def __init__(self, draft: Draft, vocab_ids: torch.Tensor, target, name: str):
        self.draft, self.vocab_ids, self.name = draft, vocab_ids, name
        self.embed = target.get_input_embeddings()
        self.head = frozen_head(target, vocab_ids).to(next(draft.parameters()).dtype)
        self.head_t = self.head.T.contiguous()  # [H, Nd]: the faster GEMV layout for one row on CPU
        self.vocab_size = target.config.vocab_size
        self.q_scale = draft.cfg.get("q_scale") or []
        self.full = len(vocab_ids) == self.vocab_size and bool(
            (vocab_ids == torch.arange(self.vocab_size, device=vocab_ids.device)).all())

    def q_from(self, feature: torch.Tensor, params: SamplingParams, step: int = 0) -> torch.Tensor:
        """feature [..., H] -> q [..., V]: the sampling distribution over the draft vocabulary, 0 elsewhere.

        step: the draft position (0 = first); its fitted logit scale (card "q_scale", see
        distill.calibrate) sharpens or flattens q before temperature, so sampled drafts match
        p better. Greedy drafting takes the argmax, which no scale changes.
        Temperature, top-k and top-p over the draft vocabulary equal the same over the full
        vocabulary with -inf outside it, so the small softmax is scattered, not recomputed.
        """
        logits = feature @ self.head_t
        if self.q_scale:
            logits = logits * self.q_scale[min(step, len(self.q_scale) - 1)]
        small = probs_from_logits(logits, params)
        if self.full:
            return small
        return small.new_zeros(*small.shape[:-1], self.vocab_size).index_copy_(-1, self.vocab_ids, small)


class AutoregressiveDrafter(TrainedDrafter):
    """eagle and layers drafts: draft gamma tokens one by one with the draft's own KV cache.

    The cache holds only positions computed from the target's true state (n_cached); draft
    positions of a round are dropped before the next round.
    """

    def __init__(self, draft, vocab_ids, target, name):
        super().__init__(draft, vocab_ids, target, name)
        self.eagle = draft.cfg["kind"] == "eagle"
        self.wants_hidden = self.eagle
        self.hidden = None  # the draft's feature of each settled position (EAGLE)
        self.cache, self.n_cached = None, 0

    @torch.inference_mode()
    def observe(self, hidden: torch.Tensor, start: int) -> None:
        h = hidden.to(self.head.dtype)
        self.hidden = h if self.hidden is None else torch.cat([self.hidden[:start], h])

    def prefill(self, seq: torch.Tensor) -> None:
        self.cache, self.n_cached = None, 0
        self.catch_up(seq[:, :-1])  # keep at least one input for the first propose

    def step(self, x: torch.Tensor, start: int):
        """Run the layers on inputs x [1, T, H] at positions start.. after the cache."""
        positions = torch.arange(start, start + x.shape[1], device=x.device)
        feats, kvs = self.draft.run_layers(x, positions, self.cache)
        self.cache = kvs if self.cache is None else [
            (torch.cat([pk, k], 2), torch.cat([pv, v], 2)) for (pk, pv), (k, v) in zip(self.cache, kvs)]
        return feats[0, -1]

    def catch_up(self, seq: torch.Tensor) -> torch.Tensor | None:
        """Feed the positions the target has settled since the last round; return the last feature."""
        n = seq.shape[1]
        if n - self.eagle <= self.n_cached:
            return None
        if self.eagle:  # input j = (target feature j, token j+1), for j up to n-2
            x = self.draft.inputs(self.embed(seq[:, self.n_cached + 1:n]), self.hidden[None, self.n_cached:n - 1])
        else:  # input j = token j, for j up to n-1
            x = self.embed(seq[:, self.n_cached:n])
        feature = self.step(x.to(self.head.dtype), self.n_cached)
        self.n_cached += x.shape[1]
        return feature

    def root_feature(self, seq: torch.Tensor) -> torch.Tensor:
        """The draft's feature after seq's last token, from its settled cache: where a round's
        draft (a chain or a token tree, specviz.treedraft) starts."""
        self.truncate(self.n_cached)
        feature = self.catch_up(seq)
        if feature is None:  # nothing new since the last round (a re-proposal): redo the last input
            self.n_cached -= 1
            self.truncate(self.n_cached)
            feature = self.catch_up(seq)
        return feature

    @torch.inference_mode()
    def propose(self, seq: torch.Tensor, gamma: int, params: SamplingParams, u):
        feature = self.root_feature(seq)
        tokens, qs = [], []
        for i in range(gamma):
            q = self.q_from(feature, params, i)
            token = choose(q, u[i], params.greedy)
            tokens.append(token)
            qs.append(q)
            if i + 1 < gamma:
                emb = self.embed(token.view(1, 1)).to(self.head.dtype)
                x = self.draft.inputs(emb, feature.view(1, 1, -1)) if self.eagle else emb
                feature = self.step(x, self.n_cached + i)
        return torch.stack(tokens), torch.stack(qs)

    def truncate(self, n: int) -> None:
        if self.cache is not None:
            self.cache = [(k[:, :, :n], v[:, :, :n]) for k, v in self.cache]

    def rollback(self, n_valid: int) -> None:
        # everything cached was computed from settled positions; only the drafts go
        self.n_cached = min(self.n_cached, max(n_valid - (1 if self.eagle else 0), 0))
        self.truncate(self.n_cached)


class MedusaDrafter(TrainedDrafter):
    """Medusa-1: head k reads the target's hidden state at the last verified position."""

    wants_hidden = True

    def __init__(self, draft, vocab_ids, target, name):
        super().__init__(draft, vocab_ids, target, name)
        self.last = None

    def observe(self, hidden: torch.Tensor, start: int) -> None:
        self.last = hidden[-1].to(self.head.dtype)

    def prefill(self, seq: torch.Tensor) -> None:
        pass

    @torch.inference_mode()
    def propose(self, seq: torch.Tensor, gamma: int, params: SamplingParams, u):
        # the hidden state of position n-2 made token n-1; head k guesses token n-1+k
        g = min(gamma, len(self.draft.heads))
        feats = torch.stack([head(self.last) for head in self.draft.heads[:g]])
        qs = torch.stack([self.q_from(f, params, k) for k, f in enumerate(feats)])
        tokens = torch.stack([choose(qs[i], u[i], params.greedy) for i in range(g)])
        return tokens, qs

    def rollback(self, n_valid: int) -> None:
        pass


def make_drafter(draft: Draft, vocab_ids: torch.Tensor, target_model, name: str):
    """A drafter over a copy of draft (the caller may keep training or saving its own)."""
    import copy

    cls = MedusaDrafter if draft.cfg["kind"] == "medusa" else AutoregressiveDrafter
    return cls(copy.deepcopy(draft).eval(), vocab_ids, target_model, name)


def load_trained_drafter(name: str, target: LoadedModel, progress: Progress = lambda m: None):
    """trained:NAME -> a drafter over target (NAME = a folder in drafts/ or a path)."""
    path = resolve(name)
    progress(f"loading trained draft {path} ...")
    dtype = next(target.model.parameters()).dtype
    draft, vocab_ids, card = read_draft(path, target.device, dtype)
    config = target.model.config
    if card.get("target_hidden", config.hidden_size) != config.hidden_size or int(vocab_ids.max()) >= config.vocab_size:
        raise ModelError(f"trained draft {name} was made for another target ({card.get('target')}); "
                         f"it does not fit {target.name}")
    return make_drafter(draft, vocab_ids, target.model, f"trained:{name}")


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())

