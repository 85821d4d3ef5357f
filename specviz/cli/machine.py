"""`machine`: this machine's kernels, pass costs v(k), each drafter's c and the γ each pair gets here."""

import sys

from ..errors import RunError
from ..numbers import num
from .terminal import quiet_transformers


def add_parser(sub) -> None:
    p = sub.add_parser("machine", help="this machine's kernels, pass costs v(k), draft costs c and the γ each pair gets",
                       description="What speculative decoding costs on this machine: the CPU kernel "
                       "chosen for each pass size (timed at load, cached per machine), the plain step and "
                       "v(k), each offline pair's draft cost c, and the γ (or token tree) chosen from the "
                       "pair's measured α. Everything is cached; --retune measures again.")
    p.add_argument("--target", default="smollm2-135m-instruct", help="models.yaml key or hub id")
    p.add_argument("--temperature", type=float, default=0.0, help="the runs' temperature (α depends on it)")
    p.add_argument("--compare", action="store_true",
                   help="also time transformers' own forward beside the tuned kernels (a few seconds)")
    p.add_argument("--retune", action="store_true", help="measure everything again")
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda")
    p.add_argument("--threads", type=int, default=0,
                   help="torch CPU threads (0 = the cores the load average leaves free, at least 1)")
    p.set_defaults(func=cmd_machine)


def cmd_machine(args) -> int:
    from ..decoding import machine
    from ..decoding.models import load_registry, use_cpu_threads
    from ..decoding.drafters import build_drafter
    from ..decoding.record import load_target

    quiet_transformers()
    if not 0 <= args.temperature <= 2 or args.threads < 0:
        raise RunError("--temperature must be in [0, 2] and --threads at least 0")
    use_cpu_threads(args.threads)
    say = lambda m: print(f"· {m}", file=sys.stderr, flush=True)  # noqa: E731
    target = load_target(args.target, args.device, say)
    pairs = [p for p in load_registry().pairs.values() if p.offline and p.target == target.name]
    prof = machine.profile(target, pairs, build_drafter, args.temperature, args.compare, args.retune, say)
    print(machine_text(prof))
    return 0


def machine_text(prof) -> str:
    """The profile as a few plain lines and one table."""
    t = prof.table
    fp = t.fingerprint
    lines = [f"{fp['cpu']}, {fp['threads']} torch thread{'s' * (fp['threads'] != 1)}, torch {fp['torch']}, "
             f"{fp['model']} ({fp['dtype']}); kernels timed {t.measured} in {t.tune_s:.1f} s "
             f"(load average {num(t.load, '.1f')})",
             f"plain step {1000 * t.step_s:.1f} ms",
             "| k | kernel | ms | v(k) | " + " | ".join(f"{k} alone, v" for k in t.seconds) + " |",
             "|---|---|---|---|" + "---|" * len(t.seconds)]
    for k in t.sizes:
        alone = " | ".join(f"{t.kernel_v(kernel, k):.2f}" for kernel in t.seconds)
        lines.append(f"| {k} | {t.describe(k)} | {1000 * t.pass_s(k):.1f} | {t.v(k):.2f} | {alone} |")
    if t.reference:
        ref = t.reference
        for name in ("tuned", "transformers"):
            if name in ref:
                lines.append(f"{name:>12} forward, v(k) for k = {ref['sizes'][0]}..{ref['sizes'][-1]}: "
                             + " ".join(f"{s / ref[name][0]:.2f}" for s in ref[name])
                             + f" ({1000 * ref[name][0]:.1f} ms at k = 1)")
    for spec, cost in prof.costs.items():
        lines.append(f"c of {spec}: {cost.c:.3f} (measured {cost.measured})")
    for key, choice in prof.choices.items():
        lines.append(f"{key} at T = {prof.temperature:g}: {choice.reason()}")
    return "\n".join(lines)
