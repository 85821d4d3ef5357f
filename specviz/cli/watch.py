"""`watch`: a serving engine's speculative-decoding metrics (a live /metrics page, saved copies or
per-request responses) with the app's definitions and health alarms. The serving services are
imported inside the command, so `watch` starts without torch."""
import argparse
import os
import sys
import textwrap
import time


def add_parser(sub) -> None:
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
