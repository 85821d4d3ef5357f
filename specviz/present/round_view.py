"""HTML for the token strip and the staged round view, built from a Trace (pure, no Streamlit).

Every number shown comes from the trace. Colours are the Okabe-Ito palette (safe for the
common colour-vision deficiencies) and every fate also carries a glyph and a word.
"""
import html
from dataclasses import dataclass

from ..numbers import prob
from ..trace import Round, Trace
from . import tree_view
from .palette import css
from .tokens import FATES, PIECE, ratio, show_text

@dataclass
class Tok:
    """One token as the views show it: its text, fate and the numbers of its accept test."""

    text: str
    fate: str
    round: int  # 0-based round index
    pos: int  # 0-based position in the round (len(draft) = the closing token)
    p: float | None
    q: float | None
    r: float | None
    decision: str
    beta: float | None = None  # Σ min(p, q) at this draft position (None: closing token or not recorded)
    shown: str | None = None  # what the chip shows instead of the text (joined byte pieces)
    note: str = ""  # an extra tooltip sentence (byte pieces)


def decision(p: float, q: float, r: float | None, accepted: bool, checked: bool) -> str:
    """Why a drafted token was kept or not, in words and the trace's numbers."""
    if not checked:
        return "never checked: an earlier token in this round was rejected"
    if r is None:  # greedy: accept iff the draft token is the target's argmax
        return ("accepted: it is the target's top token" if accepted
                else "rejected: the target's top token is a different one")
    pq = ratio(p, q)
    if accepted and pq >= 1:
        return f"accepted: p/q = {prob(pq)} ≥ 1, so it is kept whatever r (r = {prob(r)})"
    if accepted:
        return f"accepted because r = {prob(r)} < p/q = {prob(pq)}"
    return f"rejected because r = {prob(r)} ≥ p/q = {prob(pq)}"


def round_tokens(rnd: Round, index: int) -> list[Tok]:
    """The drafted tokens (accepted / rejected / discarded) and the closing token of one round."""
    toks, rejected = [], False
    for j, t in enumerate(rnd.draft):
        fate = "accepted" if t.accepted else "discarded" if rejected else "rejected"
        toks.append(Tok(t.text, fate, index, j, t.p, t.q, t.r,
                        decision(t.p, t.q, t.r, t.accepted, not rejected), t.beta))
        rejected = rejected or not t.accepted
    c = rnd.correction
    why = {"resampled": "sampled from norm(max(0, p − q)) at the rejected position",
           "bonus": "all drafts accepted, so the target's pass yields one more token for free",
           "target": "the drafter proposed nothing, so this pass was a plain step of the target"}[c.kind]
    if c.kind == "resampled" and c.u is None:
        why = "the target's top token at the rejected position (greedy)"
    toks.append(Tok(c.text, c.kind, index, len(rnd.draft), c.p, None, c.u, why))
    return toks


def strip_tokens(rounds: list[Round]) -> list[Tok]:
    """Kept tokens of these rounds plus each round's first rejection."""
    return [t for i, rnd in enumerate(rounds) for t in round_tokens(rnd, i) if t.fate != "discarded"]


def beta_text(t: Tok) -> str:
    """β of a drafted token beside its realised fate: the probability the target accepts the
    draft's token at this position (Σ min(p, q), over the draft's own draw)."""
    if t.beta is None:
        return "β not recorded (the trace predates β, version 1)"
    if t.r is None:  # greedy: p and q are one-hot at their argmax
        return (f"β = {t.beta:.0f}: greedy p and q are one-hot at their top tokens, so the target accepts "
                f"with probability {t.beta:.0f} ({'the same' if t.beta >= 0.5 else 'different'} top token)")
    return (f"β = {prob(t.beta)}: the target accepts the draft's token here with probability β "
            f"(Σ min(p, q); for this very token min(1, p/q) = {prob(min(ratio(t.p, t.q), 1.0))})")


def tooltip(t: Tok) -> str:
    label = FATES[t.fate][2]
    if t.q is None:  # a closing token: the target's own
        tip = f"{label} · round {t.round + 1} · p = {prob(t.p)} · {t.decision}"
    else:
        tip = (f"{label} · round {t.round + 1}, draft position {t.pos + 1} · p = {prob(t.p)} · "
               f"q = {prob(t.q)} · p/q = {prob(ratio(t.p, t.q))} · r = {prob(t.r)} · {t.decision}")
        if t.fate != "discarded":
            tip += f" · {beta_text(t)}"
    if PIECE in t.text and not t.note:
        tip += (" · this token is one byte piece of a multi-byte character (UTF-8): on its own it "
                "is not text, and the trace does not record the character it belongs to")
    return tip + (f" · {t.note}" if t.note else "")


