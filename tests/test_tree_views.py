"""Token trees on screen: the staged tree diagram and its attention mask (pure HTML), the
metric cards a tree run reports, Step through and Compare with the shipped real tree traces."""
import copy
import re

import pytest
from streamlit.testing.v1 import AppTest

from specviz.measure import metrics
from specviz.numbers import prob
from specviz.present import round_view, tree_view
from specviz.present.cards import metric_cards
from specviz.present.charts import look, run
from specviz.services.store import shipped_traces
from specviz.trace import Trace

from test_app import ROOT, cards, ok
from specviz.paths import TREE_SWEEP


def html(at: AppTest) -> str:
    """st.html bodies and markdown (a tree round is SVG: it goes through markdown's raw HTML)."""
    return "".join(h.proto.body for h in at.get("html")) + "".join(m.value for m in at.markdown)

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
    i = round_view.opening_round(t)
    rnd = t.rounds[i]
    plan = tree_view.plan(rnd)
    nodes = rnd.tree.nodes
    assert len(rnd.draft) >= 2 and any(n.fate == "rejected" for n in nodes)  # opens on a round that shows it
    assert round_view.n_stages(rnd) == plan.n == max(n.depth for n in nodes) + 1 + len(plan.levels) + 1
    boxes = lambda h: len(re.findall(rf"<rect x=\"[\d.]+\" y=\"[\d.]+\" width=\"{tree_view.BOX_W}\"", h))  # noqa: E731
    first = round_view.round_html(t, i, 0)
    assert boxes(first) == 1 + sum(n.depth == 1 for n in nodes)  # the root and depth 1 only
    assert "draft expands the tree" in first and "dasharray" in first  # drafted, not yet scored
    scored = round_view.round_html(t, i, plan.score)
    assert boxes(scored) == 1 + len(nodes) and "ONE target pass" in scored
    assert f"p = {prob(nodes[0].p)}" in scored  # every node's p on hover once scored
    assert "p = " not in first.split("<title>")[2].split("</title>")[0]  # not before
    last = round_view.round_html(t, i, plan.last)
    assert boxes(last) == 2 + len(nodes)  # plus the target's own token
    assert last.count('stroke-width="4"/>') == len(rnd.draft)  # the accepted path, bold
    assert "tree attention mask" in last and last.count("<g><title>") == len(nodes) + 1  # a mask row each
    if mode == "sampled":  # hover shows what the test compared
        tested = next(n for n in nodes if n.fate == "rejected")
        assert f"r = {prob(tested.r)}" in last and f"q_j = {prob(tested.q_test)}" in last
    # the anatomy never runs ahead of the walk
    assert [round_view.on_screen(rnd, s) for s in range(plan.n)][-1] == len(rnd.draft) + 1
    assert round_view.on_screen(rnd, plan.score) == 0


def test_projector_mode_draws_the_tree_and_its_mask_larger():
    t = TREES[tree_label()]
    i = round_view.opening_round(t)
    sizes = lambda h, cls: [float(x) for x in re.findall(r'font-size="([\d.]+)"', h.split(cls)[1].split("</svg>")[0])]  # noqa: E731
    plain, big = round_view.round_html(t, i, 99), round_view.round_html(t, i, 99, scale=look.PROJECTOR.scale)
    assert min(sizes(plain, "sv-tree-svg")) == 11 and min(sizes(big, "sv-tree-svg")) >= 18.7
    assert min(sizes(big, "sv-tree-svg")) == pytest.approx(look.PROJECTOR.scale * min(sizes(plain, "sv-tree-svg")))
    assert min(sizes(plain, "sv-mask-svg")) <= 11 and min(sizes(big, "sv-mask-svg")) >= 17
    width = lambda h, cls: float(re.search(rf'class="{cls}" width="([\d.]+)"', h).group(1))  # noqa: E731
    assert width(big, "sv-tree-svg") > 1.6 * width(plain, "sv-tree-svg")  # the boxes grow with their text
    assert re.sub(r"[\d.]+", "", big) == re.sub(r"[\d.]+", "", plain)  # the same drawing, only larger


