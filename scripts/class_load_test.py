"""Bounded class load test: one presenter and N followers on loopback; stops by itself.

A real `streamlit run` server serves scripts/class_load_app.py (a Step-through view that a
presenter drives and followers follow). Presenter and followers are websocket clients speaking
Streamlit's own protocol, doing what a browser tab does: open the page (the followers: the join
link), re-run a fragment whenever the server's AutoRerun asks for it, click a button, and read
the page the server sends back. The presenter's session starts the class and clicks "Next round"
every --interval seconds; its page publishes the round to the class.

Follower lag = the time a follower receives the presenter's round on its page minus the time the
presenter's page published it (read from the class file). Printed: lag p50/p95/max, errors, rounds missed, server memory (RSS
start/peak/end) and CPU, the load average before and after.

--lesson: the product's Lossless lesson page in a class instead, and its quiz. For each of
--questions questions every follower answers (spread over --answer-window seconds) and then the
presenter shows the room's answers. Answer -> presenter = the time the presenter's live chart
first counts the k-th answer minus the time the k-th answer was sent; reveal -> room = the time a
follower receives the room's chart minus the time the presenter's click was sent.

    python scripts/class_load_test.py --followers 30 --steps 20 --interval 3
    python scripts/class_load_test.py --followers 30 --lesson --tuned
"""
import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from specviz.services.classroom import Classes  # noqa: E402

TUNED = ["--server.fileWatcherType", "none", "--runner.postScriptGC", "false"]
STEM = "chat__trained-smollm2-135m-eagle__greedy"  # the trace class_load_app.py shows (30 rounds)
HEADING = re.compile(r"#### Round (\d+) of \d+ · step (\d+) of")
LESSON = "3_lossless"  # the lesson --lesson serves (pages/5_Lossless.py) and its quiz's question ids
ANSWERED = re.compile(r"· (\d+) answered")


