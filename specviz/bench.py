"""Benchmark: plain decoding vs our speculative engine vs Hugging Face assisted generation.

Chains of each gamma and, for drafters that can branch, token trees of each node budget
(--trees): a tree row reports τ, the accepted ÷ checked nodes (Leviathan's α and the chain
theories are n/a for trees), the measured cost v of its N+1-token pass and τ ÷ (N̄c + v).

Every method runs on the same prompts with the same settings, interleaved (the methods' order
rotates each repeat: specviz.measure.repeats) so a noisy shared machine slows all of them alike. Greedy outputs of all methods are compared token for token: a mismatch is
reported with the target's top-2 logit gap at the first differing position (a near-tie
that batched verification may flip), never hidden. With --temperature > 0 every method
samples (plain and speculative runs of a prompt and repeat share a seed); outputs then
differ by design and only speed and acceptance are compared. Speedups follow the one pooling rule
(repeats.RULE): a repeat's speedup is plain decoding's time for the method's tokens ÷ the
method's decode time, all prompts together; the row shows the median over repeats with the
lowest and highest repeat, and per prompt the median over repeats (median and min-max over the
prompts); --by-task adds one row per task type.
"""
import argparse
import cProfile
import json
import pstats
import statistics
import sys
import time
from dataclasses import dataclass, field

import torch
from tqdm import tqdm

from .counts import Counts
from .decoding.engine import MAX_GAMMA, plain_decode, speculative_decode
from .decoding.gamma import HeuristicGamma, online_gamma
from .decoding.grow import TreeShape
from .decoding.models import draft_weights_digest, load_model, load_registry, parse_drafter_spec, use_cpu_threads
from .decoding.sampling import SamplingParams
from .errors import RunError
from .measure import metrics
from .measure.repeats import Spread, interleaved, repeat_speedup, spread
from .numbers import dash

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
    from .decoding.drafters.model import ModelDrafter
    from .decoding.drafters.lookup import PromptLookupDrafter

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


def task_table(rows: list[dict]) -> str:
    """Per task type: α, τ and measured speedup of each method (columns), as markdown."""
    labels = list(dict.fromkeys(r["method"] for r in rows))
    lines = ["| task type (prompts) | " + " | ".join(x.removeprefix("ours ") for x in labels) + " |",
             "|---|" + "---|" * len(labels)]
    for task in dict.fromkeys(r["task"] for r in rows):
        cells = {r["method"]: r for r in rows if r["task"] == task}
        n = next(iter(cells.values()))["prompts"]
        lines.append(f"| {task} ({n}) | " + " | ".join(
            f"α {dash(cells[x]['alpha'])} · τ {dash(cells[x]['tau'])} · {dash(cells[x]['speedup'])}x" for x in labels) + " |")
    return "\n".join(lines)


def table(rows: list[dict]) -> str:
    """The results as a markdown table."""
    head = ("| method | drafter | γ or tree | tok/s | α | accepted ÷ checked nodes | τ | E[τ] | "
            "accepted ÷ drafted (vLLM) | drafted/pass | c | v | speedup (decode; whole repeats' range) | "
            "per prompt: median (min–max) | Leviathan theory | theory with v | τ ÷ (γ̄c + v) | measured/theory | "
            "our time / HF time | greedy output = plain |")
    lines = [head, "|" + "---|" * 20]
    x = lambda v: f"{dash(v)}{'x' if v else ''}"  # noqa: E731
    for r in rows:
        shape = f"tree {r['tree']}" if r.get("tree") else (
            f"auto→{r['gamma']}" if r.get("policy") else r["gamma"] or "–")
        same = "sampled" if r["identical"] is None else ("yes" if r["identical"] else "NO")
        prompt_spread = (f"{x(r['speedup_prompt_median'])} ({dash(r['speedup_prompt_min'])}–{dash(r['speedup_prompt_max'])})"
                         if "speedup_prompt_median" in r else "–")
        lines.append(f"| {r['method']} | {r['drafter'] or '–'} | {shape} | {r['tok_s']:.1f} | "
                     f"{dash(r.get('alpha'))} | {dash(r.get('node_acceptance'))} | {dash(r.get('tau'))} | "
                     f"{dash(r.get('tau_expected'))} | {dash(r.get('draft_acceptance_rate'))} | "
                     f"{dash(r.get('mean_gamma'), 1)} | {dash(r.get('c'), 3)} | {dash(r.get('v'))} | "
                     f"{x(r.get('speedup'))}{span(r)} | {prompt_spread} | {x(r.get('theory'))} | {x(r.get('theory_v'))} | "
                     f"{x(r.get('from_costs'))} | {dash(r.get('vs_theory'))} | "
                     f"{dash(r.get('ours_over_hf'))} | {same} |")
    return "\n".join(lines)


