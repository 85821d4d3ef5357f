"""How SpecViz writes a number wherever it shows one, so a missing number reads the same on every
page, card, brief and command: "n/a" (never "n/a×"), and a tiny probability never reads as 0."""


def num(x: float | None, spec: str = ".2f", unit: str = "", missing: str = "n/a") -> str:
    """x in format spec with its unit; a missing one (None) is `missing`, without the unit."""
    return missing if x is None else format(x, spec) + unit


def dash(x: float | None, digits: int = 2) -> str:
    """A table cell: x with digits decimals, "–" when missing (bench's and distill's tables)."""
    return num(x, f".{digits}f", missing="–")


def prob(x: float | None, digits: int = 3) -> str:
    """A probability-like number; tiny ones in scientific notation so they never read as 0."""
    if x is None:
        return "n/a"
    return f"{x:.1e}" if 0 < abs(x) < 10 ** -digits else f"{x:.{digits}f}"


def span(values: list[float | None], spec: str = ".2f", unit: str = "") -> str:
    """“0.30–0.32” (or one value) for quoting measured numbers in a text; n/a if none."""
    xs = sorted(x for x in values if x is not None)
    if not xs:
        return "n/a"
    lo, hi = format(xs[0], spec), format(xs[-1], spec)
    return f"{lo}{unit}" if lo == hi else f"{lo}–{hi}{unit}"


def plural(n: int, word: str) -> str:
    """“1 round”, “3 rounds”."""
    return f"{n} {word}{'s' * (n != 1)}"
