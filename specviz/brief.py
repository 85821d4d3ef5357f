"""The decision brief: should we enable speculative decoding for this workload? (markdown)

Everything in the evidence table is computed from measured traces with the one definition of
every metric (specviz.measure.metrics); the recommendation is a plain rule on those numbers, stated
in the brief so a reader can disagree with it. Timings on a shared machine are noisy, so the
measurement repeats every prompt with plain and speculative decoding interleaved
(specviz.measure.repeats), reports the median and the spread over repeats, and the rule says "too
noisy to decide" when the spread straddles the threshold.
"""
import hashlib
import io
import json
import statistics
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone

from .measure.repeats import pooled_summary, repeats_of, speedup
from .measure.replay import replay_all
from .numbers import num
from .trace import Trace

ENABLE_AT = 1.10  # enable only if the measured speedup clears plain decoding by 10 %
GAMMAS = range(1, 9)


# ----------------------------------------------------------------------------- one row per workload

@dataclass
class Row:
    workload: str
    runs: int
    repeats: int  # runs of each prompt (the spread is over these)
    tokens: int
    alpha: float | None  # Leviathan's α (accepted ÷ checked positions), all runs pooled
    alpha_expected: float | None  # mean β = Σ min(p, q) over checked positions (None: not recorded)
    mean_acceptance_length: float | None  # τ, tokens per target pass
    expected_acceptance_length: float | None  # Leviathan's E[τ] at α (the model check)
    draft_acceptance_rate: float | None  # vLLM's accepted ÷ drafted (not α)
    c: float | None  # median over repeats
    verify_cost: float | None  # v: one verify pass ÷ one plain step, median over repeats
    speedup: float | None  # measured, median over repeats
    speedup_lo: float | None  # lowest repeat
    speedup_hi: float | None  # highest repeat
    theory: float | None  # Leviathan at α, γ, c (a verify pass = one step), median over repeats
    theory_v: float | None  # E[τ] / (γc + v) with the measured v, median over repeats
    theory_v_lo: float | None
    theory_v_hi: float | None
    identical: bool | None  # greedy runs: output == plain greedy output
    best_gamma: int | None  # from counterfactual replay (an estimate)
    best_gamma_speedup: float | None


def _median(xs: list) -> float | None:
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def _spread(xs: list) -> tuple[float | None, float | None]:
    xs = [x for x in xs if x is not None]
    return (min(xs), max(xs)) if xs else (None, None)


def workload_row(name: str, traces: list[Trace]) -> Row:
    """Pool a workload's runs for the counts (α, τ, ...); medians and spreads over its repeats
    for everything timed (c, v, measured speedup, both theories)."""
    s, measured = pooled_summary(traces), speedup(traces)
    per = [pooled_summary(ts) for ts in repeats_of(traces)]
    aware = [p.speedup_verify_aware for p in per]
    greedy = [t.output_ids == t.baseline.output_ids for t in traces
              if t.config.temperature == 0 and t.baseline.output_ids]
    best = _best_gamma(traces)
    return Row(name, len(traces), len(per), s.tokens, s.alpha, s.alpha_expected, s.mean_acceptance_length,
               s.expected_acceptance_length, s.draft_acceptance_rate,
               _median([p.cost_ratio for p in per]), _median([p.verify_cost for p in per]),
               measured.median, measured.lo, measured.hi, _median([p.speedup_theoretical for p in per]),
               _median(aware), *_spread(aware), all(greedy) if greedy else None, best[0], best[1])


def _best_gamma(traces: list[Trace]) -> tuple[int | None, float | None]:
    """The gamma whose replayed speedup, pooled over the runs, is highest (an estimate)."""
    totals = {}
    for t in traces:
        if t.config.tree_nodes:  # a token-tree run has no chain to re-cut at another γ
            continue
        for point in replay_all(t, GAMMAS):
            if point.speedup:
                base = t.baseline.s_per_token * len(t.output_ids)
                spec, b = totals.get(point.gamma, (0.0, 0.0))
                totals[point.gamma] = (spec + base / point.speedup, b + base)
    if not totals:
        return None, None
    g = max(totals, key=lambda k: totals[k][1] / totals[k][0])
    return g, totals[g][1] / totals[g][0]


# ----------------------------------------------------------------------------- the rule

