"""Time the lesson instruments that make a room wait: press each one's Measure button on its page
(AppTest, in this process, with the real model) and write how long the page took to come back to
data/instrument_times.json, with the date, the machine and its load. The run sheet
(specviz/lessons/runsheet.py) tells a lecturer which to start early from these times.

    HF_HUB_CACHE=../shared/hf-cache HF_HUB_OFFLINE=1 python scripts/time_instruments.py [--only tree_sweep]

The target model is loaded (and timed) once first, as in a workshop where the first measurement
loads it; each instrument's time is then its own work at the instrument's default settings.
"""
import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

from specviz.lessons.runsheet import INSTRUMENTS  # noqa: E402
from specviz.paths import INSTRUMENT_TIMES  # noqa: E402

PRESS = {  # instrument -> (page, widget settings before the press, the button's key)
    "cost_curve": ("pages/3_Why_it_works.py", {}, "cost_go"),
    "draft_cost": ("pages/3_Why_it_works.py", {}, "c_go"),
    "workloads": ("pages/4_Acceptance_rate.py", {}, "wl_go"),
    "lab": ("pages/5_Lossless.py", {}, "lab_go"),
    "tree_sweep": ("pages/6_Beyond_draft_models.py", {}, "ts_go"),
    "profiles": ("pages/6_Beyond_draft_models.py", {}, "pf_go"),
    "brief": ("pages/7_Decision_brief.py", {"br_source": "measure my workload now"}, "br_go"),
}


def press(page: str, settings: dict, button: str) -> float:
    """Seconds from pressing the button to the page's finished run (the page opened first)."""
    at = AppTest.from_file(str(ROOT / page), default_timeout=900).run()
    for key, value in settings.items():
        at.radio(key=key).set_value(value)
    at.run()
    if at.exception:
        raise SystemExit(f"{page}: {at.exception[0].value}")
    t = time.perf_counter()
    at.button(key=button).click().run()
    took = time.perf_counter() - t
    if at.exception or at.error:
        raise SystemExit(f"{page} {button}: {[e.value for e in list(at.exception) + list(at.error)]}")
    return took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="", help="time only the instruments whose name contains this")
    args = ap.parse_args()
    assert set(PRESS) == set(INSTRUMENTS), "every instrument the run sheet names is timed here"
    from specviz.ui.instruments.common import TARGET
    from specviz.ui.run import shared_model

    old = json.loads(INSTRUMENT_TIMES.read_text(encoding="utf-8")) if INSTRUMENT_TIMES.exists() else {}
    load_before = os.getloadavg()[0]
    t = time.perf_counter()
    target = shared_model(TARGET, "auto")
    load_s = time.perf_counter() - t
    import torch

    times = dict(old.get("instruments", {}))
    for name, (page, settings, button) in PRESS.items():
        if args.only not in name:
            continue
        times[name] = round(press(page, settings, button), 1)
        print(f"{name:<12} {times[name]:6.1f} s  ({page}, load {os.getloadavg()[0]:.1f})", flush=True)
    out = {"date": time.strftime("%Y-%m-%d", time.gmtime()),
           "machine": f"{platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, "
                      f"{target.device}",
           "load_before": round(load_before, 1), "load_after": round(os.getloadavg()[0], 1),
           "model_load_s": round(load_s, 1), "instruments": times}
    INSTRUMENT_TIMES.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {INSTRUMENT_TIMES.relative_to(ROOT)}: load average {out['load_before']} -> {out['load_after']} "
          f"on {os.cpu_count()} cores; model loaded in {load_s:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
