"""Take a trace to the slides (pure, no Streamlit): one self-contained HTML file that steps through
its rounds with the keyboard (no server, no internet: every style and script inline, no chart
library), and an animated GIF of chosen rounds. Both draw what the app draws, in its palette and
words: the token strip coloured by fate, each drafted token's q, p, p/q and r, the residual the
target resampled from, the bonus token (round_view.py; a token tree as tree_view.py's SVG).

    python -m specviz show run.json --html run.html
    python -m specviz show run.json --gif run.gif --rounds 1-5
"""
import html
import io
import re

from ..errors import RunError
from ..measure import metrics
from ..numbers import num, prob
from ..trace import Round, Trace
from . import round_view, tokens
from .palette import css

GIF_SIZE, GIF_SECONDS = (1280, 720), 3.0  # a frame per round, the room reads it for 3 s


def parse_rounds(text: str | None, n: int) -> list[int]:
    """"1-5", "3", "2,4,7-9" (rounds counted from 1, as shown) -> 0-based round indices; None: all.
    An empty or malformed selection is a RunError that says which rounds exist."""
    if n == 0:
        raise RunError("this trace has no rounds to show (the run stopped before its first round)")
    if text is None:
        return list(range(n))
    chosen = set()
    for part in text.replace(" ", "").split(","):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise RunError(f"--rounds {text!r}: expected rounds like 3, 1-5 or 1,4,6-8")
        first, last = int(m.group(1)), int(m.group(2) or m.group(1))
        chosen |= {i - 1 for i in range(first, last + 1) if 1 <= i <= n}
    if not chosen:
        raise RunError(f"--rounds {text!r} selects no round: this trace has rounds 1 to {n}")
    return sorted(chosen)


# ------------------------------------------------------------------------------------ HTML

def to_html(trace: Trace, rounds: list[int] | None = None) -> str:
    """The trace as one HTML file: a section per chosen round, stepped with ← / → (Home, End)."""
    rounds = parse_rounds(None, len(trace.rounds)) if rounds is None else rounds
    sections = "".join(_section(trace, i, k == 0) for k, i in enumerate(rounds))
    strip = round_view.rounds_strip_html(trace.rounds, trace.text)
    title = html.escape(f"SpecViz · {trace.config.draft} → {trace.config.target}")
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f'<meta name="viewport" content="width=device-width">{round_view.CSS}<style>{_CSS}</style></head>'
            f'<body><header><h1>Speculative decoding, round by round</h1>'
            f'<p class="what">{html.escape(round_view.what_ran(trace))}</p>'
            f'<p class="what">{_headline(trace)}</p></header><main>{sections}'
            f'<h3>The text so far</h3>{strip}{round_view.legend_html()}</main>'
            f'<footer><button id="back" title="previous round (←)">← back</button> <span id="where"></span> '
            f'<button id="next" title="next round (→)">next →</button> · ← / → step · Home / End · '
            f'made by SpecViz from a recorded trace, every number measured in that run</footer>'
            f'<script>{_JS}</script></body></html>')


def _headline(trace: Trace) -> str:
    """The run's measured numbers under the app's names."""
    s = metrics.summarize(trace)
    share = (f"accepted ÷ checked nodes {num(s.node_acceptance)}" if s.tree
             else f"α (Leviathan) {num(s.alpha)}")
    return html.escape(f"Measured in this run: {share} · τ per pass {num(s.mean_acceptance_length)} · "
                       f"measured speedup {num(s.speedup_measured, '.2f', '×')} on {trace.config.device}")


def _section(trace: Trace, i: int, first: bool) -> str:
    rnd = trace.rounds[i]
    last = round_view.n_stages(rnd) - 1
    head = (f"<h2>Round {i + 1} of {len(trace.rounds)} <small>draft {rnd.draft_s * 1e3:.1f} ms · "
            f"target pass {rnd.verify_s * 1e3:.1f} ms</small></h2>")
    return (f'<section class="round" data-round="{i}"{"" if first else " hidden"}>{head}<div class="top">'
            f'{round_view.round_html(trace, i, last)}{_residual(rnd)}</div>{_numbers(rnd, i)}</section>')


def _numbers(rnd: Round, i: int) -> str:
    """Each token's accept test: q, p, p/q, r and the verdict in words."""
    rows = []
    for t in round_view.round_tokens(rnd, i):
        _, glyph, label = tokens.FATES[t.fate]
        tested = t.q is not None and t.r is not None and t.fate != "discarded"  # the sampled test was run
        pq = prob(tokens.ratio(t.p, t.q)) if tested else ""
        rows.append(f'<tr class="fate-{t.fate}"><td>{tokens.show_text(t.text)}</td><td>{glyph} {label}</td>'
                    f'<td>{prob(t.q) if t.q is not None else ""}</td><td>{prob(t.p)}</td><td>{pq}</td>'
                    f'<td>{prob(t.r) if tested else ""}</td><td>{html.escape(t.decision)}</td></tr>')
    return ('<table class="nums"><tr><th>token</th><th>fate</th><th>q (draft)</th><th>p (target)</th>'
            f'<th>p/q</th><th>r</th><th>why</th></tr>{"".join(rows)}</table>')


