"""Making a trained draft: its shape copied from the target, its start from the target's own
layers, and its checkpoint (weights.safetensors + card.json). The network and the drafters that
run a checkpoint are specviz.decoding.drafters (network.py, trained.py); distill.py trains one.
"""
import json
from pathlib import Path

import torch
from torch import nn

from ..decoding.drafters.network import Draft


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


def save_draft(path: Path, draft: Draft, vocab_ids: torch.Tensor, card: dict, dtype=torch.float16) -> None:
    """weights.safetensors (new parameters + draft vocabulary) and card.json."""
    from safetensors.torch import save_file

    path.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu", dtype).contiguous() for k, v in draft.state_dict().items()}
    tensors["vocab_ids"] = vocab_ids.to("cpu", torch.int64).contiguous()
    save_file(tensors, str(path / "weights.safetensors"), metadata={"config": json.dumps(draft.cfg)})
    (path / "card.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
