"""Self-distillation: train a small draft on a frozen target's own generated text.

1. data   the target writes user requests across many task types, answers them (greedy and
          sampled at several temperatures) and answers copy-style requests over its own
          text (specviz.train.data); every position keeps its hidden state and top-k
          next-token distribution. Held-out task types are generated the same way.
2. train  the draft learns the target's next-token distribution (cross-entropy against the
          stored top-k: KL(p || q) up to a constant). EAGLE drafts are unrolled over several
          draft steps on their own features ("training-time test", EAGLE-3) so later draft
          positions see at training what they see at inference.
3. fit    a logit scale per draft step, chosen on held-out data so that the expected
          acceptance sum(min(p, q)) at T = 0.7 is highest (calibrated sampling drafts).
4. eval   held-out runs of the engine (hand-written requests, held-out task types) at
          T = 0, 0.7 and 1.0, summarised by specviz.measure.metrics, written to a card.
"""
import json
import math
import random
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from ..decoding.drafters.network import Draft, frozen_head
from ..decoding.drafters.trained import read_draft, resolve
from ..decoding.models import LoadedModel
from ..errors import RunError
from ..measure.prompts import HELD_OUT_TASKS, round_robin
from ..measure.repeats import interleaved, plain_first, pooled_summary
from ..numbers import dash
from ..paths import cache_dir
from . import data as D
from .data import sequence
from .draft import draft_config, init_from_target
from .prompts import HELD_OUT_REWRITES, REWRITES, TASKS

# ----------------------------------------------------------------------------- training

def make_batch(data: dict, idx: list[int], remap: torch.Tensor, device: str, width: int) -> dict:
    """Right-padded batch; teacher ids remapped to the draft vocabulary (-1 = outside it).

    width: the target's hidden size (the last columns of the stored features: data cached by
    an older SpecViz may hold fused target layers before them).
    """
    seqs = [sequence(data, i) for i in idx]
    T = max(len(s["tokens"]) for s in seqs)
    B, K = len(seqs), seqs[0]["top_ids"].shape[1]
    tokens = torch.zeros(B, T, dtype=torch.long)
    hidden = torch.zeros(B, T - 1, width)
    top_ids = torch.full((B, T - 1, K), -1, dtype=torch.long)
    top_p = torch.zeros(B, T - 1, K)
    learn = torch.zeros(B, T - 1, dtype=torch.bool)  # teacher rows at j predict a generated token
    for b, s in enumerate(seqs):
        n = len(s["tokens"])
        tokens[b, :n] = s["tokens"]
        hidden[b, :n - 1] = s["hidden"][:, -width:].float()
        top_ids[b, :n - 1] = remap[s["top_ids"]]
        top_p[b, :n - 1] = s["top_logp"].float().exp()
        learn[b, s["prompt_len"] - 1:n - 1] = True
    batch = {"tokens": tokens, "hidden": hidden, "top_ids": top_ids.clamp(min=0),
             "top_p": top_p * (top_ids >= 0), "top_p_all": top_p, "learn": learn}
    return {k: v.to(device) for k, v in batch.items()}


def soft_ce(out: torch.Tensor, head: torch.Tensor, labels: dict):
    """Cross-entropy against the teacher's top-k on rows where learn; also top-1 hits and count.

    The head runs only on those rows: on a CPU it is most of a small draft's training cost.
    """
    learn = labels["learn"]
    logq = torch.log_softmax((out[learn] @ head.T).float(), -1)
    ids, p = labels["top_ids"][learn], labels["top_p"][learn]
    ce = -(logq.gather(-1, ids) * p).sum(-1)
    hits = ((logq.argmax(-1) == ids[:, 0]) & (p[:, 0] > 0)).sum()
    return ce.sum() / max(len(ce), 1), hits, learn.sum()


def ttt_mask(T: int, s: int, device) -> torch.Tensor:
    """Step s of an unrolled draft: query j sees step-1 keys <= j-s+1 and step-k key j-s+k."""
    j = torch.arange(T, device=device)[:, None]
    i = torch.arange(T, device=device)[None]
    blocks = [i <= j - s + 1] + [i == j - s + k for k in range(2, s + 1)]
    return torch.cat(blocks, 1)