def _residual(rnd: Round) -> str:
    """Where the target's own token came from: the residual norm(max(0, p − q)), or p."""
    c = rnd.correction
    cands, what = (c.top_residual, "residual norm(max(0, p − q))") if c.top_residual else (c.top_p, "target p")
    if not cands:
        return ""
    top = max(x.prob for x in cands) or 1
    bars = "".join(f'<div class="bar{" drawn" * (x.token == c.token)}"><span>{tokens.show_text(x.text)}</span>'
                   f'<i style="width:{100 * x.prob / top:.1f}%"></i><b>{x.prob:.3f}</b></div>' for x in cands[:6])
    return (f'<div class="resid"><div class="resid-title">{tokens.FATES[c.kind][1]} {tokens.FATES[c.kind][2]}: '
            f'“{tokens.show_text(c.text)}”, from the {what}</div>{bars}</div>')


_CSS = css("""
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;padding:.8rem 2rem 4rem;
  color:#222;font-size:19px}
h1{font-size:1.3rem;margin:0} h2{font-size:1.6rem;margin:.5rem 0 0} h2 small{font-size:1rem;font-weight:400;color:#555}
h3{margin:1rem 0 .3rem}.what{color:#555;margin:.1rem 0;font-size:.9rem}
.top{display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;align-items:flex-start}.top .sv-round{flex:1 1 30rem}
.card .word{font-size:2rem}.card .num,.card .verdict{font-size:1.15rem}
table.nums{border-collapse:collapse;margin:.6rem 0;font-size:1rem}
table.nums td,table.nums th{padding:.25rem .6rem;border-bottom:1px solid #ddd;text-align:left;white-space:pre}
table.nums td:last-child{white-space:normal}
table.nums tr.fate-accepted td:first-child{border-left:5px solid $BLUE}
table.nums tr.fate-rejected td:first-child{border-left:5px solid $VERMILLION;text-decoration:line-through}
table.nums tr.fate-discarded{color:$GREY}table.nums tr.fate-discarded td:first-child{border-left:5px solid $GREY}
table.nums tr.fate-resampled td:first-child{border-left:5px solid $ORANGE}
table.nums tr.fate-bonus td:first-child{border-left:5px solid $GREEN}
table.nums tr.fate-target td:first-child{border-left:5px solid $PURPLE}
.resid{flex:0 0 21rem;margin:.6rem 0}.resid-title{font-weight:600;margin-bottom:.3rem}
.bar{display:grid;grid-template-columns:6rem 1fr 3.5rem;align-items:center;gap:.5rem;margin:.15rem 0}
.bar span{font-family:ui-monospace,monospace;white-space:pre;overflow:hidden}
.bar i{display:block;height:1rem;background:$GREY;border-radius:.2rem}
.bar.drawn i{background:$ORANGE}.bar.drawn span,.bar.drawn b{font-weight:700}
.sv-strip .later,.sv-strip .later+br{display:none}
footer{position:fixed;bottom:0;left:0;right:0;background:#fff;border-top:1px solid #ddd;padding:.5rem 2rem;
  color:#555;font-size:1rem} footer button{font-size:1rem}
""")

_JS = """
const rounds = [...document.querySelectorAll('section.round')];
let at = 0;
function show(k) {
  at = Math.max(0, Math.min(rounds.length - 1, k));
  rounds.forEach((r, j) => { r.hidden = j !== at; });
  const now = Number(rounds[at].dataset.round);
  document.querySelectorAll('.sv-strip [data-round]').forEach(c => {
    const r = Number(c.dataset.round);
    c.classList.toggle('later', r > now);
    c.classList.toggle('tok-current', r === now);
  });
  document.getElementById('where').textContent = 'round ' + (now + 1) + ' · slide ' + (at + 1) + ' of ' + rounds.length;
}
document.addEventListener('keydown', e => {
  const step = {ArrowRight: 1, ArrowDown: 1, PageDown: 1, ' ': 1, ArrowLeft: -1, ArrowUp: -1, PageUp: -1}[e.key];
  if (step) { show(at + step); e.preventDefault(); }
  if (e.key === 'Home') show(0);
  if (e.key === 'End') show(rounds.length - 1);
});
document.getElementById('next').onclick = () => show(at + 1);
document.getElementById('back').onclick = () => show(at - 1);
show(0);
"""


# ------------------------------------------------------------------------------------ GIF

def to_gif(trace: Trace, rounds: list[int]) -> bytes:
    """An animated GIF, one frame per chosen round: its tokens as cards with q, p, p/q, r and the
    verdict, the target's own token and where it came from, the text so far."""
    frames = [_frame(trace, i) for i in rounds]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], loop=0,
                   duration=int(GIF_SECONDS * 1000), optimize=False)
    return out.getvalue()


