"""Token trees on screen: the staged tree diagram and its attention mask (pure HTML), the
metric cards a tree run reports, Step through and Compare with the shipped real tree traces."""
import copy
import re

import pytest
from streamlit.testing.v1 import AppTest

from specviz import charts, metrics, render, treeview
from specviz.trace import Trace
from specviz.ui import views
from specviz.ui.examples import shipped_traces

from test_app import ROOT, cards, html, ok

TREES = {label: Trace.load(str(p)) for label, p in shipped_traces().items() if "tree" in label}
CHAIN = "summarise · trained-smollm2-135m-eagle · greedy"


def tree_label(mode: str = "greedy") -> str:
    return next(label for label in TREES if label.startswith("summarise") and mode in label)


def test_shipped_tree_traces_are_real_version_3_trees():
    assert len(TREES) >= 4
    for label, t in TREES.items():
        s = metrics.summarize(t)
        assert t.version == 3 and t.config.tree_nodes == 16 and s.tree, label
        assert s.alpha is None and s.node_acceptance is not None  # Leviathan's α is a chain's
        assert s.same_as_baseline in (True, None), label  # greedy trees equal plain greedy
        assert max(len(r.tree.nodes) for r in t.rounds) == 16


@pytest.mark.parametrize("mode", ["greedy", "sampled"])
def test_the_tree_is_revealed_in_stages(mode):
    t = TREES[tree_label(mode)]
    i = render.opening_round(t)
    rnd = t.rounds[i]
    plan = treeview.plan(rnd)
    nodes = rnd.tree.nodes
    assert len(rnd.draft) >= 2 and any(n.fate == "rejected" for n in nodes)  # opens on a round that shows it
    assert render.n_stages(rnd) == plan.n == max(n.depth for n in nodes) + 1 + len(plan.levels) + 1
    boxes = lambda h: len(re.findall(r"<rect x=\"[\d.]+\" y=\"[\d.]+\" width=\"100\"", h))  # noqa: E731
    first = render.round_html(t, i, 0)
    assert boxes(first) == 1 + sum(n.depth == 1 for n in nodes)  # the root and depth 1 only
    assert "draft expands the tree" in first and "dasharray" in first  # drafted, not yet scored
    scored = render.round_html(t, i, plan.score)
    assert boxes(scored) == 1 + len(nodes) and "ONE target pass" in scored
    assert f"p = {render.fmt(nodes[0].p)}" in scored  # every node's p on hover once scored
    assert "p = " not in first.split("<title>")[2].split("</title>")[0]  # not before
    last = render.round_html(t, i, plan.last)
    assert boxes(last) == 2 + len(nodes)  # plus the target's own token
    assert last.count('stroke-width="4"/>') == len(rnd.draft)  # the accepted path, bold
    assert "tree attention mask" in last and last.count("<g><title>") == len(nodes) + 1  # a mask row each
    if mode == "sampled":  # hover shows what the test compared
        tested = next(n for n in nodes if n.fate == "rejected")
        assert f"r = {render.fmt(tested.r)}" in last and f"q_j = {render.fmt(tested.q_test)}" in last
    # the anatomy never runs ahead of the walk
    assert [render.on_screen(rnd, s) for s in range(plan.n)][-1] == len(rnd.draft) + 1
    assert render.on_screen(rnd, plan.score) == 0


def test_tree_text_is_escaped():
    t = copy.deepcopy(TREES[tree_label()])
    rnd = t.rounds[render.opening_round(t)]
    for n in rnd.tree.nodes:
        n.text = "<script>alert(1)</script>"
    rnd.correction.text = "<img src=x onerror=alert(1)>"
    out = render.round_html(t, t.rounds.index(rnd), 99)
    assert "<script>" not in out and "<img" not in out and "&lt;script&gt;" in out


def test_tree_cards_say_what_a_tree_reports():
    t = TREES[tree_label()]
    labels = {label: value for row in views.metric_cards(t) for label, value, _ in row}
    s = metrics.summarize(t)
    assert labels["accepted ÷ checked nodes"] == f"{s.node_acceptance:.2f}"
    assert labels["α (Leviathan)"] == "n/a (tree)"
    assert labels["τ per pass"] == f"{s.mean_acceptance_length:.2f}"
    assert labels["τ ÷ (N̄c + v)"] == f"{s.speedup_from_costs:.2f}×"
    g = metrics.trace_gap(t)
    assert g.tree and len(g.steps()) == 4 and g.ideal == pytest.approx(s.mean_acceptance_length)
    fig = charts.gap(g)
    assert len(fig.data[0].y) == 5 and fig.data[0].y[0].startswith("τ =")
    assert charts.position_acceptance(t).layout.title.text == "Acceptance by tree depth"


def test_step_through_plays_a_tree_round_to_the_end():
    at = AppTest.from_file(str(ROOT / "pages/1_Step_through.py"), default_timeout=120)
    at.session_state["step_current"] = tree_label()
    ok(at.run())
    assert "accepted ÷ checked nodes" in cards(at) and cards(at)["α (Leviathan)"] == "n/a (tree)"
    assert "draft expands the tree" in html(at)
    t = TREES[tree_label()]
    stages = render.n_stages(t.rounds[at.session_state["step_round"]])
    for _ in range(stages - 1):
        ok(at.button(key="step_next").click().run())
    page = html(at)
    assert "tree attention mask" in page and "④" in page
    assert any("token tree of up to 16 nodes" in m.value for m in at.markdown)


def test_compare_puts_a_chain_beside_a_tree():
    at = AppTest.from_file(str(ROOT / "pages/2_Compare.py"), default_timeout=120)
    at.session_state["cmp_a_current"] = CHAIN
    at.session_state["cmp_b_current"] = tree_label()
    ok(at.run())
    table = at.dataframe[0].value.set_index("")
    chain, tree = metrics.summarize(Trace.load(str(shipped_traces()[CHAIN]))), metrics.summarize(TREES[tree_label()])
    assert table.loc["α (Leviathan)", "left"] == f"{chain.alpha:.2f}"
    assert table.loc["α (Leviathan)", "right"] == "n/a (tree)"
    assert table.loc["accepted ÷ checked nodes", "right"] == f"{tree.node_acceptance:.2f}"
    assert table.loc["τ per pass", "right"] == f"{tree.mean_acceptance_length:.2f}"
    assert table.loc["draft · shape · T", "right"].endswith("tree of 16 · 0")