LABELS = ("top_ids", "top_p", "top_p_all", "learn")


def shifted(batch: dict, k: int) -> dict:
    """The teacher rows k positions on (what a feature k positions back predicts)."""
    return {key: batch[key][:, k:] for key in LABELS}


def eagle_steps(draft: Draft, embed, batch: dict, steps: int, noise: float = 0.0):
    """Unrolled EAGLE draft: per draft step (features [B, T, H], its teacher labels).

    Input j = (feature j, token j+1) predicts token j+2 (teacher row j+1). noise: uniform
    noise of this half-width on the target features while training (as in EAGLE).
    """
    emb = embed(batch["tokens"][:, 1:-1])  # tokens 1 .. T-2
    feats = batch["hidden"][:, :-1]  # target features 0 .. T-3
    if noise and draft.training:
        feats = feats + (torch.rand_like(feats) - 0.5) * 2 * noise
    T = emb.shape[1]
    positions = torch.arange(T, device=emb.device)
    labels = shifted(batch, 1)
    past, outs = None, []
    for s in range(1, steps + 1):
        mask = None if s == 1 else ttt_mask(T, s, emb.device)
        out, kvs = draft.run_layers(draft.inputs(emb, feats), positions, past, mask)
        learn = labels["learn"].clone()
        learn[:, :s - 1] = False  # step s needs s-1 earlier draft steps
        outs.append((out, dict(labels, learn=learn)))
        past = kvs if past is None else [(torch.cat([pk, k], 2), torch.cat([pv, v], 2))
                                         for (pk, pv), (k, v) in zip(past, kvs)]
        feats = torch.cat([out[:, :1] * 0, out[:, :-1]], 1)  # the draft's guess of feature j
    return outs


def layers_steps(draft: Draft, embed, batch: dict, steps: int, noise: float = 0.0):
    """Plain next-token draft: input token j predicts token j+1 (teacher row j)."""
    x = embed(batch["tokens"][:, :-1])
    out, _ = draft.run_layers(x, torch.arange(x.shape[1], device=x.device))
    return [(out, shifted(batch, 0))]


def medusa_steps(draft: Draft, embed, batch: dict, steps: int, noise: float = 0.0):
    """Head k on the target feature j predicts token j+k+1 (teacher row j+k)."""
    feats = batch["hidden"]
    return [(block(feats[:, :-k]), shifted(batch, k)) for k, block in enumerate(draft.heads, 1)]


STEPS = {"eagle": eagle_steps, "layers": layers_steps, "medusa": medusa_steps}


def draft_loss(draft: Draft, embed, head, batch: dict, steps: int, noise: float = 0.0):
    """Weighted cross-entropy over the draft steps, and the top-1 agreement of each step."""
    losses, accs = [], []
    for out, labels in STEPS[draft.cfg["kind"]](draft, embed, batch, steps, noise):
        loss, hit, count = soft_ce(out, head, labels)
        losses.append(loss), accs.append(int(hit) / max(int(count), 1))
    weights = [0.8 ** i for i in range(len(losses))]  # later steps matter less (reached less often)
    return sum(w * l for w, l in zip(weights, losses)) / sum(weights), accs

def lr_at(step: int, total: int, peak: float, warmup: int = 30) -> float:
    """Linear warm-up, then cosine decay to a tenth of the peak."""
    if step < warmup:
        return peak * (step + 1) / warmup
    t = (step - warmup) / max(total - warmup, 1)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


def save_state(path: Path, draft: Draft, opt, step: int, history: list) -> None:
    """Resumable training state: fp32 weights + Adam moments (safetensors) + step (JSON)."""
    from safetensors.torch import save_file

    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in draft.state_dict().items()}
    for i, st in opt.state_dict()["state"].items():
        for key, v in st.items():
            tensors[f"opt.{i}.{key}"] = torch.as_tensor(v).detach().cpu().contiguous()
    save_file(tensors, str(path / "train_state.tmp"))
    (path / "train_state.tmp").replace(path / "train_state.safetensors")
    (path / "train_state.json").write_text(json.dumps({"step": step, "history": history}), encoding="utf-8")


