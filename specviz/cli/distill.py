"""`python -m specviz distill`: its arguments and the run from data to a carded draft
(specviz.train.distill trains)."""
import argparse
import shlex
import sys
import time
from pathlib import Path

import torch

from ..decoding.drafters.network import KINDS, frozen_head
from ..decoding.record import load_target
from ..errors import RunError
from ..measure.prompts import eval_requests
from ..train import data as D, distill
from ..train.distill import build_all, calibrate, evaluate, train, vocab_remap, write_readme
from ..train.draft import n_params, save_draft


def floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("distill", help="train a draft on the target's own text (self-distillation)",
                              description=distill.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", default="smollm2-135m-instruct", help="models.yaml key or hub id")
    p.add_argument("--kind", choices=KINDS, default="eagle", help="draft shape (default eagle)")
    p.add_argument("--layers", type=int, default=1, help="decoder layers (eagle, layers)")
    p.add_argument("--heads", type=int, default=4, help="Medusa heads (medusa)")
    p.add_argument("--draft-vocab", type=int, default=12288,
                   help="reduced draft vocabulary: the N most frequent tokens (0 = full vocabulary)")
    p.add_argument("--tasks", type=int, default=0, help="use only the first N task types (0 = all; for quick runs)")
    p.add_argument("--requests-per-task", type=int, default=70, help="requests the target writes per task type")
    p.add_argument("--copy-prompts", type=int, default=700,
                   help="copy-style requests (fix, rewrite, summarise, explain code) over the target's answers")
    p.add_argument("--held-out-per-task", type=int, default=8, help="requests per held-out task type")
    p.add_argument("--max-new-tokens", type=int, default=160, help="tokens generated per answer")
    p.add_argument("--gen-batch", type=int, default=48, help="prompts generated at once")
    p.add_argument("--temperatures", type=floats, default=[0, 0, 0.3, 0.5, 0.7, 1.0],
                   help="answer temperatures, cycled over the requests (0 = greedy; default 0,0,0.3,0.5,0.7,1)")
    p.add_argument("--topk", type=int, default=16, help="teacher top-k stored per position")
    p.add_argument("--data-only", action="store_true", help="stop after generating the data")
    p.add_argument("--init", default="",
                   help="start from this trained draft's weights (same shape; e.g. a draft "
                        "trained on other data)")
    p.add_argument("--steps", type=int, default=1000, help="training steps")
    p.add_argument("--batch", type=int, default=16, help="sequences per step")
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    p.add_argument("--ttt", type=int, default=3, help="EAGLE draft steps unrolled in training")
    p.add_argument("--noise", type=float, default=0.0, help="EAGLE: uniform feature noise half-width in training")
    p.add_argument("--calibrate-temperature", type=float, default=0.7,
                   help="fit each draft step's logit scale for this sampling temperature (0 = skip)")
    p.add_argument("--save-every", type=int, default=100, help="checkpoint every N steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output folder (e.g. drafts/NAME)")
    p.add_argument("--data", default=None, help="data cache folder (default $SPECVIZ_CACHE/distill/<target>-<settings>, "
                   "$SPECVIZ_CACHE defaulting to ~/.cache/specviz)")
    p.add_argument("--no-resume", dest="resume", action="store_false", help="ignore a saved train state")
    p.add_argument("--eval-held-out", type=int, default=16,
                   help="held-out task-type prompts in the final eval (besides the hand-written ones; "
                        "--eval-temperatures '' skips the eval)")
    p.add_argument("--eval-temperatures", type=floats, default=[0, 0.7, 1.0],
                   help="temperatures of the final eval runs (default 0,0.7,1; '' = no eval)")
    p.add_argument("--eval-gamma", type=int, default=3, help="gamma of the final eval runs")
    p.add_argument("--eval-tokens", type=int, default=64, help="new tokens per final eval run")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    p.add_argument("--gen-dtype", choices=("float32", "bfloat16"), default="bfloat16",
                   help="dtype of the target copy that generates the training data (bfloat16: ~2.4x "
                        "faster on an AVX-512 CPU, slightly noisier features and labels; the held-out "
                        "data and the eval always use the target as loaded)")
    p.add_argument("--train-dtype", choices=("float32", "bfloat16"), default="bfloat16",
                   help="bfloat16 = mixed-precision training (autocast; fp32 weights and optimizer)")
    p.set_defaults(func=main)


def check_args(args) -> None:
    for name in ("layers", "heads", "requests_per_task", "held_out_per_task", "max_new_tokens", "gen_batch",
                 "topk", "steps", "batch", "ttt", "save_every", "eval_gamma", "eval_tokens"):
        if getattr(args, name) < 1:
            raise RunError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if min(args.draft_vocab, args.eval_held_out, args.seed, args.tasks, args.copy_prompts) < 0:
        raise RunError("--draft-vocab, --eval-held-out, --seed, --tasks and --copy-prompts must be >= 0")
    if not args.temperatures or not all(0 <= t <= 2 for t in args.temperatures + args.eval_temperatures):
        raise RunError("--temperatures and --eval-temperatures must be in [0, 2] (0 = greedy)")
    if args.kind != "medusa" and args.layers > 8:
        raise RunError(f"--layers {args.layers} is too many for a draft: use 1 .. 8")
    if not 0 <= args.calibrate_temperature <= 2:
        raise RunError("--calibrate-temperature must be in [0, 2] (0 = skip)")


def lean_memory() -> None:
    """Keep a long CPU training run's memory flat.

    Batches change shape every step; with glibc's default thresholds freed blocks stay in
    the heap and oneDNN caches a primitive per shape, so memory grew ~25-150 MB per step
    (measured). Big blocks straight from mmap and a small primitive cache keep it flat.
    """
    import ctypes
    import os

    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "8")  # read when oneDNN first runs
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 131072)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 131072)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):  # not glibc: nothing to tune
        pass


