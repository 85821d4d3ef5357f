"""One recorded run: settings -> models -> speculative + baseline decoding -> Trace."""
import platform
import sys
from dataclasses import dataclass, replace
from typing import Callable

import torch

from .. import __version__
from ..errors import RunError, first_line
from ..trace import MEASURED_ENV, Baseline, Config, Round, Timing, Trace
from . import kerneltable, machine
from .drafters import build_drafter
from .engine import MAX_GAMMA, Decoded, TokenTexts, plain_steps, speculative_decode
from .grow import TreeShape
from .models import (LoadedModel, Pair, Progress, encode_prompt, eos_ids, free_memory, load_model,
                     load_registry, spec_branches)
from .sampling import SamplingParams

MAX_PROMPT_CHARS = 8000
MAX_NEW_TOKENS = 512
_NO_TREE = ("the drafter {} cannot draft a token tree (it proposes one continuation): use a "
            "trained draft, a draft model or layers:K, or drop --tree")


@dataclass
class RunSettings:
    prompt: str
    target: str | None = None  # models.yaml key or hub id; None = the default pair's target
    draft: str | None = None  # drafter spec; None = the default pair's draft
    gamma: int | str | None = 4  # tokens drafted per round; "auto" = chosen by measurement on
    # this machine (specviz.decoding.machine); None = auto where the pair has a measured α, else its models.yaml γ
    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int = 0
    max_new_tokens: int = 64
    device: str = "auto"
    raw: bool = False  # skip the chat template
    baseline: bool = True  # also run plain decoding to measure the speedup
    baseline_first: bool = False  # time plain decoding before the speculative run (to interleave repeats)
    tree: int = 0  # node budget of a token tree per round; 0 = chains of gamma tokens
    tree_top_k: int = 8  # children per expanded node
    tree_depth: int = 6  # levels
    tree_kind: str = "topk"  # topk (EAGLE-2, Medusa) or sample (without replacement)
    retune: bool = False  # measure this machine's kernels and draft cost again before the run

    @property
    def params(self) -> SamplingParams:
        return SamplingParams(self.temperature, self.top_k, self.top_p)

    @property
    def shape(self) -> TreeShape | None:
        """The token tree each round drafts (None: a chain of gamma tokens)."""
        return TreeShape(self.tree, self.tree_top_k, self.tree_depth, self.tree_kind) if self.tree else None

    def resolved(self) -> "RunSettings":
        """Fill target/draft from the default pair in models.yaml, and a gamma of None with
        "auto" where the pair has a measured α (else the pair's models.yaml γ)."""
        registry = load_registry()
        default = registry.pairs[registry.default_pair]
        s = replace(self, target=self.target or default.target, draft=self.draft or default.draft)
        if s.gamma is None:
            pair = pair_for(s.target, s.draft)
            s.gamma = "auto" if pair and pair.alpha else (pair or default).gamma
        return s

    def check(self) -> None:
        if not self.prompt.strip():
            raise RunError("the prompt is empty: type something for the model to answer")
        if len(self.prompt) > MAX_PROMPT_CHARS:
            raise RunError(f"the prompt is {len(self.prompt)} characters; the limit is "
                           f"{MAX_PROMPT_CHARS}: shorten it")
        if self.gamma != "auto" and not (isinstance(self.gamma, int) and 1 <= self.gamma <= MAX_GAMMA):
            raise RunError(f"gamma must be 1 .. {MAX_GAMMA} or auto, got {self.gamma}")
        if not 1 <= self.max_new_tokens <= MAX_NEW_TOKENS:
            raise RunError(f"max new tokens must be 1 .. {MAX_NEW_TOKENS}, got {self.max_new_tokens}")
        if self.seed < 0:
            raise RunError(f"seed must be >= 0, got {self.seed}")
        try:
            self.params.check()
            if self.tree:
                self.shape.check()
        except ValueError as e:
            raise RunError(str(e)) from None
        if self.tree and self.draft and not spec_branches(self.draft):
            raise RunError(_NO_TREE.format(self.draft))


def load_target(name: str, device: str = "auto", progress: Progress = lambda m: None) -> LoadedModel:
    return load_model(load_registry().model(name), device, progress=progress)


