"""Distillation data written by the target itself: requests, answers, copy-style requests.

1. requests  the target continues few-shot lists of example requests per task type
             (prompts.TASKS), one new request per completion (raw text, T = 0.8);
2. answers   the target answers every request in the chat template, greedily or sampled at
             a temperature drawn from --temperatures; every position keeps the target's
             final hidden state and its top-k next-token log-probabilities;
3. copies    copy-style requests (fix, rewrite, summarise, explain code) over passages cut
             from the target's own answers, answered the same way.
Every stage is cached on disk and resumes where a killed run stopped.
"""
import json
import random
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from ..decoding.models import LoadedModel
from .prompts import clean_request, copy_request, request_prompt


@torch.inference_mode()
def generate_batch(model, prompts: list[list[int]], max_new: int, temperature: float,
                   gen: torch.Generator, topk: int, eos: set[int], pad: int, keep: bool = True) -> list[dict]:
    """Left-padded batched sampling; keeps each position's feature (the final normed hidden
    state) and top-k if keep. Finished rows leave the batch (their KV cache rows are dropped),
    so a batch costs what its live rows cost.
    """
    from transformers import DynamicCache

    dev = model.device
    width = max(map(len, prompts))
    ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], device=dev)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=dev)
    cache, cur = DynamicCache(config=model.config), ids
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    stop = torch.tensor(sorted(eos), device=dev)
    live = list(range(len(prompts)))  # original row of each batch row
    feats = [[] for _ in prompts]
    tops = [[] for _ in prompts]
    new = [[] for _ in prompts]
    for step in range(max_new + 1):
        out = model.model(input_ids=cur, attention_mask=mask, position_ids=pos, cache=cache,
                          use_cache=True)
        h = out.last_hidden_state
        # the head runs on the last position only: a prompt's earlier top-k are never learnt
        # from (they would cost a [batch, prompt, vocabulary] tensor)
        logp = torch.log_softmax(model.lm_head(h[:, -1:]).float(), -1)
        if keep:
            f = h.half().cpu()
            top = torch.topk(logp, topk, dim=-1)
            ti, tv = top.indices.int().cpu(), top.values.half().cpu()
            for b, row in enumerate(live):
                off = width - len(prompts[row]) if step == 0 else 0
                feats[row].append(f[b, off:])
                if step == 0:  # placeholders (p ~ 0) for the prompt positions before the last
                    n = width - off - 1
                    tops[row].append((torch.zeros(n, topk, dtype=torch.int32),
                                      torch.full((n, topk), -30.0, dtype=torch.float16)))
                tops[row].append((ti[b], tv[b]))
        if step == max_new:
            break
        last = logp[:, -1]
        nxt = (last.argmax(-1) if temperature == 0 else
               torch.multinomial(torch.softmax(last / temperature, -1).cpu(), 1, generator=gen)[:, 0].to(dev))
        for b, row in enumerate(live):
            new[row].append(int(nxt[b]))
        done = torch.isin(nxt, stop)
        if bool(done.all()):
            break
        cur, pos = nxt[:, None], pos[:, -1:] + 1
        mask = torch.cat([mask, torch.ones_like(cur)], 1)
        if bool(done.any()):  # drop finished rows from the batch and the cache
            keep_rows = (~done).nonzero()[:, 0]
            cache.batch_select_indices(keep_rows)
            cur, pos, mask = cur[keep_rows], pos[keep_rows], mask[keep_rows]
            live = [live[i] for i in keep_rows.tolist()]
    rows = []
    for row, p in enumerate(prompts):
        n = len(new[row])  # the last token is an EOS or the max_new-th token
        r = {"tokens": torch.tensor(p + new[row], dtype=torch.int32), "prompt_len": len(p)}
        if keep:  # features/top-k for positions 0 .. len(p)+n-2 (the last token predicts nothing kept)
            length = len(p) + n - 1
            r["hidden"] = torch.cat(feats[row])[:length]
            r["top_ids"] = torch.cat([t[0] for t in tops[row]])[:length]
            r["top_logp"] = torch.cat([t[1] for t in tops[row]])[:length]
        rows.append(r)
    return rows


def generation_model(target: LoadedModel, dtype: str):
    """The target itself, or a copy in dtype (bfloat16 generates ~2.4x faster on an AVX-512 CPU)."""
    import copy

    want = getattr(torch, dtype)
    if target.model.dtype == want:
        return target.model
    return copy.deepcopy(target.model).to(want)


def stop_tokens(target: LoadedModel) -> tuple[set[int], int]:
    from ..decoding.models import eos_ids

    eos, tok = eos_ids(target), target.tokenizer
    return eos, tok.pad_token_id if tok.pad_token_id is not None else min(eos)


def newline_ids(tokenizer) -> set[int]:
    """Every token whose text contains a line break (a written request ends at one)."""
    return {i for i in range(len(tokenizer)) if "\n" in tokenizer.decode([i])}


# ----------------------------------------------------------------------------- 1. requests