def test_progress_charts_of_a_tree_run_plot_its_own_numbers():
    t = TREES[tree_label()]
    s, c = metrics.summarize(t), metrics.counts(t)
    alpha = run.running_alpha(t)
    assert alpha.data[0].y[-1] == pytest.approx(s.node_acceptance) and "nodes" in alpha.layout.title.text
    sp = run.speedup(t)
    assert [d.name for d in sp.data] == ["measured", "τ ÷ (N̄c + v)"]  # no Leviathan theory for a tree
    assert sp.data[1].y[-1] == pytest.approx(s.speedup_from_costs)
    assert sp.data[0].y[-1] == pytest.approx(s.speedup_measured)
    cond, uncond = metrics.acceptance_by_position(c)
    pos = run.position_acceptance(t)
    assert list(pos.data[0].y)[:len(cond)] == cond and pos.layout.xaxis.title.text == "depth in the tree"


def test_tree_text_is_escaped():
    t = copy.deepcopy(TREES[tree_label()])
    rnd = t.rounds[round_view.opening_round(t)]
    for n in rnd.tree.nodes:
        n.text = "<script>alert(1)</script>"
    rnd.correction.text = "<img src=x onerror=alert(1)>"
    out = round_view.round_html(t, t.rounds.index(rnd), 99)
    assert "<script>" not in out and "<img" not in out and "&lt;script&gt;" in out


def test_tree_cards_say_what_a_tree_reports():
    t = TREES[tree_label()]
    labels = {label: value for row in metric_cards(t) for label, value, _ in row}
    s = metrics.summarize(t)
    assert labels["accepted ÷ checked"] == f"{s.node_acceptance:.2f}"
    assert labels["α (Leviathan)"] == "n/a"
    assert labels["τ per pass"] == f"{s.mean_acceptance_length:.2f}"
    assert labels["τ ÷ (N̄c + v)"] == f"{s.speedup_from_costs:.2f}×"
    g = metrics.trace_gap(t)
    assert g.tree and len(g.steps()) == 4 and g.ideal == pytest.approx(s.mean_acceptance_length)
    fig = run.gap(g)
    assert len(fig.data[0].y) == 5 and fig.data[0].y[0].startswith("τ =")
    assert run.position_acceptance(t).layout.title.text == "Acceptance by tree depth"


def test_step_through_plays_a_tree_round_to_the_end():
    at = AppTest.from_file(str(ROOT / "pages/1_Step_through.py"), default_timeout=120)
    at.query_params = {"trace": shipped_traces()[tree_label()].stem}  # a link to the tree trace
    ok(at.run())
    assert "accepted ÷ checked" in cards(at) and cards(at)["α (Leviathan)"] == "n/a"
    assert "draft expands the tree" in html(at)
    t = TREES[tree_label()]
    stages = round_view.n_stages(t.rounds[at.session_state["step_round"]])
    for _ in range(stages - 1):
        ok(at.button(key="step_next").click().run())
    page = html(at)
    assert "tree attention mask" in page and "④" in page
    # st.html's sanitizer strips SVG: the tree must go through markdown's raw HTML
    assert not any("<svg" in h.proto.body for h in at.get("html"))
    assert any("sv-tree-svg" in m.value and "sv-mask-svg" in m.value for m in at.markdown)
    assert any("token tree of up to 16 nodes" in m.value for m in at.markdown)


def test_compare_puts_a_chain_beside_a_tree():
    at = AppTest.from_file(str(ROOT / "pages/2_Compare.py"), default_timeout=120)
    at.query_params = {"a": shipped_traces()[CHAIN].stem, "b": shipped_traces()[tree_label()].stem}
    ok(at.run())
    table = at.dataframe[0].value.set_index("")
    chain, tree = metrics.summarize(Trace.load(str(shipped_traces()[CHAIN]))), metrics.summarize(TREES[tree_label()])
    assert table.loc["α (Leviathan)", "left"] == f"{chain.alpha:.2f}"
    assert table.loc["α (Leviathan)", "right"] == "n/a"
    assert table.loc["accepted ÷ checked", "left"] == f"{chain.alpha:.2f}"  # a chain's is its α
    assert table.loc["accepted ÷ checked", "right"] == f"{tree.node_acceptance:.2f}"
    assert table.loc["τ per pass", "right"] == f"{tree.mean_acceptance_length:.2f}"
    assert table.loc["draft · shape · T", "right"].endswith("tree of 16 · 0")


