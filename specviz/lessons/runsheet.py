"""The workshop's run sheet: a timed agenda through the app's own pages. No Streamlit here.

The plan is data (runsheet.yaml): blocks with their length, page, a link that opens the view,
what to click, what the room should see, the quiz questions to ask and the instruments shown.
Every number in its prose is a `{{fact}}` (specviz.lessons.content): the linked trace's own metrics, the
lessons' facts, the instruments' measured times (data/instrument_times.json, written by
scripts/time_instruments.py). Questions and answers come from the lessons' quizzes, passed in by
the caller (the Run sheet page, the workshop pack) with the predict questions' verdicts.
"""
import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import yaml

from ..measure import metrics
from ..numbers import num
from ..paths import INSTRUMENT_TIMES, RUN_SHEET, TRACES_DIR
from ..trace import Trace
from .content import fill

SLOW_S = 10.0  # an instrument that makes the room wait this long is started early
INSTRUMENTS = {  # name -> (page, what it measures, what it shows before): time_instruments.py presses each
    "cost_curve": ("3_Why_it_works", "one target pass vs tokens scored (Measure on this device)",
                   "opens on the shipped curve"),
    "draft_cost": ("3_Why_it_works", "the cost ratio c of each drafter (Measure c)", "opens on the shipped runs' c"),
    "workloads": ("4_Acceptance_rate", "α per workload (Measure all three workloads)",
                  "opens on the shipped lookup runs"),
    "lab": ("5_Lossless", "the distribution lab on the real model (Run the lab)", "shows nothing until run"),
    "tree_sweep": ("6_Beyond_draft_models", "the chain beside token trees (Measure the chain and these trees)",
                   "opens on the shipped sweep"),
    "profiles": ("6_Beyond_draft_models", "each drafter's α and c (Measure each drafter now)",
                 "opens on the shipped runs"),
    "brief": ("7_Decision_brief", "the decision brief measured on your workload (Measure and write the brief)",
              "opens on the shipped runs"),
}


@dataclass
class Question:
    """One quiz question as the run sheet quotes it."""

    text: str
    answer: str  # the right option, or a predict question's verdict
    why: str


@dataclass
class Block:
    page: str
    minutes: int
    title: str
    start: int = 0  # minutes from the workshop's start
    link: dict = field(default_factory=dict)
    traces: dict = field(default_factory=dict)  # name -> shipped trace stem whose metrics the prose quotes
    click: list[str] = field(default_factory=list)
    see: list[str] = field(default_factory=list)
    ask: list[dict] = field(default_factory=list)
    instruments: list[str] = field(default_factory=list)


@functools.lru_cache(maxsize=4)
def _yaml(path: str, mtime: float) -> dict:
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def load(path: Path = RUN_SHEET) -> dict:
    """The plan as written (placeholders unfilled)."""
    return _yaml(str(path), path.stat().st_mtime)


def times(path: Path = INSTRUMENT_TIMES) -> dict:
    """The instruments' measured times and where they were measured ({} if never measured)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def blocks(plan: dict) -> list[Block]:
    """The plan's blocks with their start minute."""
    out, at = [], 0
    for b in plan["blocks"]:
        out.append(Block(**b, start=at))
        at += b["minutes"]
    return out


def length(plan: dict) -> int:
    return sum(b["minutes"] for b in plan["blocks"])


def page_path(stem: str) -> str:
    """The page's path in the app's address ("" for Home), as Streamlit names it."""
    return "" if stem == "app" else stem.split("_", 1)[-1]


def link(block: Block, base: str = "") -> str:
    """The address that opens the block's view (base: the server's address, if known)."""
    query = "?" + urlencode(block.link) if block.link else ""
    return f"{base.rstrip('/')}/{page_path(block.page)}{query}"


