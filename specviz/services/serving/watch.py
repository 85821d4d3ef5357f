"""Watching a server over time: each scrape's window against the last (restarts found), and the
trend between the first and second half of the windows.
"""
import time
from dataclasses import dataclass

from ...counts import Counts
from ...measure import metrics
from .prometheus import NAMES, Scrape, Totals
from .readout import Readout, readout_gauges, readout_totals


@dataclass
class Point:
    """One window between two scrapes (gauges only: the gauges at one scrape)."""

    at: float
    seconds: float | None
    readout: Readout
    restarted: bool = False
    name: str | None = None  # saved copies: "first → second" file names


class Watch:
    """Successive scrapes of one server: windows from counter deltas, restarts detected."""

    def __init__(self):
        self.last: Scrape | None = None
        self.points: dict[str, list[Point]] = {}  # model -> windows, oldest first
        self.watched: dict[str, Totals] = {}  # model -> sum of the windows (restarts handled)
        self.events: list[str] = []  # restarts, changes of server, in order

    def add(self, scrape: Scrape) -> list[str]:
        """Take one scrape; returns what happened worth saying (a restart, a new server)."""
        said = []
        if self.last is not None and self.last.engine != scrape.engine:
            said.append(f"the page now shows {NAMES[scrape.engine]} metrics instead of "
                        f"{NAMES[self.last.engine]}: started a new watch")
            self.__init__()
        for m in scrape.models:
            gauges = scrape.gauges.get(m)
            if m not in scrape.totals:  # gauges only: each scrape is its own (latest) window
                self._point(m, scrape, readout_gauges(scrape.engine, m, gauges))
                continue
            before = self.last.totals.get(m) if self.last else None
            if before is None:
                continue
            window, restarted = scrape.totals[m].minus(before)
            if restarted:
                said.append(f"{m or 'the server'} restarted between {_when(self.last)} and {_when(scrape)} "
                            "(its counters went back to zero): that window counts only what happened since "
                            "the restart")
            self.watched[m] = self.watched[m] + window if m in self.watched else window
            self._point(m, scrape, readout_totals(scrape.engine, m, window, gauges), restarted)
        self.last = scrape
        self.events += said
        return said

    def _point(self, model: str, scrape: Scrape, r: Readout, restarted: bool = False) -> None:
        before = self.last if self.last is not None and r.counts is not None else None
        name = f"{before.name} → {scrape.name}" if before and before.name and scrape.name else scrape.name
        self.points.setdefault(model, []).append(
            Point(scrape.at, scrape.at - before.at if before else None, r, restarted, name))

    def since_watching(self, model: str) -> Readout | None:
        t = self.watched.get(model)
        return readout_totals(self.last.engine, model, t) if t is not None and self.last else None


def trend(points: list[Point]) -> dict | None:
    """α (or τ) in the first vs the second half of the windows, pooled by drafts (counters) or
    averaged (gauges); None with fewer than two windows that saw drafts."""
    live = [p for p in points if p.readout.tau is not None and p.readout.drafts != 0]
    if len(live) < 2:
        return None
    half = len(live) // 2
    out = {"windows": len(live), "from": live[0].at, "to": live[-1].at}
    for name, part in (("first", live[:half]), ("second", live[half:])):
        if part[0].readout.drafts is not None:
            pooled = sum((p.readout.counts for p in part), Counts())
            k = part[-1].readout.k
            out[name] = {"tau": metrics.mean_acceptance_length(pooled),
                         "alpha": metrics.alpha(pooled) if k and all(p.readout.k == k for p in part) else None}
        else:
            out[name] = {"tau": sum(p.readout.tau for p in part) / len(part), "alpha": None}
    return out


def _when(scrape: Scrape) -> str:
    return scrape.name or time.strftime("%H:%M:%S", time.localtime(scrape.at))
