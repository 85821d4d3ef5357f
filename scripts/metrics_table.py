"""Old vs new metrics of recorded traces, side by side (the closing table of issue 11).

    python scripts/metrics_table.py                  # every trace in data/traces, markdown
    python scripts/metrics_table.py a.json b.json --json

"old" is what SpecViz showed before the one definition: α = accepted ÷ drafted (vLLM's draft
acceptance rate) fed to Leviathan's formulas at the configured γ. "new" is specviz.measure.metrics:
Leviathan's α (accepted ÷ checked positions), E[τ] over the drafts the run made, and both
theories. Works on trace versions 1 and 2 (α_expected needs β, recorded from version 2 on).
"""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from specviz import theory  # noqa: E402
from specviz.measure import metrics
from specviz.trace import Trace  # noqa: E402

TRACES = Path(__file__).resolve().parent.parent / "data" / "traces"


def row(name: str, trace: Trace, version: int | None = None) -> dict:
    """One trace's old and new numbers (None where a number cannot be computed)."""
    s, g = metrics.summarize(trace), trace.config.gamma
    old_alpha = s.draft_acceptance_rate
    old_theory = (theory.speedup_theoretical(old_alpha, g, s.cost_ratio)
                  if None not in (old_alpha, s.cost_ratio) else None)
    ratio = lambda m, t: m / t if m is not None and t else None  # noqa: E731
    return {"trace": name, "version": version or trace.version, "gamma": g,
            "alpha_old": old_alpha, "alpha": s.alpha, "alpha_expected": s.alpha_expected,
            "tau": s.mean_acceptance_length,
            "expected_tau_old": theory.expected_acceptance_length(old_alpha, g) if old_alpha is not None else None,
            "expected_tau": s.expected_acceptance_length,
            "c": s.cost_ratio, "v": s.verify_cost, "speedup_measured": s.speedup_measured,
            "theory_old": old_theory, "theory": s.speedup_theoretical, "theory_v": s.speedup_verify_aware,
            "vs_theory_old": ratio(s.speedup_measured, old_theory),
            "vs_theory": ratio(s.speedup_measured, s.speedup_theoretical),
            "vs_theory_v": ratio(s.speedup_measured, s.speedup_verify_aware)}


COLUMNS = [("trace", "trace", None), ("format", "version", "d"), ("γ", "gamma", "d"),
           ("α old (accepted ÷ drafted)", "alpha_old", ".3f"), ("α new (Leviathan)", "alpha", ".3f"),
           ("α_expected (mean β)", "alpha_expected", ".3f"), ("τ measured", "tau", ".2f"),
           ("E[τ] old", "expected_tau_old", ".2f"), ("E[τ] new", "expected_tau", ".2f"),
           ("c", "c", ".2f"), ("v", "v", ".2f"), ("measured", "speedup_measured", ".2f"),
           ("theory old", "theory_old", ".2f"), ("theory new", "theory", ".2f"),
           ("theory with v", "theory_v", ".2f"), ("measured ÷ theory old", "vs_theory_old", ".2f"),
           ("measured ÷ theory new", "vs_theory", ".2f"), ("measured ÷ theory with v", "vs_theory_v", ".2f")]


def file_version(path: Path) -> int | None:
    """The version the file was written with (loading upgrades version 1 in memory)."""
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("version")
    except (OSError, ValueError, AttributeError):
        return None


def markdown(rows: list[dict]) -> str:
    cell = lambda v, spec: ("not recorded" if v is None else v if spec is None else format(v, spec))  # noqa: E731
    lines = ["| " + " | ".join(h for h, _, _ in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell(r[k], spec) for _, k, spec in COLUMNS) + " |" for r in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("traces", nargs="*", help=f"trace files (default: every file in {TRACES})")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args()
    paths = [Path(p) for p in args.traces] or sorted(TRACES.glob("*.json"))
    rows = [row(p.stem, Trace.load(str(p)), file_version(p)) for p in paths]
    print(json.dumps(rows, indent=1) if args.json else markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