def test_step_through_runs_a_live_token_tree_on_the_real_model(offline_model):
    from test_app import _wait_for_job

    at = AppTest.from_file(str(ROOT / "pages/1_Step_through.py"), default_timeout=120)
    ok(at.run())
    from specviz.decoding.models import load_registry

    reg = load_registry()  # the default pair's drafter may not branch (hybrid); pick its trained draft
    at.selectbox(key=f"step_draft_{reg.default_pair}").set_value("trained:smollm2-135m-eagle").run()
    at.select_slider(key="step_tree").set_value(8).run()
    at.number_input(key="step_max_new").set_value(6).run()
    ok(at.button(key="step_run").click().run())
    assert "step_job" in at.session_state, at.session_state["step_error"] if "step_error" in at.session_state else "?"
    _wait_for_job(at, [])
    label = at.session_state["step_current"]
    assert label.startswith("live: ") and "tree=8" in label
    t = at.session_state["sv_library"][label]
    assert t.version == 3 and t.config.tree_nodes == 8
    assert all(r.tree is not None and len(r.tree.nodes) <= 8 for r in t.rounds)
    assert metrics.summarize(t).same_as_baseline  # greedy tree == plain greedy
    assert "tree attention mask" in html(at) or "drafted nothing" in html(at)


def test_lesson_4_draws_a_real_tree_and_the_shipped_chain_vs_trees():
    from specviz.lessons import facts

    at = AppTest.from_file(str(ROOT / "pages/6_Beyond_draft_models.py"), default_timeout=120)
    ok(at.run())
    page = html(at)
    assert "tree attention mask" in page and "sv-tree-svg" in page  # a real round, fully walked
    label = at.selectbox(key="tr_label").value
    assert "tree" in label and label in TREES
    t = TREES[label]
    i = at.selectbox(key=f"tr_round_{label}").value
    assert i == round_view.opening_round(t)
    at.slider(key=f"tr_stage_{label}_{i}").set_value(0).run()
    assert "draft expands the tree" in html(at)
    facts = facts.lesson4()
    shown = " ".join(m.value for m in at.markdown)
    assert f"τ = {facts['tau_tree16']}" in " ".join(shown.split())
    taus = [metrics.summarize(t).mean_acceptance_length for label, t in TREES.items() if "greedy" in label]
    assert facts["tau_tree16"] == (f"{min(taus):.2f}–{max(taus):.2f}" if f"{min(taus):.2f}" != f"{max(taus):.2f}"
                                   else f"{min(taus):.2f}")
    # the shipped chain-vs-tree measurement (bench --json): a row per shape, the same numbers
    import json

    shipped = json.loads(TREE_SWEEP.read_text())
    table = next(d.value for d in at.dataframe if "shape" in d.value.columns)
    bench = {("tree of %d" % r["tree"]) if r["tree"] else f"chain γ = {r['gamma']}": r
             for r in shipped["rows"] if r["method"] == "ours"}
    assert list(table["shape"]) == list(bench)
    for _, row in table.iterrows():
        assert row["τ / pass"] == f"{bench[row['shape']]['tau']:.2f}"
        assert row["speedup"].startswith(f"{bench[row['shape']]['speedup']:.2f}×")
    assert any("pays" in m.value for m in at.markdown)  # the explanation from the measured costs


def test_the_explanation_follows_the_measured_costs():
    from specviz.measure.tree_sweep import Row
    from specviz.present.tree_sweep import explain

    chain = Row(0, 4, 4.0, 1.7, 1.3, 0.08, 1.0, 0.9, 1.1, 1.0)
    small = Row(8, 6, 8.0, 2.1, 1.6, 0.08, 1.1, 1.0, 1.2, 1.1)
    big = Row(16, 6, 16.0, 2.3, 2.6, 0.08, 0.8, 0.7, 0.9, 0.8)  # τ +10 %, cost per round +72 %
    text = explain([chain, small, big], lambda k: {17: 2.6}.get(k))
    assert "8 → 16 nodes" in text and "**does not pay**" in text
    assert "Measured best here: the **tree of 8**, 1.10×" in text
    assert "chain γ = 4" in text and "v(17) = 2.60" in text
    cheap = Row(16, 6, 16.0, 2.6, 1.7, 0.02, 1.5, 1.4, 1.6, 1.5)  # a GPU-like pass: v barely grows
    assert "**pays**" in explain([chain, small, cheap])