def chain_vs_tree(rows: list[dict], curve) -> str:
    """Per drafter with trees: each chain and tree side by side, τ, drafted per pass, the pass
    size and its cost v from the curve (N + 1 tokens; a chain's γ + 1) and in the runs, c, and
    the measured speedup with its spread."""
    lines = []
    for drafter in dict.fromkeys(r["drafter"] for r in rows if r.get("tree")):
        mine = [r for r in rows if r["method"] == "ours" and r["drafter"] == drafter and r["gamma"] != "heuristic"]
        if not lines:
            lines = ["chain vs tree (greedy; v(k) from the curve above, v in the runs: their mean pass ÷ "
                     "the plain step; c per drafted node, so a round drafts drafted/pass × c plain steps):", "| drafter | shape | τ | drafted/pass | pass tokens | v(k) curve | "
                     "v in runs | c | speedup (whole repeats' range) |", "|" + "---|" * 9]
        for r in mine:
            k = (r["tree"] or r["gamma"]) + 1
            vk = f"{curve.v(k):.2f}" if k in curve.n_tokens else "–"
            shape = f"tree {r['tree']}" if r["tree"] else f"chain γ={r['gamma']}"
            lines.append(f"| {drafter} | {shape} | {dash(r.get('tau'))} | {dash(r.get('mean_gamma'), 1)} | {k} | {vk} | "
                         f"{dash(r.get('v'))} | {dash(r.get('c'), 3)} | {dash(r.get('speedup'))}x{span(r)} |")
    return "\n".join(lines)


def span(row: dict) -> str:
    """ (lo–hi) of a row's speedup over repeats, or nothing."""
    lo, hi = row.get("speedup_lo"), row.get("speedup_hi")
    return "" if lo is None else f" ({lo:.2f}–{hi:.2f})"


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
    from .measure.prompts import HELD_OUT_TASKS, eval_requests

    held = [(f"held-out {name}", p) for name, (_, seeds) in HELD_OUT_TASKS.items()
            for p in seeds[:n_held_out_tasks]]
    return eval_requests()[:n_chat] + [("copy", p) for p in COPY_PROMPTS[:n_copy]] + held


def measured_pair(target, drafter: str, temperature: float, policy: str, retune: bool = False) -> tuple[float, float]:
    """The pair's measured alpha at temperature (models.yaml) and the drafter's c on this machine."""
    from .decoding.gamma import alpha_at
    from .decoding.machine import draft_cost
    from .decoding.drafters import build_drafter
    from .decoding.record import pair_for

    pair = pair_for(target.name, drafter)
    if pair is None or not pair.alpha:
        raise RunError(f"gamma {policy} needs a models.yaml pair for {drafter} on {target.name} with a "
                       "measured alpha; give fixed --gammas for it")
    c = draft_cost(target, drafter, lambda: build_drafter(drafter, target), retune, _say).c
    return alpha_at(pair.alpha, temperature), c


def online_inputs(target, drafter: str, temperature: float, v: list[float], retune: bool = False) -> tuple:
    """online_gamma's (alpha, c of the drafting source, v, lookup's c), c measured on this machine:
    a hybrid's draft rounds cost what its trained draft costs."""
    from .decoding.machine import draft_cost
    from .decoding.drafters import build_drafter

    alpha, c = measured_pair(target, drafter, temperature, "online", retune)
    kind, name = parse_drafter_spec(drafter)
    if kind == "hybrid":
        c = draft_cost(target, f"trained:{name}", lambda: build_drafter(f"trained:{name}", target), retune, _say).c
    lookup_c = draft_cost(target, "lookup", lambda: build_drafter("lookup", target), retune, _say).c
    return alpha, c, v, lookup_c