def main(args) -> int:
    check_args(args)
    lean_memory()
    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.time()
    out = Path(args.out).expanduser()
    target = load_target(args.target, args.device, lambda m: print(m, file=sys.stderr))
    data, held, info = build_all(target, args)
    n_tokens = int(sum(data["lengths"]) - sum(data["prompt_lens"]))
    print(f"data: {len(data['lengths'])} answers, {n_tokens} generated tokens in {info['folder']}",
          file=sys.stderr)
    if args.data_only:
        return 0
    data_min = (time.time() - start) / 60
    vocab_ids = D.draft_vocabulary(data, args.draft_vocab, target.model.config.vocab_size)
    cover = D.coverage(held, vocab_ids)
    print(f"draft vocabulary {len(vocab_ids)} tokens covers {cover:.1%} of held-out greedy tokens",
          file=sys.stderr)
    draft = train(target, data, held, vocab_ids, args, out)
    calibration = None
    if args.calibrate_temperature:
        embed = target.model.get_input_embeddings()
        remap = vocab_remap(vocab_ids, target.model.config.vocab_size)
        head = frozen_head(target.model, vocab_ids).float()
        scales, calibration = calibrate(draft, embed, head, held, remap, target.device, args.ttt,
                                        args.calibrate_temperature)
        draft.cfg["q_scale"] = scales
        print(f"q calibration at T={args.calibrate_temperature}: {calibration}", file=sys.stderr)
    train_min = (time.time() - start) / 60
    card = {"name": out.name, "target": target.spec.hub_id, "target_gguf_file": target.spec.gguf_file,
            "target_hidden": target.model.config.hidden_size, "kind": args.kind,
            "config": draft.cfg, "new_parameters": n_params(draft), "draft_vocab": len(vocab_ids),
            "draft_vocab_held_out_coverage": round(cover, 4),
            "data": {**{k: v for k, v in info.items() if k != "held_out_pairs"},
                     "generated_tokens": n_tokens, "max_new_tokens": args.max_new_tokens,
                     "temperatures": args.temperatures, "teacher_topk": args.topk,
                     "gen_dtype": args.gen_dtype,
                     "minutes": round(data_min, 1)},
            "training": {"steps": args.steps, "batch": args.batch, "lr": args.lr, "ttt": args.ttt,
                         "noise": args.noise, "seed": args.seed, "device": target.device,
                         "dtype": args.train_dtype, "minutes": round(train_min, 1),
                         "final": draft.history[-1] if draft.history else None},
            "calibration": {"temperature": args.calibrate_temperature, "steps": calibration},
            "command": "python -m specviz distill " + " ".join(shlex.quote(a) for a in sys.argv[2:])}
    save_draft(out, draft, vocab_ids, card)  # usable before the eval; the eval adds its numbers
    if args.eval_temperatures:
        sets = {"hand-written": eval_requests(),
                "held-out task types": info["held_out_pairs"][:args.eval_held_out]}
        card["held_out_eval"] = {"gamma": args.eval_gamma, "max_new_tokens": args.eval_tokens,
                                 **evaluate(target, f"trained:{out}", sets, args.eval_gamma,
                                            args.eval_temperatures, args.eval_tokens)}
        save_draft(out, draft, vocab_ids, card)
    write_readme(out, card)
    print(f"saved {out / 'weights.safetensors'}; use it with --draft trained:{out}", file=sys.stderr)
    return 0
