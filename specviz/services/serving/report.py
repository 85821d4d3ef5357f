"""The decision brief's production section from a server's readout: its numbers under the app's
definitions, the trend, Leviathan's what-if at γ ± 1, the verify-cost caveat and what the
counters cannot tell (markdown).
"""

from ...numbers import num


def production_section(r, source: str, span: str, trend: dict | None = None) -> str:
    """The brief's production section from a server's metrics (r: a serving.Readout)."""
    from .readout import PUBLISHED_VERIFY, what_if

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