PAYS, NO, NOISY, BROKEN, UNMEASURED = "enable", "do not enable", "too noisy to decide", "broken", "no baseline"


def verdict(r: Row) -> tuple[str, str]:
    """(verdict, why) for one workload, by the rule stated in the brief."""
    if r.identical is False:
        return BROKEN, "greedy speculative output differed from plain decoding"
    if r.speedup is None:
        return UNMEASURED, "no plain-decoding baseline to compare with"
    lo, hi = r.speedup_lo, r.speedup_hi
    spread = f"{lo:.2f}–{hi:.2f}× over {r.repeats} repeats" if r.repeats > 1 else f"{hi:.2f}×, one repeat"
    explained = r.theory_v if r.theory_v is not None else r.theory
    if r.theory is not None and r.theory < ENABLE_AT:
        return NO, (f"even Leviathan's theory at α = {r.alpha or 0:.2f}, c = {r.c or 0:.2f} (a verify pass "
                    f"costing one step) is {r.theory:.2f}×; measured {spread}")
    if hi < ENABLE_AT:
        return NO, f"measured {spread}, all below {ENABLE_AT:.2f}×"
    if lo >= ENABLE_AT and (explained is None or explained >= ENABLE_AT):
        return PAYS, f"measured {spread}, theory with the measured verify cost {num(explained, '.2f', '×')}"
    if lo >= ENABLE_AT:
        return NOISY, (f"measured {spread}, but the theory with the measured verify cost is only "
                       f"{explained:.2f}×: the timing is not explained by α, c and v")
    return NOISY, f"measured {spread}: the repeats straddle {ENABLE_AT:.2f}×"


@dataclass
class Decision:
    enable: bool
    gamma: int | None
    headline: str
    where: list[str]  # workloads where it pays off
    noisy: list[str]  # workloads whose evidence is too noisy to decide


def decide(rows: list[Row]) -> Decision:
    """Enable where every repeat clears ENABLE_AT and theory agrees; say so when it is too noisy."""
    verdicts = {r.workload: verdict(r) for r in rows}
    of = lambda kind: [r for r in rows if verdicts[r.workload][0] == kind]  # noqa: E731
    wins, losses, noisy, broken = of(PAYS), of(NO), of(NOISY), of(BROKEN)
    measured = wins + losses + noisy
    names = lambda rs: ", ".join(r.workload for r in rs)  # noqa: E731
    if broken:
        return Decision(False, None, "Do not enable: greedy speculative output differed from plain "
                        f"decoding on {names(broken)}. Fix verification first.", [], [])
    if not measured:
        return Decision(False, None, "No decision: the runs have no plain-decoding baseline to "
                        "compare against. Re-run with the baseline on.", [], [])
    gamma = max(wins, key=lambda r: r.speedup).best_gamma if wins else None
    single = (" One run per prompt: no spread was measured; repeat the measurement before acting on it."
              if max(r.repeats for r in measured) < 2 else "")
    too_noisy = ("Too noisy to decide for " + "; ".join(f"{r.workload} ({verdicts[r.workload][1]})" for r in noisy)
                 + ": measure more prompts or repeats." if noisy else "")
    lost = f"{names(losses)} did not clear {ENABLE_AT:.2f}×." if losses else ""
    where, unsure = [r.workload for r in wins], [r.workload for r in noisy]
    if not losses and not noisy:
        return Decision(True, gamma, f"Enable speculative decoding (γ = {gamma}): every workload "
                        f"measured at least {ENABLE_AT:.2f}× faster than plain decoding in every repeat, "
                        "and the theory with the measured verify cost agrees." + single, where, [])
    if wins:
        return Decision(False, gamma, " ".join(x for x in (
            f"Do not enable globally. Enable it only for: {names(wins)} (γ = {gamma}).", lost, too_noisy)
            if x) + single, where, unsure)
    if noisy:
        return Decision(False, None, " ".join(x for x in (too_noisy, lost) if x) + single, [], unsure)
    slowest = min(losses, key=lambda r: r.speedup)
    return Decision(False, None, "Do not enable: no workload cleared "
                    f"{ENABLE_AT:.2f}× over plain decoding in measurement and theory (worst: "
                    f"{slowest.workload}: {verdicts[slowest.workload][1]}).{single}", [], [])