class Follower:
    """One browser tab's worth of protocol: join, poll when asked, record what arrives."""

    def __init__(self, name: str, url: str, query: str):
        self.name, self.url, self.query = name, url, query
        self.seen: dict[int, float] = {}  # round -> first time its heading arrived
        self.errors: list[str] = []
        self.timers: dict[str, asyncio.Task] = {}
        self.ws = None
        self.page_hash = ""
        self.joined_at: float | None = None  # connected
        self.ready = asyncio.Event()  # its first page has arrived
        self.polls_answered = 0  # poll-fragment runs the server has finished for it
        self.log: list[tuple[float, str]] = []  # (time, event) for --verbose
        self.buttons: dict[str, str] = {}  # label -> widget id
        self.button_ids: list[str] = []
        self.markdown: list[str] = []
        self.radios: dict[str, list[str]] = {}  # widget id -> options
        self.widgets: dict[str, WidgetState] = {}  # what this tab's widgets hold: sent with every rerun
        self.charts: list[tuple[float, str, str]] = []  # (arrival, element id, title) of plotly charts
        self.finished = asyncio.Event()  # a whole page run has arrived

    def _rerun(self, fragment_id: str = "", click: str = "") -> bytes:
        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string = self.query
        cs.page_script_hash = self.page_hash
        cs.fragment_id = fragment_id
        cs.is_auto_rerun = bool(fragment_id)
        cs.widget_states.SetInParent()
        cs.widget_states.widgets.extend(self.widgets.values())  # as a browser sends them every time
        if click:  # a button press is a trigger value in the widget states
            cs.widget_states.widgets.append(WidgetState(id=click, trigger_value=True))
        cs.context_info.url = self.url.replace("ws://", "http://").split("/_stcore")[0] + "/"
        cs.context_info.timezone = "UTC"
        cs.context_info.locale = "en-US"
        return msg.SerializeToString()

    async def _poll_every(self, interval: float, fragment_id: str) -> None:
        while True:
            await asyncio.sleep(interval)
            self.log.append((time.time(), "poll sent"))
            await self.ws.send(self._rerun(fragment_id))

    def _on(self, msg: ForwardMsg) -> None:
        kind = msg.WhichOneof("type")
        if kind == "script_finished" and msg.script_finished == ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY:
            self.polls_answered += 1
        if kind == "script_finished" and msg.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY:
            self.finished.set()
        if kind in ("script_finished", "auto_rerun", "stop_auto_rerun", "ref_hash"):
            self.log.append((time.time(), f"{kind} {str(msg.script_finished) if kind == 'script_finished' else ''}"))
        if kind == "new_session":
            self.page_hash = msg.new_session.page_script_hash
        elif kind == "auto_rerun":
            fid = msg.auto_rerun.fragment_id
            if fid in self.timers:
                self.timers[fid].cancel()
            self.timers[fid] = asyncio.create_task(self._poll_every(msg.auto_rerun.interval, fid))
        elif kind == "stop_auto_rerun":
            for fid in msg.stop_auto_rerun.fragment_ids:
                if fid in self.timers:
                    self.timers.pop(fid).cancel()
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            el = msg.delta.new_element
            which = el.WhichOneof("type")
            if which == "markdown":
                self.markdown.append(el.markdown.body)
                m = HEADING.match(el.markdown.body)
                if m:
                    self.log.append((time.time(), f"heading round {m.group(1)}"))
                    self.seen.setdefault(int(m.group(1)), time.time())
                    self.ready.set()
            elif which == "button":
                self.buttons[el.button.label] = el.button.id
                if el.button.id not in self.button_ids:
                    self.button_ids.append(el.button.id)
            elif which == "radio":
                self.radios[el.radio.id] = list(el.radio.options)
            elif which == "plotly_chart":
                title = json.loads(el.plotly_chart.spec).get("layout", {}).get("title", {}).get("text", "")
                self.charts.append((time.time(), el.plotly_chart.id, title))
            elif which == "exception":
                self.errors.append(f"{self.name}: exception {el.exception.message[:200]}")
            elif which == "alert" and el.alert.format == el.alert.ERROR and not el.alert.body.startswith("Not quite"):
                # (a wrong quiz answer's feedback is an st.error too: that is the page working)
                self.errors.append(f"{self.name}: st.error {el.alert.body[:200]}")

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, ask for the page, then handle what the server sends until `stop` is set."""
        try:
            async with websockets.connect(self.url, subprotocols=["streamlit"], max_size=2**26,
                                          origin=self.url.replace("ws://", "http://").split("/_stcore")[0],
                                          open_timeout=30) as ws:
                self.ws = ws
                self.joined_at = time.time()
                await ws.send(self._rerun())
                while not stop.is_set():
                    try:
                        raw = await asyncio.wait_for(ws.recv(), timeout=0.5)
                    except asyncio.TimeoutError:
                        continue
                    msg = ForwardMsg()
                    msg.ParseFromString(raw)
                    self._on(msg)
        except Exception as e:  # noqa: BLE001 - every failure is a finding of the load test
            self.errors.append(f"{self.name}: {type(e).__name__}: {e}"[:300])
        finally:
            for t in self.timers.values():
                t.cancel()


    async def click(self, label: str) -> None:
        await self.ws.send(self._rerun(click=self.buttons[label]))

    async def click_id(self, suffix: str) -> None:
        """Click the button whose widget id ends in this key."""
        await self.ws.send(self._rerun(click=next(i for i in reversed(self.button_ids) if i.endswith(suffix))))

    async def choose(self, suffix: str, option: int) -> float:
        """Pick an option of the radio whose widget id ends in this key; when it was sent."""
        wid = next(i for i in self.radios if i.endswith(suffix))
        self.widgets[wid] = WidgetState(id=wid, string_value=self.radios[wid][option % len(self.radios[wid])])
        t = time.time()
        await self.ws.send(self._rerun())
        return t


def join_room(followers: list[Follower], stop: asyncio.Event, server: psutil.Process) -> tuple[list, list]:
    """Start the followers, joining over a few seconds as a room does, and sample the server's
    memory every second until stop: (their tasks, the memory samples as they come)."""
    window, memory = min(10.0, 0.3 * len(followers)), []

    async def join(f: Follower, delay: float):
        await asyncio.sleep(delay)
        await f.run(stop)

    async def sample():
        while not stop.is_set():
            memory.append(server.memory_info().rss)
            await asyncio.sleep(1)

    tasks = [asyncio.create_task(join(f, window * i / max(1, len(followers)))) for i, f in enumerate(followers)]
    return tasks + [asyncio.create_task(sample())], memory


async def presenter(p: Follower, classes: Classes, code: str, steps: int, interval: float,
                    published: dict[int, float]) -> None:
    """Click "Next round" every interval; note when the presenter's page published each round."""
    for _ in range(steps):
        await asyncio.sleep(interval)
        before = classes.snapshot(code).version
        p.log.append((time.time(), "presenter clicks Next round"))
        await p.click("Next round")
        for _ in range(3000):  # its page publishes at the end of its run
            snap = classes.snapshot(code)
            if snap.version != before:
                published[int(snap.view["round"])] = snap.updated
                break
            await asyncio.sleep(0.01)


