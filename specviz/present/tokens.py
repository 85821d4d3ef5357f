"""The vocabulary every view of a run shares: each fate's colour, glyph and label, and a token's
text made visible (whitespace and byte pieces shown, escaped for HTML). Pure, no Streamlit."""
import html

from .palette import FATE_COLOURS

# fate -> (colour, glyph, label)
FATES = {fate: (FATE_COLOURS[fate], glyph, label) for fate, glyph, label in (
    ("accepted", "✓", "accepted draft"),
    ("rejected", "✗", "rejected draft"),
    ("resampled", "↻", "resampled by target"),
    ("bonus", "+", "bonus from target"),
    ("target", "•", "target's own step (nothing drafted)"),
    ("discarded", "·", "never checked (after a rejection)"))}
PIECE = "\ufffd"  # what decoding one byte piece of a multi-byte character gives


def visible(text: str) -> str:
    """A token's text with whitespace and byte pieces made visible (plain text, not HTML)."""
    if not text:
        return "∅"
    if not text.strip() and "\n" not in text:  # spaces alone would make an empty-looking chip
        text = text.replace(" ", "␣").replace("\xa0", "⍽")
    return text.replace("\n", "↵").replace("\t", "⇥").replace(PIECE, "‹byte›")


def show_text(text: str) -> str:
    """visible() escaped for HTML."""
    return html.escape(visible(text))


def ratio(p: float, q: float) -> float:
    """p/q of a drafted token (q is never 0 for a token the draft proposed, but be safe)."""
    return p / q if q > 0 else float("inf")