def trace_facts(traces: dict[str, str]) -> dict[str, str]:
    """<name>_alpha, _tau, _c, _speedup of each shipped trace a block quotes (name -> file stem)."""
    out = {}
    for name, stem in traces.items():
        path = TRACES_DIR / f"{stem}.json"
        if path.exists():
            s = metrics.summarize(Trace.load(str(path)))
            out |= {f"{name}_alpha": num(s.alpha), f"{name}_tau": num(s.mean_acceptance_length),
                    f"{name}_c": num(s.cost_ratio), f"{name}_speedup": num(s.speedup_measured, ".2f", "×")}
    return out


def clock(minutes: float) -> str:
    """m:ss from the workshop's start (h:mm:ss past the hour)."""
    secs = round(minutes * 60)
    h, m, sec = secs // 3600, secs // 60 % 60, secs % 60
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def instrument_line(name: str, measured: dict) -> str:
    """"measure here" with the instrument's measured time, or that it was not measured."""
    _, what, before = INSTRUMENTS[name]
    s = measured.get("instruments", {}).get(name)
    if s is None:
        return f"{what}: {before}; **measure here** (not timed yet: scripts/time_instruments.py)"
    early = " · **start it early**" if s >= SLOW_S else ""
    return f"{what}: {before}; **measure here** ≈ {s:.0f} s{early}"


def early(plan: dict, measured: dict) -> list[tuple[float, Block, str, float]]:
    """(when to press it, in minutes, block, instrument, seconds) of every instrument slow enough to
    start early: in the second tab when the block before starts, one after another (a press while
    the tab still measures would stop that measurement), so that it is done when its block starts."""
    got, bs, out = measured.get("instruments", {}), blocks(plan), []
    for i, b in enumerate(bs):
        at = bs[max(i - 1, 0)].start
        for name in b.instruments:
            if got.get(name, 0) >= SLOW_S:
                out.append((at, b, name, got[name]))
                at += got[name] / 60
    return out


def markdown(plan: dict, facts: dict[str, str], questions: dict[tuple[str, int], Question],
             measured: dict, base: str = "") -> str:
    """The run sheet as one markdown document (printable; it goes into the workshop pack).

    facts: the lessons' facts by name; questions: (lesson, index) -> Question; measured: times()."""
    total = length(plan)
    head = fill({k: plan[k] for k in ("title", "summary", "before")}, facts)
    out = [f"# {head['title']}", "", " ".join(head["summary"].split()), "",
           f"**{total} minutes**, {len(plan['blocks'])} blocks. Links open each view on this server "
           "(or prefix them with yours).", "", "## Before the room arrives", ""]
    out += [f"- {line}" for line in head["before"]]
    slow = early(plan, measured)
    if slow:
        where = (f"measured {measured.get('date', '')} on {measured.get('machine', 'this machine')}, load "
                 f"average {measured.get('load_before', 'n/a')} → {measured.get('load_after', 'n/a')}; the "
                 f"model's first load took {measured.get('model_load_s', 'n/a')} s more")
        out += ["", "## Start early (in the second tab)", "",
                f"A measurement keeps its page busy and its result stays in the tab that made it: press these "
                f"in the second tab a block ahead, then switch to it. Times {where}.", ""]
        out += [f"- at {clock(at)}, for {clock(b.start)} · {b.title}: {INSTRUMENTS[name][1]}, ≈ {s:.0f} s"
                for at, b, name, s in slow]
    for b in blocks(plan):
        b = Block(**fill(b.__dict__, {**facts, **trace_facts(b.traces)}))
        out += ["", f"## {clock(b.start)}–{clock(b.start + b.minutes)} · {b.title} ({b.minutes} min)", "",
                f"Open: `{link(b, base)}`", ""]
        out += ["**Click**", ""] + [f"- {c}" for c in b.click]
        out += ["", "**The room should see**", ""] + [f"- {c}" for c in b.see]
        if b.instruments:
            out += ["", "**Instruments**", ""] + [f"- {instrument_line(n, measured)}" for n in b.instruments]
        if b.ask:
            out += ["", "**Ask the room**", ""]
            for q in b.ask:
                qq = questions[(q["lesson"], q["question"])]
                out += [f"- {qq.text}", f"  - Answer: {qq.answer}", f"  - Why: {qq.why}"]
    return "\n".join(out) + "\n"
