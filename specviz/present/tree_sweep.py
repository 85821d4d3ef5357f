"""Where a bigger token tree stops paying, in words and a sweep's measured numbers (markdown;
specviz.measure.tree_sweep measures the rows).
"""
from typing import Callable
from ..measure.tree_sweep import Row



def _pct(a: float, b: float) -> str:
    return f"{(b / a - 1) * 100:+.0f} %"


def explain(rows: list[Row], v_of: Callable[[int], float | None] | None = None) -> str:
    """Where a bigger tree stops paying, in words and the rows' measured numbers (markdown)."""
    rows = [r for r in rows if r.tau is not None and r.round_cost is not None]
    trees = sorted((r for r in rows if r.nodes), key=lambda r: r.nodes)
    chain = next((r for r in rows if not r.nodes), None)
    if not trees:
        return "No tree was measured."
    out = []
    if chain:
        t = trees[0]
        out.append(f"A **{t.name}** carries τ = {t.tau:.2f} tokens per pass against {chain.tau:.2f} for the "
                   f"**{chain.name}** ({t.tau - chain.tau:+.2f}): it offers the target {t.nodes} guesses "
                   f"instead of {chain.gamma}, on several branches. A round costs {t.round_cost:.2f} plain steps "
                   f"instead of {chain.round_cost:.2f}: drafting {t.drafted * t.c:.2f} steps instead of "
                   f"{chain.drafted * chain.c:.2f}, and one pass over {t.pass_tokens} tokens instead of "
                   f"{chain.pass_tokens}, v = {t.v:.2f} instead of {chain.v:.2f}.")
    for a, b in zip(trees, trees[1:]):
        gain, cost = b.tau / a.tau, b.round_cost / a.round_cost
        verdict = ("**pays**: τ grew faster than the round's cost" if gain > cost else
                   "**does not pay**: the round's cost grew faster than τ")
        out.append(f"{a.nodes} → {b.nodes} nodes: τ {a.tau:.2f} → {b.tau:.2f} ({_pct(a.tau, b.tau)}), cost per "
                   f"round {a.round_cost:.2f} → {b.round_cost:.2f} steps ({_pct(a.round_cost, b.round_cost)}; "
                   f"drafting {a.drafted * a.c:.2f} → {b.drafted * b.c:.2f}, the pass v {a.v:.2f} → {b.v:.2f}): "
                   f"{verdict}.")
    best = max(rows, key=lambda r: r.speedup or 0.0)
    if best.speedup is not None:
        close = [r for r in rows if r is not best and r.hi is not None and best.lo is not None and r.hi >= best.lo]
        noise = (f" The repeats of {', '.join(r.name for r in close)} overlap with it: on this shared machine "
                 "that difference is within the noise." if close else "")
        slower = " (below 1: slower than plain decoding on this machine at the time)" if best.speedup < 1 else ""
        out.append(f"Measured best here: the **{best.name}**, {best.speedup:.2f}× plain decoding{slower}.{noise}")
    if v_of is not None:
        points = [(r.pass_tokens, v_of(r.pass_tokens)) for r in sorted(rows, key=lambda r: r.pass_tokens)]
        points = [(k, v) for k, v in points if v is not None]
        if points:
            curve = ", ".join(f"v({k}) = {v:.2f}" for k, v in points)
            out.append(f"The pass-cost curve, measured apart from the runs (one pass over k tokens ÷ a one-token "
                       f"pass), says why: {curve}. Sequoia sizes its tree to the hardware: on a GPU a pass of "
                       "about 64 tokens costs about one step, so the τ a bigger tree gains is nearly free; on a "
                       "2-core CPU every extra node costs real time, so the tree that pays is small.")
    return "\n\n".join(out)