def join_pieces(toks: list[Tok], text: str) -> None:
    """Kept byte pieces of a multi-byte character show the character they make in the output.

    Each token's text was decoded alone, so a character split over n tokens reads as n "�".
    Align the kept tokens with the decoded output text; where a run of pieces sits between two
    aligned tokens, the output text between them is the character. Leaves tokens as they are
    when the alignment fails."""
    cursor, run = 0, []
    for t in (t for t in toks if t.fate != "rejected"):
        if PIECE in t.text:
            run.append(t)
            continue
        at = text.find(t.text, cursor) if run else cursor if text.startswith(t.text, cursor) else -1
        if at < 0:
            return
        chars = text[cursor:at]
        if run and chars and PIECE not in chars:
            for i, piece in enumerate(run):
                piece.shown = chars if i == 0 else "‹…›"
                piece.note = (f"byte piece {i + 1} of {len(run)} of “{chars}”: a multi-byte character "
                              f"split over {len(run)} tokens, shown joined (alone a piece is not text)")
        run, cursor = [], at + len(t.text)


def chip(t: Tok, current: bool = False) -> str:
    glyph = FATES[t.fate][1]
    cls = f"tok tok-{t.fate}" + (" tok-current" if current else "")
    text = html.escape(t.shown) if t.shown is not None else show_text(t.text)
    br = "<br>" if "\n" in t.text else ""  # the strip keeps the output's line breaks
    return (f'<span class="{cls}" data-round="{int(t.round)}" title="{html.escape(tooltip(t), quote=True)}">'
            f'{text}<sup>{glyph}</sup></span>{br}')


def legend_html() -> str:
    items = "".join(f'<span class="tok tok-{fate}">{label}<sup>{FATES[fate][1]}</sup></span>'
                    for fate, (_, _, label) in FATES.items() if fate != "discarded")
    return f'<div class="sv-legend">{items}</div>'


def rounds_strip_html(rounds: list[Round], text: str | None = None) -> str:
    """The generation of these rounds as coloured chips; the newest round is outlined.

    text: the decoded output, to join the byte pieces of multi-byte characters (join_pieces)."""
    toks = strip_tokens(rounds)
    if text is not None:
        join_pieces(toks, text)
    chips = "".join(chip(t, current=t.round == len(rounds) - 1) for t in toks)
    chips = chips or '<span class="sv-prompt">nothing yet: the first round is still in progress</span>'
    return f'<div class="sv-strip">{chips}</div>'


def strip_html(trace: Trace, upto: int) -> str:
    """The text after `upto` rounds as coloured chips."""
    return rounds_strip_html(trace.rounds[:upto], trace.text)


def what_ran(trace: Trace) -> str:
    """What ran, as plain text: the models, the draft's shape, sampling, seed and device."""
    c = trace.config
    shape = (f"tree of {c.tree_nodes} nodes (top-k {c.tree_top_k}, depth {c.gamma}, {c.tree_kind})"
             if c.tree_nodes else f"gamma {c.gamma}")
    return (f"target {c.target} · draft {c.draft} · {shape} · temperature {c.temperature}"
            f" · seed {c.seed} · {c.device}/{c.dtype}")


def opening_round(trace: Trace) -> int:
    """The round a trace opens on: the first that shows the idea (drafts, some accepted, then a
    rejection; a tree: a path of two or more, some sibling rejected), else the first with an
    accepted draft, else the first with a draft, else 0."""
    tests = [lambda r: any(t.accepted for t in r.draft) and not all(t.accepted for t in r.draft),
             lambda r: r.tree is not None and len(r.draft) >= 2 and any(
                 n.fate == "rejected" for n in r.tree.nodes),
             lambda r: any(t.accepted for t in r.draft), lambda r: r.draft]
    for test in tests:
        for i, r in enumerate(trace.rounds):
            if test(r):
                return i
    return 0


def n_stages(rnd: Round) -> int:
    """Stages of a round: drafted, scored, one per checked token, closing token (a tree: one per
    depth drafted, scored, one per depth walked, closing token: tree_view.py)."""
    if rnd.tree is not None:
        return tree_view.plan(rnd).n
    n = sum(t.accepted for t in rnd.draft)
    return 3 + n + (n < len(rnd.draft))