def auto_gamma(target, drafter: str, temperature: float, v: list[float], retune: bool = False):
    """The gamma `--gamma auto` picks for this pair: the pair's measured alpha, this machine's c
    and its tuned pass costs v(k)."""
    from .decoding.gamma import choose_gamma

    return choose_gamma(*measured_pair(target, drafter, temperature, "auto", retune), v)


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def main(args) -> int:
    import os

    from .decoding.drafters import build_drafter
    from .decoding.models import encode_prompt, eos_ids

    gammas, trees = parse_gammas(args.gammas), parse_trees(args.trees, args.tree_top_k, args.tree_depth)
    if not 1 <= args.max_k <= MAX_GAMMA + 1 or args.vk_repeats < 1 or args.threads < 0:
        raise RunError(f"--max-k must be 1 .. {MAX_GAMMA + 1}, --vk-repeats at least 1, --threads at least 0")
    if not 0 <= args.temperature <= 2 or args.held_out_tasks < 0:
        raise RunError("--temperature must be in [0, 2] and --held-out-tasks at least 0")
    if any(policy in args.gammas + args.drafters for policy in POLICIES) and args.max_k < 3:
        raise RunError("gamma auto and online need --max-k 3 or more (the pass costs they choose from)")
    use_cpu_threads(args.threads)
    load_start = os.getloadavg()[0]
    registry = load_registry()
    spec = registry.model(args.target)
    target = load_model(spec, args.device, args.dtype, lambda m: print(m, file=sys.stderr))
    specs, own_gammas = [], {}
    for item in (d.strip() for d in args.drafters.split(",") if d.strip()):
        d, _, pinned = item.partition("@")  # SPEC@G1/G2: this drafter at its own gammas
        specs.append(d)
        own_gammas[d] = parse_gammas(pinned.replace("/", ",")) if pinned else gammas
    drafters = {d: (lambda d=d: build_drafter(d, target)) for d in specs}
    hf_kwargs = {d: hf_assistant(d, target, build_drafter(d, target, lambda m: print(m, file=sys.stderr)))
                 for d in specs}
    eos = eos_ids(target)
    params = SamplingParams(args.temperature)
    greedy = params.greedy
    tasks, prompts = zip(*bench_prompts(args.prompts, args.copy_prompts, args.held_out_tasks))
    prompts_ids = [encode_prompt(target.tokenizer, p, spec.chat) for p in prompts]
    kernel_table = target.tune(sorted(set(range(1, args.max_k + 1)) | {t.nodes + 1 for t in trees}),
                               args.retune, progress=_say)  # the kernels every method runs
    curve = verify_costs(target, prompts_ids[0], args.max_k, args.vk_repeats, [t.nodes + 1 for t in trees])
    v = kernel_table.v_list()[:args.max_k]  # the tuned engine's pass costs: what gamma auto and online read
    methods = [Method("plain")]
    if args.hf_plain and greedy:
        methods.append(Method("hf", "", 0))
    reasons = []
    for d in drafters:
        for g in own_gammas[d] + (["heuristic"] if args.adaptive else []):
            if g == "online":
                methods.append(Method("ours", d, "online", online=online_inputs(target, d, args.temperature, v, args.retune)))
                continue
            if g == "auto":
                choice = auto_gamma(target, d, args.temperature, v, args.retune)
                reasons.append(f"{d}: auto {choice.reason()}")
                methods.append(Method("ours", d, choice.gamma, policy="auto"))
                continue
            methods.append(Method("ours", d, g))
            if greedy and args.hf and hf_kwargs[d] is not None and not (g == "heuristic" and "assistant_model" not in hf_kwargs[d]):
                methods.append(Method("hf", d, g))
        if build_drafter(d, target).branches:  # a chain vs trees of each budget, same drafter
            methods += [Method("ours", d, shape.depth, tree=shape) for shape in trees]
    def one(job, r):
        m, i = job
        run_once(m, target, drafters, hf_kwargs, prompts_ids[i], args.max_new_tokens, eos, i, params, 1000 * r + i)

    jobs = [[(m, i) for m in methods] for i in range(len(prompts))]  # per prompt, every method
    with torch.inference_mode(), tqdm(total=args.repeats * len(prompts) * len(methods), desc="bench", unit="run",
                                      file=sys.stderr) as bar:
        interleaved(jobs, args.repeats, one, lambda *_: bar.update())
    rows = summarize(methods, prompts_ids, target, hf_kwargs, greedy)
    import platform
    import transformers
    from .decoding.kernels import decoder

    dec = decoder(target.model)
    forward = (f"SpecViz CPU forward (+{dec.extra_bytes / 1e6:.0f} MB packed weights)" if dec
               else "transformers' forward for every method")
    load_end = os.getloadavg()[0]
    env = (f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
           f"torch {torch.__version__}, transformers {transformers.__version__}, device {target.device}, "
           f"{target.dtype}, {forward}, load average {load_start:.1f} at the start, {load_end:.1f} at the end")
    mode = "greedy" if greedy else f"sampled at T = {args.temperature:g}"
    print(f"\n{len(prompts)} prompts x {args.repeats} repeats, {mode}, {args.max_new_tokens} new tokens; {env}")
    print(table(rows))
    for line in reasons:
        print(line)
    for r in rows:
        for mm in r["mismatches"]:
            print(f"mismatch in {r['method']} {r['drafter']} γ={r['gamma']}: {mm}")
    task_rows = by_task(methods, list(tasks)) if args.by_task else []
    if task_rows:
        print("\nper task type (α: Leviathan's, accepted ÷ checked positions; τ: tokens per target pass; "
              "speedup: plain decode time per token ÷ the method's, pooled over the type's prompts)")
        print(task_table(task_rows))
    plain_vs_hf = plain_over_hf(methods)
    if plain_vs_hf is not None:
        print(f"\nplain decoding, time per token (prefill included): ours / Hugging Face generate = {plain_vs_hf:.2f}")
    print("\n" + vk_table(curve, kernel_table))
    versus = chain_vs_tree(rows, curve)
    if versus:
        print("\n" + versus)
    if args.profile:
        first = next(iter(drafters))
        print("\n" + profile(target, drafters[first](), prompts_ids[0], methods[1].gamma, args.max_new_tokens, eos))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            trained = {d: draft_weights_digest(d.split(":", 1)[1].split("@")[0]) for d in dict.fromkeys(r["drafter"] for r in rows)
                       if d.startswith(("trained:", "hybrid:"))}
            json.dump({"env": env, "date": time.strftime("%Y-%m-%d", time.gmtime()), "draft_weights_sha256": trained,
                       "temperature": args.temperature, "repeats": args.repeats,
                       "max_new_tokens": args.max_new_tokens, "prompts": list(prompts), "tasks": list(tasks),
                       "rows": rows, "by_task": task_rows, "auto_gamma": reasons,
                       "plain_over_hf": plain_vs_hf, "verify_cost": curve.to_dict(),
                       "kernels": kernel_table.to_dict(), "tuned_v": v}, f, indent=2)
    if args.metrics_out:
        write_metrics(args.metrics_out, methods, args.target, env)
    return 0 if all(r["identical"] is not False for r in rows) else 1


