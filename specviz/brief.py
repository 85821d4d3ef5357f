"""The decision brief: should we enable speculative decoding for this workload? (markdown)

Everything in the evidence table is computed from measured traces; the recommendation is a
plain rule on those numbers, stated in the brief so a reader can disagree with it.
"""
import io
import json
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone

from . import metrics
from .replay import replay_all
from .trace import Trace

ENABLE_AT = 1.10  # enable only if the measured speedup clears plain decoding by 10 %
GAMMAS = range(1, 9)


@dataclass
class Row:
    workload: str
    runs: int
    tokens: int
    alpha: float | None  # Leviathan's α (accepted ÷ checked positions)
    tokens_per_pass: float | None  # τ
    expected_tokens_per_pass: float | None  # Leviathan's E[τ] at α (the model check)
    draft_acceptance_rate: float | None  # vLLM's accepted ÷ drafted
    c: float | None
    verify_cost: float | None  # v: one verify pass / one plain target step (theory assumes 1)
    speedup: float | None  # measured: total baseline time / total speculative time
    theory: float | None  # Leviathan with the measured α, γ, c
    theory_v: float | None  # E[τ] / (γc + v) with the measured v
    identical: bool | None  # greedy runs: output == plain greedy output
    best_gamma: int | None  # from counterfactual replay (an estimate)
    best_gamma_speedup: float | None


def workload_row(name: str, traces: list[Trace]) -> Row:
    """Pool the runs of one workload: token-weighted, so long runs count more."""
    pooled = metrics.pooled(traces)
    timed = [t for t in traces if t.baseline.output_ids]
    base_s = sum(t.baseline.s_per_token * len(t.output_ids) for t in timed)
    spec_s = sum(t.timing.spec_s for t in timed)
    timed_tokens = sum(len(t.output_ids) for t in timed)
    step_s = base_s / timed_tokens if timed_tokens else None
    s = metrics.summarize_counts(pooled, traces[0].config.gamma, step_s, base_s / spec_s if spec_s else None)
    greedy = [t.output_ids == t.baseline.output_ids for t in traces
              if t.config.temperature == 0 and t.baseline.output_ids]
    best = _best_gamma(traces)
    return Row(name, len(traces), pooled.tokens, s.alpha, s.mean_acceptance_length,
               s.expected_acceptance_length, s.draft_acceptance_rate, s.cost_ratio, s.verify_cost,
               s.speedup_measured, s.speedup_theoretical, s.speedup_verify_aware,
               all(greedy) if greedy else None, best[0], best[1])


def _best_gamma(traces: list[Trace]) -> tuple[int | None, float | None]:
    """The gamma whose replayed speedup, pooled over the runs, is highest (an estimate)."""
    totals = {}
    for t in traces:
        for point in replay_all(t, GAMMAS):
            if point.speedup:
                base = t.baseline.s_per_token * len(t.output_ids)
                spec, b = totals.get(point.gamma, (0.0, 0.0))
                totals[point.gamma] = (spec + base / point.speedup, b + base)
    if not totals:
        return None, None
    g = max(totals, key=lambda k: totals[k][1] / totals[k][0])
    return g, totals[g][1] / totals[g][0]


@dataclass
class Decision:
    enable: bool
    gamma: int | None
    headline: str
    where: list[str]  # workloads where it pays off


def decide(rows: list[Row]) -> Decision:
    """Enable if every workload clears ENABLE_AT measured; else name the ones that do."""
    measured = [r for r in rows if r.speedup is not None]
    if not measured:
        return Decision(False, None, "No decision: the runs have no plain-decoding baseline to "
                        "compare against. Re-run with the baseline on.", [])
    # a win needs the measurement and the mechanism: with a low alpha a fast timing is noise
    wins = [r for r in measured if r.speedup >= ENABLE_AT and (r.theory is None or r.theory >= ENABLE_AT)]
    broken = [r for r in rows if r.identical is False]
    gamma = max(wins, key=lambda r: r.speedup).best_gamma if wins else None
    if broken:
        return Decision(False, None, "Do not enable: greedy speculative output differed from plain "
                        f"decoding on {', '.join(r.workload for r in broken)}. Fix verification first.", [])
    if len(wins) == len(measured):
        return Decision(True, gamma, f"Enable speculative decoding (γ = {gamma}): every workload "
                        f"measured at least {ENABLE_AT:.2f}× faster than plain decoding, as theory expects.",
                        [r.workload for r in wins])
    if wins:
        names = ", ".join(r.workload for r in wins)
        return Decision(False, gamma, f"Do not enable globally. Enable it only for: {names} "
                        f"(γ = {gamma}); the other workloads did not clear {ENABLE_AT:.2f}×.",
                        [r.workload for r in wins])
    slowest = min(measured, key=lambda r: r.speedup)
    return Decision(False, None, "Do not enable: no workload cleared "
                    f"{ENABLE_AT:.2f}× over plain decoding in measurement and theory (worst: "
                    f"{slowest.workload} at {slowest.speedup:.2f}× measured, α = {_fmt(slowest.alpha, '.2f')}).", [])


