"""`python -m specviz bench`: its arguments, the methods it compares, and the tables it prints
(specviz.measure.bench runs and measures them)."""
import argparse
import json
import os
import platform
import sys
import time

import torch
import transformers
from tqdm import tqdm

from ..counts import Counts
from ..decoding.drafters import build_drafter
from ..decoding.engine import MAX_GAMMA
from ..decoding.grow import TreeShape
from ..decoding.kernels import decoder
from ..decoding.models import (draft_weights_digest, encode_prompt, eos_ids, load_model, load_registry,
                               use_cpu_threads)
from ..decoding.sampling import SamplingParams
from ..errors import RunError
from ..measure import bench
from ..measure.bench import (Method, auto_gamma, bench_prompts, by_task, hf_assistant, online_inputs,
                             plain_over_hf, profile, run_all, summarize, verify_costs)
from ..measure.exposition import exposition
from ..numbers import dash

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


def write_metrics(path: str, methods: list[Method], target: str, env: str) -> None:
    """Each of our methods' counters (pooled over prompts) in vLLM's format, one model_name each."""
    runs = {f"{target} + {m.label.removeprefix('ours ')}": sum((c[-1] for c in m.counts.values()), Counts())
            for m in methods if m.engine == "ours"}
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(exposition(runs, f"SpecViz bench (python -m specviz bench --metrics-out): {env}"))
    except OSError as e:
        raise RunError(f"cannot write {path}: {e.strerror}") from None
    print(f"counters written to {path} in vLLM's format", file=sys.stderr)


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def main(args) -> int:
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
                methods.append(Method("ours", d, "online", online=online_inputs(target, d, args.temperature, v, args.retune, _say)))
                continue
            if g == "auto":
                choice = auto_gamma(target, d, args.temperature, v, args.retune, _say)
                reasons.append(f"{d}: auto {choice.reason()}")
                methods.append(Method("ours", d, choice.gamma, policy="auto"))
                continue
            methods.append(Method("ours", d, g))
            if greedy and args.hf and hf_kwargs[d] is not None and not (g == "heuristic" and "assistant_model" not in hf_kwargs[d]):
                methods.append(Method("hf", d, g))
        if build_drafter(d, target).branches:  # a chain vs trees of each budget, same drafter
            methods += [Method("ours", d, shape.depth, tree=shape) for shape in trees]
    with tqdm(total=args.repeats * len(prompts) * len(methods), desc="bench", unit="run", file=sys.stderr) as bar:
        run_all(methods, target, drafters, hf_kwargs, prompts_ids, args.max_new_tokens, eos, params, args.repeats,
                bar.update)
    rows = summarize(methods, prompts_ids, target, hf_kwargs, greedy)
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


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("bench", help="benchmark plain vs our speculative engine vs Hugging Face assisted generation",
                              description=bench.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
