"""User-facing errors: each message says what went wrong and how to fix it."""


def first_line(error: BaseException, limit: int | None = 200) -> str:
    """The first line of an exception's message, cut to limit (None: whole); "" if it has none."""
    return (str(error).splitlines() or [""])[0][:limit]


class SpecVizError(Exception):
    """Base of every error shown to a user as one clear line (never a traceback)."""


class ModelError(SpecVizError):
    """A model or drafter that cannot be used."""


class TraceError(SpecVizError):
    """A trace file that cannot be loaded."""


class RunError(SpecVizError):
    """Bad run settings (empty prompt, gamma out of range, ...)."""