def _fmt(x, spec: str, suffix: str = "") -> str:
    return "n/a" if x is None else format(x, spec) + suffix


def evidence_table(rows: list[Row]) -> str:
    head = ("| workload | runs | tokens | α | τ (tokens / pass) | E[τ] at α | accepted ÷ drafted (vLLM) | c | "
            "v (verify ÷ step) | measured speedup | theory (Leviathan) | theory with measured v | "
            "greedy output identical | best γ (replay estimate) |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    body = "".join(
        f"| {r.workload} | {r.runs} | {r.tokens} | {_fmt(r.alpha, '.2f')} | {_fmt(r.tokens_per_pass, '.2f')} | "
        f"{_fmt(r.expected_tokens_per_pass, '.2f')} | {_fmt(r.draft_acceptance_rate, '.2f')} | "
        f"{_fmt(r.c, '.3f')} | {_fmt(r.verify_cost, '.2f')} | {_fmt(r.speedup, '.2f', '×')} | {_fmt(r.theory, '.2f', '×')} | "
        f"{_fmt(r.theory_v, '.2f', '×')} | "
        f"{'n/a' if r.identical is None else ('yes' if r.identical else '**NO**')} | "
        f"{_fmt(r.best_gamma, 'd')} ({_fmt(r.best_gamma_speedup, '.2f', '×')}) |\n" for r in rows)
    return head + body


def brief_markdown(workloads: dict[str, list[Trace]], title: str = "Speculative decoding",
                   memory: dict | None = None, cost: dict | None = None, notes: str = "") -> str:
    """The one-page brief from measured traces grouped by workload."""
    rows = [workload_row(name, ts) for name, ts in workloads.items() if ts]
    if not rows:
        raise ValueError("the brief needs at least one measured run")
    first = next(t for ts in workloads.values() for t in ts)
    d = decide(rows)
    cfg, env = first.config, first.env
    hw = env.get("gpu") or f"{env.get('platform', 'unknown platform')}"
    lines = [
        f"# Decision brief: {title}",
        f"*Generated by SpecViz on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC from "
        f"{sum(r.runs for r in rows)} measured runs.*",
        "",
        f"## Recommendation\n**{d.headline}**",
        "",
        f"Rule: enable where the measured speedup over plain decoding (same prompts, same "
        f"machine, same run) and the theoretical speedup from the measured α and c are both at "
        f"least {ENABLE_AT:.2f}×, and greedy output is token-identical.",
        "",
        "## Setup",
        f"- target **{cfg.target}**, draft **{cfg.draft}**, γ = {cfg.gamma}, "
        f"temperature {cfg.temperature:g}, top-p {cfg.top_p:g}",
        f"- hardware: {cfg.device} / {cfg.dtype}; {hw}; torch {env.get('torch', '?')}, "
        f"transformers {env.get('transformers', '?')}",
    ]
    if notes.strip():
        lines.append(f"- deployment notes: {notes.strip()}")
    if cost:
        lines.append(f"- one target pass over 1 token: {cost['one_token_ms']:.1f} ms; each extra "
                     f"scored token adds {100 * cost['slope_fraction']:.1f} % (measured on this device)")
    if memory is not None:
        kv = memory.get("kv_bytes_per_token")
        lines.append(f"- draft memory overhead: {memory['extra_param_bytes'] / 2**20:.1f} MiB of weights"
                     + (f" + {kv / 1024:.1f} KiB KV cache per token" if kv is not None else ""))
    lines += ["", "## Evidence (measured)", evidence_table(rows),
              "α = Leviathan's acceptance rate, accepted ÷ checked drafted tokens (tokens after a "
              "round's first rejection are never checked); τ = tokens per target pass = 1 + accepted "
              "÷ passes; E[τ] = Leviathan's expected τ at α (close to τ when the model fits); "
              "accepted ÷ drafted is vLLM's draft acceptance rate, not α; c = draft "
              "time per drafted token ÷ one plain target step; v = one verify pass ÷ one "
              "plain target step (Leviathan assumes 1); theory with measured v = E[τ] ÷ (γc + v); "
              "measured speedup = plain decoding "
              "time ÷ speculative time for the same tokens. 'Best γ' replays each recorded run "
              "with other γ (prefix-consistent counterfactual replay): an estimate, not a "
              "measurement.", "",
              "## Risks", *_risks(rows, memory), "",
              "## Measurement plan for production", *_plan(d), ""]
    return "\n".join(lines)


