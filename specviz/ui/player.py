"""The trace player: first / back / play / pause / next / last, speed, round slider, shortcuts.

Position = (round, stage); stages animate one round (see round_view.n_stages). A trace opens on
the first round that shows the idea (round_view.opening_round). Stepping only re-renders the
recorded trace: no model runs here. Any page can embed `player(trace, key)`; with address=True
the position is in the page's address (?round=R&stage=S&token=T, all as shown: from 1; token is
the one the anatomy explains), so a link opens it and every step updates it (and a presenter's
class follows: page.sync).
"""
import time

import streamlit as st

from ..present import round_view
from ..trace import Trace
from . import page, urlstate, views

SPEEDS = {"0.5×": 1.6, "1×": 0.8, "2×": 0.4, "4×": 0.2}  # seconds per step while playing

# a click on a chip of the token strip (round_view.chip: data-round) sends its round back: the strip
# stays plain HTML, this script-only component listens on the page (our own code, no trace data)
_CHIP_JS = """
export default function(component) {
  const { setTriggerValue } = component;
  const onClick = (e) => {
    const chip = e.target.closest ? e.target.closest('.sv-strip [data-round]') : null;
    if (chip) setTriggerValue('round', Number(chip.dataset.round));
  };
  document.addEventListener('click', onClick);
  document.documentElement.dataset.svChips = 'on';  // chips answer clicks from now on
  return () => {
    document.removeEventListener('click', onClick);
    delete document.documentElement.dataset.svChips;
  };
}
"""
_chip_clicks = st.components.v2.component("specviz.chip_jump", js=_CHIP_JS)


def _ss():
    return st.session_state


def position(key: str) -> tuple[int, int]:
    return _ss().get(f"{key}_round", 0), _ss().get(f"{key}_stage", 0)


def _last_stage(trace: Trace, rnd: int) -> int:
    return round_view.n_stages(trace.rounds[rnd]) - 1


def _set(key: str, rnd: int, stage: int) -> None:
    _ss()[f"{key}_round"], _ss()[f"{key}_stage"] = rnd, stage


def _animate(key: str) -> bool:
    return _ss().get(f"{key}_animate", True)


def at_end(trace: Trace, key: str) -> bool:
    rnd, stage = position(key)
    return rnd == len(trace.rounds) - 1 and stage == _last_stage(trace, rnd)


def step(trace: Trace, key: str, delta: int) -> None:
    """One stage forward/back (or one whole round when stage animation is off)."""
    rnd, stage = position(key)
    animate = _animate(key)
    if delta > 0:
        if animate and stage < _last_stage(trace, rnd):
            _set(key, rnd, stage + 1)
        elif rnd < len(trace.rounds) - 1:
            _set(key, rnd + 1, 0 if animate else _last_stage(trace, rnd + 1))
    elif animate and stage > 0:
        _set(key, rnd, stage - 1)
    elif rnd > 0:
        _set(key, rnd - 1, _last_stage(trace, rnd - 1))


def jump(trace: Trace, key: str, rnd: int, start: bool = False) -> None:
    """Go to round `rnd`, at its first stage or complete."""
    rnd = max(0, min(rnd, len(trace.rounds) - 1))
    _set(key, rnd, 0 if start and _animate(key) else _last_stage(trace, rnd))


def _on_slider(trace: Trace, key: str) -> None:
    jump(trace, key, _ss()[f"{key}_slider"] - 1)


def _sync(trace: Trace, key: str, label: str, autoplay: bool) -> None:
    """Reset the position when the widget shows a different trace."""
    ident = f"{label}|{id(trace)}"
    if _ss().get(f"{key}_shown") != ident:
        _ss()[f"{key}_shown"] = ident
        _set(key, round_view.opening_round(trace), 0)
        _ss()[f"{key}_playing"] = autoplay
        _ss()[f"{key}_tick"] = time.monotonic()


def _schema(trace: Trace) -> list[urlstate.Param]:
    n = len(trace.rounds)
    return [urlstate.Int("round", round_view.opening_round(trace) + 1, 1, n), urlstate.Int("stage", 1, 1, 99),
            urlstate.Int("token", 0, 0, 99)]  # 0: the anatomy's own choice


def _from_address(trace: Trace, key: str) -> None:
    """A link's round and stage (a stage past the round's last shows it complete)."""
    came = urlstate.incoming(f"{key}_pos", _schema(trace))
    if came is not None:
        rnd = came["round"] - 1
        _set(key, rnd, min(came["stage"] - 1, _last_stage(trace, rnd)))
        _ss()[f"{key}_playing"] = False
        _ss()[f"{key}_focus_in"] = came["token"] - 1 if came["token"] else None


def _to_address(trace: Trace, key: str, sync: bool) -> None:
    """The address shows the position (and the class follows it, if sync: once per run, early,
    so that followers are not kept waiting for this page's charts)."""
    rnd, stage = position(key)
    focus = _ss().get(f"{key}_focus")  # (round, token) the anatomy explained last
    token = focus[1] + 1 if focus and focus[0] == rnd else 0
    urlstate.publish(f"{key}_pos", _schema(trace), {"round": rnd + 1, "stage": stage + 1, "token": token})
    if sync:
        page.sync()  # the fragment's runs do not reach page.done(): tell the class here


