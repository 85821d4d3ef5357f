"""Why the hybrid drafter routes as it does: prompt lookup vs the trained draft, position by position.

    HF_HUB_CACHE=../shared/hf-cache HF_HUB_OFFLINE=1 python scripts/hybrid_routing.py

Runs the trained draft alone at γ 1 (greedy, so the output is the target's own) on the 24
hand-written held-out requests. At every round start it records whether the draft's token was
accepted and how many of prompt lookup's next 4 tokens would have matched the target's output,
grouped by the length n of lookup's match (0: the last token never occurred before; the hybrid
uses lookup from n = 2). Then it replays those rounds with lookup rounds at γ 1..4 and draft
rounds at γ 1, at a given c and v(k): a simulation from recorded rounds, not a measurement.
"""
import argparse
import sys
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from specviz.decoding.drafters import build_drafter
from specviz.decoding.drafters.lookup import PromptLookupDrafter  # noqa: E402
from specviz.decoding.engine import speculative_decode  # noqa: E402
from specviz.decoding import machine  # noqa: E402
from specviz.decoding.models import encode_prompt, eos_ids
from specviz.decoding.record import load_target  # noqa: E402
from specviz.decoding.sampling import SamplingParams  # noqa: E402
from specviz.measure.prompts import EVAL_REQUESTS  # noqa: E402

LOOKAHEAD = 4


class Recorder:
    """A γ-1 policy that keeps each round's accepted count."""

    def __init__(self):
        self.accepted = []

    def gamma_for(self, source: str = "draft") -> int:
        return 1

    def update(self, drafted: int, accepted: int, source: str = "draft") -> None:
        self.accepted.append(accepted)


def matched(proposal: list[int], actual: list[int]) -> int:
    """How many leading tokens of proposal the target wrote."""
    n = 0
    while n < min(len(proposal), len(actual)) and proposal[n] == actual[n]:
        n += 1
    return n


def rounds_of(target, drafter, lookup, max_new: int) -> list[dict]:
    rows = []
    for task, prompt in EVAL_REQUESTS:
        ids = encode_prompt(target.tokenizer, prompt, True)
        policy = Recorder()
        out = speculative_decode(target.model, drafter, ids, SamplingParams(), policy, max_new,
                                 torch.Generator().manual_seed(0), eos_ids(target)).output_ids
        pos = 0
        for accepted in policy.accepted:
            n, found = lookup.match(ids + out[:pos], LOOKAHEAD)
            rows.append({"task": task, "n": n, "draft": accepted, "found": len(found),
                         "lookup": matched(found, out[pos:pos + LOOKAHEAD])})
            pos += accepted + 1
    return rows


def replay(rows: list[dict], lookup_gamma: int, c: float, lookup_c: float, v: list[float],
           min_ngram: int = 2) -> float:
    """Tokens per plain-step time if lookup rounds drafted up to lookup_gamma tokens (v[k]: a k-token pass)."""
    tokens = cost = 0.0
    for r in rows:
        if r["n"] >= min_ngram and r["found"]:
            g = min(lookup_gamma, r["found"])
            tokens += 1 + min(r["lookup"], g)
            cost += lookup_c + v[g + 1]
        else:
            tokens += 1 + r["draft"]
            cost += c + v[2]
    return tokens / cost


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--draft", default="smollm2-135m-eagle", help="trained draft name")
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--c", type=float, help="the trained draft's cost ratio (default: measured here)")
    ap.add_argument("--lookup-c", type=float, help="prompt lookup's cost ratio (default: measured here)")
    ap.add_argument("--v", help="v(1..5), a k-token pass ÷ a 1-token pass, comma-separated "
                               "(default: this machine's tuned kernels)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    target = load_target("smollm2-135m-instruct", "cpu")
    spec = f"trained:{args.draft}"
    c = args.c if args.c is not None else \
        machine.draft_cost(target, spec, lambda: build_drafter(spec, target), progress=print).c
    lookup_c = args.lookup_c if args.lookup_c is not None else \
        machine.draft_cost(target, "lookup", lambda: build_drafter("lookup", target), progress=print).c
    v = [float(x) for x in args.v.split(",")] if args.v else target.tune(progress=print).v_list()[:5]
    print(f"c {c:.3f}, lookup c {lookup_c:.3f}, v(1..{len(v)}) " + " ".join(f"{x:.2f}" for x in v))
    drafter = build_drafter(spec, target)
    lookup = PromptLookupDrafter(target.model.config.vocab_size, 3, "lookup", set(target.tokenizer.all_special_ids))
    rows = rounds_of(target, drafter, lookup, args.max_new_tokens)
    by_n = defaultdict(list)
    for r in rows:
        by_n[r["n"]].append(r)
    print(f"{len(rows)} rounds; draft accepted {sum(r['draft'] for r in rows) / len(rows):.2f}")
    print("| lookup match n | rounds | draft accepted | lookup's 1st token right | mean lookup run (of 4) |")
    print("|---|---|---|---|---|")
    for n, rs in sorted(by_n.items()):
        print(f"| {n} | {len(rs)} | {sum(r['draft'] for r in rs) / len(rs):.2f} | "
              f"{sum(r['lookup'] > 0 for r in rs) / len(rs):.2f} | {sum(r['lookup'] for r in rs) / len(rs):.2f} |")
    v = [0.0] + v  # v[k]: a k-token pass
    for g in range(1, len(v) - 1):
        print(f"replay: lookup rounds at γ {g}, draft rounds at γ 1: {replay(rows, g, c, lookup_c, v):.2f}x")


if __name__ == "__main__":
    main()
