"""A run's Counts written in vLLM's Prometheus format (its spec_decode counters), so SpecViz's own
runs read back through the same importer as a real server's (`watch FILE`, the Your server page)."""
from ..counts import Counts


def exposition(runs: dict[str, Counts], comment: str = "") -> str:
    """Runs' Counts as vLLM's spec_decode counters in Prometheus text format, one model_name each.

    vLLM counts a draft only when something was drafted, so drafts = passes that drafted
    position 0; its per-position counters are the run's accepted_at.
    """
    from prometheus_client import CollectorRegistry, Counter, generate_latest

    registry, names = CollectorRegistry(), ["model_name", "engine"]
    made = {name: Counter(f"vllm:spec_decode_num_{name}", doc, names, registry=registry)
            for name, doc in (("drafts", "Number of spec decoding drafts."),
                              ("draft_tokens", "Number of draft tokens."),
                              ("accepted_tokens", "Number of accepted tokens."))}
    per_pos = Counter("vllm:spec_decode_num_accepted_tokens_per_pos", "Accepted tokens per draft position.",
                      [*names, "position"], registry=registry)
    for model, c in runs.items():
        made["drafts"].labels(model, "0").inc(c.drafted_at[0] if c.drafted_at else 0)
        made["draft_tokens"].labels(model, "0").inc(c.drafted)
        made["accepted_tokens"].labels(model, "0").inc(c.accepted)
        for i, v in enumerate(c.accepted_at):
            per_pos.labels(model, "0", str(i)).inc(v)
    head = "".join(f"# {line}\n" for line in comment.splitlines())
    return head + generate_latest(registry).decode()
