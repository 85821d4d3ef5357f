"""Texts as data: a lesson (specviz/lessons/*.yaml: title, summary, sections, quiz) and the run
sheet write `{{name}}` where they quote a measured number, filled from facts (facts.py: the
shipped traces, measurements), never typed in. No Streamlit here."""
import functools
import re

import yaml

from ..paths import LESSONS_DIR

FACT = re.compile(r"\{\{(\w+)\}\}")


def fill(data, facts: dict[str, str]):
    """A copy of the data with every `{{name}}` replaced by facts[name] (a missing fact: n/a)."""
    if isinstance(data, str):
        return FACT.sub(lambda m: facts.get(m.group(1), "n/a"), data)
    if isinstance(data, list):
        return [fill(x, facts) for x in data]
    if isinstance(data, dict):
        return {k: fill(v, facts) for k, v in data.items()}
    return data


LESSONS = {"3_Why_it_works": "1_why_it_works", "4_Acceptance_rate": "2_acceptance_rate",
           "5_Lossless": "3_lossless", "6_Beyond_draft_models": "4_beyond_draft_models",
           "7_Decision_brief": "5_decision_brief"}  # page stem -> lesson


@functools.lru_cache(maxsize=16)
def _load(path: str, mtime: float) -> dict:
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def load(name: str, facts: dict[str, str] | None = None) -> dict:
    """One lesson's data: title, summary, sections, quiz (with `{{fact}}` filled when facts are given)."""
    path = next(LESSONS_DIR.glob(f"{name}*.yaml"), None)
    if path is None:
        raise FileNotFoundError(f"no lesson {name!r} in {LESSONS_DIR}")
    data = _load(str(path), path.stat().st_mtime)
    return fill(data, facts) if facts is not None else data


def markdown(data: dict) -> str:
    """The lesson as one markdown document."""
    parts = [f"# {data['title']}", data.get("summary", "")]
    parts += [f"## {s['heading']}\n\n{s['body']}" for s in data["sections"]]
    return "\n\n".join(parts)


def answers(data: dict, verdicts: dict[int, str] | None = None) -> str:
    """Teacher's key: every question with its answer and explanation; a predict question with
    its verdict (verdicts: question index -> markdown, quiz.verdicts)."""
    lines = [f"# {data['title']}: answers", ""]
    for i, q in enumerate(data["quiz"], 1):
        if q.get("kind") == "predict":
            verdict = (verdicts or {}).get(i - 1, "no recorded trace has such a token")
            lines.append(f"{i}. {q['question']}\n   Verdict on the {verdict}\n"
                         f"   {q.get('explain', '')}")
        else:
            lines.append(f"{i}. {q['question']}\n   **{q['options'][q['answer']]}**. {q['explain']}")
    return "\n".join(lines)
