"""Class state: presenter secret, following, expiry, anonymous answers, bounds, threads, restarts."""
import json
import threading

import pytest

from specviz.services.classroom import ClassError, Classes, MAX_QUESTIONS, check_view, new_voter, normalise_code


class Clock:
    def __init__(self):
        self.t = 1_000_000.0

    def __call__(self):
        return self.t


@pytest.fixture()
def clock():
    return Clock()


@pytest.fixture()
def classes(tmp_path, clock):
    return Classes(tmp_path, idle_ttl_s=3600, max_age_s=4 * 3600, clock=clock)


def test_only_the_presenter_drives(classes):
    code, secret = classes.start()
    assert normalise_code(code) == code and secret not in code
    assert classes.publish(code, secret, {"page": "step", "trace": "x", "round": 3}) == 1
    for bad in ("", "wrong", None, secret[:-1]):
        with pytest.raises(ClassError, match="only the presenter"):
            classes.publish(code, bad, {"round": 4})
        with pytest.raises(ClassError):
            classes.ask(code, bad, "q1", ["a", "b"])
        with pytest.raises(ClassError):
            classes.end(code, bad)
    other, other_secret = classes.start()
    with pytest.raises(ClassError):
        classes.publish(code, other_secret, {"round": 4})  # another class's secret
    snap = classes.snapshot(code.lower())
    assert snap.view == {"page": "step", "trace": "x", "round": 3} and snap.version == 1
    assert classes.is_presenter(code, secret) and not classes.is_presenter(code, other_secret)


def test_versions_change_only_with_the_view(classes, clock):
    code, secret = classes.start()
    v1 = classes.publish(code, secret, {"round": 1})
    assert classes.publish(code, secret, {"round": 1}) == v1
    clock.t += 1.5
    assert classes.publish(code, secret, {"round": 2}) == v1 + 1
    assert classes.snapshot(code).updated == clock.t


def test_classes_expire_when_idle_or_old(classes, clock, tmp_path):
    code, secret = classes.start()
    clock.t += 3599
    assert classes.snapshot(code) is not None
    classes.publish(code, secret, {"round": 2})  # presenter activity keeps it alive
    clock.t += 3599
    assert classes.snapshot(code) is not None
    clock.t += 2
    assert classes.snapshot(code) is None and not (tmp_path / f"{code}.json").exists()
    with pytest.raises(ClassError, match="ended or expired"):
        classes.publish(code, secret, {"round": 3})
    code, secret = classes.start()
    created = clock.t
    while classes.snapshot(code) is not None:  # an active class still ends at max_age
        classes.publish(code, secret, {"t": clock.t})
        clock.t += 3000
    assert created + 4 * 3600 < clock.t <= created + 4 * 3600 + 3000


def test_end_removes_the_class(classes):
    code, secret = classes.start()
    classes.end(code, secret)
    assert classes.snapshot(code) is None


def test_answers_are_anonymous_counted_once_and_revealed_on_demand(classes, tmp_path):
    code, secret = classes.start()
    classes.ask(code, secret, "lesson1.q0", ["accepted", "rejected"])
    voters = [new_voter() for _ in range(5)]
    assert [classes.answer(code, "lesson1.q0", v, i % 2) for i, v in enumerate(voters)] == [True] * 5
    assert not classes.answer(code, "lesson1.q0", voters[0], 1)  # first answer counts
    assert not classes.answer(code, "lesson1.q0", new_voter(), 2)  # no such option
    assert not classes.answer(code, "lesson1.q0", new_voter(), True)
    assert not classes.answer(code, "nope", new_voter(), 0)
    assert not classes.answer(code, "lesson1.q0", "alice", 0)  # not a voter token
    t = classes.tally(code, secret, "lesson1.q0")
    assert t.counts == [3, 2] and t.answered == 5 and not t.revealed
    assert classes.snapshot(code).revealed == {}  # students see nothing until the presenter chooses
    classes.reveal(code, secret, "lesson1.q0")
    assert classes.snapshot(code).revealed["lesson1.q0"].counts == [3, 2]
    classes.reveal(code, secret, "lesson1.q0", shown=False)
    assert classes.snapshot(code).revealed == {}
    with pytest.raises(ClassError):
        classes.tally(code, "wrong", "lesson1.q0")
    stored = (tmp_path / f"{code}.json").read_text()
    assert secret not in stored and not any(v in stored for v in voters)  # hashes only
    classes.ask(code, secret, "lesson1.q0", ["accepted", "rejected"])  # asked again: kept
    assert classes.tally(code, secret, "lesson1.q0").answered == 5


def test_bad_input_is_refused(classes):
    code, secret = classes.start()
    for view in ({"Round": 1}, {"r": [1]}, {"r": "x" * 500}, {"r": float("nan")}, [1],
                 {f"k{i}": i for i in range(40)}):
        with pytest.raises(ClassError):
            classes.publish(code, secret, view)
    for qid, options in (("bad id!", ["a", "b"]), ("q", ["a"]), ("q", ["a"] * 20), ("q", [1, 2])):
        with pytest.raises(ClassError):
            classes.ask(code, secret, qid, options)
    assert check_view({"trace": "a", "round": 3, "hide": True, "x": None, "t": 0.5})
    for bad in ("", "abc", "ABCDEF", "ABCD0", None, "../x"):
        assert normalise_code(bad) is None and classes.snapshot(bad) is None