def on_screen(rnd: Round, stage: int) -> int:
    """How many of round_tokens(rnd) have their decision on screen at this stage (the views
    must not spoil the animation)."""
    last = n_stages(rnd) - 1
    if stage >= last:
        return len(rnd.draft) + 1
    if rnd.tree is not None:
        return tree_view.revealed_path(rnd, stage)
    return max(0, stage - 1)


def stage_caption(rnd: Round, stage: int, gamma: int) -> str:
    """What happens at this stage of the round, in words and the trace's numbers."""
    k, last = len(rnd.draft), n_stages(rnd) - 1
    if stage == 0:
        if k == 0:
            return f"① The drafter found nothing to propose this round (γ = {gamma})."
        return (f"① The draft proposes {k} token{'s' * (k != 1)} (γ = {gamma}) "
                f"in {rnd.draft_s * 1e3:.1f} ms.")
    if stage == 1 and k == 0:
        return f"② The target runs one forward pass alone: a plain step ({rnd.verify_s * 1e3:.1f} ms)."
    if stage == 1:
        beta = (" β on a card: the chance that the target accepts it." if rnd.draft[0].beta is not None
                else "")
        return (f"② The target scores all {k} draft{'s' * (k != 1)} plus one extra position in "
                f"ONE forward pass ({rnd.verify_s * 1e3:.1f} ms).{beta}")
    if stage < last:
        t = round_tokens(rnd, 0)[stage - 2]
        chance = f" Its chance was β = {prob(t.beta, 2)}." if t.beta is not None and t.r is not None else ""
        return f"③ Draft token {stage - 1} “{show_text(t.text)}”: {t.decision}.{chance}"
    c = rnd.correction
    if c.kind == "target" or (c.kind == "bonus" and k == 0):
        return f"④ With nothing to check, the target's pass gives its own next token “{show_text(c.text)}”."
    if c.kind == "bonus":
        return f"④ All {k} accepted: the target's pass gives a bonus token “{show_text(c.text)}”."
    return f"④ The target replaces the rejected token with its own: “{show_text(c.text)}”."


def round_html(trace: Trace, index: int, stage: int, focus: int | None = None,
               blind: bool = False, scale: float = 1.0) -> str:
    """One round as cards revealed in stages: drafted, scored, checked one by one, closed.

    focus: the draft position to outline (a quiz asks about that token); blind: hide the focus
    card's p and β until its decision is revealed (they would give a quiz's answer away).
    A round that drafted a token tree shows the tree and its mask instead (tree_view.py,
    drawn scale times larger)."""
    rnd = trace.rounds[index]
    if rnd.tree is not None:
        return tree_view.round_html(rnd, stage, trace.config.temperature == 0, scale)
    toks, last = round_tokens(rnd, index), n_stages(rnd) - 1
    stage = max(0, min(stage, last))
    checked = stage - 1  # tokens whose decision is revealed
    cards = []
    for t in toks[:-1]:
        revealed = t.pos < checked or (t.fate == "discarded" and stage == last)
        fate = t.fate if revealed else "pending"
        scored = stage >= 1 and not (blind and t.pos == focus and not revealed)
        rows = [f'<div class="num">q {prob(t.q)}</div>']
        if scored:
            rows.append(f'<div class="num">p {prob(t.p)}</div>')
            if t.beta is not None:  # a version-1 trace did not record it (its tooltip says so)
                rows.append(f'<div class="num beta">β {prob(t.beta, 2)}</div>')
        if revealed:
            rows.append(f'<div class="verdict">{FATES[t.fate][1]} {t.fate}</div>')
        title = tooltip(t) if revealed else (f"draft position {t.pos + 1} · q = {prob(t.q)}" +
                                             (f" · p = {prob(t.p)} · {beta_text(t)}" if scored else ""))
        cards.append(_card(t, fate, rows, title, new=stage <= 1 or t.pos == checked - 1,
                           focus=t.pos == focus))
    if stage == last:
        c = toks[-1]
        cards.append(_card(c, c.fate, [f'<div class="num">p {prob(c.p)}</div>',
                                       f'<div class="verdict">{FATES[c.fate][1]} {c.fate}</div>'],
                           tooltip(c), new=True))
    caption = stage_caption(rnd, stage, trace.config.gamma)
    return (f'<div class="sv-round"><div class="sv-cards">{"".join(cards)}</div>'
            f'<div class="sv-caption">{caption}</div></div>')


