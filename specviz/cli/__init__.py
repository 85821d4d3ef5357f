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
import os
import sys

from ..errors import ModelError, RunError, SpecVizError, TraceError, first_line
from . import generate, machine, watch

EXIT_CODES = {RunError: 2, ModelError: 3, TraceError: 4}
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
    for module in (generate, machine, watch):
        module.add_parser(sub)
    for module in ("specviz.cli.distill", "specviz.cli.bench") if optional else ():
        try:
            importlib.import_module(module).add_parser(sub)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise
    return parser