def test_lesson_4_measures_a_chain_and_a_tree_on_this_machine(offline_model):
    at = AppTest.from_file(str(ROOT / "pages/6_Beyond_draft_models.py"), default_timeout=600)
    ok(at.run())
    at.multiselect(key="ts_budgets").set_value([8]).run()
    at.select_slider(key="ts_tokens").set_value(24).run()
    ok(at.button(key="ts_go").click().run())
    result = at.session_state["sv_tree_sweep"]
    rows = {r.nodes: r for r in result["rows"]}
    assert set(rows) == {0, 8} and all(r.runs == 2 for r in rows.values())  # two interleaved repeats each
    chain, tree = rows[0], rows[8]
    assert chain.drafted <= 4 and 4 < tree.drafted <= 8 and tree.pass_tokens == 9
    assert all(r.speedup and r.lo <= r.hi and r.v and r.c is not None for r in rows.values())
    assert result["curve"]["n_tokens"] == [1, 5, 9]  # the passes the chain and the tree paid
    assert "Measured now on this machine" in " ".join(c.value for c in at.caption)
    table = next(d.value for d in at.dataframe if "shape" in d.value.columns)
    assert list(table["shape"]) == ["chain γ = 4", "tree of 8"]
    assert table.iloc[1]["τ / pass"] == f"{tree.tau:.2f}"


@pytest.mark.parametrize("mode", ["greedy", "sampled"])
def test_the_closing_caption_says_how_the_target_chose_its_token(mode):
    greedy = mode == "greedy"
    seen = 0
    for label, t in TREES.items():
        if (t.config.temperature == 0) != greedy:
            continue
        for r in t.rounds:
            if r.tree.nodes and r.correction.kind == "resampled":
                text = tree_view.caption(r, tree_view.plan(r).last, greedy)
                assert ("takes its own top token" in text) == greedy, text
                assert ("from what is left of p" in text) != greedy, text  # greedy draws nothing
                seen += 1
    assert seen


def test_greedy_and_sampled_tree_rounds_count_checked_nodes_alike():
    """The walk tests a node's children in order up to the one it takes: siblings after an
    accepted child are unchecked in greedy rounds as in sampled ones (accepted ÷ checked means
    one thing for both)."""
    for label, t in TREES.items():
        for r in t.rounds:
            nodes = r.tree.nodes
            for j, n in enumerate(nodes):
                if n.fate != "accepted":
                    continue
                later = [k for k in range(j + 1, len(nodes)) if nodes[k].parent == n.parent]
                assert all(nodes[k].fate == "unchecked" for k in later), (label, [nodes[k].fate for k in later])


def test_the_sweep_says_which_training_of_the_draft_it_was_measured_with():
    from specviz.measure import tree_sweep

    d = {"date": "2026-11-28", "rows": [{"method": "ours", "drafter": "trained:x", "tree": 8}],
         "draft_weights_sha256": {"trained:x": "a" * 64}}
    assert "as shipped now" in tree_sweep.draft_note(d, lambda name: "a" * 64)
    other = tree_sweep.draft_note(d, lambda name: "b" * 64)
    assert "on 2026-11-28 with an earlier training of trained:x" in other and "bbbbbbbbbbbb" in other
    assert "without a record" in tree_sweep.draft_note({"rows": d["rows"]}, lambda name: "a" * 64)


def test_a_drafts_weights_digest_names_its_training():
    import hashlib

    from specviz.decoding.models import draft_weights_digest
    from specviz.paths import DRAFTS_DIR

    weights = DRAFTS_DIR / "smollm2-135m-eagle" / "weights.safetensors"
    assert draft_weights_digest("smollm2-135m-eagle") == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert draft_weights_digest("no-such-draft") is None
