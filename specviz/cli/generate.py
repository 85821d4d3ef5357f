"""`generate`, `show` and `models`: a recorded run streamed round by round (coloured by fate, or
marked in plain text), its metrics and its slides. decoding and measure are imported inside the
command that needs them, so `show` starts without torch."""
import argparse
import json
import signal
import sys

from ..errors import RunError
from ..numbers import num, plural
from ..present.tokens import FATES
from .terminal import quiet_transformers, use_color

ANSI = {"accepted": "\033[34m", "rejected": "\033[9;31m", "resampled": "\033[1;33m", "bonus": "\033[1;36m",
        "target": "\033[35m"}  # blue, orange, red: colour-blind safe
MARKERS = {"accepted": "{}", "rejected": "[x:{}]", "resampled": "[r:{}]", "bonus": "[+:{}]", "target": "[t:{}]"}


def add_parser(sub) -> None:
    _add_generate(sub)
    _add_show(sub)
    _add_models(sub)


def gamma_arg(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number or auto, got {text!r}") from None


def _add_generate(sub) -> None:
    p = sub.add_parser("generate", help="generate with speculative decoding and record a trace",
                       description="Generate with speculative decoding on real models, stream "
                       "each round's tokens coloured by fate, and measure plain decoding of the "
                       "same prompt in the same run.")
    p.add_argument("--prompt", required=True, help="the user message (or raw text with --raw)")
    p.add_argument("--target", help="target: models.yaml key or hub id (default: the default pair's)")
    p.add_argument("--draft", help="drafter: models.yaml key or hub id of a draft model, layers:K "
                   "(target's first K layers), lookup[:N] (prompt lookup, n-grams up to N), "
                   "trained:NAME (a trained draft), hybrid:NAME (prompt lookup where the context "
                   "repeats, else trained:NAME) (default: the default pair's)")
    p.add_argument("--gamma", type=gamma_arg, default=None,
                   help="tokens drafted per round, or auto: the gamma (or, for a drafter that "
                        "branches, the token tree) with the highest expected speedup for the pair's "
                        "measured alpha and this machine's measured draft cost c and pass costs v(k) "
                        "(default: auto where the pair has a measured alpha, else its models.yaml gamma)")
    p.add_argument("--retune", action="store_true",
                   help="measure this machine's kernels, pass costs and draft cost again (cached per machine)")
    p.add_argument("--tree", type=int, default=0, metavar="N",
                   help="draft a token tree of up to N nodes per round, scored in one target pass "
                   "(EAGLE-2's dynamic tree; Medusa heads: a sparse tree); 0 = a chain of gamma (default)")
    p.add_argument("--tree-top-k", type=int, default=8, help="tree: children per expanded node (default 8)")
    p.add_argument("--tree-depth", type=int, default=6, help="tree: levels (default 6)")
    p.add_argument("--tree-kind", choices=("topk", "sample"), default="topk",
                   help="tree: children are the draft's top-k (default) or drawn without replacement")
    p.add_argument("--max-new-tokens", type=int, default=64, help="default 64")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    p.add_argument("--top-k", type=int, default=0, help="0 = off (default)")
    p.add_argument("--top-p", type=float, default=1.0, help="1 = off (default)")
    p.add_argument("--seed", type=int, default=0, help="seed of the run's torch.Generator")
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda")
    p.add_argument("--threads", type=int, default=0,
                   help="torch CPU threads (0 = the cores the load average leaves free, at least 1)")
    p.add_argument("--raw", action="store_true", help="do not apply the chat template")
    p.add_argument("--no-baseline", action="store_true", help="skip the plain-decoding baseline")
    p.add_argument("--trace", metavar="OUT.json", help="write the trace here")
    p.add_argument("--json", action="store_true", help="print one JSON summary object on stdout")
    p.add_argument("--metrics-out", metavar="FILE", help="also write the run's counters in vLLM's "
                   "Prometheus format (vllm:spec_decode_*), readable by `watch FILE` and the Your server page")
    p.set_defaults(func=cmd_generate)


def _add_show(sub) -> None:
    p = sub.add_parser("show", help="replay a saved trace in the terminal (no model needed)",
                       description="Replay a saved trace: tokens coloured by fate, every round, acceptance "
                       "per draft position (conditional and vLLM's unconditional) and every run metric "
                       "under its specviz.measure.metrics name; or take it to the slides: one offline HTML file "
                       "(--html) or an animated GIF (--gif) of chosen rounds (--rounds).")
    p.add_argument("trace", metavar="TRACE.json")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON (the keys of generate --json)")
    p.add_argument("--html", metavar="OUT.html", help="instead of the replay, write the trace as one self-contained "
                   "HTML file that steps through its rounds with the keyboard (←/→; no server, no internet)")
    p.add_argument("--gif", metavar="OUT.gif", help="instead of the replay, write an animated GIF, one frame "
                   "per round")
    p.add_argument("--rounds", metavar="A-B", help="the rounds --html and --gif show, counted from 1: 3, 1-5 "
                   "or 1,4,6-8 (default: all)")
    p.set_defaults(func=cmd_show)


def _add_models(sub) -> None:
    p = sub.add_parser("models", help="list the model pairs in models.yaml")
    p.set_defaults(func=cmd_models)


def cmd_generate(args) -> int:
    from ..measure.metrics import summarize
    from ..decoding.record import RunSettings, run

    quiet_transformers()
    settings = RunSettings(args.prompt, args.target, args.draft, args.gamma, args.temperature,
                           args.top_k, args.top_p, args.seed, args.max_new_tokens, args.device,
                           args.raw, not args.no_baseline, tree=args.tree, tree_top_k=args.tree_top_k,
                           tree_depth=args.tree_depth, tree_kind=args.tree_kind, retune=args.retune)
    settings.resolved().check()  # fail fast, before loading any model
    if args.threads < 0:
        raise RunError(f"--threads must be >= 0, got {args.threads}")
    from ..decoding.models import use_cpu_threads

    use_cpu_threads(args.threads)
    out = sys.stderr if args.json else sys.stdout
    color = use_color(out)
    cancelled = []
    signal.signal(signal.SIGINT, lambda *a: cancelled.append(True))
    trace = run(settings, progress=lambda m: print(f"· {m}", file=sys.stderr, flush=True),
                on_round=lambda r: print(_round_text(r, color), end="", file=out, flush=True),
                should_stop=lambda: bool(cancelled))
    print(file=out)
    if args.trace:
        trace.save(args.trace)
        print(f"· trace written to {args.trace}", file=sys.stderr)
    if args.metrics_out:
        _write_metrics(args.metrics_out, trace)
    summary = summarize(trace)
    if args.json:
        print(json.dumps({"prompt_ids": trace.prompt_ids, "output_ids": trace.output_ids,
                          "text": trace.text, "complete": trace.complete,
                          "stop_reason": trace.stop_reason, **_metrics_json(trace, summary)}))
    else:
        print(_summary_text(trace, summary), file=out)
    if not trace.complete:
        kept = (f"the partial trace, marked incomplete, is in {args.trace}" if args.trace else
                "add --trace OUT.json to keep the partial trace")
        n = len(trace.rounds)
        rounds = f"{n} round{'s' * (n != 1)}"
        if trace.stop_reason == "cancelled":
            print(f"· interrupted after {rounds}; {kept}", file=sys.stderr)
            return 130
        print(f"error: {trace.stop_reason.removeprefix('error: ')}. {rounds} "
              f"{'was' if n == 1 else 'were'} decoded before the failure; {kept}", file=sys.stderr)
        return 3
    return 0


def _write_metrics(path: str, trace) -> None:
    from ..measure.metrics import counts
    from ..measure.exposition import exposition

    c = trace.config
    text = exposition({c.target: counts(trace)}, f"SpecViz run: target {c.target}, drafter {c.draft}, "
                      f"gamma {c.gamma}, temperature {c.temperature:g}, {len(trace.output_ids)} tokens "
                      f"(python -m specviz generate --metrics-out)\nprompt: {trace.prompt[:200]!r}")
    _write(path, text.encode("utf-8"))
    print(f"· counters written to {path} in vLLM's format", file=sys.stderr)


def cmd_show(args) -> int:
    from ..measure.metrics import summarize
    from ..present.round_view import what_ran
    from ..trace import Trace

    trace = Trace.load(args.trace)
    if args.html or args.gif or args.rounds:
        return _slides(trace, args)
    summary = summarize(trace)
    if args.json:
        print(json.dumps(_metrics_json(trace, summary)))
        return 0
    color = use_color(sys.stdout)
    print(what_ran(trace))
    print(f"prompt: {trace.prompt}\n")
    print("".join(_round_text(r, color) for r in trace.rounds) + "\n")
    print(_legend(color) + "\n")
    print(f"{'round':>5} {'drafted':>7} {'accepted':>8} {'closing token':<24} {'draft ms':>8} {'verify ms':>9}")
    for i, r in enumerate(trace.rounds, 1):
        closing = f"{r.correction.kind}: {r.correction.text!r}"
        drafted = len(r.tree.nodes) if r.tree else len(r.draft)  # a tree: its nodes
        print(f"{i:>5} {drafted:>7} {sum(t.accepted for t in r.draft):>8} {closing:<24} "
              f"{r.draft_s * 1e3:>8.1f} {r.verify_s * 1e3:>9.1f}")
    print("\n" + _positions_text(trace))
    print("\n" + _summary_text(trace, summary))
    return 0


def _slides(trace, args) -> int:
    """show --html / --gif: the trace taken to the slides (specviz.present.slides)."""
    from ..present import slides

    if not (args.html or args.gif):
        raise RunError("--rounds chooses the rounds of --html or --gif: give one of them")
    rounds = slides.parse_rounds(args.rounds, len(trace.rounds))
    made = [(args.html, lambda: slides.to_html(trace, rounds).encode("utf-8")),
            (args.gif, lambda: slides.to_gif(trace, rounds))]
    for path, make in ((p, m) for p, m in made if p):
        _write(path, make())
        print(f"· {path} written ({len(rounds)} round{'s' * (len(rounds) != 1)})", file=sys.stderr)
    return 0


def _write(path: str, data: bytes) -> None:
    try:
        with open(path, "wb") as f:
            f.write(data)
    except OSError as e:
        raise RunError(f"cannot write {path}: {e.strerror}") from None


def cmd_models(args) -> int:
    from ..decoding.models import load_registry

    reg = load_registry()
    for key, pair in reg.pairs.items():
        mark = "*" if key == reg.default_pair else " "
        where = "offline" if pair.offline else "online only"
        print(f"{mark} {key:<28} target={pair.target:<24} draft={pair.draft:<26} ({where})")
        if pair.alpha:
            print(f"    {pair.measured_line()}; c there {pair.c}; by {pair.measured.get('source', '?')}")
    return 0


def _round_text(rnd, color: bool) -> str:
    parts = [_styled(t.text, "accepted" if t.accepted else "rejected", color) for t in rnd.draft]
    return "".join(parts) + _styled(rnd.correction.text, rnd.correction.kind, color)


def _styled(text: str, fate: str, color: bool) -> str:
    return f"{ANSI[fate]}{text}\033[0m" if color else MARKERS[fate].format(text) if fate != "accepted" else text


def _legend(color: bool) -> str:
    return "  ".join(_styled(FATES[fate][2], fate, color) + ("" if color else f"={fate}") for fate in ANSI)


def _metrics_json(trace, s) -> dict:
    """Every metric of the run under its specviz.measure.metrics name, plus per-position acceptance."""
    from ..measure.metrics import acceptance_by_position, counts

    cond, uncond = acceptance_by_position(counts(trace))
    return {**s.to_dict(), "acceptance_conditional": cond, "acceptance_unconditional": uncond}


def _positions_text(trace) -> str:
    """Per-position acceptance both ways: conditional (EAGLE's n-α) and unconditional (vLLM's)."""
    from ..measure.metrics import acceptance_by_position, counts

    cond, uncond = acceptance_by_position(counts(trace))
    if not cond:
        return "per-position acceptance: n/a (nothing was drafted)"
    row = lambda xs: " ".join(f"{num(x, '.2f'):>5}" for x in xs)  # noqa: E731
    where = "tree depth" if trace.config.tree_nodes else "draft position"
    return (f"{'acceptance at ' + where:<44} {' '.join(f'{i:>5}' for i in range(1, len(cond) + 1))}\n"
            f"{'conditional (earlier positions accepted)':<44} {row(cond)}\n"
            f"{'unconditional (vLLM per-position rate)':<44} {row(uncond)}")


def _summary_text(trace, s) -> str:
    """The run's metrics in words, under the names `--json` uses."""
    unknown = "n/a (sampled)" if trace.config.temperature else "n/a (no baseline was run)"
    same = {True: "yes", False: "NO", None: unknown}[s.same_as_baseline]
    beta = num(s.alpha_expected, ".2f") if s.alpha_expected is not None else "not recorded"
    acceptance = (f"alpha {num(s.alpha, '.2f')} (Leviathan's α: accepted ÷ checked drafted tokens) · "
                  f"alpha_expected {beta} (mean β = Σ min(p, q) over checked positions)\n")
    if s.tree:
        acceptance = (f"node_acceptance {num(s.node_acceptance, '.2f')} (accepted ÷ checked tree nodes "
                      f"along the walk; Leviathan's α, E[τ] and both theories are for chains: n/a) · "
                      f"alpha_expected {beta} (mean β = Σ min(p, q_j) over tested nodes) · "
                      f"nodes_per_pass {s.nodes_per_pass:.1f}\n")
    return (acceptance +
            f"mean_acceptance_length τ {num(s.mean_acceptance_length, '.2f')} tokens per target pass · "
            f"expected_acceptance_length E[τ] {num(s.expected_acceptance_length, '.2f')} at alpha · "
            f"draft_acceptance_rate {num(s.draft_acceptance_rate, '.2f')} (vLLM's accepted ÷ drafted, not α)\n"
            f"{plural(s.rounds, 'round')} · {plural(s.drafted, 'drafted token')} · {s.accepted} accepted · "
            f"{plural(s.tokens, 'token')} · cost ratio c {num(s.cost_ratio, '.2f')} · verify cost v "
            f"{num(s.verify_cost, '.2f')} (one verify pass ÷ one plain step)\n"
            f"speedup measured {num(s.speedup_measured, '.2f', 'x')} · speedup_theoretical "
            f"{num(s.speedup_theoretical, '.2f', 'x')} (Leviathan: E[τ] ÷ (γ̄c + 1) over the drafts made, γ̄ drafted per pass) · speedup_verify_aware "
            f"{num(s.speedup_verify_aware, '.2f', 'x')} (E[τ] ÷ (γ̄c + v)) · speedup_from_costs "
            f"{num(s.speedup_from_costs, '.2f', 'x')} (τ ÷ (γ̄c + v)) · spec "
            f"{s.spec_s_per_token * 1e3:.1f} ms/token vs plain {s.baseline_s_per_token * 1e3:.1f} ms/token · "
            f"identical to plain greedy: {same}")
