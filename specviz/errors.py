"""User-facing errors: each message says what went wrong and how to fix it."""


class SpecVizError(Exception):
    """Base of every error shown to a user as one clear line (never a traceback)."""


class ModelError(SpecVizError):
    """A model or drafter that cannot be used."""


class TraceError(SpecVizError):
    """A trace file that cannot be loaded."""


class RunError(SpecVizError):
    """Bad run settings (empty prompt, gamma out of range, ...)."""
