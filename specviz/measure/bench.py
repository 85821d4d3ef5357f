"""Benchmark: plain decoding vs our speculative engine vs Hugging Face assisted generation.

Chains of each gamma and, for drafters that can branch, token trees of each node budget
(--trees): a tree row reports τ, the accepted ÷ checked nodes (Leviathan's α and the chain
theories are n/a for trees), the measured cost v of its N+1-token pass and τ ÷ (N̄c + v).

Every method runs on the same prompts with the same settings, interleaved (the methods' order
rotates each repeat: specviz.measure.repeats) so a noisy shared machine slows all of them alike.
Greedy outputs of all methods are compared token for token: a mismatch is
reported with the target's top-2 logit gap at the first differing position (a near-tie
that batched verification may flip), never hidden. With --temperature > 0 every method
samples (plain and speculative runs of a prompt and repeat share a seed); outputs then
differ by design and only speed and acceptance are compared. Speedups follow the one pooling rule
(repeats.RULE): a repeat's speedup is plain decoding's time for the method's tokens ÷ the
method's decode time, all prompts together; the row shows the median over repeats with the
lowest and highest repeat, and per prompt the median over repeats (median and min-max over the
prompts); --by-task adds one row per task type.
"""
import cProfile
import pstats
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from ..counts import Counts
from ..decoding.drafters import build_drafter
from ..decoding.drafters.lookup import PromptLookupDrafter
from ..decoding.drafters.model import ModelDrafter
from ..decoding.engine import MAX_GAMMA, plain_decode, speculative_decode
from ..decoding.gamma import HeuristicGamma, alpha_at, choose_gamma, online_gamma
from ..decoding.grow import TreeShape
from ..decoding.machine import draft_cost
from ..decoding.models import parse_drafter_spec
from ..decoding.record import pair_for
from ..decoding.sampling import SamplingParams
from ..errors import RunError
from . import metrics
from .costs import measure_pass_costs
from .prompts import HELD_OUT_TASKS, eval_requests
from .repeats import Spread, interleaved, repeat_speedup, spread

Progress = Callable[[str], None]
COPY_PROMPTS = [  # copy-heavy: the answer repeats the prompt (where prompt lookup shines)
    "Fix the typos in this sentence and return it: 'The quick brown fox jumpd over the lazzy dog "
    "and then it runned into the forrest to find it's friends.'",
]


@dataclass
class Method:
    """One row of the benchmark: who decodes (plain/ours/hf), with which drafter and gamma."""
    engine: str  # "plain" | "ours" | "hf"
    drafter: str = ""  # drafter spec ("" for plain)
    gamma: int | str = 0  # an int, "heuristic" or "online" (adaptive.OnlineGamma, new per run)
    policy: str = ""  # "auto" when gamma was chosen by measurement (adaptive.choose_gamma)
    online: tuple = ()  # online_gamma's (alpha, c, v) when gamma is "online"
    tree: TreeShape | None = None  # a token tree per round instead of a chain
    times: dict = field(default_factory=dict)  # prompt index -> [wall seconds per repeat]
    decode: dict = field(default_factory=dict)  # prompt index -> [decode-only seconds] (ours)
    n_tokens: dict = field(default_factory=dict)  # prompt index -> [new tokens per repeat]
    outputs: dict = field(default_factory=dict)  # prompt index -> output ids (last repeat)
    counts: dict = field(default_factory=dict)  # prompt index -> [metrics.Counts of each repeat]

    @property
    def shape(self) -> str:
        """γ of a chain, or the tree's node budget."""
        return f"tree {self.tree.nodes}" if self.tree else str(self.gamma)

    @property
    def label(self) -> str:
        return "plain" if self.engine == "plain" else f"{self.engine} {self.drafter} " + (
            f"tree={self.tree.nodes}" if self.tree else f"γ={'auto→' if self.policy else ''}{self.gamma}")


def hf_assistant(spec: str, target, drafter):
    """generate() kwargs for Hugging Face's own assisted decoding with this drafter, or None."""
    if isinstance(drafter, PromptLookupDrafter):
        return {"prompt_lookup_num_tokens": None, "max_matching_ngram_size": drafter.max_ngram}
    if isinstance(drafter, ModelDrafter):
        return {"assistant_model": drafter.lm.model}
    return None  # trained EAGLE/Medusa drafts read the target's hidden states: HF cannot run them