def test_bounds_on_classes_and_questions(tmp_path, clock):
    classes = Classes(tmp_path, max_classes=2, clock=clock)
    (a, sa), (b, sb) = classes.start(), classes.start()
    with pytest.raises(ClassError, match="too many"):
        classes.start()
    clock.t += 601
    classes.publish(b, sb, {"round": 1})
    c, _ = classes.start()  # the longest-idle class made room
    assert classes.snapshot(a) is None and classes.snapshot(b) and classes.snapshot(c)
    for i in range(MAX_QUESTIONS + 6):
        clock.t += 1
        classes.ask(b, sb, f"q{i}", ["x", "y"])
    assert classes.tally(b, sb, "q0") is None and classes.tally(b, sb, f"q{MAX_QUESTIONS + 5}")


def test_restart_keeps_classes_and_drops_damaged_ones(tmp_path, clock):
    first = Classes(tmp_path, clock=clock)
    code, secret = first.start()
    first.ask(code, secret, "q", ["a", "b"])
    first.answer(code, "q", new_voter(), 1)
    broken, _ = first.start()
    (tmp_path / f"{broken}.json").write_text('{"code": "half')
    again = Classes(tmp_path, clock=clock)  # a restarted server
    assert again.tally(code, secret, "q").counts == [0, 1]
    assert again.publish(code, secret, {"round": 9}) == 1
    assert again.snapshot(broken) is None and not (tmp_path / f"{broken}.json").exists()
    assert json.loads((tmp_path / f"{code}.json").read_text())["view"] == {"round": 9}


def test_two_processes_sharing_the_directory_see_each_other(tmp_path, clock):
    """Two Classes on one directory (as two server processes): reads reload, writes take turns."""
    a, b = Classes(tmp_path, clock=clock), Classes(tmp_path, clock=clock)
    code, secret = a.start()
    a.ask(code, secret, "q", ["x", "y", "z"])
    a.publish(code, secret, {"round": 1})
    assert b.snapshot(code).view == {"round": 1}
    clock.t += 1
    a.publish(code, secret, {"round": 2})
    assert b.snapshot(code).view == {"round": 2}
    errors = []

    def vote(server: Classes, n: int):
        try:
            for i in range(n):
                assert server.answer(code, "q", new_voter(), i % 3)
                server.snapshot(code, new_voter())
        except Exception as e:  # noqa: BLE001 - collected for the assertion below
            errors.append(repr(e))

    def drive():
        try:
            for r in range(3, 40):
                clock.t += 0.01
                a.publish(code, secret, {"round": r})
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    threads = [threading.Thread(target=vote, args=(s, 25)) for s in (a, b, a, b, a, b)]
    threads.append(threading.Thread(target=drive))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert a.tally(code, secret, "q").answered == 150 == b.tally(code, secret, "q").answered
    assert b.snapshot(code).view == {"round": 39}
    assert a.present(code) == 75 and b.present(code) == 75  # followers seen by each process
    assert not list(tmp_path.glob(".tmp-*"))


def test_pollers_never_wait_for_a_write_nor_see_half_a_change(tmp_path, monkeypatch):
    from specviz.services import classroom as cm

    classes = Classes(tmp_path)
    code, secret = classes.start()
    assert classes.publish(code, secret, {"round": 1}) == 1  # view round == version, always
    real, writing, release = cm.write_atomic, threading.Event(), threading.Event()

    def held(*a, **k):  # a write that waits until the test lets it finish (a busy disk)
        writing.set()
        assert release.wait(10)
        real(*a, **k)

    monkeypatch.setattr(cm, "write_atomic", held)
    writer = threading.Thread(target=classes.publish, args=(code, secret, {"round": 2}))
    writer.start()
    assert writing.wait(10)
    during = []
    reader = threading.Thread(target=lambda: during.append(classes.snapshot(code)))
    reader.start()
    reader.join(5)
    assert not reader.is_alive(), "a poll waited for a file write"
    assert during[0].version == 1 and during[0].view == {"round": 1}  # the old state, whole
    release.set()
    writer.join(10)
    monkeypatch.setattr(cm, "write_atomic", real)
    errors = []

    def poll():
        for _ in range(300):
            snap = classes.snapshot(code)
            if snap.view["round"] != snap.version:
                errors.append((snap.version, snap.view))

    pollers = [threading.Thread(target=poll) for _ in range(3)]
    for t in pollers:
        t.start()
    for r in range(3, 30):
        classes.publish(code, secret, {"round": r})
    for t in pollers:
        t.join()
    assert errors == [] and classes.snapshot(code).version == 29
