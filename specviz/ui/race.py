"""The race widget: plain and speculative decoding of one trace replayed side by side at their
measured pace (specviz.present.race), so the room sees who finishes first.

    race.race_view(trace, "race")
"""
import time

import streamlit as st

from ..measure import metrics
from ..present import escape, race, round_view, tokens
from ..present.palette import css
from ..trace import Trace

PACES = {"¼×": 0.25, "½×": 0.5, "1×": 1.0}  # replay speed: 1× is the measured wall-clock pace
TICK_S = 0.25


def _lane(title: str, body_html: str, n: int, total: int, t: float, finish: float) -> str:
    done = n >= total
    status = f"finished in {finish:.2f} s" if done else f"{t:.2f} s"
    pct = 100 * n / max(total, 1)
    return (f'<div class="sv-lane"><div class="sv-lane-head"><b>{title}</b> · {n} / {total} tokens · '
            f'{status}</div><div class="sv-bar"><div style="width:{pct:.1f}%"></div></div>'
            f'<div class="sv-lane-text">{body_html}</div></div>')


CSS = css("""<style>
.sv-lane{padding:.5rem .7rem;border:1px solid rgba(127,127,127,.25);border-radius:.6rem;margin:.3rem 0}
.sv-lane-head{font-size:1.15rem;margin-bottom:.3rem}
.sv-bar{height:.7rem;background:rgba(127,127,127,.15);border-radius:.35rem;overflow:hidden}
.sv-bar div{height:100%;background:$BLUE}
.sv-lane-text{font-size:1.1rem;white-space:pre-wrap;margin-top:.4rem;min-height:2.4rem}
</style>""")


def race_view(trace: Trace, key: str) -> None:
    """Start / pace controls, then both lanes, re-drawn every TICK_S while the race runs."""
    r = race.race(trace)
    if not trace.rounds:
        st.info("This trace has no rounds to race.")
        return
    ss = st.session_state
    row = st.container(horizontal=True, vertical_alignment="center")
    with row:
        if st.button("Start the race", key=f"{key}_go", type="primary", icon=":material/flag:"):
            ss[f"{key}_t0"] = time.monotonic()
        st.segmented_control("pace", list(PACES), default="½×", key=f"{key}_pace", required=True,
                             label_visibility="collapsed", help="replay speed (1× = as measured)")
    st.html(CSS)
    st.fragment(run_every=TICK_S if _running(r, key) else None)(_lanes)(trace, r, key)


def _elapsed(key: str) -> float | None:
    t0 = st.session_state.get(f"{key}_t0")
    return None if t0 is None else (time.monotonic() - t0) * PACES[st.session_state.get(f"{key}_pace", "½×")]


def _running(r: race.Race, key: str) -> bool:
    t = _elapsed(key)
    return t is not None and t <= r.length


def _lanes(trace: Trace, r: race.Race, key: str) -> None:
    t = _elapsed(key)
    t = 0.0 if t is None else min(t, r.length)
    k = r.rounds_done(t)
    spec = _lane("speculative", round_view.rounds_strip_html(trace.rounds[:k]) if k else "",
                 r.spec.done(t), len(r.spec.times), t, r.spec.finish)
    if r.plain is None:
        plain = '<div class="sv-lane">plain decoding: not recorded in this trace</div>'
    else:
        n = r.plain.done(t)
        plain = _lane("plain", escape.html(tokens.visible(race.text_so_far(r.plain, n))) if n else "",
                      n, len(r.plain.times), t, r.plain.finish)
    st.html(plain + spec)
    if t >= r.length:
        s = metrics.measured_speedup(trace)
        speed = "not measured" if s is None else f"{s:.2f}× plain decoding's speed per token"
        st.caption(f"Measured in the same run on {escape.md(trace.config.device)}: speculative "
                   f"{speed}.")
        if _running(r, key) is False and st.session_state.get(f"{key}_ticking"):
            st.session_state[f"{key}_ticking"] = False
            st.rerun()  # drop the timer
    else:
        st.session_state[f"{key}_ticking"] = True