def _font(size: int, bold: bool = False):
    from PIL import ImageFont

    for name in (("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"), "Arial.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size)  # Pillow's own font: some glyphs (✓, ✗) may be missing


def _frame(trace: Trace, i: int):
    from PIL import Image, ImageDraw

    img = Image.new("RGB", GIF_SIZE, "white")
    d = ImageDraw.Draw(img)
    rnd, w = trace.rounds[i], GIF_SIZE[0]
    small, body, big = _font(20), _font(24), _font(34, bold=True)
    d.text((40, 24), f"Round {i + 1} of {len(trace.rounds)}", font=_font(40, bold=True), fill="#222")
    y = _wrapped(d, f"{round_view.what_ran(trace)} · {html.unescape(_headline(trace))} · this round: draft "
                    f"{rnd.draft_s * 1e3:.1f} ms, target pass {rnd.verify_s * 1e3:.1f} ms", (40, 80), small, "#555", w - 80)
    if rnd.tree is not None:
        fates = [n.fate for n in rnd.tree.nodes]
        y = _wrapped(d, f"A token tree of {len(fates)} nodes, scored in one target pass: {fates.count('accepted')} "
                        f"accepted (the path below), {fates.count('rejected')} rejected, {fates.count('unchecked')} "
                        "never checked.", (40, y + 6), body, "#222", w - 80)
    x, y = 40, y + 16
    bottom = y
    for t in round_view.round_tokens(rnd, i):
        colour, glyph, _ = tokens.FATES[t.fate]
        lines = [("q", t.q), ("p", t.p)] if t.q is not None else [("p", t.p)]
        if t.r is not None and t.q is not None and t.fate != "discarded":  # the sampled test (greedy: argmax)
            lines += [("p/q", tokens.ratio(t.p, t.q)), ("r", t.r)]
        text = [f"{k} {prob(v)}" for k, v in lines if v is not None]
        word = tokens.visible(t.text)[:12]
        verdict = f"{glyph} {t.fate}".upper()
        card_w = 28 + max(d.textlength(word, font=big), d.textlength(verdict, font=_font(22, bold=True)),
                          *(d.textlength(s, font=body) for s in text))
        if x + card_w > w - 40:
            x, y = 40, bottom + 18
        bottom = max(bottom, y + 64 + 34 * (len(text) + 1))
        d.rounded_rectangle((x, y, x + card_w, y + 64 + 34 * (len(text) + 1)), 14, fill=_tint(colour),
                            outline=colour, width=4)
        d.text((x + card_w / 2, y + 12), word, font=big, fill="#222", anchor="ma")
        for k, s in enumerate(text):
            d.text((x + card_w / 2, y + 62 + 34 * k), s, font=body, fill="#333", anchor="ma")
        d.text((x + card_w / 2, y + 62 + 34 * len(text)), verdict, font=_font(22, bold=True), fill=colour, anchor="ma")
        x += card_w + 18
    y = bottom + 24
    caption = re.sub(r"<[^>]+>", "", round_view.stage_caption(rnd, round_view.n_stages(rnd) - 1, trace.config.gamma)
                     if rnd.tree is None else _tree_caption(rnd))
    y = _wrapped(d, html.unescape(caption), (40, y), body, "#222", w - 80)
    c = rnd.correction
    if c.top_residual:
        drawn = next((x for x in c.top_residual if x.token == c.token), None)
        share = f" (it had {drawn.prob:.3f} of the residual)" if drawn else ""
        y = _wrapped(d, f"Drawn from the residual norm(max(0, p − q)): “{tokens.visible(c.text)}”{share}.",
                     (40, y + 8), body, "#B07A00", w - 80)
    done = round_view.strip_tokens(trace.rounds[:i + 1])
    so_far = "".join(tokens.visible(t.text) for t in done if t.fate != "rejected")
    d.text((40, GIF_SIZE[1] - 120), "The text so far:", font=small, fill="#555")
    _wrapped(d, "…" + so_far[-150:] if len(so_far) > 150 else so_far, (40, GIF_SIZE[1] - 92), body, "#222", w - 80)
    return img


def _tree_caption(rnd: Round) -> str:
    from . import tree_view

    return tree_view.caption(rnd, tree_view.plan(rnd).last)


def _tint(colour: str) -> str:
    """The fate's colour at about 15 % on white (the app's card background)."""
    r, g, b = (int(colour[k:k + 2], 16) for k in (1, 3, 5))
    return "#%02x%02x%02x" % tuple(round(255 - 0.15 * (255 - v)) for v in (r, g, b))


def _wrapped(d, text: str, at: tuple[float, float], font, fill: str, width: float) -> float:
    """Draw text wrapped at width px; the y below it."""
    x, y = at
    line = ""
    for word in text.split(" "):
        if line and d.textlength(line + " " + word, font=font) > width:
            d.text((x, y), line, font=font, fill=fill)
            y, line = y + font.size * 1.35, word
        else:
            line = f"{line} {word}" if line else word
    d.text((x, y), line, font=font, fill=fill)
    return y + font.size * 1.35
