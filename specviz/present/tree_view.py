"""A token-tree round as SVG, revealed in stages (pure, no Streamlit): the tree the draft grew,
the attention mask of the target's one pass, and the walk down the accepted path.

Stages of a tree round (Plan): the draft expands the tree one depth at a time → one target
pass scores every node → the walk tests the children of each path node in turn, one depth
per step → the target's own token. Every number shown comes from the trace; colours and
glyphs are tokens.FATES (a node never tested is "discarded": never checked).
"""
import html
from dataclasses import dataclass

from ..numbers import prob
from ..trace import Round, TreeNode
from .palette import GREY
from .tokens import FATES, ratio, visible

COL, ROW, BOX_W, BOX_H = 100, 30, 86, 24  # px: depth step, row step, node box (the mask fits beside 3 levels)


@dataclass
class Plan:
    """How a tree round is staged: expansion stages, the scoring pass, the walk, the close."""

    depth: int  # deepest node
    levels: list[list[int]]  # the walk: the nodes tested at each depth, in test order

    @property
    def score(self) -> int:  # the stage of the one target pass
        return max(self.depth, 1)

    @property
    def last(self) -> int:  # the stage of the target's own token
        return self.score + 1 + len(self.levels)

    @property
    def n(self) -> int:
        return self.last + 1


def plan(rnd: Round) -> Plan:
    nodes = rnd.tree.nodes
    levels, v = [], -1
    while True:
        tested = [j for j, n in enumerate(nodes) if n.parent == v and n.fate != "unchecked"]
        if not tested:
            return Plan(max((n.depth for n in nodes), default=0), levels)
        levels.append(tested)
        v = next((j for j in tested if nodes[j].fate == "accepted"), None)
        if v is None:
            return Plan(max(n.depth for n in nodes), levels)


def path(rnd: Round) -> list[int]:
    return [j for j, n in enumerate(rnd.tree.nodes) if n.fate == "accepted"]


def revealed_path(rnd: Round, stage: int) -> int:
    """How many accepted path nodes the walk has reached by this stage."""
    pl = plan(rnd)
    if stage >= pl.last:
        return len(path(rnd))
    return min(len(path(rnd)), max(0, stage - pl.score))


def _layout(nodes: list[TreeNode], closing_parent: int) -> tuple[dict[int, float], int]:
    """y row of every node (-1 the root, "c" the closing token): leaves in depth-first order,
    a parent centred on its children. Returns (rows, number of rows)."""
    kids: dict[int, list] = {}
    for j, n in enumerate(nodes):
        kids.setdefault(n.parent, []).append(j)
    kids.setdefault(closing_parent, []).append("c")
    rows, nxt = {}, [0]

    def place(v) -> float:
        below = kids.get(v, []) if v != "c" else []
        if not below:
            rows[v] = nxt[0]
            nxt[0] += 1
        else:
            ys = [place(c) for c in below]
            rows[v] = (ys[0] + ys[-1]) / 2
        return rows[v]

    place(-1)
    return rows, nxt[0]


def _label(text: str, limit: int = 9) -> str:
    text = visible(text)
    return html.escape(text if len(text) <= limit else text[:limit - 1] + "…")


def _node_title(j: int, n: TreeNode, scored: bool, revealed: bool, greedy: bool) -> str:
    bits = [f"node {j + 1} · depth {n.depth} · “{visible(n.text)}” · q = {prob(n.q)}"]
    if scored:
        bits.append(f"p = {prob(n.p)} · p/q = {prob(ratio(n.p, n.q))}")
    if revealed:
        if n.fate == "unchecked":
            bits.append("never checked: the walk did not reach its parent, or a sibling before it was accepted")
        elif greedy:
            bits.append(f"{n.fate}: {'it is' if n.fate == 'accepted' else 'not'} the target's top token "
                        "after its parent" + (" (a deeper path of top tokens won)" if n.beta == 1 and
                                              n.fate == "rejected" else ""))
        else:
            bits.append(f"tested with p = {prob(n.p_test)} (after earlier siblings' residual updates), "
                        f"q_j = {prob(n.q_test)}, p/q = {prob(ratio(n.p_test or 0.0, n.q_test or 0.0))}, "
                        f"r = {prob(n.r)}: {n.fate}" + (f" · β = {prob(n.beta, 2)}" if n.beta is not None else ""))
    return " · ".join(bits)


