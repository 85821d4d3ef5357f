"""Lesson 3's instruments: the no-model sandbox and the distribution lab (strict vs loose
verification on the real model)."""
import json

import streamlit as st

from ...present.charts import lessons as charts
from .. import lesson, projector
from . import common
from .common import PLOTLY

LAB_PROMPT, LAB_PREFIX = "Write a short poem about the sea.", "The waves of the ocean,"


def sandbox() -> None:
    """The no-model sandbox (ui/sandbox.py), opened on demand: it draws through the engine's
    verifier (torch), which the lesson page does not load until asked; a link to it opens it."""
    linked = any(k.startswith("sb_") and not k.endswith("_hide") for k in st.query_params)
    if st.toggle("Open the sandbox", value=linked, key="sb_open"):
        from ..sandbox import sandbox as widget

        widget("sb", lesson.seed())


def lab() -> None:
    """Sample many next tokens with strict and loose verification on the real model."""
    with st.form("lab_form"):
        a, b = st.columns(2)
        prompt = a.text_input("prompt", LAB_PROMPT, key="lab_prompt")
        prefix = b.text_input("answer so far (the fixed prefix)", LAB_PREFIX, key="lab_prefix")
        c1, c2, c3, c4 = st.columns(4)
        draft = c1.selectbox("draft", [*common.trained(), "layers:28", "layers:24", "layers:16"], key="lab_draft",
                             help="a draft that agrees with the target often (the trained EAGLE draft, "
                                  "or a deep early exit) makes loose rules visibly wrong; cost does "
                                  "not matter here")
        temperature = c2.slider("temperature", 0.3, 1.5, 1.0, 0.1, key="lab_t")
        top_k = c3.number_input("top-k (0 = off)", 0, 1000, 50, key="lab_topk",
                                help="applied to p and q alike, as the engine does; 0 samples over "
                                     "all 49,152 tokens, which is slower")
        n = c4.select_slider("samples per method", [500, 1000, 2000, 4000, 8000, 16000], 4000, key="lab_n")
        d1, d2 = st.columns(2)
        k = d1.slider("loose top-k match: k", 1, 50, 10, key="lab_k")
        threshold = d2.slider("loose ratio rule: accept if p/q >", 0.05, 1.0, 0.5, 0.05, key="lab_thr")
        go = st.form_submit_button("Run the lab on the real model", type="primary", key="lab_go")
    if go:
        bar = st.progress(0.0, text="computing p and q ...")

        def work():
            from ...errors import RunError
            from ...measure.lab import next_token_distributions, run_lab
            from ...decoding.record import MAX_PROMPT_CHARS
            from ...decoding.drafters import build_drafter
            from ...decoding.models import encode_prompt
            from ...decoding.sampling import SamplingParams

            if len(prompt) + len(prefix) > MAX_PROMPT_CHARS:
                raise RunError(f"the prompt and prefix are {len(prompt) + len(prefix)} characters; "
                               f"the limit is {MAX_PROMPT_CHARS}: shorten them")
            target = common.target()
            tok = target.tokenizer
            ids = encode_prompt(tok, prompt, True) + tok(prefix, add_special_tokens=False).input_ids
            with target.lock:
                p, q = next_token_distributions(target.model, build_drafter(draft, target), ids,
                                                SamplingParams(temperature, int(top_k)), lesson.seed())
            res = run_lab(p, q, int(n), lesson.seed(), k=int(k), threshold=float(threshold),
                          progress=lambda f, m: bar.progress(min(f, 1.0), text=m))
            return res, _texts(tok, p, q)
        out = common.errors(work)
        bar.empty()
        if out:
            st.session_state["sv_lab"] = {"result": out[0], "texts": out[1],
                                          "setup": f"{prompt!r} + {prefix!r}, draft {draft}, T = "
                                                   f"{temperature:g}, top-k {top_k}, seed {lesson.seed()}"}
    saved = st.session_state.get("sv_lab")
    if not saved:
        st.info("Press Run: about a second per thousand samples on a quiet CPU with top-k 50.")
        return
    from ...measure.lab import LOOSE, VARIANTS  # imports torch: only once there is a result to show

    res = saved["result"]
    st.caption(f"Setup: {saved['setup']} · β = Σ min(p, q) = {float((res.p.clip(max=res.q)).sum()):.3f} "
               "(the acceptance probability of one drafted token)")
    rows = [{"method": name, "verdict": "matches p" if v.chi2_p >= 0.01 else "DRIFTS from p",
             "TV measured": round(v.tv, 4), "TV exact law": round(v.tv_exact, 4),
             "chi-square p-value": f"{v.chi2_p:.2g}", "what it does": VARIANTS[name]}
            for name, v in res.variants.items()]
    projector.table(rows)
    lesson.texts("3_lossless")["distribution_lab.json"] = json.dumps(
        {"setup": saved["setup"], "n": res.n, "results": rows}, indent=1)
    st.plotly_chart(projector.scaled(charts.lab_tv(res)), config=PLOTLY, key="lab_tv")
    shown = st.multiselect("methods on the distribution chart", list(res.variants)[1:],
                           default=["strict", *LOOSE[:2]], key="lab_shown")
    st.plotly_chart(projector.scaled(charts.lab_distributions(res, saved["texts"], shown)), config=PLOTLY, key="lab_dist")
    st.caption(f"Noise floor: plain target sampling itself is TV {res.noise_floor:.3f} from p at "
               f"n = {res.n}. A chi-square p-value below 0.01 means the counts are very unlikely "
               "under p.")


def _texts(tok, p, q) -> dict[int, str]:
    """Decoded text of every token with mass under p or q (the charts only need those)."""
    ids = set((p > 0).nonzero().flatten().tolist()) | set((q > 0).nonzero().flatten().tolist())
    return _TextMap({i: tok.decode([i]) for i in ids})


class _TextMap(dict):
    def __getitem__(self, i):
        return self.get(int(i), f"#{int(i)}")


# ---------------------------------------------------------------- lesson 4: beyond drafts