def run_hf(model, ids: list[int], method: Method, kwargs: dict | None, max_new: int, eos: set[int]):
    """Hugging Face generate(): plain greedy, assisted with a draft model, or prompt lookup."""
    args = {"do_sample": False, "max_new_tokens": max_new, "eos_token_id": sorted(eos),
            "pad_token_id": min(eos)}
    if kwargs and "assistant_model" in kwargs:
        gc = kwargs["assistant_model"].generation_config
        gc.num_assistant_tokens = 4 if method.gamma == "heuristic" else method.gamma
        gc.num_assistant_tokens_schedule = "heuristic" if method.gamma == "heuristic" else "constant"
        gc.assistant_confidence_threshold = 0.0  # draft exactly gamma tokens, like our engine
        args["assistant_model"] = kwargs["assistant_model"]
    elif kwargs:
        args.update(prompt_lookup_num_tokens=method.gamma, max_matching_ngram_size=kwargs["max_matching_ngram_size"])
    x = torch.tensor([ids], device=model.device)
    start = time.perf_counter()
    out = model.generate(x, attention_mask=torch.ones_like(x), **args)
    return out[0, len(ids):].tolist(), time.perf_counter() - start


def run_once(method: Method, target, drafters: dict, hf_kwargs: dict, ids: list[int], max_new: int,
             eos: set[int], i: int, params: SamplingParams = SamplingParams(), seed: int = 0) -> None:
    """Decode prompt i once with method and record its time and output."""
    gen = torch.Generator().manual_seed(seed)
    model = target.model
    if method.engine == "hf":
        out, wall = run_hf(model, ids, method, hf_kwargs.get(method.drafter), max_new, eos)
        decode_s = None
    elif method.engine == "plain":
        start = time.perf_counter()
        res = plain_decode(model, ids, params, max_new, gen, eos)
        wall, out, decode_s = time.perf_counter() - start, res.output_ids, res.decode_s
    else:
        gamma = (HeuristicGamma(4, 1, MAX_GAMMA) if method.gamma == "heuristic" else
                 online_gamma(*method.online) if method.gamma == "online" else method.gamma)
        start = time.perf_counter()
        drafter = drafters[method.drafter]()  # fresh: drafters keep per-run state (caches)
        res = speculative_decode(model, drafter, ids, params, gamma, max_new, gen, eos, tree=method.tree)
        wall, out, decode_s = time.perf_counter() - start, res.output_ids, res.decode_s
        method.counts.setdefault(i, []).append(res.counts)
    method.times.setdefault(i, []).append(wall)
    method.n_tokens.setdefault(i, []).append(len(out))
    if decode_s is not None:
        method.decode.setdefault(i, []).append(decode_s)
    method.outputs[i] = out


def run_all(methods: list[Method], target, drafters: dict, hf_kwargs: dict, prompts_ids: list[list[int]],
            max_new: int, eos: set[int], params: SamplingParams, repeats: int,
            progress: Callable[[], None] = lambda: None) -> None:
    """Every method on every prompt `repeats` times, interleaved (repeats.interleaved: per prompt,
    the methods' order rotates each repeat); each run's seed is its repeat and prompt."""
    def one(job, r):
        m, i = job
        run_once(m, target, drafters, hf_kwargs, prompts_ids[i], max_new, eos, i, params, 1000 * r + i)

    with torch.inference_mode():
        interleaved([[(m, i) for m in methods] for i in range(len(prompts_ids))], repeats, one,
                    lambda *_: progress())


def tie_gap(model, ids: list[int], a: list[int], b: list[int]) -> str:
    """Where two greedy outputs first differ, and the target's top-2 logit gap there."""
    j = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([ids + a[:j]], device=model.device)).logits[0, -1].float()
    top = torch.topk(logits, 2)
    gap = float(top.values[0] - top.values[1])
    return f"first difference at token {j}: top-2 logit gap {gap:.4f} ({'near-tie' if gap < 0.05 else 'NOT a tie'})"


def medians(per_prompt: dict) -> float:
    """Sum over prompts of the median time over repeats."""
    return sum(statistics.median(v) for v in per_prompt.values())


def per_token(m: Method, prompts=None) -> float:
    """Decode seconds per new token: medians over repeats, pooled over prompts (all by default)."""
    keys = list(m.decode) if prompts is None else [i for i in prompts if i in m.decode]
    return (sum(statistics.median(m.decode[i]) for i in keys)
            / max(sum(statistics.median(m.n_tokens[i]) for i in keys), 1))


