"""Does timing the baseline between the rounds steady a single run's speedup? Side by side.

    python scripts/baseline_timing.py [--repeats 5] [--threads 1] [--max-new-tokens 64]

Runs the app's first-visit run (the default pair, γ auto, the chat example prompt) as the
app records it: plain decoding stepped between the speculative rounds (record.Lockstep), and
alternately with plain decoding timed first, the whole run at once (baseline_first). The
speculative loop is the same in both; only where the baseline's steps fall differs. Prints
each run's measured speedup and v, then both modes' medians and ranges: on a shared machine
the load moves within seconds, so the sequential mode's spread is the noise a one-off run sees.
"""
import argparse
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from specviz.decoding.models import use_cpu_threads  # noqa: E402
from specviz.decoding.record import RunSettings, run  # noqa: E402
from specviz.measure import metrics  # noqa: E402
from specviz.measure.prompts import PROMPTS  # noqa: E402

MODES = {"between the rounds": False, "plain decoding first": True}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--prompt", default=PROMPTS["chat"])
    args = ap.parse_args()
    use_cpu_threads(args.threads)
    results = {mode: [] for mode in MODES}
    for r in range(args.repeats):
        order = list(MODES) if r % 2 == 0 else list(reversed(MODES))
        for mode in order:
            trace = run(RunSettings(args.prompt, gamma=None, max_new_tokens=args.max_new_tokens,
                                    device="cpu", baseline_first=MODES[mode]))
            s = metrics.summarize(trace)
            results[mode].append(s.speedup_measured)
            print(f"repeat {r + 1} {mode:>22}: {s.speedup_measured:.2f}x  v {s.verify_cost:.2f}  "
                  f"plain step {1000 * s.baseline_s_per_token:.1f} ms  load {os.getloadavg()[0]:.1f}",
                  flush=True)
    for mode, xs in results.items():
        print(f"{mode:>22}: median {statistics.median(xs):.2f}x ({min(xs):.2f}-{max(xs):.2f}), "
              f"{args.repeats} runs")


if __name__ == "__main__":
    main()