def _risks(rows: list[Row], memory: dict | None) -> list[str]:
    alphas = [r for r in rows if r.alpha is not None] or rows
    worst = min(alphas, key=lambda r: r.alpha or 0.0)
    risks = [
        f"- **Draft/target disagreement.** α ranged {min(r.alpha or 0.0 for r in alphas):.2f}–"
        f"{max(r.alpha or 0.0 for r in alphas):.2f} across workloads (lowest: {worst.workload}). When "
        "traffic shifts toward low-α prompts, every rejected draft is wasted work and "
        "speculative decoding becomes slower than plain decoding.",
        "- **Quality.** With strict verification the output distribution is the target's; a "
        "'loose' acceptance rule (top-k match, ratio threshold, skipping the residual) silently "
        "changes it. Keep the strict rule and test it (greedy output must be identical).",
        "- **Memory.** The draft's weights and its own KV cache compete with the target's KV "
        "cache for accelerator memory, which lowers the maximum batch size."
        + (f" Here: {memory['extra_param_bytes'] / 2**20:.1f} MiB extra weights." if memory else ""),
        "- **Batching.** Speculation converts spare compute into lower latency. Under continuous "
        "batching with paged attention at high load the GPU is already compute-bound, so the "
        "extra verified tokens cost real time: gains shrink or invert at high QPS. Measure at "
        "your production concurrency, and prefer per-request or load-aware enabling.",
        "- **Drift over time.** A model or prompt-template update can change α; re-evaluate the "
        "draft periodically, per workload.",
    ]
    costly = [r for r in rows if r.verify_cost and r.verify_cost > 1.5]
    if costly:
        worst = max(costly, key=lambda r: r.verify_cost)
        risks.insert(1, f"- **Verification is not free here.** One verify pass cost up to "
                     f"{worst.verify_cost:.1f}× a plain decoding step ({worst.workload}); the theory "
                     "assumes about 1×. The hardware is not memory-bound at this model size or "
                     "load (e.g. a small model on a busy CPU), so accepted tokens buy less time.")
    return risks


def _plan(d: Decision) -> list[str]:
    return [
        "1. Shadow or A/B the change: same traffic with speculation on and off; compare "
        "time-to-first-token, inter-token latency (p50/p95/p99) and throughput at real load.",
        "2. Log acceptance continuously. In vLLM: the Prometheus counters "
        "`vllm:spec_decode_num_drafts_total`, `vllm:spec_decode_num_draft_tokens_total` and "
        "`vllm:spec_decode_num_accepted_tokens_total` (plus the per-position accepted counts); "
        "mean acceptance length τ = 1 + accepted ÷ drafts; accepted ÷ draft tokens is vLLM's draft "
        "acceptance rate, not Leviathan's α: with a fixed draft length k, α = accepted ÷ (accepted "
        "+ drafts − drafts accepted at position k) (the per-position counts give the last term); "
        "`--per-request-spec-decode-metrics` gives them per request.",
        "3. Break α down per workload (route or tenant) and alert when it drops below the "
        "break-even α for your γ and c.",
        "4. Track accelerator memory and maximum batch size with the draft loaded.",
        "5. Keep a correctness canary: a fixed greedy prompt set whose output must stay "
        "token-identical with speculation on and off.",
        "6. Re-run this brief after every model, draft or template change."
        + (f" Start with γ = {d.gamma} and re-tune from the per-position acceptance." if d.gamma else ""),
    ]