def _cpu(p: psutil.Process) -> float:
    t = p.cpu_times()
    return t.user + t.system


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]


async def main_async(args, port: int, classes: Classes, server: psutil.Process) -> dict:
    url = f"ws://127.0.0.1:{port}/_stcore/stream"
    lean = "&lean=1" if args.lean else ""
    if args.real:  # the product's page: the trace by its address, the class's view is the address
        lean = f"&real=1&trace={STEM}"
    stop = asyncio.Event()
    # the presenter's page first (it also warms the cold server up)
    pres = Follower("presenter", url, "presenter=1" + lean)
    pres_task = asyncio.create_task(pres.run(stop))
    await asyncio.wait_for(pres.ready.wait(), 150)
    while "Next round" not in pres.buttons:
        await asyncio.sleep(0.05)
    code = next(m.split()[-1] for m in pres.markdown if m.startswith("class code "))
    published: dict[int, float] = {}  # round -> when the presenter's page published it
    followers = [Follower(f"follower {i + 1}", url, f"class={code}" + lean) for i in range(args.followers)]
    cpu0 = server.cpu_times()
    tasks, memory = join_room(followers, stop, server)
    try:  # the whole room is in before the presenter's first step
        await asyncio.wait_for(asyncio.gather(*(f.ready.wait() for f in followers)), 120)
    except asyncio.TimeoutError:
        pass  # the ones not in count as missed steps
    joins = [min(f.seen.values()) - f.joined_at for f in followers if f.joined_at and f.seen]
    # and settled: every follower's poll answered twice since (the joining backlog is done)
    base = {f.name: f.polls_answered for f in followers}
    for _ in range(1200):
        if all(f.polls_answered >= base[f.name] + 2 for f in followers):
            break
        await asyncio.sleep(0.1)
    # an idle room first: what polling alone costs the server
    c0, p0, t0 = _cpu(server), sum(f.polls_answered for f in followers), time.time()
    await asyncio.sleep(args.interval)
    idle_cpu, idle_polls, idle_s = _cpu(server) - c0, sum(f.polls_answered for f in followers) - p0, time.time() - t0
    c0, t0 = _cpu(server), time.time()
    await presenter(pres, classes, code, args.steps, args.interval, published)
    await asyncio.sleep(args.interval)
    step_cpu, step_s = _cpu(server) - c0, time.time() - t0
    stop.set()
    await asyncio.gather(*tasks, pres_task)
    cpu1 = server.cpu_times()
    me = psutil.Process().cpu_times()
    lags, missed, errors, by_round = [], 0, [], {}
    errors += pres.errors
    for f in followers:
        errors += f.errors
        for rnd, t in published.items():
            if rnd in f.seen:
                lags.append(f.seen[rnd] - t)
            else:
                missed += 1
                by_round[rnd] = by_round.get(rnd, 0) + 1
    if args.verbose:
        t0 = pres.joined_at
        events = [(t, f"PRESENTER publishes round {r}") for r, t in published.items()]
        for t, e in sorted(events + followers[-1].log + [x for x in pres.log if "clicks" in x[1]]):
            print(f"{t - t0:7.2f}  {e}")
    updates = len(lags)
    per_poll = idle_cpu / max(idle_polls, 1)
    per_update = (step_cpu - idle_cpu / idle_s * step_s) / max(updates, 1)
    return dict(per_poll=per_poll, per_update=per_update, idle_polls_per_s=idle_polls / idle_s,
                lags=lags, joins=joins, missed=missed, by_round=by_round, errors=errors, memory=memory,
                cpu_s=(cpu1.user + cpu1.system) - (cpu0.user + cpu0.system),
                client_cpu_s=me.user + me.system)


