"""Health alarms over a watched span of a server: τ collapsing toward 1.0, acceptance at a draft
position falling while the mean holds, and sudden jumps. Each window between two scrapes is
compared with the windows before it (pooled by drafts where the engine counts them).

The level compared is τ − 1 (accepted tokens per verify pass), or the vLLM-style rate where the
engine counts no verify passes. The thresholds are judgement calls, named here once: a window of
MIN_DRAFTS drafts moves τ by about 0.1 from sampling alone, well inside every threshold.
"""
import statistics
from dataclasses import dataclass

from ... import counts
from ...measure import metrics
from ...numbers import num
from .readout import Readout

MIN_DRAFTS = 30  # a window with fewer verify passes (or drafted tokens) is too small to judge
MIN_BEFORE = 2  # windows a window is compared with, at least
COLLAPSE = 0.25  # the level fell to a quarter of what it was, or lower
DECAY, HOLD = 0.15, 0.10  # a position's conditional acceptance fell by 0.15 while τ moved under 10 %
JUMP = 0.5  # the level moved by half its usual size in one window...
FLOOR = {"τ": 0.3, "rate": 0.1}  # ...and by at least this much; a baseline below it has nothing to lose


@dataclass
class Alarm:
    kind: str  # "collapse" | "decay" | "jump"
    where: str  # the first window it fired on
    message: str
    windows: int = 1  # how many windows it fired on

    def __str__(self) -> str:
        more = f" (and {self.windows - 1} later window{'s' * (self.windows > 2)})" if self.windows > 1 else ""
        return f"{self.kind} at {self.where}{more}: {self.message}"


def measure(r: Readout) -> str | None:
    """What the alarms compare for this readout: τ, the rate, or nothing."""
    return "τ" if r.tau is not None else "rate" if r.rate is not None else None


def level(r: Readout, by: str) -> float:
    return r.tau - 1 if by == "τ" else r.rate


def judged(r: Readout) -> bool:
    """Whether a window is large enough to judge (gauges: always; they count nothing)."""
    size = r.drafts if r.drafts is not None else r.counts.drafted if r.counts is not None else None
    return measure(r) is not None and (size is None or size >= MIN_DRAFTS)


def check(windows: list[Readout], names: list[str]) -> list[Alarm]:
    """Every kind of alarm that fired, at the first window it fired on (windows oldest first)."""
    seen = [(n, r) for n, r in zip(names, windows) if judged(r)]
    fired: dict[str, Alarm] = {}
    for i in range(MIN_BEFORE, len(seen)):
        where, now = seen[i]
        for kind, message in _alarms(now, [r for _, r in seen[:i]]):
            if kind in fired:
                fired[kind].windows += 1
            else:
                fired[kind] = Alarm(kind, where, message)
    return list(fired.values())


def _pooled(before: list[Readout]) -> counts.Counts | None:
    """The windows before as one: their Counts summed when every one counted its passes."""
    if all(r.drafts for r in before):
        return sum((r.counts for r in before), counts.Counts())
    return None


def _alarms(now: Readout, before: list[Readout]) -> list[tuple[str, str]]:
    by = measure(now)
    before = [r for r in before if measure(r) == by]
    if len(before) < MIN_BEFORE:
        return []
    pooled = _pooled(before)
    if pooled is not None:
        base = metrics.mean_acceptance_length(pooled) - 1 if by == "τ" else metrics.draft_acceptance_rate(pooled)
    else:
        base = statistics.fmean(level(r, by) for r in before)
    usual, lv = statistics.median(level(r, by) for r in before), level(now, by)
    shown = (lambda x: num(1 + x)) if by == "τ" else num
    out = []
    if base >= FLOOR[by] and lv <= COLLAPSE * base:
        out.append(("collapse", f"{by} collapsed toward {'1.0' if by == 'τ' else '0'}: {shown(base)} → {shown(lv)} "
                    "(nearly every drafted token is now rejected, and each pass still pays for the draft: check "
                    "the draft model, its version, the traffic's language and temperature)"))
    elif abs(lv - usual) >= max(JUMP * usual, FLOOR[by]):
        way = "up (often a repetition loop or copied text)" if lv > usual else "down (a change of traffic or model?)"
        out.append(("jump", f"{by} jumped {way} in one window: usually {shown(usual)}, now {shown(lv)}"))
    if pooled is not None and now.k and by == "τ" and all(r.k == now.k for r in before):
        out += _decay(now, pooled, base + 1)
    return out


def _decay(now: Readout, pooled: counts.Counts, base_tau: float) -> list[tuple[str, str]]:
    """A draft position whose conditional acceptance fell while τ held: the mean hides it."""
    if abs(now.tau - base_tau) > HOLD * base_tau:
        return []
    was = metrics.acceptance_by_position(pooled)[0]
    for i, (b, n, checks) in enumerate(zip(was, now.conditional, now.counts.checked_at)):
        if b is not None and n is not None and checks >= MIN_DRAFTS and b - n >= DECAY:
            return [("decay", f"acceptance at draft position {i + 1} fell {b:.2f} → {n:.2f} (given the earlier "
                     f"positions were accepted) while τ held ({base_tau:.2f} → {now.tau:.2f}): the later "
                     "positions stop paying for their drafting; a shorter draft may serve better")]
    return []
