"""Each folder of specviz/ is a layer; nothing imports upward or in a circle; Streamlit stays in ui/.

An AST test (tests/layers.py), not import-linter: it reads imports inside functions and under
TYPE_CHECKING as well as at the top, and modules named in strings (importlib), it needs no new
dependency in CI's fresh virtualenv, it also fails on a file outside every layer and on Streamlit
outside ui/, and the whole rule fits in one readable file. The planted-violation tests below show
that it fails when the rule is broken, on a small package and on a copy of specviz itself.
"""
import shutil
import textwrap
from pathlib import Path

from layers import violations

ROOT = Path(__file__).resolve().parent.parent


def test_specviz_keeps_its_layers():
    found = violations(ROOT)
    assert not found, "\n".join(found)


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


CLEAN = {
    "pkg/__init__.py": "",
    "pkg/errors.py": "class Oops(Exception):\n    pass\n",
    "pkg/decoding/__init__.py": '"""the engine"""\n',
    "pkg/decoding/engine.py": "from ..errors import Oops\n",
    "pkg/measure/__init__.py": "",
    "pkg/measure/metrics.py": "from ..decoding import engine\nfrom . import costs\n",
    "pkg/measure/costs.py": "def cost():\n    from ..decoding.engine import Oops  # lazy, downward\n",
    "pkg/ui/__init__.py": "",
    "pkg/ui/page.py": "import streamlit as st\n\ndef draw():\n    from pkg.measure import metrics\n",
    "pkg/cli/__init__.py": "import importlib\n\ndef main():\n    importlib.import_module('pkg.measure.metrics')\n",
}


def test_a_package_that_keeps_the_rule_passes(tmp_path):
    write(tmp_path, CLEAN)
    assert violations(tmp_path, "pkg") == []


def test_every_kind_of_breach_is_reported_with_its_line(tmp_path):
    write(tmp_path, CLEAN | {
        "pkg/decoding/engine.py": "from ..errors import Oops\n\n\ndef run():\n    from ..measure import metrics\n",
        "pkg/measure/a.py": "from . import b\n",
        "pkg/measure/b.py": "def f():\n    from .a import x\n",
        "pkg/measure/typed.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.ui import page\n",
        "pkg/present/__init__.py": "import streamlit\n",
        "pkg/cli/__init__.py": "import importlib\n\ndef main():\n    importlib.import_module('pkg.ui.page')\n",
        "pkg/stray.py": "",
    })
    found = violations(tmp_path, "pkg")
    expected = [
        "pkg/decoding/engine.py:5: pkg.decoding.engine (decoding) imports pkg.measure.metrics (measure): upward",
        "pkg/measure/typed.py:3: pkg.measure.typed (measure) imports pkg.ui.page (ui): upward",
        "pkg/present/__init__.py:1: imports Streamlit outside ui/",
        "pkg/cli/__init__.py:4: pkg.cli (cli) imports pkg.ui.page (ui): upward",
        "pkg/stray.py: outside every layer",
        "import cycle pkg.measure.a <-> pkg.measure.b: pkg/measure/a.py:1 pkg.measure.a -> pkg.measure.b; "
        "pkg/measure/b.py:2 pkg.measure.b -> pkg.measure.a",
        "import cycle pkg.decoding.engine <-> pkg.measure.costs <-> pkg.measure.metrics",  # the upward one closes one
    ]
    for line in expected:
        assert any(v.startswith(line) for v in found), (line, found)
    assert len(found) == len(expected), found


def test_a_planted_function_level_import_in_specviz_fails(tmp_path):
    """A copy of specviz with a lazy upward import (training reaching for a page widget) and a
    lazy import that closes a cycle (errors <- trace): both are reported."""
    shutil.copytree(ROOT / "specviz", tmp_path / "specviz", ignore=shutil.ignore_patterns("__pycache__"))
    before = set(violations(tmp_path))
    for name, planted in (("train/data.py", "from ..ui import page"), ("errors.py", "from . import trace")):
        path = tmp_path / "specviz" / name
        path.write_text(path.read_text() + f"\n\ndef planted():\n    {planted}\n")
    new = set(violations(tmp_path)) - before
    assert any(v.startswith("specviz/train/data.py:") and "imports specviz.ui.page (ui): upward" in v for v in new), new
    assert any(v.startswith("import cycle specviz.errors <-> specviz.trace") for v in new), new