def workshop_pack(traces: dict[str, Trace], texts: dict[str, str]) -> bytes:
    """A zip of traces (JSON, replayable in SpecViz without a model) and text files (brief, notes)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, trace in traces.items():
            z.writestr(f"traces/{_safe(name)}.json", trace.to_json(indent=1))
        for name, text in texts.items():
            z.writestr(name, text)
        z.writestr("README.txt", "SpecViz workshop pack. Open SpecViz (streamlit run app.py), go to "
                   "Step through and upload any file in traces/ to replay it without a model.\n"
                   + json.dumps({"traces": list(traces), "files": list(texts)}, indent=1))
    return buf.getvalue()


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)[:80]


# ----------------------------------------------------------------------------- production section

def production_section(r, source: str, span: str, trend: dict | None = None) -> str:
    """The brief's production section from a server's metrics (r: a serving.Readout)."""
    from .serving import PUBLISHED_VERIFY, what_if

    name = {"vllm": "vLLM", "sglang": "SGLang", "tgi": "TGI"}[r.engine]
    rate = "vLLM's draft acceptance rate (accepted ÷ drafted; not α)" if r.engine == "vllm" else \
        f"{name}'s acceptance rate (its own definition; not α)"
    k = f" (draft length k = {r.k})" if r.k else ""
    rows = [("Leviathan's α" + k, _fmt(r.alpha, ".3f") if r.alpha is not None else "not available (see below)"),
            ("τ, tokens per verify pass", _fmt(r.tau, ".2f")),
            ("E[τ] at α (Leviathan's i.i.d. model; close to τ when it fits)", _fmt(r.expected_tau, ".2f")),
            (rate, _fmt(r.rate, ".3f"))]
    if r.unconditional:
        rows.append(("accepted at position 1 … k, of all drafts", " · ".join(_fmt(v, ".2f") for v in r.unconditional)))
        rows.append(("… given the earlier positions were accepted", " · ".join(_fmt(v, ".2f") for v in r.conditional)))
    if r.counts is not None:
        rows.append(("drafts counted", f"{r.drafts:,}"))
    def code(text: str) -> str:  # names from the server, shown literally (no markdown from them)
        return "`" + " ".join(text.replace("`", "'").split())[:200] + "`"

    lines = [f"## Production: {code(source)}",
             f"*{name} metrics of {code(r.model) if r.model else 'the served model'}, {span}. Read from the server's "
             "Prometheus counters, not measured by SpecViz; the numbers use the same definitions as "
             "the evidence above.*", "",
             "| measure | value |", "|---|---|", *[f"| {a} | {b} |" for a, b in rows], ""]
    if trend:
        first, second = trend["first"], trend["second"]
        moved = [f"{label} {_fmt(first[key], '.2f')} → {_fmt(second[key], '.2f')}"
                 for key, label in (("alpha", "α"), ("tau", "τ")) if first.get(key) is not None]
        lines += [f"**Trend** (first vs second half of {trend['windows']} windows): " + ", ".join(moved) + ".", ""]
    else:
        lines += ["**Trend:** one reading only; watch the server over time to see one.", ""]
    if r.alpha is not None and r.k:
        est = " · ".join(f"γ = {w['gamma']}: E[τ] {w['expected_tau']:.2f}" for w in what_if(r.alpha, r.k))
        lines += [f"**What would γ ± 1 do** (an estimate from Leviathan's formula at the measured α, "
                  f"not a measurement): {est}. Every drafted token is verified, so whether a longer "
                  "draft pays depends on what verification costs at your batch size.", ""]
    lines += [f"**Verify cost.** These counters say nothing about time. {PUBLISHED_VERIFY} A good α "
              "on a busy server can therefore still give little or no speedup: measure latency and "
              "throughput with speculation on and off at your production concurrency.", ""]
    if r.missing:
        lines += ["**What these metrics cannot tell:**", *[f"- {m}." for m in r.missing], ""]
    return "\n".join(lines)
