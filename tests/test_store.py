"""The shared trace store: ids, validation, bounds, eviction, atomic writes, restarts."""
import json
import os
import threading
import time

import pytest

from specviz.errors import TraceError
from specviz.paths import TRACES_DIR
from specviz.services import store as store_mod
from specviz.services.store import TraceStore, trace_id
from specviz.trace import Trace

SHIPPED = "summarise__lookup__greedy"


@pytest.fixture(scope="module")
def base():
    return Trace.load(str(TRACES_DIR / f"{SHIPPED}.json"))


def variant(base: Trace, i: int) -> Trace:
    """A different trace (other seed) of the same size."""
    t = Trace.from_dict(base.to_dict())
    t.config.seed = 1000 + i
    return t


def age(store: TraceStore, tid: str, seconds_ago: float) -> None:
    t = time.time() - seconds_ago
    os.utime(store.root / f"{tid}.json", (t, t))


def test_put_get_round_trip_and_content_ids(tmp_path, base):
    s = TraceStore(tmp_path)
    tid = s.put(base)
    assert store_mod.ID.fullmatch(tid) and tid == trace_id(base)
    assert s.put(Trace.from_dict(base.to_dict())) == tid  # same content, same id, stored once
    assert s.put(variant(base, 1)) != tid
    assert s.get(tid).to_dict() == base.to_dict()
    assert s.ids() and len(s.ids()) == 2


def test_only_validated_trace_json_is_stored(tmp_path, base):
    s = TraceStore(tmp_path)
    for bad in (b"\x80\x04\x95 not json (a pickle)", b"[1, 2]", b'{"version": 99}',
                json.dumps({**base.to_dict(), "rounds": "x"}).encode()):
        with pytest.raises(TraceError):
            s.put_json(bad)
    assert s.ids() == []
    extra = {**base.to_dict(), "payload": "<script>alert(1)</script>"}
    tid = s.put_json(json.dumps(extra))
    on_disk = (tmp_path / f"{tid}.json").read_text()
    assert "payload" not in on_disk and "<script>" not in on_disk  # re-serialised, not copied
    assert tid == trace_id(base)


def test_lookup_by_shipped_stem_and_bad_references(tmp_path):
    s = TraceStore(tmp_path)
    assert SHIPPED in s.shipped()
    assert s.resolve(SHIPPED).rounds
    assert s.get(SHIPPED) is s.get(SHIPPED)  # parsed once
    for ref in ("../../etc/passwd", "/etc/passwd", "nope", "0" * 16, "", "a" * 500, None, 3):
        assert s.get(ref) is None
    with pytest.raises(TraceError, match="no trace 'nope'"):
        s.resolve("nope")


def test_count_bound_evicts_least_recently_used(tmp_path, base):
    s = TraceStore(tmp_path, max_count=3)
    ids = []
    for i in range(3):
        ids.append(s.put(variant(base, i)))
        age(s, ids[-1], 1000 - i)  # ids[0] oldest
    s.get(ids[0])  # used now (older than a minute: touched) -> ids[1] is the least recent
    assert s.ids()[-1] == ids[0]
    ids.append(s.put(variant(base, 3)))
    assert sorted(s.ids()) == sorted([ids[0], ids[2], ids[3]])


def test_byte_bound(tmp_path, base):
    one = len(base.to_json().encode())
    s = TraceStore(tmp_path, max_bytes=int(2.5 * one))
    for i in range(5):
        age(s, s.put(variant(base, i)), 100 - i)
    assert len(s.ids()) == 2 and s.total_bytes() <= 2.5 * one
    with pytest.raises(TraceError, match="too large"):
        TraceStore(tmp_path / "small", max_bytes=one // 2).put(base)


def test_age_bound(tmp_path, base):
    s = TraceStore(tmp_path, max_age_s=3600)
    old, new = s.put(variant(base, 0)), s.put(variant(base, 1))
    age(s, old, 7200)
    s.prune()
    assert s.ids() == [new] and s.get(old) is None


def test_interrupted_write_leaves_nothing_behind(tmp_path, base, monkeypatch):
    s = TraceStore(tmp_path)

    def crash(*a):
        raise OSError("disk full")

    monkeypatch.setattr(store_mod.os, "replace", crash)
    with pytest.raises(OSError):
        s.put(base)
    assert list(tmp_path.iterdir()) == []


def test_restart_keeps_traces_drops_corruption_and_stale_temps(tmp_path, base):
    s = TraceStore(tmp_path)
    good, broken = s.put(variant(base, 0)), s.put(variant(base, 1))
    path = tmp_path / f"{broken}.json"
    path.write_bytes(path.read_bytes()[:1000])  # damaged behind the store's back
    stale, fresh = tmp_path / ".tmp-stale", tmp_path / ".tmp-fresh"
    stale.write_text("half")
    fresh.write_text("half")
    os.utime(stale, (time.time() - 3600,) * 2)
    s2 = TraceStore(tmp_path)  # a restart
    assert not stale.exists() and fresh.exists()  # a young temp may be another writer's
    assert s2.get(good).to_dict() == variant(base, 0).to_dict()
    assert s2.get(broken) is None and not path.exists()


def test_threads_share_one_store_within_bounds(tmp_path, base):
    s = TraceStore(tmp_path, max_count=4)
    traces = [variant(base, i) for i in range(12)]
    errors = []

    def work(k: int):
        try:
            for i in range(k, k + 6):
                tid = s.put(traces[i % 12])
                got = s.get(tid)
                assert got is None or got.config.seed == traces[i % 12].config.seed
        except Exception as e:  # noqa: BLE001 - collected for the assertion below
            errors.append(repr(e))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(s.ids()) <= 4
    assert not list(tmp_path.glob(".tmp-*"))
