"""Record the example traces shipped in data/traces from the real default model.

    HF_HUB_CACHE=../shared/hf-cache HF_HUB_OFFLINE=1 python scripts/record_examples.py

Every trace is a real run of SmolLM2-135M-Instruct (the offline default target) on CPU,
recorded as trace version 3 (β = Σ min(p, q) per checked draft position, so alpha_expected),
with gamma 4 and seed 0: the example prompts (chat, summarise, code edit) with the early-exit
(layers:4) and prompt-lookup drafters, greedy and sampled (temperature 1). Each draft listed
under trained: in models.yaml is recorded on every prompt too, as trained:NAME and hybrid:NAME,
at the gamma of the models.yaml pair that uses that drafter (4 if none does), and token trees of
16 nodes with the EAGLE draft (the same prompts greedy, the summary sampled). Timings are wall-clock on
whatever machine records them. --only SUBSTRING re-records a subset; --missing skips files
that exist.
"""
import argparse
import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from specviz.decoding.models import load_registry, use_cpu_threads  # noqa: E402
from specviz.decoding.record import RunSettings, run  # noqa: E402
from specviz.measure.metrics import summarize  # noqa: E402
from specviz.measure.prompts import PROMPTS  # noqa: E402
from specviz.paths import TRACES_DIR  # noqa: E402

TARGET = "smollm2-135m-instruct"
MAX_NEW_TOKENS = 40


# (prompt, drafter, mode): every prompt, both drafters and both modes, kept short to record
EXAMPLES = [("chat", "layers:4", "greedy"), ("chat", "layers:4", "sampled"), ("chat", "lookup", "greedy"),
            ("summarise", "lookup", "greedy"), ("summarise", "layers:4", "sampled"),
            ("code edit", "lookup", "greedy"), ("code edit", "lookup", "sampled"),
            ("code edit", "layers:4", "greedy")]


TREE, TREE_DRAFT = 16, "smollm2-135m-eagle"  # token trees (version 3): 16 nodes with the EAGLE draft


def jobs():
    """(file stem, settings) for every example, plus every prompt with each trained drafter
    (trained:NAME and hybrid:NAME, at the gamma of their models.yaml pair if they have one),
    plus token trees of the EAGLE draft on every prompt (greedy) and the summary (sampled)."""
    registry = load_registry()
    pair_gamma = {pair.draft: pair.gamma for pair in registry.pairs.values() if pair.target == TARGET}
    trained = [(kind, f"{how}:{name}", mode) for name in registry.trained for how in ("trained", "hybrid")
               for kind in PROMPTS for mode in ("greedy", "sampled")]
    for kind, draft, mode in EXAMPLES + trained:
        stem = f"{kind.replace(' ', '-')}__{draft.replace(':', '-')}__{mode}"
        yield stem, RunSettings(PROMPTS[kind], TARGET, draft, gamma=pair_gamma.get(draft, 4),
                                temperature=0.0 if mode == "greedy" else 1.0, seed=0,
                                max_new_tokens=MAX_NEW_TOKENS, device="cpu")
    trees = [(kind, "greedy") for kind in PROMPTS] + [("summarise", "sampled")]
    if TREE_DRAFT in load_registry().trained:
        for kind, mode in trees:  # "tree16-eagle": lesson texts match drafters by label, keep it apart
            yield (f"{kind.replace(' ', '-')}__tree{TREE}-eagle__{mode}",
                   RunSettings(PROMPTS[kind], TARGET, f"trained:{TREE_DRAFT}", tree=TREE,
                               temperature=0.0 if mode == "greedy" else 1.0, seed=0,
                               max_new_tokens=MAX_NEW_TOKENS, device="cpu"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="record only stems containing this")
    parser.add_argument("--missing", action="store_true", help="skip traces that already exist")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (0 = the cores the load average leaves free)")
    args = parser.parse_args()
    use_cpu_threads(args.threads)
    TRACES_DIR.mkdir(parents=True, exist_ok=True)
    for stem, settings in jobs():
        path = TRACES_DIR / f"{stem}.json"
        if args.only not in stem or (args.missing and path.exists()):
            continue
        trace = run(settings, progress=lambda m: print(f"  · {m}", file=sys.stderr))
        trace.save(str(path))
        s = summarize(trace)
        fmt = lambda x, suffix="": "n/a" if x is None else f"{x:.2f}{suffix}"  # noqa: E731
        print(f"{stem:<40} alpha {fmt(s.alpha)}  node_acceptance {fmt(s.node_acceptance)}  alpha_expected {fmt(s.alpha_expected)}  "
              f"tau {fmt(s.mean_acceptance_length)} (E[tau] {fmt(s.expected_acceptance_length)})  "
              f"draft_acceptance_rate {fmt(s.draft_acceptance_rate)}  speedup {fmt(s.speedup_measured, 'x')} "
              f"(theory {fmt(s.speedup_theoretical, 'x')}, with v {fmt(s.speedup_verify_aware, 'x')})  "
              f"({trace.stop_reason})", flush=True)


if __name__ == "__main__":
    main()