async def lesson_async(args, port: int, classes: Classes, server: psutil.Process) -> dict:
    """A lesson page in a class: every follower answers each question, then the presenter reveals."""
    url = f"ws://127.0.0.1:{port}/_stcore/stream"
    stop = asyncio.Event()
    pres = Follower("presenter", url, "presenter=1&lesson=1")
    pres_task = asyncio.create_task(pres.run(stop))
    await asyncio.wait_for(pres.finished.wait(), 150)
    code = next(m.split()[-1] for m in pres.markdown if m.startswith("class code "))
    followers = [Follower(f"follower {i + 1}", url, f"class={code}&lesson=1") for i in range(args.followers)]

    async def until(done, timeout: float) -> bool:
        for _ in range(int(timeout / 0.05)):
            if done():
                return True
            await asyncio.sleep(0.05)
        return done()

    cpu0 = server.cpu_times()
    tasks, memory = join_room(followers, stop, server)
    first = f"quiz_{LESSON}_0"
    await until(lambda: all(any(i.endswith(first) for i in f.radios) for f in followers), 120)
    await asyncio.sleep(2 * args.poll)
    answer_lags, reveal_lags, missed_answers, missed_reveals = [], [], 0, 0
    for q in range(args.questions):
        qid, key = f"{LESSON}.q{q}", f"quiz_{LESSON}_{q}"
        live = f"sv_room_{qid}"
        if not await until(lambda: any(i.endswith(live) for _, i, _ in pres.charts), 30):
            pres.errors.append(f"presenter: no live chart for {qid}")
            break
        sent = []
        for i, f in enumerate(followers):  # the room answers within the window, one after another
            sent.append(await f.choose(key, i))
            await asyncio.sleep(args.answer_window / len(followers))

        def counts():
            return [(t, int(m.group(1))) for t, i, title in pres.charts
                    if i.endswith(live) and (m := ANSWERED.search(title))]
        await until(lambda: any(n >= len(followers) for _, n in counts()), 30)
        for k, ts in enumerate(sorted(sent), 1):
            seen = next((t for t, n in counts() if n >= k), None)
            if seen is None:
                missed_answers += 1
            else:
                answer_lags.append(max(0.0, seen - ts))
        await asyncio.sleep(1)
        mark = {f.name: len(f.charts) for f in followers}
        result = f"sv_res_{qid}"

        def got(f: Follower):
            return next((t for t, i, _ in f.charts[mark[f.name]:] if i.endswith(result)), None)
        revealed_at = time.time()
        await pres.click_id(f"sv_reveal_{qid}")
        await until(lambda: all(got(f) is not None for f in followers), 30)
        for f in followers:
            t = got(f)
            if t is None:
                missed_reveals += 1
            else:
                reveal_lags.append(t - revealed_at)
        await asyncio.sleep(2 * args.poll)  # the presenter's page moves its live chart on
    stop.set()
    await asyncio.gather(*tasks, pres_task)
    cpu1 = server.cpu_times()
    errors = pres.errors + [e for f in followers for e in f.errors]
    return dict(answer_lags=answer_lags, reveal_lags=reveal_lags, missed_answers=missed_answers,
                missed_reveals=missed_reveals, errors=errors, memory=memory,
                cpu_s=(cpu1.user + cpu1.system) - (cpu0.user + cpu0.system))