def write_metrics(path: str, methods: list[Method], target: str, env: str) -> None:
    """Each of our methods' counters (pooled over prompts) in vLLM's format, one model_name each."""
    from .measure.exposition import exposition

    runs = {f"{target} + {m.label.removeprefix('ours ')}": sum((c[-1] for c in m.counts.values()), Counts())
            for m in methods if m.engine == "ours"}
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(exposition(runs, f"SpecViz bench (python -m specviz bench --metrics-out): {env}"))
    except OSError as e:
        raise RunError(f"cannot write {path}: {e.strerror}") from None
    print(f"counters written to {path} in vLLM's format", file=sys.stderr)


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
    from .measure.costs import measure_pass_costs

    return measure_pass_costs(target.model, ids, max_k, repeats, threads=torch.get_num_threads(),
                              sizes=sorted(set(range(1, max_k + 1)) | set(more)))


def vk_table(curve, table=None) -> str:
    """v(k) = one k-token pass / one 1-token pass, ours (with the kernel the tuner chose for k)
    and transformers' stock, as a markdown table."""
    ks = curve.n_tokens
    lines = [f"verify-pass cost v(k): a k-token pass / a 1-token pass, {curve.context} tokens in the KV cache, "
             f"medians of {curve.repeats} interleaved repeats",
             "| forward | " + " | ".join(f"k={k}" for k in ks) + " |", "|---|" + "---|" * len(ks)]
    if table is not None:
        lines.append("| tuned kernel | " + " | ".join(table.describe(k) if k in table.sizes else "–" for k in ks) + " |")
        lines.append("| tuner's v(k) (measured at load) | " + " | ".join(
            f"{table.v(k):.2f}" if k in table.sizes else "–" for k in ks) + " |")
    lines.append("| SpecViz engine, v(k) | " + " | ".join(f"{curve.v(k):.2f}" for k in ks) + " |")
    if curve.stock_seconds:
        lines.append("| transformers stock, v(k) | " + " | ".join(f"{curve.stock_v(k):.2f}" for k in ks) + " |")
    lines.append("| SpecViz engine, ms | " + " | ".join(f"{1000 * s:.1f}" for s in curve.seconds) + " |")
    if curve.stock_seconds:
        lines.append("| transformers stock, ms | " + " | ".join(f"{1000 * s:.1f}" for s in curve.stock_seconds) + " |")
    return "\n".join(lines)


