"""A quiz's predict-before-reveal questions on real runs: the token a question asks about (its named
trace, else any chain with such a token), and its verdict in that run's own numbers."""
from typing import Callable

from ..numbers import prob
from ..present import tokens
from ..services.store import shipped_traces
from ..trace import Trace


def find_round(trace: Trace, pick: str) -> tuple[int, int] | None:
    """(round, draft position) of the first rejected / first accepted drafted token."""
    want = pick == "first_accepted"
    for i, rnd in enumerate(trace.rounds):
        for j, tok in enumerate(rnd.draft):
            if tok.accepted == want and (want or all(t.accepted for t in rnd.draft[:j])):
                return i, j
    return None


def explain_token(trace: Trace, rnd: int, pos: int) -> str:
    """Why this drafted token was accepted or rejected, in the trace's own numbers."""
    tok = trace.rounds[rnd].draft[pos]
    fate = "accepted" if tok.accepted else "rejected"
    drafted = tokens.visible(tok.text)
    if tok.r is None:  # greedy: argmax test
        top = tokens.visible(tok.top_p[0].text) if tok.top_p else "?"
        out = (f"**{fate}**: greedy verification keeps a drafted token only if it is the target's "
               f"argmax. The target's top token here was “{top}” (p(x) = {prob(tok.p)} for the "
               f"drafted “{drafted}”).")
        if tok.beta is not None:
            out += (f" β = Σ min(p, q) = {tok.beta:.0f}: with greedy p and q are one-hot at their "
                    "argmax, so β is 1 when they agree and 0 otherwise.")
        return out
    ratio = tok.p / tok.q if tok.q > 0 else float("inf")
    sign = "<" if tok.accepted else "≥"
    out = (f"**{fate}**: p(x) = {prob(tok.p)}, q(x) = {prob(tok.q)}, so the target keeps "
           f"this token with probability min(1, p/q) = {prob(min(1.0, ratio))}; the uniform draw "
           f"was r = {prob(tok.r)} {sign} p/q.")
    if tok.beta is not None:
        out += (f" Averaged over every token the draft could have proposed here, the acceptance "
                f"probability is β = Σ min(p, q) = {prob(tok.beta)}.")
    return out


def predict_case(item: dict, labels: list[str], get: Callable[[str], Trace]):
    """(label, trace, round, draft position) a predict item asks about: its named trace, else any
    chain with such a token; None if there is none."""
    pick = item.get("pick", "first_rejected")
    named = [lb for lb in labels if item["trace"] in lb]
    for label in named + [lb for lb in labels if lb not in named]:
        trace = get(label)
        if trace.config.tree_nodes:  # the predict cards show a chain's draft
            continue
        found = find_round(trace, pick)
        if found:
            return (label, trace, *found)
    return None


def verdicts(items: list[dict]) -> dict[int, str]:
    """The answer key's verdict of every predict question, on the shipped traces (what a session
    that uploaded nothing is asked): question index -> markdown."""
    paths = shipped_traces()
    out = {}
    for i, item in enumerate(items):
        case = (predict_case(item, list(paths), lambda label: Trace.load(str(paths[label])))
                if item.get("kind") == "predict" else None)
        if case is not None:
            label, trace, rnd, pos = case
            tok = trace.rounds[rnd].draft[pos]
            out[i] = (f"real run {label}, round {rnd + 1} of {len(trace.rounds)}, draft token {pos + 1} "
                      f"“{tokens.visible(tok.text)}”: " + explain_token(trace, rnd, pos))
    return out