def report_lesson(args, r: dict, wall: float, before, after) -> None:
    print(f"class load test: {args.followers} followers on the Lossless lesson page, {args.questions} questions "
          f"answered within {args.answer_window:g} s each then revealed, server "
          f"{'tuned (' + ' '.join(TUNED) + ')' if args.tuned else 'as configured'}, {wall:.0f} s")
    for name, key in (("answer -> presenter", "answer_lags"), ("reveal -> room", "reveal_lags")):
        xs = r[key]
        if xs:
            print(f"{name}: p50 {statistics.median(xs):.2f} s · p95 {percentile(xs, 0.95):.2f} s · "
                  f"max {max(xs):.2f} s ({len(xs)} measured)")
    print(f"missed: {r['missed_answers']} answers, {r['missed_reveals']} reveals · errors: {len(r['errors'])}")
    for e in r["errors"][:10]:
        print("  " + e)
    mem = r["memory"]
    if mem:
        print(f"server memory (RSS): start {mem[0] / 2**20:.0f} MiB · peak {max(mem) / 2**20:.0f} MiB · "
              f"end {mem[-1] / 2**20:.0f} MiB; server CPU {r['cpu_s']:.0f} s over {wall:.0f} s")
    print(f"load average (1/5/15 min): before {before[0]:.2f} / {before[1]:.2f} / {before[2]:.2f} · "
          f"after {after[0]:.2f} / {after[1]:.2f} / {after[2]:.2f} on {os.cpu_count()} cores")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--followers", type=int, default=30)
    ap.add_argument("--steps", type=int, default=15, help="rounds the presenter steps through")
    ap.add_argument("--interval", type=float, default=3.0, help="seconds between presenter steps")
    ap.add_argument("--poll", type=float, default=1.0, help="followers' poll interval, seconds (SPECVIZ_CLASS_POLL_S)")
    ap.add_argument("--real", action="store_true", help="the product's Step through page (page frame, "
                    "sidebar, address), not the load-test page")
    ap.add_argument("--lean", action="store_true", help="followers' page without the anatomy and the four progress charts")
    ap.add_argument("--tuned", action="store_true",
                    help="serve with server.fileWatcherType = none and runner.postScriptGC = false: "
                         "after every script or fragment run Streamlit rescans all loaded modules for "
                         "changes (on its one event-loop thread) and runs a full gc.collect(); with "
                         "torch and plotly loaded both cost tens of ms, per poll of every follower")
    ap.add_argument("--lesson", action="store_true", help="the Lossless lesson page and its quiz: answer -> "
                    "presenter and reveal -> room, instead of the presenter's steps")
    ap.add_argument("--questions", type=int, default=3, help="--lesson: questions answered and revealed")
    ap.add_argument("--answer-window", type=float, default=6.0, help="--lesson: seconds over which the room answers")
    ap.add_argument("--verbose", action="store_true", help="print the last follower's timeline")
    ap.add_argument("--max-seconds", type=float, default=600, help="hard stop")
    args = ap.parse_args()
    if not 1 <= args.followers <= 200 or not 1 <= args.steps <= 29:
        ap.error("--followers must be 1..200 and --steps 1..29 (the followed trace has 30 rounds)")
    if not 1 <= args.questions <= 5 or not 0 <= args.answer_window <= 60:
        ap.error("--questions must be 1..5 and --answer-window 0..60 s")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="specviz-class-") as tmp:
        env = dict(os.environ, SPECVIZ_CLASSES=tmp, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1",
                   SPECVIZ_CLASS_POLL_S=str(args.poll))
        with socket_port() as port:
            pass
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "scripts" / "class_load_app.py"),
             "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
             "--browser.gatherUsageStats", "false"]
            + (TUNED if args.tuned else []), cwd=ROOT, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_for(port, proc)
            classes = Classes(tmp)  # reads the class the presenter's session starts
            server = psutil.Process(proc.pid)
            t0 = time.monotonic()
            run = lesson_async if args.lesson else main_async
            result = asyncio.run(asyncio.wait_for(run(args, port, classes, server), timeout=args.max_seconds))
            wall = time.monotonic() - t0
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
    if args.lesson:
        report_lesson(args, result, wall, load_before, os.getloadavg())
        return 1 if result["errors"] or result["missed_answers"] or result["missed_reveals"] else 0
    report(args, result, wall, load_before, os.getloadavg())
    return 1 if result["errors"] or result["missed"] else 0