POLICIES = ("auto", "online")  # gamma chosen once from the pair's measurements, or per round


def parse_gammas(text: str) -> list[int | str]:
    try:
        gammas = [g.strip() if g.strip() in POLICIES else int(g) for g in text.split(",") if g.strip()]
    except ValueError:
        raise RunError(f"--gammas must be whole numbers, auto or online separated by commas, got {text!r}") from None
    if not gammas or not all(g in POLICIES or 1 <= g <= MAX_GAMMA for g in gammas):
        raise RunError(f"--gammas must be 1 .. {MAX_GAMMA}, got {text!r}")
    return gammas


def parse_trees(text: str, top_k: int, depth: int) -> list[TreeShape]:
    """--trees 8,16 -> one TreeShape per node budget ("" or 0: none)."""
    try:
        budgets = [int(n) for n in text.split(",") if n.strip() and int(n)]
        shapes = [TreeShape(n, top_k, depth) for n in budgets]
        for shape in shapes:
            shape.check()
    except ValueError as e:
        raise RunError(f"--trees must be node budgets separated by commas ({e})") from None
    return shapes


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("bench", help="benchmark plain vs our speculative engine vs Hugging Face assisted generation",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", default="smollm2-135m-instruct", help="models.yaml key or hub id")
    p.add_argument("--drafters", default="trained:smollm2-135m-eagle,layers:4,lookup",
                   help="comma-separated drafter specs; SPEC@G1/G2 runs that drafter at its own gammas "
                        "instead of --gammas (e.g. lookup@3/auto)")
    p.add_argument("--gammas", default="2,3,4,5",
                   help="comma-separated gammas: whole numbers, auto (the gamma `--gamma auto` picks: "
                        "the pair's measured alpha in models.yaml, this machine's c and tuned v(k)), or online "
                        "(re-chosen every round from the request's own acceptance so far; 0 when drafts do not pay)")
    p.add_argument("--trees", default="8", help="comma-separated token-tree node budgets, run with every "
                   "drafter that can branch beside its chains (default 8; 0 = no trees)")
    p.add_argument("--tree-top-k", type=int, default=8, help="tree: children per expanded node (default 8)")
    p.add_argument("--tree-depth", type=int, default=6, help="tree: levels (default 6)")
    p.add_argument("--temperature", type=float, default=0.0,
                   help="0 = greedy (outputs checked against plain decoding); > 0 samples every method")
    p.add_argument("--no-adaptive", dest="adaptive", action="store_false",
                   help="skip the adaptive-gamma policy (HF's heuristic: +2 if all accepted, else -1)")
    p.add_argument("--no-hf", dest="hf", action="store_false",
                   help="skip Hugging Face's assisted generation (draft model, prompt lookup) rows")
    p.add_argument("--no-hf-plain", dest="hf_plain", action="store_false",
                   help="skip Hugging Face's plain greedy generate (timed by default: our plain loop / HF)")
    p.add_argument("--prompts", type=int, default=3,
                   help="held-out requests (hand-written, task types interleaved; up to 24)")
    p.add_argument("--copy-prompts", type=int, default=1, help="copy-heavy prompts (0 or 1)")
    p.add_argument("--held-out-tasks", type=int, default=0, metavar="N",
                   help="also N hand-written requests of each task type distillation never trains on (up to 4)")
    p.add_argument("--by-task", action="store_true", help="also a table per task type (α, τ, speedup)")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3, help="repeats per method (median)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda")
    p.add_argument("--dtype", default=None, help="float32, float16, bfloat16 (default: the model's)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = the cores the load average leaves free, at least 1)")
    p.add_argument("--profile", action="store_true", help="cProfile one run of the first drafter")
    p.add_argument("--max-k", type=int, default=8, help="time target passes over 1..K tokens for v(k)")
    p.add_argument("--retune", action="store_true",
                   help="measure this machine's kernels and draft costs again (they are cached per machine)")
    p.add_argument("--vk-repeats", type=int, default=7, help="repeats of each pass for v(k) (median)")
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    p.add_argument("--metrics-out", metavar="FILE", help="also write each speculative method's counters "
                   "in vLLM's Prometheus format (model_name = target + drafter γ), readable by `watch FILE`")
    p.set_defaults(func=main)