def evidence_table(rows: list[Row]) -> str:
    cols = ["workload", "runs", "repeats", "tokens", "α (Leviathan)", "α expected (mean β)",
            "τ (tokens / pass)", "E[τ] at α", "draft acceptance rate (vLLM)", "c", "v (verify ÷ step)",
            "measured speedup, median (spread)", "theory (Leviathan)", "theory with measured v, median (spread)",
            "verdict", "greedy output identical", "best γ (replay estimate)"]
    spread = lambda m, lo, hi, n: (num(m, ".2f", "×") + (f" ({lo:.2f}–{hi:.2f})" if n > 1 and lo is not None  # noqa: E731
                                                          else ""))
    body = "".join(
        f"| {r.workload} | {r.runs} | {r.repeats} | {r.tokens} | {num(r.alpha, '.2f')} | "
        f"{num(r.alpha_expected, '.2f') if r.alpha_expected is not None else 'not recorded'} | "
        f"{num(r.mean_acceptance_length, '.2f')} | {num(r.expected_acceptance_length, '.2f')} | "
        f"{num(r.draft_acceptance_rate, '.2f')} | {num(r.c, '.3f')} | {num(r.verify_cost, '.2f')} | "
        f"{spread(r.speedup, r.speedup_lo, r.speedup_hi, r.repeats)} | {num(r.theory, '.2f', '×')} | "
        f"{spread(r.theory_v, r.theory_v_lo, r.theory_v_hi, r.repeats)} | {verdict(r)[0]} | "
        f"{'n/a' if r.identical is None else ('yes' if r.identical else '**NO**')} | "
        f"{num(r.best_gamma, 'd')} ({num(r.best_gamma_speedup, '.2f', '×')}) |\n" for r in rows)
    return "| " + " | ".join(cols) + " |\n" + "|---" * len(cols) + "|\n" + body


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
        f"{sum(r.runs for r in rows)} measured runs ({max(r.repeats for r in rows)} repeats of each "
        "prompt at most).*",
        "",
        f"## Recommendation\n**{d.headline}**",
        "",
        f"Rule, per workload: **enable** where every repeat measured at least {ENABLE_AT:.2f}× over "
        "plain decoding (same prompts, same machine, plain and speculative timed back to back, "
        "their order alternating between repeats) and the theory with the measured verify cost "
        f"agrees (at least {ENABLE_AT:.2f}×); **do not enable** where every repeat stayed below "
        f"{ENABLE_AT:.2f}× or where even Leviathan's theory at the measured α and c (a verify pass "
        f"costing one step) is below it; otherwise it is **too noisy to decide** (the repeats "
        f"straddle {ENABLE_AT:.2f}×, or the timing is not explained by α, c and v). Greedy output "
        "must be token-identical to plain decoding.",
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
              "α = Leviathan's acceptance rate: the probability that a checked drafted token is "
              "accepted, estimated as accepted ÷ (accepted + rounds ending in a rejection) (tokens "
              "after a round's first rejection are never checked); α expected = mean of β = "
              "Σ min(p, q) over the checked positions (in greedy runs β is 1 where the argmaxes "
              "agree, else 0); τ = mean acceptance length, output tokens per target pass (1 + accepted ÷ "
              "passes, less drafts accepted after an EOS); E[τ] = Leviathan's expected τ at α (close to τ when the model fits); the "
              "draft acceptance rate is vLLM's accepted ÷ drafted, not α; c = draft time per "
              "drafted token ÷ one plain target step; v = one verify pass ÷ one plain target step "
              "(Leviathan assumes 1); theory = E[τ] ÷ (γ̄c + 1) over the drafts made (γ̄ drafted "
              "per pass; Leviathan's formula when every round drafts γ), theory with measured v = "
              "E[τ] ÷ (γ̄c + v); measured speedup = plain decoding time ÷ speculative time for the same "
              "tokens. α, τ and E[τ] pool every run; the timed columns are medians over the "
              "repeats, with the lowest and highest repeat in brackets. 'Best γ' replays each "
              "recorded run with other γ (prefix-consistent counterfactual replay): an estimate, "
              "not a measurement.", "",
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
        "time-to-first-token, inter-token latency (p50/p95/p99) and throughput at real load, "
        "interleaved and repeated, with the spread reported (one run decides nothing).",
        "2. Log acceptance continuously. vLLM's Prometheus counters: "
        "`vllm:spec_decode_num_drafts_total` (verify passes that carried a draft), "
        "`vllm:spec_decode_num_draft_tokens_total`, `vllm:spec_decode_num_accepted_tokens_total` "
        "and `vllm:spec_decode_num_accepted_tokens_per_pos_total{position=\"i\"}` (i = 0 .. k − 1 "
        "for k speculative tokens). From them: mean acceptance length τ = 1 + accepted ÷ drafts; "
        "accepted ÷ draft tokens is vLLM's draft acceptance rate, not Leviathan's α (never feed "
        "it to the speedup formula); Leviathan's α = accepted ÷ (accepted + drafts − accepted at "
        "position k − 1), since a draft whose last position was accepted ended without a "
        "rejection (with a fixed k); the conditional acceptance at position i = accepted at i ÷ "
        "accepted at i − 1 (the per-position counts themselves are unconditional, a survival "
        "curve that falls even when α is flat). `--per-request-spec-decode-metrics` gives them "
        "per request.",
        "3. Break α down per workload (route or tenant) and alert when it drops below the "
        "break-even α for your γ, c and measured verify cost.",
        "4. Track accelerator memory and maximum batch size with the draft loaded.",
        "5. Keep a correctness canary: a fixed greedy prompt set whose output must stay "
        "token-identical with speculation on and off.",
        "6. Re-run this brief after every model, draft or template change."
        + (f" Start with γ = {d.gamma} and re-tune from the conditional per-position acceptance."
           if d.gamma else ""),
    ]


