"""A hostile trace: a real shipped trace whose every string carries markdown links, images,
HTML, script, bare URLs and Streamlit markdown directives (the bad-input fixture of issue 14).

    python tests/hostile.py out.json     # write it, e.g. to upload it by hand
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from specviz.trace import Trace  # noqa: E402

SOURCE = ROOT / "data" / "traces" / "summarise__lookup__greedy.json"
PAYLOADS = [
    "[click me](https://evil.example/phish)",
    "![pixel](https://evil.example/pixel.png)",
    "<img src=https://evil.example/p.png onerror=alert(1)>",
    "<script>alert('x')</script>",
    "<a href='https://evil.example/a'>anchor</a>",
    "https://evil.example/bare",
    "www.evil.example",
    "mail@evil.example mailto:m@evil.example HTTPS://EVIL.EXAMPLE/UP WWW.EVIL.EXAMPLE",
    "<iframe src=https://evil.example/f></iframe>",
    "<style>body{display:none}</style>",
    ":red[coloured] :material/warning: $x^2$",
    "**bold** _it_ `code` # heading",
]
EVIL = "evil.example"  # every payload that could fetch or link points here


def hostile_dict(rounds: int = 4) -> dict:
    """The trace as a dict with every string value replaced by all the payloads."""
    data = Trace.load(str(SOURCE)).to_dict()
    data["rounds"] = data["rounds"][:rounds]
    blob = " ".join(PAYLOADS)

    def walk(x):
        if isinstance(x, dict):  # "kind" is an enum, not text
            return {k: v if k == "kind" else walk(v) for k, v in x.items()}
        if isinstance(x, list):
            return [walk(v) for v in x]
        return blob if isinstance(x, str) else x

    return walk(data)


def hostile_trace(rounds: int = 4) -> Trace:
    return Trace.from_dict(hostile_dict(rounds))


if __name__ == "__main__":
    Path(sys.argv[1]).write_text(hostile_trace().to_json(), encoding="utf-8")