def report(args, r: dict, wall: float, before, after) -> None:
    lags, mem = r["lags"], r["memory"]
    print(f"class load test: {args.followers} followers, {args.steps} presenter steps every "
          f"{args.interval:g} s, {'product' if args.real else 'lean' if args.lean else 'full'} Step-through view, server "
          f"{'tuned (' + ' '.join(TUNED) + ')' if args.tuned else 'as configured'}, {wall:.0f} s")
    if lags:
        print(f"follower lag: p50 {statistics.median(lags):.2f} s · p95 {percentile(lags, 0.95):.2f} s · "
              f"max {max(lags):.2f} s · min {min(lags):.2f} s ({len(lags)} follower-steps)")
    if r["joins"]:
        print(f"joining (link opened -> first page): p50 {statistics.median(r['joins']):.2f} s · "
              f"max {max(r['joins']):.2f} s")
    print(f"missed steps: {r['missed']} (per round: {r['by_round']}) · errors: {len(r['errors'])}")
    for e in r["errors"][:10]:
        print("  " + e)
    if mem:
        print(f"server memory (RSS): start {mem[0] / 2**20:.0f} MiB · peak {max(mem) / 2**20:.0f} MiB · "
              f"end {mem[-1] / 2**20:.0f} MiB; CPU: server {r['cpu_s']:.0f} s, these clients "
              f"{r['client_cpu_s']:.0f} s, over {wall:.0f} s")
    if r["idle_polls_per_s"] > 0 and r["per_update"] > 0:  # else the server was saturated
        print(f"server CPU per follower poll (idle room, {r['idle_polls_per_s']:.0f} polls/s): "
              f"{1e3 * r['per_poll']:.1f} ms · per follower update (page rerun at the presenter's "
              f"round, idle polling subtracted): {1e3 * r['per_update']:.0f} ms")
    else:
        print("server saturated: polls went unanswered in the idle room")
    print(f"load average (1/5/15 min): before {before[0]:.2f} / {before[1]:.2f} / {before[2]:.2f} · "
          f"after {after[0]:.2f} / {after[1]:.2f} / {after[2]:.2f} on {os.cpu_count()} cores")


class socket_port:
    """A free loopback port (context manager so the probe socket is closed before use)."""

    def __enter__(self) -> int:
        import socket

        self.s = socket.socket()
        self.s.bind(("127.0.0.1", 0))
        return self.s.getsockname()[1]

    def __exit__(self, *exc):
        self.s.close()


def wait_for(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited: {proc.stderr.read().decode()[-500:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.3)
    raise SystemExit("the server did not start within a minute")


if __name__ == "__main__":
    sys.exit(main())