def env_info(device: str) -> dict[str, str]:
    import transformers

    info = {"specviz": __version__, "torch": torch.__version__,
            "transformers": transformers.__version__, "python": sys.version.split()[0],
            "platform": platform.platform(), "device": device}
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def run(settings: RunSettings, progress: Progress = lambda m: None,
        on_round: Callable[[Round], None] = lambda r: None,
        should_stop: Callable[[], bool] = lambda: False) -> Trace:
    """Run speculative decoding (and the plain baseline) once and record it as a Trace."""
    s = settings.resolved()
    s.check()
    target = load_target(s.target, s.device, progress)
    drafter = build_drafter(s.draft, target, progress)
    if s.tree and not drafter.branches:
        raise RunError(_NO_TREE.format(s.draft))
    chat = not s.raw and load_registry().model(s.target).chat
    prompt_ids = encode_prompt(target.tokenizer, s.prompt, chat)
    check_context(target, len(prompt_ids), s.max_new_tokens)
    texts, eos = TokenTexts(target.tokenizer), eos_ids(target)
    rounds: list[Round] = []
    lockstep = None

    def record(rnd: Round) -> None:
        rounds.append(rnd)
        on_round(rnd)
        if lockstep is not None:
            lockstep.keep_level(sum(r.n_new for r in rounds))

    with target.lock:
        # the kernels for this thread count (and a tree's pass), before anything is timed
        table = target.tune([*kerneltable.SIZES, s.tree + 1] if s.tree else None, s.retune, progress)
        choice = None
        if s.gamma == "auto" and s.tree:  # a tree's depth is its own setting: nothing to choose
            s = replace(s, gamma=s.tree_depth)
        if s.gamma == "auto":
            choice = choose_auto_gamma(target, s, progress)
            s = replace(s, gamma=choice.gamma)
            if choice.tree:
                t = choice.tree
                s = replace(s, gamma=t.depth, tree=t.nodes, tree_top_k=t.top_k, tree_depth=t.depth)
            progress(f"auto {choice.reason()}")
        lockstep = Lockstep(s, target, prompt_ids, eos, progress) if s.baseline else None
        if lockstep is not None and s.baseline_first:  # all of it first (repeats alternate the order)
            progress("plain decoding (the baseline) ...")
            lockstep.finish(should_stop)
        shape = f"a tree of {s.tree} nodes (top-k {s.tree_top_k}, depth {s.tree_depth})" if s.tree \
            else f"gamma={s.gamma}"
        between = ", plain decoding (the baseline) between its rounds" if lockstep and not s.baseline_first else ""
        progress(f"speculative decoding with {s.draft}, {shape}{between} ...")
        try:
            spec = speculative_decode(target.model, drafter, prompt_ids, s.params, s.gamma,
                                      s.max_new_tokens, _generator(s.seed), eos, texts,
                                      on_round=record, should_stop=should_stop, tree=s.shape)
        except Exception as e:  # noqa: BLE001 - a model failing mid-run keeps its rounds
            failure = failure_text(e)
        else:
            failure = None
        if failure is not None:  # outside the except: the traceback no longer pins the caches
            lockstep = None
            free_memory(target.device)
            trace = _partial_trace(s, target, prompt_ids, rounds, texts, failure)
        else:
            keep = lockstep is not None and (s.baseline_first or spec.stop_reason != "cancelled")
            base = lockstep.finish(should_stop) if keep else None
            trace = _trace(s, target, prompt_ids, spec.output_ids, rounds, texts, spec.stop_reason,
                           spec.decode_s, spec.prefill_s, base)
    trace.env |= machine_notes(table, choice)
    return trace


def machine_notes(table, choice) -> dict[str, str]:
    """What the trace's env keeps of this machine's choices: the kernels, and why this γ."""
    kernels, measured, gamma = MEASURED_ENV
    notes = {kernels: kerneltable.summary(table), measured: table.measured}
    if choice is not None:
        notes[gamma] = choice.reason()
    return notes


def pair_for(target: str, draft: str) -> Pair | None:
    """The models.yaml pair of this target and drafter, if there is one."""
    return next((p for p in load_registry().pairs.values() if p.target == target and p.draft == draft), None)


def choose_auto_gamma(target: LoadedModel, s: RunSettings, progress: Progress = lambda m: None):
    """γ (or a token tree, for drafters that branch) from the pair's measured α and this
    machine's c and v(k) (specviz.decoding.machine); the caller holds the target's lock."""
    pair = pair_for(s.target, s.draft)
    if pair is None or not pair.alpha:
        raise RunError(f"auto gamma needs a measured alpha for {s.draft} on {s.target} "
                       "(a models.yaml pair with measured: alpha:); pick a gamma instead")
    return machine.choose(target, pair, lambda: build_drafter(s.draft, target), s.temperature, s.retune, progress)