def player(trace: Trace, key: str, label: str = "", *, shortcuts: bool = True,
           anatomy: bool = True, charts: bool = True, autoplay: bool = False, address: bool = False) -> None:
    """Render a player for `trace`; while playing, a fragment re-runs itself every step."""
    if not trace.rounds:
        st.info("This trace has no rounds to show (the run stopped before its first round).")
        return
    _sync(trace, key, label, autoplay)
    if address:
        _from_address(trace, key)
    playing = _ss().get(f"{key}_playing", False)
    interval = SPEEDS[_ss().get(f"{key}_speed", "1×")] if playing else None
    st.fragment(run_every=interval)(_body)(trace, key, interval, shortcuts, anatomy, charts, address)


def _tick(trace: Trace, key: str, interval: float | None) -> None:
    """Advance one step if a play interval has passed since the last one."""
    now = time.monotonic()
    if interval is None or now - _ss().get(f"{key}_tick", 0) < 0.8 * interval:
        return
    _ss()[f"{key}_tick"] = now
    step(trace, key, +1)
    if at_end(trace, key):
        _ss()[f"{key}_playing"] = False


def _body(trace: Trace, key: str, interval: float | None, shortcuts: bool, anatomy: bool,
          charts: bool, address: bool) -> None:
    _tick(trace, key, interval)
    _controls(trace, key, interval, shortcuts)
    clicked = _chip_clicks(key=f"{key}_chipjump", on_round_change=lambda: None).round
    if clicked is not None and 0 <= clicked < len(trace.rounds):
        jump(trace, key, clicked)  # the chip's round, complete: its anatomy shows why
        _ss()[f"{key}_playing"] = False
    if address:
        _to_address(trace, key, sync=True)
    rnd, stage = position(key)
    views.round_view(trace, rnd, stage)
    done = rnd + (stage == _last_stage(trace, rnd))  # rounds complete so far
    views.strip(trace, done)
    if anatomy or charts:
        left, right = st.columns([5, 7], gap="large") if anatomy and charts else (st, st)
        if anatomy:
            with left:
                _ss()[f"{key}_focus"] = None
                views.anatomy_panel(trace, rnd, stage, key, _ss().pop(f"{key}_focus_in", None))
                pos = _ss()[f"{key}_focus"]
                _ss()[f"{key}_focus"] = None if pos is None else (rnd, pos)
        if charts:
            with right:
                views.speed_panel(trace, done, key)
            views.progress_charts(trace, done, key)
    if address:
        _to_address(trace, key, sync=False)  # the token the anatomy now explains
    if interval is not None and not _ss().get(f"{key}_playing"):
        st.rerun()  # reached the end: redraw once without the timer


def _controls(trace: Trace, key: str, interval: float | None, shortcuts: bool) -> None:
    """Buttons (with keyboard shortcuts), speed, stage toggle and the round slider."""
    n, playing = len(trace.rounds), interval is not None
    sc = (lambda s: s) if shortcuts else (lambda s: None)
    row = st.container(horizontal=True, vertical_alignment="center", gap="small", key=f"{key}_controls")
    with row:
        st.button("First", icon=":material/skip_previous:", key=f"{key}_first", on_click=jump, args=(trace, key, 0, True),
                  shortcut=sc("Home"), help="first round (Home)")
        st.button("Back", icon=":material/chevron_left:", key=f"{key}_back", on_click=step, args=(trace, key, -1),
                  shortcut=sc("Left"), help="one step back (←)")
        if st.button("Pause" if playing else "Play", key=f"{key}_play", type="primary",
                     icon=":material/pause:" if playing else ":material/play_arrow:",
                     shortcut=sc("Space"), help="play / pause (space)"):
            if not playing and at_end(trace, key):
                jump(trace, key, 0, start=True)
            _ss()[f"{key}_playing"] = not playing
            _ss()[f"{key}_tick"] = 0.0
            st.rerun()
        st.button("Next", icon=":material/chevron_right:", icon_position="right", key=f"{key}_next", on_click=step, args=(trace, key, +1),
                  shortcut=sc("Right"), help="one step forward (→)")
        st.button("Last", icon=":material/skip_next:", icon_position="right", key=f"{key}_last", on_click=jump, args=(trace, key, n - 1),
                  shortcut=sc("End"), help="last round, complete (End)")
        speed = st.segmented_control("speed", list(SPEEDS), default="1×", key=f"{key}_speed",
                                     label_visibility="collapsed", required=True)
        st.toggle("animate each round", value=True, key=f"{key}_animate",
                  help="on: step through the stages of a round; off: one whole round per step")
    if playing and SPEEDS.get(speed) != interval:
        st.rerun()  # restart the timer at the new speed
    rnd, _ = position(key)
    if n > 1:
        _ss()[f"{key}_slider"] = rnd + 1
        st.slider("round", 1, n, key=f"{key}_slider", on_change=_on_slider, args=(trace, key),
                  format=f"round %d of {n}", label_visibility="collapsed")
