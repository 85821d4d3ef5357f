"""The one palette, for charts, token fates and every page's CSS: Okabe-Ito (Okabe and Ito 2008),
safe for the common colour-vision deficiencies; every fate also carries a glyph and a word
(tokens.FATES), so no colour is the only carrier of meaning. No plotly here."""
from string import Template

BLUE, ORANGE, GREEN, VERMILLION, PURPLE, SKY, YELLOW, BLACK = ("#0072B2", "#E69F00", "#009E73", "#D55E00",
                                                               "#CC79A7", "#56B4E9", "#F0E442", "#000000")
GREY = "#8C8C8C"  # never checked, pending
LIGHT_GREY = "#BBBBBB"  # a reference line that must not compete with the data
ORANGE_TEXT = "#B07A00"  # orange darkened enough to be read as text on white
PALETTE = [BLUE, ORANGE, GREEN, VERMILLION, PURPLE, SKY, YELLOW, BLACK]
FATE_COLOURS = {"accepted": BLUE, "rejected": VERMILLION, "resampled": ORANGE, "bonus": GREEN,
                "target": PURPLE, "discarded": GREY}
_NAMES = {"BLUE": BLUE, "ORANGE": ORANGE, "GREEN": GREEN, "VERMILLION": VERMILLION, "PURPLE": PURPLE,
          "SKY": SKY, "YELLOW": YELLOW, "GREY": GREY, "ORANGE_TEXT": ORANGE_TEXT}


def tint(colour: str, alpha: float) -> str:
    """A colour as CSS rgba() at this opacity (a fate's background)."""
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{format(alpha, 'g').removeprefix('0')})"


def css(template: str) -> str:
    """CSS with the palette filled in: $BLUE is the colour, $BLUE_12 the colour at opacity .12."""
    tints = {f"{name}_{a}": tint(c, a / 100) for name, c in _NAMES.items() for a in (12, 16, 20, 22)}
    return Template(template).substitute(_NAMES | tints)