def speedup(plain: Method, m: Method, prompts: list[int]) -> Spread:
    """m's measured speedup over these prompts by repeats.RULE, from the decode times of each repeat."""
    n = min(len(x.decode[i]) for x in (plain, m) for i in prompts)
    runs = lambda r: [(plain.decode[i][r] / max(plain.n_tokens[i][r], 1), m.n_tokens[i][r], m.decode[i][r])  # noqa: E731
                      for i in prompts]
    return spread(repeat_speedup(runs(r)) for r in range(n))


def speedup_spread(plain: Method, m: Method) -> dict:
    """Measured speedups per prompt (each prompt's median over repeats): median, min, max."""
    per_prompt = [speedup(plain, m, [i]).median for i in m.decode]
    return {"speedup_prompt_median": statistics.median(per_prompt), "speedup_prompt_min": min(per_prompt),
            "speedup_prompt_max": max(per_prompt), "prompts_below_1": sum(x < 1 for x in per_prompt)}


def group_summary(plain: Method, m: Method, prompts: list[int]) -> metrics.Summary:
    """Every metric of m over some prompts: counts pooled, c and v against plain decoding's time per
    token (medians over repeats), the measured speedup by repeats.RULE."""
    pooled = sum((c for i in prompts for c in m.counts[i]), Counts())
    return metrics.summarize_counts(pooled, pooled.mean_gamma, per_token(plain, prompts), speedup(plain, m, prompts).median)


def summarize(methods: list[Method], prompts_ids: list[list[int]], target, hf_kwargs: dict,
              greedy: bool = True) -> list[dict]:
    """One dict per method: tokens/s, alpha, tokens/pass, c, speedups, ratio to HF, output check."""
    plain = next(m for m in methods if m.engine == "plain")
    rows = []
    for m in methods:
        tokens = sum(len(o) for o in m.outputs.values())
        wall = medians(m.times)
        row = {"method": m.engine, "drafter": m.drafter, "gamma": m.gamma, "policy": m.policy,
               "tokens": tokens, "tok_s": tokens / wall, "wall_s": wall, "tree": m.tree.nodes if m.tree else 0}
        mismatches = [f"prompt {i}: " + tie_gap(target.model, prompts_ids[i], plain.outputs[i], out)
                      for i, out in m.outputs.items() if greedy and out != plain.outputs[i]]
        row["identical"] = not mismatches if greedy else None
        row["mismatches"] = mismatches
        if m.engine == "ours":
            s, measured = group_summary(plain, m, list(m.decode)), speedup(plain, m, list(m.decode))
            row["speedups"], row["speedup_lo"], row["speedup_hi"] = measured.each, measured.lo, measured.hi
            row.update(alpha=s.alpha, beta=s.alpha_expected, tau=s.mean_acceptance_length,
                       tau_expected=s.expected_acceptance_length,
                       draft_acceptance_rate=s.draft_acceptance_rate, c=s.cost_ratio, v=s.verify_cost,
                       mean_gamma=s.nodes_per_pass, speedup=s.speedup_measured, theory=s.speedup_theoretical,
                       theory_v=s.speedup_verify_aware, node_acceptance=s.node_acceptance,
                       from_costs=s.speedup_from_costs,
                       vs_theory=s.speedup_measured / s.speedup_theoretical if s.speedup_theoretical else None,
                       **speedup_spread(plain, m))
            hf = next((h for h in methods if h.engine == "hf" and h.drafter == m.drafter and h.gamma == m.gamma
                       and not m.tree), None)
            row["ours_over_hf"] = wall / medians(hf.times) if hf else None
        elif m.engine == "plain":
            row.update(speedup=1.0)
        rows.append(row)
    return rows


def by_task(methods: list[Method], tasks: list[str]) -> list[dict]:
    """One dict per (task type, our method): alpha, tau and the measured speedup on its prompts."""
    plain = next(m for m in methods if m.engine == "plain")
    rows = []
    for task in dict.fromkeys(tasks):
        idx = [i for i, t in enumerate(tasks) if t == task]
        for m in methods:
            if m.engine == "ours":
                s = group_summary(plain, m, idx)
                rows.append({"task": task, "prompts": len(idx), "method": m.label, "alpha": s.alpha,
                             "tau": s.mean_acceptance_length, "speedup": s.speedup_measured})
    return rows


def plain_over_hf(methods: list[Method]) -> float | None:
    """Our plain loop's time per token / Hugging Face's plain generate's, same prompts and repeats."""
    plain = next(m for m in methods if m.engine == "plain")
    hf = next((m for m in methods if m.engine == "hf" and not m.drafter), None)
    if hf is None:
        return None
    per_token = lambda m: medians(m.times) / max(sum(len(o) for o in m.outputs.values()), 1)  # noqa: E731
    return per_token(plain) / per_token(hf)


