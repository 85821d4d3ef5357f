"""This machine's economics of speculative decoding, measured where SpecViz runs.

A pair's α belongs to the pair (how often the target agrees with its draft); the costs belong
to the machine: v(k), what a k-token target pass costs in plain steps (the tuned kernel
table, specviz.decoding.autotune), and c, what a drafted token costs in plain steps (measured here by
a short calibration run of the drafter, cached beside the kernel table). Together they choose
γ (or a token tree) for a run: the models.yaml γ is only the fallback for pairs without a
measured α.
"""
import json
import os
import time
from dataclasses import asdict, dataclass

from . import kerneltable
from .gamma import GammaChoice, TreeOption, alpha_at, choose_gamma
from .models import LoadedModel, ModelSpec, Pair, Progress, encode_prompt, spec_branches

# Two varied requests (one free-form, one that copies from its prompt, so a hybrid's lookup
# rounds weigh in as they do on a real workload); not among the bench's held-out requests.
CALIBRATION = ("Write a short note inviting a colleague to lunch on Friday.",
               "Rewrite in plain words: 'The meeting has been postponed until further notice "
               "owing to unforeseen circumstances.'")
CALIBRATION_TOKENS = 24


@dataclass
class DraftCost:
    """A drafter's c on this machine: draft seconds per drafted token ÷ a plain decoding step."""

    c: float
    drafted: int  # tokens it drafted in the calibration
    measured: str  # when (UTC, ISO 8601)


def measure_c(target: LoadedModel, drafter, prompts_ids: list[list[int]],
              tokens: int = CALIBRATION_TOKENS) -> DraftCost:
    """c as specviz.measure.metrics defines it, from a greedy run at γ = 1 of each request beside plain
    decoding of the same request (interleaved, so both see the same load)."""
    import torch  # noqa: PLC0415 - pages read saved profiles without loading torch

    from .engine import plain_decode, speculative_decode  # noqa: PLC0415 - same
    from .sampling import SamplingParams  # noqa: PLC0415 - same

    draft_s = drafted = plain_s = plain_tokens = 0
    greedy = SamplingParams()
    with torch.inference_mode():
        for ids in prompts_ids:
            spec = speculative_decode(target.model, drafter, ids, greedy, 1, tokens, torch.Generator(), set())
            plain = plain_decode(target.model, ids, greedy, tokens, torch.Generator(), set())
            draft_s, drafted = draft_s + spec.counts.draft_s, drafted + spec.counts.drafted
            plain_s, plain_tokens = plain_s + plain.decode_s, plain_tokens + len(plain.output_ids)
    step = plain_s / max(plain_tokens, 1)
    c = draft_s / drafted / step if drafted else 0.0
    return DraftCost(c, drafted, kerneltable.now())


def _costs_path(table: kerneltable.KernelTable):
    return kerneltable.table_path(table.fingerprint).with_suffix(".c.json")


def _read_costs(table: kerneltable.KernelTable, progress: Progress) -> dict[str, DraftCost]:
    path = _costs_path(table)
    if not path.exists():
        return {}
    try:
        return {spec: DraftCost(**d) for spec, d in json.loads(path.read_text(encoding="utf-8")).items()}
    except (OSError, ValueError, TypeError, AttributeError) as e:
        progress(f"ignored the draft costs in {path} ({type(e).__name__}); measuring again")
        return {}


def _write_costs(table: kerneltable.KernelTable, costs: dict[str, DraftCost], progress: Progress) -> None:
    path = _costs_path(table)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({k: asdict(v) for k, v in costs.items()}, indent=1), encoding="utf-8")
    except OSError as e:
        progress(f"could not keep the draft costs ({e.strerror}); they are measured again next time")


_COSTS: dict[tuple, DraftCost] = {}  # (kernel table file, drafter spec) -> c, once per process
_MEASURED: dict[tuple, float] = {}  # (table, drafter) -> when this process last measured its c


def draft_cost(target: LoadedModel, spec: str, make_drafter, retune: bool = False,
               progress: Progress = lambda m: None) -> DraftCost:
    """The drafter's c on this machine (cached per machine, thread count and target; measured
    on first use, a few seconds; retune measures again)."""
    table = target.tune(progress=progress)
    key = (str(_costs_path(table)), spec)
    retune = retune and not kerneltable.measured_recently(_MEASURED, key)
    if key in _COSTS and not retune:
        return _COSTS[key]
    costs = _read_costs(table, progress)
    if spec not in costs or retune:
        _MEASURED[key] = time.monotonic()
        progress(f"measuring what a drafted token of {spec} costs on this machine "
                 f"({len(CALIBRATION)} requests x {CALIBRATION_TOKENS} tokens) ...")
        prompts = [encode_prompt(target.tokenizer, p, target.spec.chat) for p in CALIBRATION]
        costs[spec] = measure_c(target, make_drafter(), prompts)
        _write_costs(table, costs, progress)
    _COSTS[key] = costs[spec]
    return costs[spec]