PACK_TRACES, PACK_BYTES = 64, 48 * 2**20  # at most this many traces and bytes of trace JSON


def workshop_pack(traces: dict[str, Trace], texts: dict[str, str]) -> bytes:
    """A zip of traces (JSON, replayable in SpecViz without a model) and text files (brief, notes).

    Each trace once (the same run shown on several pages is one file, under its first name) and
    the whole bounded (PACK_TRACES, PACK_BYTES): the README lists what was left out."""
    buf, seen, names, left_out, size = io.BytesIO(), set(), {}, [], 0
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, trace in traces.items():
            text = trace.to_json(indent=1)
            digest = hashlib.sha256(text.encode()).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            if len(names) >= PACK_TRACES or size + len(text) > PACK_BYTES:
                left_out.append(name)
                continue
            file, n = _safe(name), 2
            while file in names.values():
                file, n = f"{_safe(name)}-{n}", n + 1
            names[name], size = file, size + len(text)
            z.writestr(f"traces/{file}.json", text)
        for name, text in texts.items():
            z.writestr(name, text)
        z.writestr("README.txt", "SpecViz workshop pack. Open SpecViz (streamlit run app.py), go to "
                   "Step through and upload any file in traces/ to replay it without a model.\n"
                   + json.dumps({"traces": names, "files": list(texts),
                                 "left out (pack size bound)": left_out}, indent=1))
    return buf.getvalue()


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)[:80]


# ----------------------------------------------------------------------------- production section

def production_section(r, source: str, span: str, trend: dict | None = None) -> str:
    """The brief's production section from a server's metrics (r: a serving.Readout)."""
    from .services.serving.readout import PUBLISHED_VERIFY, what_if

    name, rate = r.name, r.rate_label
    k = f" (draft length k = {r.k})" if r.k else ""
    rows = [("Leviathan's α" + k, num(r.alpha, ".3f") if r.alpha is not None else "not available (see below)"),
            ("τ, tokens per verify pass", num(r.tau, ".2f")),
            ("E[τ] at α (Leviathan's i.i.d. model; close to τ when it fits)", num(r.expected_tau, ".2f")),
            (rate, num(r.rate, ".3f"))]
    if r.unconditional:
        rows.append(("accepted at position 1 … k, of all drafts", " · ".join(num(v, ".2f") for v in r.unconditional)))
        rows.append(("… given the earlier positions were accepted", " · ".join(num(v, ".2f") for v in r.conditional)))
    if r.drafts is not None:
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
        moved = [f"{label} {num(first[key], '.2f')} → {num(second[key], '.2f')}"
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