def _card(t: Tok, fate: str, rows: list[str], title: str, new: bool, focus: bool = False) -> str:
    text = html.escape(t.shown) if t.shown is not None else show_text(t.text)
    return (f'<div class="card card-{fate}{" new" * new}{" focus" * focus}" '
            f'title="{html.escape(title, quote=True)}">'
            f'<div class="word">{text}</div>{"".join(rows)}</div>')


CSS = css("""
<style>
[data-testid=stMainBlockContainer]{padding-top:3rem}
.sv-strip{font-size:1.35rem;line-height:2.2rem;padding:.6rem .8rem;border-radius:.6rem;
  background:rgba(127,127,127,.06);border:1px solid rgba(127,127,127,.18)}
.sv-prompt{color:$GREY;font-style:italic;margin-right:.4rem;white-space:pre-wrap}
.tok{display:inline-block;white-space:pre;line-height:1.7rem;padding:.1rem .2rem;margin:.15rem .08rem;
  border-radius:.3rem;
  border-bottom:3px solid;cursor:help}
.tok sup{font-size:.7em;margin-left:.1em;font-weight:700}
.tok-accepted{border-color:$BLUE;background:$BLUE_12}
.tok-accepted sup{color:$BLUE}
.tok-rejected{border-color:$VERMILLION;background:$VERMILLION_12;text-decoration:line-through;
  text-decoration-thickness:2px;text-decoration-color:$VERMILLION}
.tok-rejected sup{color:$VERMILLION}
.tok-resampled{border-color:$ORANGE;background:$ORANGE_22;font-weight:700}
.tok-resampled sup{color:$ORANGE_TEXT}
.tok-bonus{border-color:$GREEN;background:$GREEN_16;font-weight:700}
.tok-bonus sup{color:$GREEN}
.tok-target{border-color:$PURPLE;background:$PURPLE_16}
.tok-target sup{color:$PURPLE}
.tok-current{outline:2px dashed rgba(127,127,127,.7);outline-offset:1px}
.sv-legend{display:flex;flex-wrap:wrap;gap:.8rem;font-size:1rem;margin:.4rem 0 .2rem}
.sv-round{padding:.4rem 0}
.sv-cards{display:flex;flex-wrap:wrap;gap:.6rem;align-items:stretch}
.card{min-width:6.5rem;padding:.5rem .7rem;border-radius:.6rem;border:2px solid;
  text-align:center}
.card.new{animation:sv-pop .35s ease-out}
.card.focus{outline:3px solid $PURPLE;outline-offset:3px}
.card .word{font-size:1.6rem;font-weight:600;white-space:pre;margin-bottom:.2rem}
.card .num{font-family:ui-monospace,monospace;font-size:1rem;opacity:.85}
.card .num.beta{font-weight:700;opacity:1}
.card .verdict{font-weight:700;font-size:1rem;margin-top:.2rem;text-transform:uppercase;
  letter-spacing:.04em}
.card-pending{border-style:dashed;border-color:$GREY}
.card-accepted{border-color:$BLUE;background:$BLUE_12}
.card-accepted .verdict{color:$BLUE}
.card-rejected{border-color:$VERMILLION;background:$VERMILLION_12}
.card-rejected .word{text-decoration:line-through;text-decoration-color:$VERMILLION}
.card-rejected .verdict{color:$VERMILLION}
.card-discarded{border-color:$GREY;opacity:.5}
.tok-discarded{border-color:$GREY;opacity:.6;text-decoration:line-through}
.tok-discarded sup{color:$GREY}
.sv-tree-row{display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start}
.sv-tree{max-height:34rem;overflow:auto;max-width:100%}
.sv-tree-svg text,.sv-mask-svg text{font-family:ui-monospace,monospace}
.sv-mask-title{font-size:.95rem;opacity:.8;margin-bottom:.2rem}
.card-discarded .word{text-decoration:line-through}
.card-resampled{border-color:$ORANGE;background:$ORANGE_20}
.card-resampled .verdict{color:$ORANGE_TEXT}
.card-bonus{border-color:$GREEN;background:$GREEN_16}
.card-bonus .verdict{color:$GREEN}
.card-target{border-color:$PURPLE;background:$PURPLE_16}
.card-target .verdict{color:$PURPLE}
.sv-caption{font-size:1.2rem;margin-top:.7rem}
@keyframes sv-pop{from{transform:scale(.85);opacity:.2}to{transform:scale(1);opacity:1}}
</style>
""")