def tree_options(pair: Pair, temperature: float) -> list[TreeOption]:
    """The token trees the pair was measured with, τ at this temperature (between measured ones)."""
    out = []
    for t in (pair.measured or {}).get("trees", []):
        tau = alpha_at(t["tau"], temperature) if isinstance(t["tau"], dict) else float(t["tau"])
        out.append(TreeOption(int(t["nodes"]), int(t["top_k"]), int(t["depth"]), tau))
    return out


def choose(target: LoadedModel, pair: Pair, make_drafter, temperature: float, retune: bool = False,
           progress: Progress = lambda m: None) -> GammaChoice:
    """γ (or a token tree, for a drafter that branches) for this pair on this machine: the
    pair's α at the run's temperature, this machine's c and tuned v(k)."""
    sizes = sorted(set(kerneltable.SIZES) | {t.nodes + 1 for t in tree_options(pair, temperature)})
    table = target.tune(sizes, retune, progress=progress)
    return choice_from(table, draft_cost(target, pair.draft, make_drafter, retune, progress), pair, temperature)


def choice_from(table: kerneltable.KernelTable, cost: DraftCost, pair: Pair, temperature: float) -> GammaChoice:
    """The choice these measurements imply (no model needed)."""
    trees = tree_options(pair, temperature) if spec_branches(pair.draft) else []
    return choose_gamma(alpha_at(pair.alpha, temperature), cost.c, table.v_list(), trees=trees)


@dataclass
class Profile:
    """This machine, as the app and `python -m specviz machine` show it."""

    table: kerneltable.KernelTable  # kernels, plain step, v(k), when measured
    costs: dict[str, DraftCost]  # drafter spec -> c here
    choices: dict[str, GammaChoice]  # pair key -> the γ (or tree) chosen at `temperature`
    temperature: float


def _profile(table, costs: dict[str, DraftCost], pairs: list[Pair], temperature: float) -> Profile:
    choices = {p.key: choice_from(table, costs[p.draft], p, temperature)
               for p in pairs if p.alpha and p.draft in costs}
    return Profile(table, costs, choices, temperature)


def profile(target: LoadedModel, pairs: list[Pair], build_drafter, temperature: float = 0.0,
            compare: bool = False, retune: bool = False, progress: Progress = lambda m: None) -> Profile:
    """Kernels, v(k), c of each pair's drafter and the γ each pair gets here (all cached per
    machine: only what is missing, or everything with retune, is measured). compare=True also
    times transformers' own forward beside the tuned one (a few seconds)."""
    sizes = sorted(set(kerneltable.SIZES).union(*({t.nodes + 1 for t in tree_options(p, temperature)} for p in pairs)))
    table = target.tune(sizes, retune=retune, progress=progress)
    if compare and (retune or not table.reference):
        from .autotune import compare as compare_forwards  # noqa: PLC0415 - imports torch

        progress("timing transformers' own forward beside the tuned kernels ...")
        table = compare_forwards(target.model, table)
    costs = {p.draft: draft_cost(target, p.draft, lambda spec=p.draft: build_drafter(spec, target), retune, progress)
             for p in pairs}
    return _profile(table, costs, pairs, temperature)


def saved_profiles(spec: ModelSpec, pairs: list[Pair], threads: int,
                   temperatures=(0.0,)) -> dict[float, Profile]:
    """The profile last measured on this machine for this target at this thread count (else at
    the nearest count measured) at each temperature, read from the cache once without loading
    any model; {} if it was never measured here."""
    for n in sorted(range(1, max(threads, os.cpu_count() or 1) + 1), key=lambda n: abs(n - threads)):
        table = kerneltable.load_table(kerneltable.fingerprint(spec.model_id, spec.dtype, n))
        if table:
            costs = _read_costs(table, lambda m: None)
            return {t: _profile(table, costs, pairs, t) for t in temperatures}
    return {}


def saved_profile(spec: ModelSpec, pairs: list[Pair], threads: int, temperature: float = 0.0) -> Profile | None:
    """saved_profiles at one temperature (None if never measured here)."""
    return saved_profiles(spec, pairs, threads, (temperature,)).get(temperature)
