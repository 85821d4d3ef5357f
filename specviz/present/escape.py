"""Text from a trace file is data: written into markdown or HTML it must stay plain text (no
Streamlit). A shared trace can carry `[x](https://…)`, `![](https://tracker/p.png)`, `<img onerror=…>`
or a bare `https://…` in any string (token texts, prompt, model and drafter names, environment):
md() wherever such text goes into markdown, inert() for a message that quotes it, html() inside HTML.
"""
import html as _html
import re

# CommonMark lets every ASCII punctuation character be backslash-escaped.
_PUNCT = re.compile(r"""([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])""")


# GFM's bare autolinks (https://…, www.…, a@b.c, mailto:…) are found in the text after escapes
# are resolved, so escaping cannot stop them: an invisible word joiner (U+2060) where their
# patterns need two characters side by side does.
WJ = "\u2060"


_AUTOLINK = re.compile(r"(?i)(?<=www)(?=\.)|(?=://)|(?<=mailto)(?=:)|(?<=xmpp)(?=:)|(?=@)")


def md(value: object, limit: int | None = None, one_line: bool = True) -> str:
    """Any value as literal text inside markdown: no link, image, emphasis or HTML survives."""
    text = str(value)
    if one_line:
        text = " ".join(text.split())
    if limit is not None and len(text) > limit:
        text = text[:limit - 1] + "…"
    text = _PUNCT.sub(r"\\\1", _AUTOLINK.sub(WJ, text))
    # Streamlit's markdown also turns :name: into icons / colours; an escaped ":" already
    # prevents that. Line breaks kept (one_line False) become markdown hard breaks.
    return text.replace("\n", "  \n")


def html(value: object) -> str:
    """Any value as text inside HTML (attributes included)."""
    return _html.escape(str(value), quote=True)


def inert(text: str) -> str:
    """A message that may quote data, made inert in markdown with as little escaping as that
    takes (it stays readable and searchable): no links, images, colour directives, HTML, maths
    or autolinks (GFM finds bare links after escapes are resolved: a word joiner breaks them)."""
    text = re.sub(r"([\[<$@])", r"\\\1", _AUTOLINK.sub(WJ, text))
    return text.replace("://", ":\\/\\/").replace("www.", "www\\.")
