"""The one look of every chart (specviz.present.charts.look): each chart module's figures, built from the shipped
traces and data, carry explicit type sizes on screen and at least 24 px ticks, legends and axis
titles in projector mode, with the legend under the title (the browser measures what Chromium
draws: tests/test_projector_browser.py)."""
import json
from pathlib import Path

import pytest

from specviz.measure import metrics, tree_sweep
from specviz.present.charts import classroom, lessons, look, positions, server
from specviz.present.charts.run import (accept_test, anatomy, compare_bars, gap, position_acceptance, residual,
                                        running_alpha, speedup, time_chart, tokens_per_pass)
from specviz.services.serving import prometheus
from specviz.services.serving.readout import readouts
from specviz.trace import Trace

DATA = Path(__file__).resolve().parent.parent / "data"
CHAIN = Trace.load(str(DATA / "traces" / "chat__layers-4__greedy.json"))
SAMPLED = Trace.load(str(DATA / "traces" / "code-edit__lookup__sampled.json"))
TREE = Trace.load(str(DATA / "traces" / "chat__tree16-eagle__greedy.json"))


def _figures() -> dict:
    rejected = next(r for r in SAMPLED.rounds if any(not d.accepted for d in r.draft) and r.correction.top_residual)
    run = dict(label="layers-4", gamma=4, alpha=0.05, c=0.34, v=1.5, break_even_v=0.7)
    marker = dict(label="lookup", gamma=4, tau=1.5, tau_expected=1.6, alpha=0.5, speedup=1.3, theory=1.5, c=0.01)
    sweep = json.loads((DATA / "tree_sweep.json").read_text())
    readout = next(iter(readouts(prometheus.parse((DATA / "serving" / "vllm_example.prom").read_text())).values()))
    return {
        "speedup": speedup(CHAIN, 10), "position_acceptance": position_acceptance(CHAIN),
        "time_chart": time_chart(CHAIN), "tokens_per_pass": tokens_per_pass(TREE),
        "running_alpha": running_alpha(CHAIN), "anatomy": anatomy(rejected.draft[0]),
        "accept_test": accept_test(rejected.draft[0]), "residual": residual(rejected.correction),
        "gap": gap(metrics.trace_gap(CHAIN)), "compare_bars": compare_bars({"a": SAMPLED, "b": CHAIN}),
        "theory_curves": lessons.theory_curves([0.3, 0.8], 0.05, [marker], lambda k: 1 + 0.1 * k),
        "positions": positions.of_counts(metrics.counts(CHAIN), alpha=0.3, iid=True, title="chat · layers-4"),
        "break_even": lessons.break_even([0.05, 0.5], run, lambda k: 1 + 0.1 * k),
        "profiles": lessons.profiles([marker, run]),
        "tree_sweep": lessons.tree_sweep(tree_sweep.from_bench(sweep), sweep.get("verify_cost")),
        "answers": classroom.answers(["accepted", "rejected"], [3, 5]),
        "server_positions": server.position_acceptance(readout),
    }


FIGURES = _figures()


def _sizes(fig) -> dict[str, list[float]]:
    """Every tick, axis title, legend, colour bar and title size a figure sets."""
    layout = fig.to_dict()["layout"]
    axes = [v for k, v in layout.items() if k.startswith(("xaxis", "yaxis"))]
    bars = [t["colorbar"] for t in fig.to_dict()["data"] if "colorbar" in t]
    return {"tick": [a["tickfont"]["size"] for a in axes + bars],
            "axis": [a["title"]["font"]["size"] for a in axes + bars],
            "legend": [layout["legend"]["font"]["size"]], "title": [layout["title"]["font"]["size"]]}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_every_chart_has_explicit_screen_sizes_and_projector_ones_of_24_px(name):
    fig = FIGURES[name]
    before = fig.to_json()
    screen, big = _sizes(fig), _sizes(look.projector(fig))
    assert fig.to_json() == before  # a shared figure is never changed
    assert set(screen["tick"]) == {look.SCREEN.tick} and set(screen["legend"]) == {look.SCREEN.legend}
    assert min(screen["axis"]) >= look.SCREEN.axis
    for what in ("tick", "legend", "axis", "title"):
        assert min(big[what]) >= 24, (what, big[what])
    layout = look.projector(fig).layout
    assert layout.legend.yref == "container" and layout.title.yref == "container"  # the legend under the title
    assert layout.legend.y < 1 - layout.title.font.size / layout.height
    assert fig.layout.height < layout.height <= look.TALLEST


def test_text_above_the_plot_gets_a_band_the_legend_cannot_cover():
    fig = look.projector(FIGURES["theory_curves"])  # two panels, each titled just above its plot
    titles = [a for a in fig.layout.annotations if a.yref == "paper" and a.y >= 1]
    assert len(titles) == 2 and all(a.yanchor == "top" for a in titles)
    assert fig.layout.yaxis.domain[1] < 1 and fig.layout.yaxis2.domain[1] < 1
    assert FIGURES["theory_curves"].layout.yaxis.domain[1] > fig.layout.yaxis.domain[1]  # more room for 24 px


def test_a_long_title_wraps_in_projector_mode_and_a_custom_legend_keeps_its_place_on_screen():
    fig = FIGURES["theory_curves"]
    assert "<br>" not in fig.layout.title.text and "<br>" in look.projector(fig).layout.title.text
    assert all(len(line) <= look.PROJECTOR.wrap for line in look.projector(fig).layout.title.text.split("<br>"))
    narrow = look.projector(fig, columns=3).layout.title.text.split("<br>")  # one of three charts side by side
    assert max(map(len, narrow)) < look.PROJECTOR.wrap * 0.7 and len(narrow) > 2
    anatomy = FIGURES["anatomy"]  # its legend sits in the plot's empty corner on screen
    assert anatomy.layout.legend.yref is None and anatomy.layout.legend.x == 1
    assert look.projector(anatomy).layout.legend.yref == "container"