def write_requests(target: LoadedModel, model, tasks: dict, per_task: int, path: Path, seed: int,
                   batch: int, with_seeds: bool = False) -> list[dict]:
    """{"task", "request"} rows: per_task requests of each task type, written by the target
    (after the hand-written seed requests themselves if with_seeds).

    Cached in path (JSON, saved after every task type, so a killed run resumes).
    """
    done = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    todo = [name for name in tasks if name not in done]
    if todo:
        tok = target.tokenizer
        eos, pad = stop_tokens(target)
        stop = eos | newline_ids(tok)
        gen = torch.Generator().manual_seed(seed)
        for name in tqdm(todo, desc="writing requests", unit="task type", file=sys.stderr):
            desc, seeds = tasks[name]
            rng = random.Random(f"{seed}-{name}")
            got, seen = [], {s.lower() for s in seeds}
            for _ in range(4):  # a few rounds: the filter drops some completions
                need = per_task - len(got)
                if need <= 0:
                    break
                asks = [tok(request_prompt(desc, seeds, rng)).input_ids for _ in range(need + need // 2 + 2)]
                for i in range(0, len(asks), batch):
                    for r in generate_batch(model, asks[i:i + batch], 48, 0.8, gen, 1, stop, pad, keep=False):
                        text = clean_request(tok.decode(r["tokens"][r["prompt_len"]:].tolist(),
                                                          skip_special_tokens=True), seeds)
                        if text and text.lower() not in seen:
                            seen.add(text.lower())
                            got.append(text)
            done[name] = got[:per_task]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(done, indent=1), encoding="utf-8")
    return [{"task": name, "request": r} for name in tasks
            for r in (tasks[name][1] if with_seeds else []) + done[name]]


def copy_requests(answers: list[dict], rewrites: list[tuple[str, str]], n: int, seed: int) -> list[dict]:
    """n copy-style requests spread over rewrites, each over a passage of a random answer."""
    rng = random.Random(seed)
    out = []
    for k in range(n if answers else 0):
        name, template = rewrites[k % len(rewrites)]
        for _ in range(50):  # code templates need an answer that has a code block
            a = rng.choice(answers)
            request = copy_request(template, name, a["answer"], rng)
            if request:
                out.append({"task": f"copy:{name}", "request": request})
                break
    return out


def assign_temperatures(n: int, temperatures: list[float], seed: int) -> list[float]:
    """A temperature per prompt, cycling through the list (0 = greedy), in shuffled order."""
    temps = [temperatures[i % len(temperatures)] for i in range(n)]
    random.Random(seed + 17).shuffle(temps)
    return temps


# ----------------------------------------------------------------------------- 2. answers

def build_data(target: LoadedModel, requests: list[dict], temps: list[float], args, path: Path,
               model=None) -> dict | None:
    """Answer every request (chat template) at its temperature; load from path if done.
    None when there is nothing to answer (e.g. answers too short to cut copy passages from).

    Rows are saved to <path>.partial every ten minutes, so a killed run resumes generating
    where it stopped (the resumed part samples with a fresh generator state).
    """
    from ..decoding.models import encode_prompt

    if path.exists():
        return load_data(path)
    if not requests:
        return None
    model = target.model if model is None else model
    encoded = [encode_prompt(target.tokenizer, r["request"], True) for r in requests]
    gen = torch.Generator().manual_seed(args.seed)
    eos, pad = stop_tokens(target)
    rows = []
    partial = path.with_suffix(".partial")
    if partial.exists():
        rows = load_rows(partial)
        print(f"resuming {path.stem}: {len(rows)} of {len(requests)} answers done", file=sys.stderr)
    done = {r["index"] for r in rows}
    batches = []
    for t in sorted(set(temps)):  # one temperature per batch; similar lengths batch together
        order = sorted((i for i in range(len(requests)) if i not in done and temps[i] == t),
                       key=lambda i: len(encoded[i]))
        batches += [(t, order[i:i + args.gen_batch]) for i in range(0, len(order), args.gen_batch)]
    bar = tqdm(batches, desc=f"answering ({path.stem})", unit="batch", file=sys.stderr)
    saved = time.time()
    for temp, idx in bar:
        got = generate_batch(model, [encoded[i] for i in idx], args.max_new_tokens, temp, gen,
                             args.topk, eos, pad)
        rows += [dict(r, index=i, temperature=temp) for i, r in zip(idx, got)]
        bar.set_postfix(tokens=sum(len(r["tokens"]) - r["prompt_len"] for r in rows))
        if time.time() - saved > 600:
            save_data(partial, rows)
            saved = time.time()
    rows.sort(key=lambda r: r["index"])
    save_data(path, rows)
    path.with_suffix(".json").write_text(json.dumps(requests, indent=1), encoding="utf-8")
    partial.unlink(missing_ok=True)
    return load_data(path)


def answers_text(data: dict | None, tokenizer, requests: list[dict]) -> list[dict]:
    """The request, task and decoded answer of every row of data."""
    out = []
    if data is None:
        return out
    for i in range(len(data["lengths"])):
        seq = sequence(data, i)
        req = requests[int(data["index"][i])]
        text = tokenizer.decode(seq["tokens"][seq["prompt_len"]:].tolist(), skip_special_tokens=True)
        out.append(dict(req, answer=text))
    return out


# ----------------------------------------------------------------------------- storage

def save_data(path: Path, rows: list[dict]) -> None:
    """All sequences concatenated, with offsets: one safetensors file."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {"tokens": torch.cat([r["tokens"] for r in rows]),
               "lengths": torch.tensor([len(r["tokens"]) for r in rows]),
               "prompt_lens": torch.tensor([r["prompt_len"] for r in rows]),
               "hidden": torch.cat([r["hidden"] for r in rows]),
               "top_ids": torch.cat([r["top_ids"] for r in rows]),
               "top_logp": torch.cat([r["top_logp"] for r in rows]),
               "index": torch.tensor([r.get("index", i) for i, r in enumerate(rows)]),
               "temperature": torch.tensor([float(r.get("temperature", 0.0)) for r in rows])}
    tmp = path.with_suffix(".tmp")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp))
    tmp.replace(path)


def load_rows(path: Path) -> list[dict]:
    """The per-prompt rows of a saved data file (to resume a partial generation)."""
    d = load_data(path)
    rows = []
    for i, ix in enumerate(d["index"].tolist()):
        s, ps, n = d["starts"][i], d["pos_starts"][i], int(d["lengths"][i])
        rows.append({"tokens": d["tokens"][s:s + n], "prompt_len": int(d["prompt_lens"][i]),
                     "hidden": d["hidden"][ps:ps + n - 1], "top_ids": d["top_ids"][ps:ps + n - 1],
                     "top_logp": d["top_logp"][ps:ps + n - 1], "index": ix,
                     "temperature": float(d["temperature"][i])})
    return rows


def load_data(path: Path) -> dict:
    from safetensors.torch import load_file

    return with_offsets(load_file(str(path)))


def with_offsets(d: dict) -> dict:
    lengths = d["lengths"].tolist()
    d["starts"] = [0] + list(torch.tensor(lengths).cumsum(0)[:-1].tolist())
    d["pos_starts"] = [s - i for i, s in enumerate(d["starts"])]  # per-position arrays are 1 shorter
    d.setdefault("index", torch.arange(len(lengths)))
    d.setdefault("temperature", torch.zeros(len(lengths)))
    return d


def merge(parts: list[dict | None]) -> dict:
    """One data dict from several (the index of each part is offset past the previous ones)."""
    parts = [d for d in parts if d is not None]
    out, shift = {}, 0
    for key in ("tokens", "lengths", "prompt_lens", "hidden", "top_ids", "top_logp", "temperature"):
        out[key] = torch.cat([d[key] for d in parts])
    index = []
    for d in parts:
        index.append(d["index"] + shift)
        shift += int(d["index"].max()) + 1 if len(d["index"]) else 0
    out["index"] = torch.cat(index)
    return with_offsets(out)


def sequence(data: dict, i: int) -> dict:
    s, ps, n = data["starts"][i], data["pos_starts"][i], int(data["lengths"][i])
    return {"tokens": data["tokens"][s:s + n].long(), "prompt_len": int(data["prompt_lens"][i]),
            "hidden": data["hidden"][ps:ps + n - 1], "top_ids": data["top_ids"][ps:ps + n - 1].long(),
            "top_logp": data["top_logp"][ps:ps + n - 1]}


def draft_vocabulary(data: dict, size: int, vocab_size: int) -> torch.Tensor:
    """The size most frequent tokens of the generated text (and the target's top-1), by count.

    Tokens never seen rank by id: BPE ids roughly follow merge order, so low ids are frequent
    in the tokenizer's corpus (this fills the vocabulary beyond the few thousand tokens a small
    data set shows, and covers words of unseen topics).
    """
    if size <= 0 or size >= vocab_size:
        return torch.arange(vocab_size)
    counts = 0.5 * (1 - torch.arange(vocab_size) / vocab_size)  # < 1: only breaks ties
    for i in range(len(data["lengths"])):
        seq = sequence(data, i)
        pl = seq["prompt_len"]
        counts.index_add_(0, seq["tokens"][pl:], torch.ones(len(seq["tokens"]) - pl))
        counts.index_add_(0, seq["top_ids"][pl - 1:, 0], torch.ones(len(seq["top_ids"]) - pl + 1))
    return torch.sort(torch.topk(counts, size).indices).values


def coverage(data: dict, vocab_ids: torch.Tensor) -> float:
    """Share of the target's greedy choices (top-1 after the prompt) inside the draft vocabulary."""
    inside = torch.zeros(int(data["top_ids"].max()) + 1, dtype=torch.bool)
    inside[vocab_ids[vocab_ids < len(inside)]] = True
    hits = total = 0
    for i in range(len(data["lengths"])):
        seq = sequence(data, i)
        top1 = seq["top_ids"][seq["prompt_len"] - 1:, 0]
        hits, total = hits + int(inside[top1].sum()), total + len(top1)
    return hits / max(total, 1)