def tree_svg(rnd: Round, stage: int, greedy: bool, scale: float = 1.0) -> str:
    """The tree at this stage: nodes by depth (left to right), the accepted path bold; scale
    multiplies every length and type size (projector mode)."""
    nodes, pl = rnd.tree.nodes, plan(rnd)
    on_path = path(rnd)
    shown_path = on_path[:revealed_path(rnd, stage)]
    closing_parent = on_path[-1] if on_path else -1
    rows, n_rows = _layout(nodes, closing_parent)
    tested_by = {j for lvl in pl.levels[:max(0, stage - pl.score)] for j in lvl}
    done = stage >= pl.last
    depth_shown = stage + 1 if stage < pl.score else pl.depth
    scored = stage >= pl.score
    col, row, bw, bh = COL * scale, ROW * scale, BOX_W * scale, BOX_H * scale
    xy = lambda v, d: (10 + d * col, 8 + rows[v] * row)  # noqa: E731
    box = lambda *a, **k: _box(*a, scale=scale, **k)  # noqa: E731
    edges, boxes = [], []
    root_x, root_y = xy(-1, 0)
    boxes.append(box(root_x, root_y, "root", "#555", "solid", "the last settled token: every node "
                      "continues from it", glyph=""))
    for j, n in enumerate(nodes):
        if n.depth > depth_shown:
            continue
        x, y = xy(j, n.depth)
        px, py = xy(n.parent, nodes[n.parent].depth if n.parent >= 0 else 0)
        bold = j in shown_path
        edges.append(f'<line x1="{px + bw}" y1="{py + bh / 2}" x2="{x}" y2="{y + bh / 2}" '
                     f'stroke="{FATES["accepted"][0] if bold else "#999"}" stroke-width="{4 if bold else 1.5}"/>')
        revealed = j in tested_by or done
        fate = {"unchecked": "discarded"}.get(n.fate, n.fate) if revealed else None
        colour = FATES[fate][0] if fate else GREY
        style = "solid" if scored else "dashed"
        boxes.append(box(x, y, _label(n.text), colour, style, _node_title(j, n, scored, revealed, greedy),
                          glyph=FATES[fate][1] if fate else "", fill=fate is not None and fate != "discarded",
                          faded=fate == "discarded", bold=bold))
    if done:
        c = rnd.correction
        d = (nodes[closing_parent].depth if closing_parent >= 0 else 0) + 1
        x, y = xy("c", d)
        px, py = xy(closing_parent, d - 1)
        edges.append(f'<line x1="{px + bw}" y1="{py + bh / 2}" x2="{x}" y2="{y + bh / 2}" '
                     f'stroke="{FATES[c.kind][0]}" stroke-width="4" stroke-dasharray="5 3"/>')
        boxes.append(box(x, y, _label(c.text), FATES[c.kind][0], "solid",
                          f"{FATES[c.kind][2]} · “{visible(c.text)}” · p = {prob(c.p)}", glyph=FATES[c.kind][1],
                          fill=True, bold=True))
    width = 10 + (pl.depth + 1) * col + bw + 4  # the target's token one level below the path
    height = 16 + n_rows * row
    return (f'<svg class="sv-tree-svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'role="img" aria-label="token tree of this round">{"".join(edges)}{"".join(boxes)}</svg>')


def _box(x: float, y: float, label: str, colour: str, style: str, title: str, glyph: str,
         fill: bool = False, faded: bool = False, bold: bool = False, scale: float = 1.0) -> str:
    """One node: a rounded box with the token (already escaped), its fate glyph and a hover title."""
    dash = ' stroke-dasharray="4 3"' if style == "dashed" else ""
    strike = ' text-decoration="line-through"' if faded else ""
    mark = f'<tspan fill="{colour}" font-size="{11 * scale:g}" dx="2">{glyph}</tspan>' if glyph else ""
    return (f'<g opacity="{0.5 if faded else 1}"><title>{html.escape(title)}</title>'
            f'<rect x="{x:g}" y="{y:g}" width="{BOX_W * scale:g}" height="{BOX_H * scale:g}" rx="5" '
            f'fill="{colour + "2e" if fill else "#ffffff"}" stroke="{colour}" stroke-width="{3 if bold else 2}"{dash}/>'
            f'<text x="{x + BOX_W * scale / 2:g}" y="{y + 17 * scale:g}" text-anchor="middle" font-size="{13 * scale:g}" '
            f'font-weight="{700 if bold else 400}" fill="#222"{strike}>{label}{mark}</text></g>')


def mask_svg(rnd: Round, stage: int, scale: float = 1.0) -> str:
    """The attention mask of the target's pass over [root, nodes]: row i is what node i sees
    (filled: the prompt and text so far, the root, its ancestors, itself), labelled by token;
    scale multiplies every length and type size."""
    nodes = rnd.tree.nodes
    n = len(nodes)
    depth_shown = stage + 1 if stage < plan(rnd).score else plan(rnd).depth
    shown = [j for j, nd in enumerate(nodes) if nd.depth <= depth_shown]
    cell = max(5, min(12, 200 // (n + 2))) * scale
    on_path = set(path(rnd)[:revealed_path(rnd, stage)])
    names, past = 50 * scale, 2 * cell  # the token column, the "past" column
    left, top = names + past, 2 * cell + 4  # the header row
    cells = []
    for i in [-1] + shown:
        y = top + (i + 1) * cell
        row = rnd.tree.mask[i] if i >= 0 else "0" * n
        colour = FATES["accepted"][0] if i in on_path else "#444"
        who = "the root" if i < 0 else f"node {i + 1} “{visible(nodes[i].text)}” (depth {nodes[i].depth})"
        sees = [f"node {j + 1}" for j, m in enumerate(row) if m == "1"]
        title = f"{who} sees the prompt and the text so far, the root" + (f", {', '.join(sees)}" if sees else "")
        name = "root" if i < 0 else _label(nodes[i].text, 7)
        cells.append(f'<g><title>{html.escape(title)}</title>'
                     f'<rect x="0" y="{y}" width="{left + (n + 1) * cell}" height="{cell}" fill="transparent"/>'
                     f'<text x="{names - 4}" y="{y + cell - 2}" font-size="{min(11 * scale, cell):g}" text-anchor="end" '
                     f'fill="{colour}">{name}</text>'
                     f'<rect x="{names + 1}" y="{y + 1}" width="{past - 3}" height="{cell - 2}" fill="{GREY}"/>'
                     f'<rect x="{left + 1}" y="{y + 1}" width="{cell - 2}" height="{cell - 2}" fill="{colour}"/>')
        cells += [f'<rect x="{left + (j + 1) * cell + 1}" y="{y + 1}" width="{cell - 2}" height="{cell - 2}" '
                  f'fill="{colour}"/>' for j, m in enumerate(row) if m == "1"]
        cells.append("</g>")
    width, height = left + (n + 1) * cell + 2, top + (n + 1) * cell + 2
    head = (f'<text x="{names}" y="{top - 15 * scale}" font-size="{10 * scale:g}" fill="#555">past</text>'
            f'<text x="{left}" y="{top - 5 * scale}" font-size="{10 * scale:g}" fill="#555">root, nodes →</text>')
    return (f'<svg class="sv-mask-svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'role="img" aria-label="tree attention mask">{head}{"".join(cells)}</svg>')


def caption(rnd: Round, stage: int, greedy: bool = False) -> str:
    """What happens at this stage of a tree round, in words and the trace's numbers (HTML)."""
    nodes, pl = rnd.tree.nodes, plan(rnd)
    n = len(nodes)
    if not n:
        return ("① The drafter drafted nothing this round." if stage == 0 else
                f"② The target runs one forward pass alone: a plain step ({rnd.verify_s * 1e3:.1f} ms)."
                if stage < pl.last else f"④ The target's own next token “{_label(rnd.correction.text, 24)}”.")
    if stage < pl.score:
        d = stage + 1
        at = sum(nd.depth == d for nd in nodes)
        upto = sum(nd.depth <= d for nd in nodes)
        return (f"① The draft expands the tree: depth {d} holds {at} node{'s' * (at != 1)} "
                f"({upto} of {n} so far; the whole tree took {rnd.draft_s * 1e3:.1f} ms to draft). "
                "EAGLE-2 keeps the most probable paths (q multiplied along each path).")
    if stage == pl.score:
        return (f"② ONE target pass scores the root and all {n} nodes ({rnd.verify_s * 1e3:.1f} ms): "
                "the mask (right) lets each node see the text so far and its own ancestors only, and "
                "positions follow depth, so every branch is scored as if it were the only one.")
    if stage < pl.last:
        level = pl.levels[stage - pl.score - 1]
        tried = ", ".join(f"“{_label(nodes[j].text, 16)}” {FATES[nodes[j].fate][1]}" for j in level)
        won = next((j for j in level if nodes[j].fate == "accepted"), None)
        depth = nodes[level[0]].depth
        what = (f"“{_label(nodes[won].text, 16)}” is accepted: the walk goes down to it" if won is not None
                else "every child is rejected: the walk stops here")
        return f"③ Depth {depth}: the walk tests {tried}; {what}."
    c = rnd.correction
    k = len(path(rnd))
    if c.kind == "bonus":
        return (f"④ The path ends at a leaf after {k} accepted token{'s' * (k != 1)}: the target's pass "
                f"gives a bonus token “{_label(c.text, 24)}”, so this pass made {k + 1} tokens.")
    own = ("takes its own top token" if greedy else "draws its own token")
    where = "there" if greedy else "from what is left of p"
    return (f"④ After {k} accepted token{'s' * (k != 1)}, the target {own} “{_label(c.text, 24)}” "
            f"{where}: {k + 1} token{'s' * (k != 0)} from one pass.")


def round_html(rnd: Round, stage: int, greedy: bool, scale: float = 1.0) -> str:
    """The tree and its mask side by side (scale: every length and type size), and the stage's caption."""
    stage = max(0, min(stage, plan(rnd).last))
    legend = "".join(f'<span class="tok tok-{f}">{FATES[f][2]}<sup>{FATES[f][1]}</sup></span>'
                     for f in ("accepted", "rejected", "discarded", "resampled", "bonus"))
    return (f'<div class="sv-round"><div class="sv-tree-row"><div class="sv-tree">{tree_svg(rnd, stage, greedy, scale)}'
            f'</div><div class="sv-mask"><div class="sv-mask-title">tree attention mask</div>'
            f'{mask_svg(rnd, stage, scale)}</div></div><div class="sv-legend">{legend}</div>'
            f'<div class="sv-caption">{caption(rnd, stage, greedy)}</div></div>')
