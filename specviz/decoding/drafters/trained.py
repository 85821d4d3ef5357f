"""Trained drafts as drafters: a checkpoint read (safetensors only, never pickle) and run over the
frozen target, autoregressively (eagle, layers) or as Medusa heads, as chains or token trees."""
import copy
import json
from pathlib import Path

import torch

from ...errors import ModelError, first_line
from ...paths import DRAFTS_DIR
from ..models import LoadedModel, Progress
from ..sampling import SamplingParams, choose, probs_from_logits
from ..tree import Tree, allowed
from .base import Drafter
from .network import KINDS, Draft, frozen_head


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


class TrainedDrafter(Drafter):
    """Base: holds the module, the frozen embedding/head, and maps draft logits to q over V."""

    branches = True

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
        draft (a chain or a token tree, specviz.decoding.grow) starts."""
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

    def expander(self, seq: torch.Tensor, params: SamplingParams) -> "EagleExpander":
        return EagleExpander(self, seq, params)

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

    @torch.inference_mode()
    def propose(self, seq: torch.Tensor, gamma: int, params: SamplingParams, u):
        # the hidden state of position n-2 made token n-1; head k guesses token n-1+k
        g = min(gamma, len(self.draft.heads))
        feats = torch.stack([head(self.last) for head in self.draft.heads[:g]])
        qs = torch.stack([self.q_from(f, params, k) for k, f in enumerate(feats)])
        tokens = torch.stack([choose(qs[i], u[i], params.greedy) for i in range(g)])
        return tokens, qs

    def expander(self, seq: torch.Tensor, params: SamplingParams) -> "MedusaExpander":
        return MedusaExpander(self, seq, params)


def make_drafter(draft: Draft, vocab_ids: torch.Tensor, target_model, name: str):
    """A drafter over a copy of draft (the caller may keep training or saving its own)."""
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


class EagleExpander:
    """Tree drafting with a trained AutoregressiveDrafter; its settled cache is left as it was."""

    def __init__(self, drafter, seq: torch.Tensor, params: SamplingParams):
        self.d, self.params = drafter, params
        feature = drafter.root_feature(seq)
        self.n_past = drafter.n_cached
        self.feature = {-1: feature}  # the draft's feature after each node (its own guess of the target's)
        self.rows, self.kv = [], None  # tree nodes computed so far, and their (k, v) per layer
        self.root_q = self.q(feature[None], [0])[0]

    def q(self, feats: torch.Tensor, steps: list[int]) -> torch.Tensor:
        """feats [T, H] -> q [T, V] (0 outside a reduced draft vocabulary); steps: each row's
        draft step (the depth of the node it follows), whose fitted logit scale q uses, as in a chain."""
        if len(set(steps)) == 1:
            return self.d.q_from(feats, self.params, steps[0])
        return torch.stack([self.d.q_from(f, self.params, k) for f, k in zip(feats, steps)])

    def __call__(self, tree: Tree, nodes: list[int]) -> torch.Tensor:
        d, dev = self.d, self.root_q.device
        tokens = torch.tensor([tree.tokens[v] for v in nodes], device=dev)
        emb = d.embed(tokens[None]).to(d.head.dtype)
        x = d.draft.inputs(emb, torch.stack([self.feature[tree.parents[v]] for v in nodes])[None]) \
            if d.eagle else emb
        depths = tree.depths
        positions = torch.tensor([self.n_past + depths[v] - 1 for v in nodes], device=dev)
        past = d.cache if self.kv is None else [
            (torch.cat([ck, tk], 2), torch.cat([cv, tv], 2)) for (ck, cv), (tk, tv) in zip(d.cache, self.kv)]
        mask = allowed(tree.parents, self.n_past, nodes, self.rows).to(dev)
        feats, kvs = d.draft.run_layers(x, positions, past, mask)
        self.kv = kvs if self.kv is None else [
            (torch.cat([tk, k], 2), torch.cat([tv, v], 2)) for (tk, tv), (k, v) in zip(self.kv, kvs)]
        self.rows += nodes
        self.feature.update(zip(nodes, feats[0]))
        return self.q(feats[0], [depths[v] for v in nodes])


class MedusaExpander:
    """Medusa-1 heads: the candidates at depth d are head d's, whatever the parent."""

    def __init__(self, drafter, seq: torch.Tensor, params: SamplingParams):
        heads = drafter.draft.heads
        feats = torch.stack([head(drafter.last) for head in heads])
        small = probs_from_logits(feats @ drafter.head_t, params)
        self.q = small if drafter.full else small.new_zeros(len(heads), drafter.vocab_size).index_copy_(
            1, drafter.vocab_ids, small)
        self.root_q, self.max_depth = self.q[0], len(heads)

    def __call__(self, tree: Tree, nodes: list[int]) -> torch.Tensor:
        depths = tree.depths
        return self.q[[depths[v] for v in nodes]]
