"""Command line: generate | show | models | machine | watch (+ distill | bench when those modules are present).

Exit codes: 0 ok; 2 bad arguments or input (empty or too long prompt, gamma, temperature or
top-p out of range, ...); 3 model problem (unknown id, missing gguf_file, mismatched tokenizers,
out of memory, a model that fails mid-run: the partial trace is still written, marked
incomplete); 4 bad trace file (corrupt, truncated, wrong version, too large); 130 interrupted
(a partial trace is still written); 5 a health alarm fired (watch --fail-on-alarm); 1 an
unexpected failure (a bug: please report it).
"""
import argparse
import importlib
import json
import os
import signal
import sys
import textwrap

from ..errors import ModelError, RunError, SpecVizError, TraceError, first_line
from ..numbers import num

EXIT_CODES = {RunError: 2, ModelError: 3, TraceError: 4}
FATES = {  # ANSI style, plain-text marker, legend label (blue/orange/red are colour-blind safe)
    "accepted": ("\033[34m", "{}", "accepted draft"),
    "rejected": ("\033[9;31m", "[x:{}]", "rejected draft"),
    "resampled": ("\033[1;33m", "[r:{}]", "resampled by target"),
    "bonus": ("\033[1;36m", "[+:{}]", "bonus from target"),
    "target": ("\033[35m", "[t:{}]", "target's own step (nothing drafted)"),
}