def load_state(path: Path, draft: Draft, opt) -> tuple[int, list]:
    from safetensors.torch import load_file

    if not (path / "train_state.json").exists():
        return 0, []
    tensors = load_file(str(path / "train_state.safetensors"))
    draft.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    sd = opt.state_dict()
    state: dict = {}
    for k, v in tensors.items():
        if k.startswith("opt."):
            _, i, key = k.split(".", 2)
            state.setdefault(int(i), {})[key] = v
    sd["state"] = state
    opt.load_state_dict(sd)
    info = json.loads((path / "train_state.json").read_text(encoding="utf-8"))
    return info["step"], info["history"]


def vocab_remap(vocab_ids: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Target token id -> draft vocabulary index (-1 outside it)."""
    remap = torch.full((vocab_size,), -1, dtype=torch.long)
    remap[vocab_ids] = torch.arange(len(vocab_ids))
    return remap


def held_out_batches(draft: Draft, data: dict, remap, device, size: int = 32):
    for i in range(0, len(data["lengths"]), size):
        yield make_batch(data, list(range(i, min(i + size, len(data["lengths"])))), remap, device,
                         draft.cfg["hidden"])


def held_out_accuracy(draft, embed, head, data, remap, device, steps) -> list[float]:
    """Teacher-forced top-1 agreement per draft step on the held-out data."""
    draft.eval()
    hits, counts = None, None
    with torch.no_grad():
        for batch in held_out_batches(draft, data, remap, device):
            res = [soft_ce(out, head, labels)[1:]
                   for out, labels in STEPS[draft.cfg["kind"]](draft, embed, batch, steps)]
            hits = [int(h) + (hits[k] if hits else 0) for k, (h, _) in enumerate(res)]
            counts = [int(c) + (counts[k] if counts else 0) for k, (_, c) in enumerate(res)]
    draft.train()
    return [h / max(c, 1) for h, c in zip(hits, counts)]


def warm_start(draft: Draft, name: str) -> None:
    """Start from a trained draft of the same shape (a resumed run's checkpoint still wins).

    The draft's own weights do not depend on its vocabulary (the LM head rows are the
    target's, frozen), so a draft trained on other data and another vocabulary is a start.
    """
    path = resolve(name)
    old, _, _ = read_draft(path, "cpu", torch.float32)
    shapes = lambda m: {k: tuple(v.shape) for k, v in m.state_dict().items()}  # noqa: E731
    if shapes(old) != shapes(draft):
        raise RunError(f"--init {name}: its shape ({old.cfg}) differs from this run's ({draft.cfg})")
    draft.load_state_dict(old.state_dict())
    print(f"starting from the weights of {path}", file=sys.stderr)


def train(target: LoadedModel, data: dict, held: dict, vocab_ids: torch.Tensor, args, out: Path) -> Draft:
    """Train the draft on data; checkpoints in out/ every --save-every steps (resumable)."""
    torch.manual_seed(args.seed)
    device = target.device
    cfg = draft_config(target.model.config, args.kind, args.layers, args.heads)
    draft = Draft(cfg)
    init_from_target(draft, target.model)
    if args.init:
        warm_start(draft, args.init)
    draft.to(device).train()
    embed = target.model.get_input_embeddings()
    frozen_embed = lambda ids: embed(ids).detach()  # noqa: E731  (no gradient into the target)
    head = frozen_head(target.model, vocab_ids).float()
    remap = vocab_remap(vocab_ids, target.model.config.vocab_size)
    opt = torch.optim.AdamW(draft.parameters(), lr=args.lr, weight_decay=0.0, betas=(0.9, 0.95))
    out.mkdir(parents=True, exist_ok=True)
    step, history = load_state(out, draft, opt) if args.resume else (0, [])
    if step:
        print(f"resuming from step {step}", file=sys.stderr)
    n_seq, width = len(data["lengths"]), draft.cfg["hidden"]
    bar = tqdm(range(step, args.steps), initial=step, total=args.steps, desc=f"training {args.kind}",
               unit="step", file=sys.stderr)
    for step in bar:
        rng = random.Random(args.seed * 1_000_003 + step)  # batch order is a function of the step
        batch = make_batch(data, rng.sample(range(n_seq), min(args.batch, n_seq)), remap, device, width)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, args.steps, args.lr)
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16,
                            enabled=args.train_dtype == "bfloat16"):
            loss, accs = draft_loss(draft, frozen_embed, head, batch, args.ttt, args.noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(draft.parameters(), 1.0)
        opt.step()
        bar.set_postfix(loss=f"{loss.item():.3f}", acc=" ".join(f"{a:.2f}" for a in accs[:3]))
        history.append({"step": step + 1, "loss": round(loss.item(), 4), "acc": [round(a, 3) for a in accs]})
        if (step + 1) % args.save_every == 0 or step + 1 == args.steps:
            ho = held_out_accuracy(draft, embed, head, held, remap, device, args.ttt)
            history[-1]["held_out_acc"] = [round(a, 3) for a in ho]
            bar.write(f"step {step + 1}: loss {loss.item():.3f}, held-out top-1 agreement per draft "
                      f"step {' '.join(f'{a:.3f}' for a in ho)}")
            save_state(out, draft, opt, step + 1, history)
    draft.history = history
    return draft.eval()


# ----------------------------------------------------------------------------- calibration

SCALES = [round(0.5 + 0.05 * i, 2) for i in range(41)]  # logit scales tried: 0.5 .. 2.5


@torch.no_grad()
def calibrate(draft: Draft, embed, head, held: dict, remap, device, steps: int,
              temperature: float = 0.7) -> tuple[list[float], list[dict]]:
    """Per draft step, the logit scale s maximising sum(min(p, q)) at temperature on held-out data.

    p is the target's stored top-k renormalised at the temperature (its tail is dropped, so
    the sums are a slight underestimate); q = softmax(s * draft logits / temperature) over the
    draft vocabulary. Returns the scales and, per step, the held-out expected acceptance
    before (s = 1) and after.
    """
    draft.eval()
    sums = None  # [steps][scale] total of sum(min(p, q)); counts per step
    counts = None
    scales = torch.tensor(SCALES, device=device)
    for batch in held_out_batches(draft, held, remap, device):
        outs = STEPS[draft.cfg["kind"]](draft, embed, batch, steps)
        sums = sums or [torch.zeros(len(SCALES), device=device) for _ in outs]
        counts = counts or [0] * len(outs)
        for k, (out, labels) in enumerate(outs):
            for rows in torch.split(torch.nonzero(labels["learn"]), 512):
                at = lambda key: labels[key][rows[:, 0], rows[:, 1]]  # noqa: E731
                z = out[rows[:, 0], rows[:, 1]].float() @ head.T  # [n, Nd] draft logits
                pt = torch.softmax(torch.log(at("top_p_all").clamp(min=1e-30)) / temperature, -1)
                pt = pt * (at("top_p") > 0)  # p outside the draft vocabulary meets q = 0
                idx = at("top_ids")
                for j, s in enumerate(scales):
                    q = torch.softmax(z * s / temperature, -1).gather(-1, idx)
                    sums[k][j] += torch.minimum(pt, q).sum()
                counts[k] += len(rows)
    draft.train()
    best, report = [], []
    one = SCALES.index(1.0)
    for k in range(len(sums)):
        beta = sums[k] / max(counts[k], 1)
        j = int(beta.argmax())
        best.append(SCALES[j])
        report.append({"step": k + 1, "scale": SCALES[j], "beta_before": round(float(beta[one]), 4),
                       "beta_after": round(float(beta[j]), 4)})
    return best, report


# ----------------------------------------------------------------------------- data

def task_subset(tasks: dict, n: int) -> dict:
    return dict(list(tasks.items())[:n]) if n else tasks


def build_all(target: LoadedModel, args) -> tuple[dict, dict, dict]:
    """Training data, held-out data (held-out task types, greedy) and what they hold."""
    folder = data_dir(args)
    cached = all((folder / f).exists() for f in ("answers.safetensors", "copies.safetensors",
                                                   "held_out.safetensors", "held_copies.safetensors"))
    model = None if cached else D.generation_model(target, args.gen_dtype)
    tasks, held_tasks = task_subset(TASKS, args.tasks), task_subset(HELD_OUT_TASKS, args.tasks)
    requests = D.write_requests(target, model, tasks, args.requests_per_task, folder / "requests.json",
                                args.seed, args.gen_batch)
    temps = D.assign_temperatures(len(requests), args.temperatures, args.seed)
    answers = D.build_data(target, requests, temps, args, folder / "answers.safetensors", model)
    texts = D.answers_text(answers, target.tokenizer, requests)
    copies = D.copy_requests(texts, REWRITES, args.copy_prompts, args.seed)
    copied = D.build_data(target, copies, D.assign_temperatures(len(copies), args.temperatures, args.seed + 1),
                          args, folder / "copies.safetensors", model)
    # held out: requests for unseen task types, answered greedily by the target as loaded
    held_requests = D.write_requests(target, model, held_tasks, args.held_out_per_task,
                                     folder / "held_requests.json", args.seed + 1, args.gen_batch,
                                     with_seeds=True)
    held = D.build_data(target, held_requests, [0.0] * len(held_requests), args,
                        folder / "held_out.safetensors")
    held_texts = D.answers_text(held, target.tokenizer, held_requests)
    held_copies = D.copy_requests(held_texts, HELD_OUT_REWRITES, len(held_requests) // 3, args.seed + 1)
    held_copied = D.build_data(target, held_copies, [0.0] * len(held_copies), args,
                               folder / "held_copies.safetensors")
    del model
    info = {"folder": str(folder), "requests": len(requests), "copies": len(copies),
            "held_out_requests": len(held_requests), "held_out_copies": len(held_copies),
            "tasks": list(tasks), "held_out_tasks": list(held_tasks),
            "rewrites": sorted({n for n, _ in REWRITES}), "held_out_rewrites": sorted({n for n, _ in HELD_OUT_REWRITES}),
            "held_out_pairs": round_robin([(r["task"], r["request"]) for r in held_requests + held_copies])}
    return D.merge([answers, copied]), D.merge([held, held_copied]), info


def data_dir(args) -> Path:
    if args.data:
        return Path(args.data).expanduser()
    temps = "-".join(f"{t:g}" for t in args.temperatures)
    tag = (f"{args.target.replace('/', '--')}-r{args.requests_per_task}x{args.tasks or 'all'}"
           f"-c{args.copy_prompts}-h{args.held_out_per_task}-n{args.max_new_tokens}-t{temps}"
           f"-k{args.topk}-ftop-s{args.seed}"  # "-ftop": the name data caches had before --fuse went
           + ("" if args.gen_dtype == "float32" else f"-{args.gen_dtype}"))
    return cache_dir() / "distill" / tag


# ----------------------------------------------------------------------------- evaluation

def evaluate(target: LoadedModel, spec: str, sets: dict, gamma: int, temperatures: list[float],
             max_new_tokens: int) -> dict:
    """Engine runs of spec on every prompt at every temperature (repeats.interleaved, once), pooled
    per set, per temperature and per task type (repeats.pooled_summary).

    The plain-decoding baseline (for c, v and the measured speedup) runs at T = 0 only.
    """
    from ..decoding.record import RunSettings, run

    def one(job, r):
        _, _, prompt, t = job
        return run(RunSettings(prompt, target=target.spec.key, draft=spec, gamma=gamma, temperature=t,
                               max_new_tokens=max_new_tokens, device=target.device, baseline=t == 0,
                               baseline_first=plain_first(r)))

    groups = [[(name, task, prompt, t) for t in temperatures] for name, pairs in sets.items() for task, prompt in pairs]
    with tqdm(total=sum(map(len, groups)), desc="held-out eval", unit="run", file=sys.stderr) as bar:
        done = interleaved(groups, 1, one, lambda *_: bar.update())
    traces: dict = {}
    lossless = True
    for (name, task, _, t), _, trace in done:
        lossless &= t != 0 or trace.output_ids == trace.baseline.output_ids
        traces.setdefault((name, t), []).append((task, trace))
    result: dict = {"lossless": lossless}
    for (name, t), got in traces.items():
        by_task: dict = {}
        for task, trace in got:
            by_task.setdefault(task, []).append(trace)
        result.setdefault(name, {})[f"T={t:g}"] = {
            "all": pooled(tr for _, tr in got),
            "by_task": {task: pooled(trs) for task, trs in sorted(by_task.items())}}
    return result


def pooled(traces) -> dict:
    """The card's numbers of runs, pooled as the brief pools them (repeats.pooled_summary)."""
    traces = list(traces)
    s = pooled_summary(traces)
    r = lambda x, d=4: None if x is None else round(x, d)  # noqa: E731
    return {"prompts": len(traces), "rounds": s.rounds, "alpha": r(s.alpha), "alpha_expected": r(s.alpha_expected),
            "tau": r(s.mean_acceptance_length), "tau_expected": r(s.expected_acceptance_length),
            "draft_acceptance_rate": r(s.draft_acceptance_rate), "c": r(s.cost_ratio), "v": r(s.verify_cost, 3),
            "speedup": r(s.speedup_measured, 3)}


def write_readme(out: Path, card: dict) -> None:
    """A short human-readable card next to card.json."""
    d, t = card["data"], card["training"]
    lines = [f"# Draft `{card['name']}` for {card['target']}", "",
             f"- shape: {card['kind']}, {card['config'].get('n_layers', 0)} layer(s)"
             f" ({card['new_parameters']:,} new parameters; frozen target embeddings and LM head), draft "
             f"vocabulary {card['draft_vocab']} tokens ({card['draft_vocab_held_out_coverage']:.1%} of held-out "
             "greedy tokens)",
             f"- data: the target wrote {d['requests']} requests over {len(d['tasks'])} task types and answered "
             f"them and {d['copies']} copy-style requests over its own answers ({d['generated_tokens']:,} "
             f"generated tokens, temperatures {d['temperatures']}); held out: task types "
             f"{', '.join(d['held_out_tasks'])} and copy types {', '.join(d['held_out_rewrites'])}",
             f"- training: {t['steps']} steps x {t['batch']} sequences, {t['minutes']} min on {t['device']} "
             "(incl. data)"]
    cal = card.get("calibration", {}).get("steps")
    if cal:
        lines.append(f"- q calibration at T = {card['calibration']['temperature']}: logit scale per draft step "
                     + ", ".join(f"{c['scale']} (expected acceptance {c['beta_before']} -> {c['beta_after']})"
                                 for c in cal))
    ev = card.get("held_out_eval")
    if ev:
        lines += ["", f"Held-out runs of the engine (γ = {ev['gamma']}, {ev['max_new_tokens']} new tokens):", ""]
        lines += eval_table(ev)
    lines += ["", "Reproduce:", "", f"    {card['command']}", ""]
    (out / "README.md").write_text("\n".join(lines), encoding="utf-8")


def eval_table(ev: dict) -> list[str]:
    """Markdown rows: set x temperature -> the pooled metrics."""
    rows = ["| prompts | T | α (Leviathan) | E[β] = Σ min(p, q) | tokens per pass τ | draft acceptance rate |",
            "|---|---|---|---|---|---|"]
    for name, by_t in ev.items():
        if not isinstance(by_t, dict):
            continue
        for t, res in by_t.items():
            a = res["all"]
            rows.append(f"| {name} | {t[2:]} | {dash(a['alpha'], 3)} | {dash(a['alpha_expected'], 3)} | {dash(a['tau'], 2)} | "
                        f"{dash(a['draft_acceptance_rate'], 3)} |")
    return rows