class Lockstep:
    """Plain decoding kept level with the speculative run: after each round it takes plain steps
    until it has made as many tokens. Both loops then meet the same load, which on a shared
    machine moves within seconds (docs/performance.md, "Timing inside the app"). finish() alone
    decodes it all at once."""

    def __init__(self, s: RunSettings, target: LoadedModel, prompt_ids, eos, progress: Progress):
        self.device, self.progress = target.device, progress
        self.steps = plain_steps(target.model, prompt_ids, s.params, s.max_new_tokens, _generator(s.seed), eos)
        self.run: Decoded | None = None
        self.done = False
        self._advance()  # the prefill, before the speculative loop starts

    def keep_level(self, n_tokens: int) -> None:
        while not self.done and len(self.run.output_ids) < n_tokens:
            self._advance()

    def finish(self, should_stop: Callable[[], bool]) -> Decoded | None:
        """The rest of plain decoding, or what it made before should_stop (None if it failed:
        the run is kept without a speedup)."""
        while not self.done:
            if should_stop():
                self.run.stop_reason = "cancelled"
                self.steps.close()  # frees its KV cache now, not when the run ends
                self.done = True
                break
            self._advance()
        return self.run

    def _advance(self) -> None:
        try:
            self.run = next(self.steps)
            return
        except StopIteration:
            self.done = True
            return
        except Exception as e:  # noqa: BLE001 - the speculative run goes on and is kept
            failure = failure_text(e)
        self.run, self.done = None, True
        free_memory(self.device)  # outside the except: the traceback no longer pins the caches
        self.progress(f"the plain-decoding baseline failed ({failure}); the run is kept without a measured speedup")


def check_context(target: LoadedModel, n_prompt: int, max_new_tokens: int) -> None:
    """Prompt tokens + new tokens must fit the target's context window."""
    config = target.model.config
    context = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
    if context and n_prompt + max_new_tokens > context:
        raise RunError(f"the prompt is {n_prompt} tokens and {max_new_tokens} new tokens were asked "
                       f"for, but {target.name} reads at most {context} tokens: shorten the prompt "
                       "or lower max new tokens")


def failure_text(error: BaseException) -> str:
    """One line for a model that failed mid-run, naming the fix for out of memory."""
    first = first_line(error) or type(error).__name__
    if isinstance(error, (torch.OutOfMemoryError, MemoryError)) or "out of memory" in first.lower():
        return (f"out of memory ({first}): try fewer new tokens, a smaller gamma, a smaller "
                "model or the CPU (--device cpu)")
    return f"the model failed mid-run ({type(error).__name__}: {first})"


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _trace(s: RunSettings, target: LoadedModel, prompt_ids, output_ids, rounds, texts,
           stop_reason, spec_s, prefill_s, base) -> Trace:
    base_ids = base.output_ids if base else []
    base_s = base.decode_s if base else 0.0
    config = Config(s.target, s.draft, s.tree_depth if s.tree else s.gamma, s.temperature, s.top_p,
                    s.seed, s.max_new_tokens, target.device, target.dtype, s.top_k, not s.raw,
                    s.tree, s.tree_top_k if s.tree else 0, s.tree_kind if s.tree else "")
    decode = target.tokenizer.decode
    return Trace(config, s.prompt, prompt_ids, output_ids, decode(output_ids, skip_special_tokens=True),
                 rounds, Baseline(base_ids, base_s / max(len(base_ids), 1),
                                  decode(base_ids, skip_special_tokens=True)),
                 Timing(spec_s, base_s, prefill_s),
                 complete=stop_reason in ("eos", "max_new_tokens"), stop_reason=stop_reason,
                 env=env_info(target.device))


def _partial_trace(s: RunSettings, target: LoadedModel, prompt_ids, rounds, texts,
                   failure: str) -> Trace:
    """Keep what was decoded before a failure, marked incomplete."""
    output = [tok for r in rounds for tok in [t.token for t in r.draft if t.accepted] + [r.correction.token]]
    spec_s = sum(r.draft_s + r.verify_s for r in rounds)
    return _trace(s, target, prompt_ids, output[:s.max_new_tokens], rounds, texts,
                  f"error: {failure}", spec_s, 0.0, None)
