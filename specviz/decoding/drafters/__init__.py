"""Drafters, one proposer per file (as vLLM v1 keeps its proposers): each proposes tokens with
the distributions q they were drawn from, and, if it can branch, grows its own token tree.

base.py     the protocol the engine calls (Drafter), a run's start-up, one-hot proposals
lookup.py   prompt lookup (n-gram matches in the prompt and output)
model.py    a draft model or the target's first layers (layers:K)
hybrid.py   prompt lookup where the context repeats, a trained draft elsewhere
network.py  the trained drafts' modules (EAGLE, layers, Medusa)
trained.py  trained drafts as drafters, read from drafts/NAME
build_drafter() below makes one from its spec.
"""
from .. import autotune
from ..models import LoadedModel, Progress, check_same_vocab, load_model, load_registry, parse_drafter_spec
from .hybrid import HybridDrafter
from .lookup import PromptLookupDrafter
from .model import ModelDrafter, truncated_model
from .trained import load_trained_drafter


def build_drafter(spec: str, target: LoadedModel, progress: Progress = lambda m: None):
    """A drafter from its spec: layers:K, lookup[:N], trained:NAME, hybrid:NAME (prompt lookup
    where the context repeats, else trained:NAME), a models.yaml key or hub id."""
    kind, arg = parse_drafter_spec(spec)
    vocab = target.model.config.vocab_size
    if kind == "layers":  # the early exit's own kernels are timed too (its passes are smaller)
        early = truncated_model(target.model, arg)
        if target.device == "cpu":
            autotune.tune(early, f"{target.model_id}#{spec}", progress=progress)
        return ModelDrafter(early, vocab, spec)
    if kind == "lookup":
        return PromptLookupDrafter(vocab, arg or 3, spec, set(target.tokenizer.all_special_ids))
    if kind == "trained":
        return load_trained_drafter(arg, target, progress)
    if kind == "hybrid":
        lookup = PromptLookupDrafter(vocab, 3, "lookup", set(target.tokenizer.all_special_ids))
        return HybridDrafter(lookup, load_trained_drafter(arg, target, progress), spec)
    draft = load_model(load_registry().model(spec), target.device, target.dtype, progress)
    check_same_vocab(target, draft)
    return ModelDrafter(draft.model, vocab, spec)
