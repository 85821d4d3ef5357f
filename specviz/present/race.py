"""The race: plain and speculative decoding of one trace replayed side by side at their measured
pace, so a room sees which finishes first. Pure; no Streamlit.

Speculative lane: a round's tokens (accepted drafts + the target's own token) appear when the
round ends; round lengths are the recorded draft + verify times, scaled so the lane ends at the
measured decode time timing.spec_s (the loop's own overhead spread over the rounds). Plain lane:
one token per plain step of the baseline decoded in the same run (metrics.baseline_step_s).
"""
import bisect
from dataclasses import dataclass

from ..measure import metrics
from ..trace import Trace
from . import round_view


@dataclass
class Lane:
    times: list[float]  # seconds after the start at which each token is out
    texts: list[str] | None  # token texts (None: the trace has the text, not its tokens)
    text: str  # the lane's whole output text

    @property
    def finish(self) -> float:
        return self.times[-1] if self.times else 0.0

    def done(self, t: float) -> int:
        """Tokens out after t seconds."""
        return bisect.bisect_right(self.times, t)


@dataclass
class Race:
    spec: Lane
    plain: Lane | None  # None: the trace recorded no plain baseline
    round_ends: list[float]  # seconds at which each speculative round ends

    @property
    def length(self) -> float:
        return max(self.spec.finish, self.plain.finish if self.plain else 0.0)

    def rounds_done(self, t: float) -> int:
        return bisect.bisect_right(self.round_ends, t)


def race(trace: Trace) -> Race:
    durations = [r.draft_s + r.verify_s for r in trace.rounds]
    total = sum(durations)
    scale = trace.timing.spec_s / total if total > 0 and trace.timing.spec_s > 0 else 1.0
    ends, t = [], 0.0
    spec_times, spec_texts = [], []
    for i, (rnd, d) in enumerate(zip(trace.rounds, durations)):
        t += d * scale
        ends.append(t)
        for tok in round_view.round_tokens(rnd, i):
            if tok.fate not in ("rejected", "discarded"):
                spec_times.append(t)
                spec_texts.append(tok.text)
    spec = Lane(spec_times, spec_texts, trace.text)
    step, ids = metrics.baseline_step_s(trace), trace.baseline.output_ids
    plain = None
    if step:
        same = ids == trace.output_ids[:len(ids)] and len(spec_texts) >= len(ids)
        plain = Lane([(k + 1) * step for k in range(len(ids))], spec_texts[:len(ids)] if same else None,
                     trace.baseline.text)
    return Race(spec, plain, ends)


def text_so_far(lane: Lane, n: int) -> str:
    """The first n tokens of a lane as text; without token texts, the same share of its text."""
    if lane.texts is not None:
        return "".join(lane.texts[:n])
    share = n / max(len(lane.times), 1)
    return lane.text[:round(share * len(lane.text))]
