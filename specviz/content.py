"""Texts as data: `{{name}}` in a lesson's or the run sheet's prose is filled from measured facts
(the shipped traces, measurements), never typed in. No Streamlit here."""
import re

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