def verify_costs(target, ids: list[int], max_k: int, repeats: int, more: list[int] = ()):
    """v(k) through our engine and transformers' stock forward, interleaved, after ids in the
    cache, for k = 1..max_k and the passes of the trees (N + 1 tokens)."""
    return measure_pass_costs(target.model, ids, max_k, repeats, threads=torch.get_num_threads(),
                              sizes=sorted(set(range(1, max_k + 1)) | set(more)))


def profile(target, drafter, ids: list[int], gamma, max_new: int, eos: set[int], top: int = 12) -> str:
    """cProfile one lean speculative run: where the time goes (forwards vs drafting vs the rest)."""
    prof = cProfile.Profile()
    gen = torch.Generator().manual_seed(0)
    prof.enable()
    speculative_decode(target.model, drafter, ids, SamplingParams(), gamma, max_new, gen, eos)
    prof.disable()
    stats = pstats.Stats(prof)
    total = max(stats.total_tt, 1e-9)

    def cum(names: tuple, caller_file: str | None = None) -> float:
        """Cumulative time in functions named names (only calls made from caller_file, if given)."""
        total_s = 0.0
        for (file, _, name), (_, _, _, ct, callers) in stats.stats.items():
            if name in names and "specviz" in file:
                total_s += ct if caller_file is None else sum(
                    c[3] for k, c in callers.items() if k[0].endswith(caller_file))
        return total_s

    target_s = cum(("forward", "forward_with_hidden"), "engine.py")  # CachedLM calls of the loop
    propose_s = cum(("propose",))
    lines = [f"profile of one run ({total:.2f} s): target forwards {target_s / total:.0%}, "
             f"drafter.propose {propose_s / total:.0%}, everything else {1 - (target_s + propose_s) / total:.0%}",
             "top functions by own time:"]
    for (file, line, name), v in sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:top]:
        lines.append(f"  {v[2]:7.3f} s  {v[1]:6d} calls  {name}  ({file.split('/')[-1]}:{line})")
    return "\n".join(lines)


def bench_prompts(n_chat: int, n_copy: int, n_held_out_tasks: int = 0) -> list[tuple[str, str]]:
    """(task type, prompt): hand-written held-out requests (no trained draft saw them; task
    types interleaved), copy-heavy prompts, and the hand-written examples of the task types
    distillation holds out (n per type; labelled "held-out <type>")."""
    held = [(f"held-out {name}", p) for name, (_, seeds) in HELD_OUT_TASKS.items()
            for p in seeds[:n_held_out_tasks]]
    return eval_requests()[:n_chat] + [("copy", p) for p in COPY_PROMPTS[:n_copy]] + held


def measured_pair(target, drafter: str, temperature: float, policy: str, retune: bool = False,
                  progress: Progress = lambda m: None) -> tuple[float, float]:
    """The pair's measured alpha at temperature (models.yaml) and the drafter's c on this machine."""
    pair = pair_for(target.name, drafter)
    if pair is None or not pair.alpha:
        raise RunError(f"gamma {policy} needs a models.yaml pair for {drafter} on {target.name} with a "
                       "measured alpha; give fixed --gammas for it")
    c = draft_cost(target, drafter, lambda: build_drafter(drafter, target), retune, progress).c
    return alpha_at(pair.alpha, temperature), c


def online_inputs(target, drafter: str, temperature: float, v: list[float], retune: bool = False,
                  progress: Progress = lambda m: None) -> tuple:
    """online_gamma's (alpha, c of the drafting source, v, lookup's c), c measured on this machine:
    a hybrid's draft rounds cost what its trained draft costs."""
    alpha, c = measured_pair(target, drafter, temperature, "online", retune, progress)
    kind, name = parse_drafter_spec(drafter)
    if kind == "hybrid":
        c = draft_cost(target, f"trained:{name}", lambda: build_drafter(f"trained:{name}", target), retune, progress).c
    lookup_c = draft_cost(target, "lookup", lambda: build_drafter("lookup", target), retune, progress).c
    return alpha, c, v, lookup_c


def auto_gamma(target, drafter: str, temperature: float, v: list[float], retune: bool = False,
               progress: Progress = lambda m: None):
    """The gamma `--gamma auto` picks for this pair: the pair's measured alpha, this machine's c
    and its tuned pass costs v(k)."""
    return choose_gamma(*measured_pair(target, drafter, temperature, "auto", retune, progress), v)