CORE = ("generate", "show", "models", "machine", "watch")  # the commands that need no optional module


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(optional=command not in CORE)  # `show` starts without importing torch
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except SpecVizError as e:
        print(f"error: {e}", file=sys.stderr)
        return next((code for kind, code in EXIT_CODES.items() if isinstance(e, kind)), 1)
    except MemoryError:
        print("error: out of memory: try a smaller model, fewer new tokens or --device cpu",
              file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - a user never sees a traceback (SPECVIZ_DEBUG=1 does)
        if os.environ.get("SPECVIZ_DEBUG"):
            raise
        print(f"error: unexpected failure ({type(e).__name__}: {first_line(e, 300)}); this is a SpecViz bug: "
              "please report it with the command line (SPECVIZ_DEBUG=1 shows the traceback)",
              file=sys.stderr)
        return 1


def build_parser(optional: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m specviz",
        description="Run real speculative decoding and record every draft->verify round.",
        epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(metavar="COMMAND")
    _add_generate(sub)
    _add_show(sub)
    _add_models(sub)
    _add_machine(sub)
    _add_watch(sub)
    for module in ("specviz.cli.distill", "specviz.cli.bench") if optional else ():
        try:
            importlib.import_module(module).add_parser(sub)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise
    return parser


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
                       "under its specviz.metrics name; or take it to the slides: one offline HTML file "
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


def _add_machine(sub) -> None:
    p = sub.add_parser("machine", help="this machine's kernels, pass costs v(k), draft costs c and the γ each pair gets",
                       description="What speculative decoding costs on this machine: the CPU kernel "
                       "chosen for each pass size (timed at load, cached per machine), the plain step and "
                       "v(k), each offline pair's draft cost c, and the γ (or token tree) chosen from the "
                       "pair's measured α. Everything is cached; --retune measures again.")
    p.add_argument("--target", default="smollm2-135m-instruct", help="models.yaml key or hub id")
    p.add_argument("--temperature", type=float, default=0.0, help="the runs' temperature (α depends on it)")
    p.add_argument("--compare", action="store_true",
                   help="also time transformers' own forward beside the tuned kernels (a few seconds)")
    p.add_argument("--retune", action="store_true", help="measure everything again")
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda")
    p.add_argument("--threads", type=int, default=0,
                   help="torch CPU threads (0 = the cores the load average leaves free, at least 1)")
    p.set_defaults(func=cmd_machine)


def cmd_machine(args) -> int:
    from ..decoding import machine
    from ..decoding.models import load_registry, use_cpu_threads
    from ..decoding.drafters import build_drafter
    from ..decoding.record import load_target

    _quiet_transformers()
    if not 0 <= args.temperature <= 2 or args.threads < 0:
        raise RunError("--temperature must be in [0, 2] and --threads at least 0")
    use_cpu_threads(args.threads)
    say = lambda m: print(f"· {m}", file=sys.stderr, flush=True)  # noqa: E731
    target = load_target(args.target, args.device, say)
    pairs = [p for p in load_registry().pairs.values() if p.offline and p.target == target.name]
    prof = machine.profile(target, pairs, build_drafter, args.temperature, args.compare, args.retune, say)
    print(machine_text(prof))
    return 0


def machine_text(prof) -> str:
    """The profile as a few plain lines and one table."""
    t = prof.table
    fp = t.fingerprint
    lines = [f"{fp['cpu']}, {fp['threads']} torch thread{'s' * (fp['threads'] != 1)}, torch {fp['torch']}, "
             f"{fp['model']} ({fp['dtype']}); kernels timed {t.measured} in {t.tune_s:.1f} s "
             f"(load average {num(t.load, '.1f')})",
             f"plain step {1000 * t.step_s:.1f} ms",
             "| k | kernel | ms | v(k) | " + " | ".join(f"{k} alone, v" for k in t.seconds) + " |",
             "|---|---|---|---|" + "---|" * len(t.seconds)]
    for k in t.sizes:
        alone = " | ".join(f"{t.kernel_v(kernel, k):.2f}" for kernel in t.seconds)
        lines.append(f"| {k} | {t.describe(k)} | {1000 * t.pass_s(k):.1f} | {t.v(k):.2f} | {alone} |")
    if t.reference:
        ref = t.reference
        for name in ("tuned", "transformers"):
            if name in ref:
                lines.append(f"{name:>12} forward, v(k) for k = {ref['sizes'][0]}..{ref['sizes'][-1]}: "
                             + " ".join(f"{s / ref[name][0]:.2f}" for s in ref[name])
                             + f" ({1000 * ref[name][0]:.1f} ms at k = 1)")
    for spec, cost in prof.costs.items():
        lines.append(f"c of {spec}: {cost.c:.3f} (measured {cost.measured})")
    for key, choice in prof.choices.items():
        lines.append(f"{key} at T = {prof.temperature:g}: {choice.reason()}")
    return "\n".join(lines)


def _add_watch(sub) -> None:
    paragraphs = (
        "Read a serving engine's speculative-decoding numbers with SpecViz's own definitions: tau (tokens "
        "per verify pass), Leviathan's alpha where per-position counts allow it, the vLLM-style rate accepted "
        "/ drafted, per-position acceptance both ways. Each engine's own 'acceptance rate' is named beside "
        "them, and what its numbers cannot give is said.",
        "SOURCE is a live /metrics URL (read every --interval s; each line is the window since the last "
        "read), saved copies of /metrics pages in time order (the windows between them), or one .json/.jsonl "
        "file of responses (vLLM's metrics.speculative_decoding, llama.cpp's or MLX's timings): every "
        "request, their spread and outliers.",
        "Engines: vLLM, llama.cpp (llamacpp:), TensorRT-LLM (trtllm_ or trtllm:), SGLang (its verify-call "
        "counter; its windowed gauges only as a labelled fallback), TGI (archived).",
        "Health alarms over the windows: tau collapsing toward 1, acceptance at a draft position falling "
        "while tau holds, a sudden jump. A bearer token is read from SPECVIZ_METRICS_TOKEN, never from the "
        "command line.")
    p = sub.add_parser("watch", help="read a serving engine's speculative-decoding metrics or responses, "
                       "with health alarms", formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="\n\n".join(textwrap.fill(t, 100) for t in paragraphs),
                       epilog=textwrap.fill(
                           "exit codes: 0 ok (alarms are printed); 2 bad input (an unreadable URL or file, not "
                           "a metrics page or responses, no speculative-decoding numbers, ...); 5 a health alarm "
                           "fired and --fail-on-alarm was given (live: at the first alarm); 130 interrupted", 100))
    p.add_argument("sources", nargs="+", metavar="SOURCE",
                   help="http(s)://host:port/metrics, or saved copies FILE [FILE ...], or responses.jsonl")
    p.add_argument("--interval", type=float, default=15.0, help="seconds between scrapes (default 15)")
    p.add_argument("--count", type=int, default=0, help="stop after this many scrapes (default: until Ctrl-C)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for an answer (default 5)")
    p.add_argument("--fail-on-alarm", action="store_true",
                   help="exit with code 5 when a health alarm fires (for a cron or CI job)")
    p.set_defaults(func=cmd_watch)


ALARM_EXIT = 5


def cmd_watch(args) -> int:
    from ..services.serving import fetch

    if args.interval < 1 or args.timeout <= 0 or args.count < 0:
        raise fetch.ScrapeError("--interval must be at least 1 s, --timeout above 0 and --count at least 0")
    if any("://" in s for s in args.sources):
        if len(args.sources) > 1:
            raise fetch.ScrapeError("give one metrics URL, or saved copies (files), not both")
        return _watch_live(args)
    from ..services.serving.requests import looks_like_responses

    texts = [(path, _read_source(path)) for path in args.sources]
    if any(looks_like_responses(t) for _, t in texts):
        if len(texts) > 1:
            raise fetch.ScrapeError("give one file of responses (JSON or JSON lines) at a time, "
                                      "without saved /metrics pages")
        return _watch_responses(*texts[0])
    return _watch_files(texts, args.fail_on_alarm)


def _read_source(path: str) -> str:
    from ..services.serving import fetch

    try:
        with open(path, "rb") as f:
            body = f.read(fetch.MAX_BYTES + 1)
    except OSError as e:
        raise fetch.ScrapeError(f"cannot read {path}: {e.strerror}") from None
    return fetch.decode(body)


def _print_readout(when: str, model: str, span: str, r) -> None:
    from ..services.serving import prometheus, readout

    print(f"{when}{model or r.name} ({span}): {readout.line(r)}")
    for note in [prometheus.OWN_RATE[r.engine], *r.missing]:
        print(f"  · {note}")


def _new_alarms(watch, said: set) -> list:
    """Alarms over each model's windows not printed yet, printed now."""
    from ..services.serving import health

    new = []
    for model, points in watch.points.items():
        for alarm in health.check([p.readout for p in points], [p.name or _clock(p.at) for p in points]):
            if (model, alarm.kind, alarm.where) not in said:
                said.add((model, alarm.kind, alarm.where))
                new.append(alarm)
                print(f"! alarm{' for ' + model if model else ''}: {alarm}", flush=True)
    return new


def _clock(t: float) -> str:
    import time

    return time.strftime("%H:%M:%S", time.localtime(t))


def _watch_files(texts: list[tuple[str, str]], fail_on_alarm: bool) -> int:
    """Saved copies in time order: the first since the server started, then the windows between them."""
    from ..services.serving import fetch, prometheus, readout
    from ..services.serving.watch import Watch

    watch = Watch()
    for i, (path, text) in enumerate(texts):
        try:
            scrape = prometheus.parse(text, os.path.getmtime(path), os.path.basename(path))
        except fetch.ScrapeError as e:
            raise fetch.ScrapeError(f"{path}: {e}") from None
        for note in watch.add(scrape):
            print(f"· {note}", file=sys.stderr)
        for model, r in readout.readouts(scrape).items():
            if i == 0 or model not in scrape.totals:
                span = "its latest window" if model not in scrape.totals else "since the server started"
                _print_readout("", model, f"{scrape.name}, {span}", r)
            elif watch.points.get(model):
                p = watch.points[model][-1]
                print(f"{model or r.name} ({p.name}): {readout.line(p.readout)}")
    alarms = _new_alarms(watch, set())
    if len(texts) > 1 and not alarms:
        print("no health alarm over these windows")
    return ALARM_EXIT if alarms and fail_on_alarm else 0


def _watch_live(args) -> int:
    import time

    from ..services.serving import fetch, prometheus, readout
    from ..services.serving.watch import Watch

    token, watch, n, said = os.environ.get("SPECVIZ_METRICS_TOKEN"), Watch(), 0, set()
    while True:
        try:
            scrape = prometheus.parse(fetch.fetch(args.sources[0], token, args.timeout))
        except fetch.ScrapeError as e:
            if watch.last is None:
                raise
            print(f"· {_clock(time.time())} {e}; keeping the last reading", file=sys.stderr, flush=True)
        else:
            first = watch.last is None
            for note in watch.add(scrape):
                print(f"· {note}", file=sys.stderr)
            for model, r in readout.readouts(scrape).items():
                if first or model not in scrape.totals:
                    span = "its latest window" if model not in scrape.totals else "since the server started"
                    _print_readout(f"{_clock(scrape.at)} ", model, span, r)
                elif watch.points.get(model):
                    p = watch.points[model][-1]
                    print(f"{_clock(scrape.at)} {model or r.name} (last {p.seconds:.0f} s): "
                          f"{readout.line(p.readout)}", flush=True)
            if _new_alarms(watch, said) and args.fail_on_alarm:
                return ALARM_EXIT
        n += 1
        if args.count and n >= args.count:
            return 0
        time.sleep(args.interval)


def _watch_responses(path: str, text: str) -> int:
    """A file of responses: every request, all of them pooled, their spread and outliers."""
    from ..services.serving import fetch, prometheus, readout, requests

    try:
        reading = requests.read(text)
    except fetch.ScrapeError as e:
        raise fetch.ScrapeError(f"{path}: {e}") from None
    name, n = prometheus.NAMES[reading.engine], len(reading.requests)
    print(f"{os.path.basename(path)}: {n} {name} response(s), pooled (every verify pass counts once): "
          f"{readout.line(reading.pooled)}")
    spread = reading.spread
    if spread and spread.quartiles:
        print(f"  {spread.by} across requests: median {spread.median:.2f}, middle half {spread.quartiles[0]:.2f}"
              f"–{spread.quartiles[1]:.2f}, range {min(spread.values):.2f}–{max(spread.values):.2f}")
    for note in [reading.own_rate, *reading.pooled.missing, *(f"skipped {s}" for s in reading.skipped)]:
        print(f"  · {note}")
    for q in reading.requests[:50]:
        cells = q.cells()
        print(f"{cells.pop('request')}: " + " · ".join(f"{k} {v}" for k, v in cells.items() if k != "outlier")
              + (f"  ← outlier: {q.outlier}: {q.hint}" if q.outlier else ""))
    if n > 50:
        print(f"… and {n - 50} more requests (the Your server page lists them all)")
    return 0


def gamma_arg(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number or auto, got {text!r}") from None


def cmd_generate(args) -> int:
    from ..measure.metrics import summarize
    from ..decoding.record import RunSettings, run

    _quiet_transformers()
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
    color = _use_color(out)
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
    color = _use_color(sys.stdout)
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
    """show --html / --gif: the trace taken to the slides (specviz.slides)."""
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
    style, marker, _ = FATES[fate]
    return f"{style}{text}\033[0m" if color else marker.format(text) if fate != "accepted" else text


def _legend(color: bool) -> str:
    return "  ".join(_styled(label, fate, color) + ("" if color else f"={fate}")
                     for fate, (_, _, label) in FATES.items())


def _metrics_json(trace, s) -> dict:
    """Every metric of the run under its specviz.metrics name, plus per-position acceptance."""
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
    plural = lambda n, word: f"{n} {word}{'s' * (n != 1)}"  # noqa: E731
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


def _use_color(stream) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ


def _quiet_transformers() -> None:
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()  # "Loading weights" bars would bury the one-line messages
