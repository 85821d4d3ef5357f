"""A live class: a presenter drives, followers see the same page, trace, round and stage, and
the room's answers are counted anonymously per question. No Streamlit here.

Only the presenter can change a class: starting one returns a secret that the presenter's
session keeps (it is never in the join link); the server keeps only its hash. Nothing personal
is stored: a voter is a random token its browser session made up, kept as a salted hash only
to count one answer per session. Classes expire on their own (idle or old) and everything is
bounded. State lives in memory behind a lock and in one small JSON file per class (temp file +
rename): a restart keeps running classes, and server processes sharing the directory share the
classes (a reader reloads a file that changed on disk; writers take a file lock). Writers change
a copy and swap it in, so pollers never wait for a file write or see half a change.
"""
import hashlib
import hmac
import json
import math
import os
import re
import secrets
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from ..errors import SpecVizError
from ..paths import cache_dir
from .store import remove_stale_temps, write_atomic

try:
    import fcntl
except ImportError:  # not on Windows: one server process only there
    fcntl = None

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread from a projector
CODE = re.compile(f"[{ALPHABET}]{{5}}")
QID = re.compile(r"[A-Za-z0-9_.:-]{1,80}")
KEY = re.compile(r"[a-z][a-z0-9_]{0,31}")
VOTER = re.compile(r"[0-9a-f]{32}")
MAX_VIEW_KEYS, MAX_TEXT = 32, 200
MAX_OPTIONS, MAX_QUESTIONS, MAX_VOTERS = 12, 64, 1000
ANYONE = object()  # _edit without a presenter secret (an answer)
PRESENT_S = 10.0  # a follower counts as in the room for this long after its last poll


class ClassError(SpecVizError):
    """A class that does not exist (any more), a wrong presenter secret, bad input."""


@dataclass
class Tally:
    """The room's answers to one question."""

    options: list[str]
    counts: list[int]
    revealed: bool

    @property
    def answered(self) -> int:
        return sum(self.counts)


@dataclass
class Snapshot:
    """What a follower sees: the presenter's view, its version, and the revealed answers."""

    code: str
    version: int
    updated: float  # wall-clock time of the presenter's last publish
    view: dict
    revealed: dict[str, Tally]
    expires: float


@dataclass
class _Class:
    code: str
    secret_hash: str
    salt: str
    created: float
    active: float  # the presenter's last action
    version: int = 0
    updated: float = 0.0
    view: dict = field(default_factory=dict)
    questions: dict = field(default_factory=dict)  # qid -> {options, counts, voters, revealed, asked}


def new_voter() -> str:
    """A browser session's anonymous voter token (random; says nothing about the person)."""
    return secrets.token_hex(16)


def normalise_code(text: object) -> str | None:
    """A typed or linked class code in canonical form, or None if it cannot be one."""
    code = str(text).strip().upper() if text is not None else ""
    return code if CODE.fullmatch(code) else None


def check_view(view: object) -> dict:
    """A presenter's view: a small flat dict of short names -> short text, numbers or booleans."""
    if not isinstance(view, dict) or len(view) > MAX_VIEW_KEYS:
        raise ClassError(f"a class view is a dict of at most {MAX_VIEW_KEYS} entries")
    for k, v in view.items():
        if not isinstance(k, str) or not KEY.fullmatch(k):
            raise ClassError(f"bad class view key {k!r}")
        ok = (isinstance(v, (bool, int)) or (isinstance(v, float) and math.isfinite(v))
              or (isinstance(v, str) and len(v) <= MAX_TEXT) or v is None)
        if not ok:
            raise ClassError(f"bad class view value for {k!r}")
    return dict(view)


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_ino, st.st_mtime_ns


def _hash(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


class Classes:
    """Every live class of a server, persisted in `root` (one <CODE>.json per class)."""

    def __init__(self, root: Path | str | None = None, idle_ttl_s: float = 2 * 3600.0,
                 max_age_s: float = 12 * 3600.0, max_classes: int = 64, clock=time.time):
        default = os.environ.get("SPECVIZ_CLASSES", cache_dir() / "classes")
        self.root = Path(root if root is not None else default)
        self.idle_ttl_s, self.max_age_s, self.max_classes = idle_ttl_s, max_age_s, max_classes
        self.clock = clock
        self._lock = threading.RLock()  # the in-memory state: held briefly, never during file writes
        self._write_lock = threading.Lock()  # one writer at a time (with the file lock: across processes)
        self._classes: dict[str, _Class] = {}
        self._stamps: dict[str, tuple] = {}  # code -> (inode, mtime_ns) of the file last read or written
        self._seen: dict[str, dict[str, float]] = {}  # code -> follower hash -> last poll (memory only)
        self.root.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(self.root)

    # the presenter
    def start(self) -> tuple[str, str]:
        """A new class: (code for the join link, secret for the presenter's session only)."""
        with self._writing():
            with self._lock:
                self._prune()
                codes = self._codes()
                if len(codes) >= self.max_classes and not self._evict_idle(codes):
                    raise ClassError("too many live classes on this server; try again later")
            code = ""
            while not code or code in codes:
                code = "".join(secrets.choice(ALPHABET) for _ in range(5))
            secret, now = secrets.token_urlsafe(24), self.clock()
            self._save(_Class(code, _hash(code, secret), secrets.token_hex(16), now, now))
            return code, secret

    def end(self, code: str, secret: str) -> None:
        with self._writing(), self._lock:
            self._presenter(code, secret)
            self._delete(code)

    def publish(self, code: str, secret: str, view: dict) -> int:
        """Set what every follower sees; returns the new version."""
        view = check_view(view)
        with self._writing():
            c, now = self._edit(code, secret), self.clock()
            if view == c.view and c.version and now - c.active < 60:
                return c.version  # nothing new: no write (the presenter's page publishes every run)
            if view != c.view or c.version == 0:
                c.version += 1
                c.view, c.updated = view, now
            c.active = now
            self._save(c)
            return c.version

    def ask(self, code: str, secret: str, qid: str, options: list[str]) -> None:
        """Open a question for the room's answers (asking it again keeps its answers)."""
        if not QID.fullmatch(str(qid)):
            raise ClassError(f"bad question id {qid!r}")
        if not (isinstance(options, list) and 2 <= len(options) <= MAX_OPTIONS
                and all(isinstance(o, str) and len(o) <= MAX_TEXT for o in options)):
            raise ClassError(f"a question has 2 to {MAX_OPTIONS} short options")
        with self._lock:  # asked again, as every run of the presenter's page does: nothing to write
            c = self._presenter(code, secret)
            q = c.questions.get(qid)
            if q is not None and q["options"] == options and self.clock() - c.active < 60:
                return
        with self._writing():
            c = self._edit(code, secret)
            q = c.questions.get(qid)
            if q is None or q["options"] != options:
                c.questions[qid] = {"options": list(options), "counts": [0] * len(options),
                                    "voters": [], "revealed": False, "asked": self.clock()}
                while len(c.questions) > MAX_QUESTIONS:  # the oldest question goes
                    del c.questions[min(c.questions, key=lambda k: c.questions[k]["asked"])]
            c.active = self.clock()
            self._save(c)

    def reveal(self, code: str, secret: str, qid: str, shown: bool = True) -> None:
        """Show (or hide again) the room's answers to one question on the followers' screens."""
        with self._writing():
            c = self._edit(code, secret)
            if qid not in c.questions:
                raise ClassError(f"no question {qid!r} in class {code}")
            c.questions[qid] = {**c.questions[qid], "revealed": bool(shown)}
            c.active = self.clock()
            self._save(c)

    def tally(self, code: str, secret: str, qid: str) -> Tally | None:
        """The presenter's live view of one question's answers (None if not asked)."""
        with self._lock:
            c = self._presenter(code, secret)
            q = c.questions.get(qid)
            return None if q is None else Tally(list(q["options"]), list(q["counts"]), q["revealed"])

    def tallies(self, code: str, secret: str) -> dict[str, Tally]:
        """The presenter's view of every question's answers, in one read."""
        with self._lock:
            c = self._presenter(code, secret)
            return {qid: Tally(list(q["options"]), list(q["counts"]), q["revealed"])
                    for qid, q in c.questions.items()}

    def is_presenter(self, code: str, secret: str) -> bool:
        try:
            with self._lock:
                self._presenter(code, secret)
            return True
        except ClassError:
            return False

    def present(self, code: str) -> int:
        """Followers that polled in the last PRESENT_S seconds (this server process only)."""
        now = self.clock()
        with self._lock:
            return sum(now - t <= PRESENT_S for t in self._seen.get(code, {}).values())

    # the room
    def snapshot(self, code: str, follower: str | None = None) -> Snapshot | None:
        """What followers see now; None if the class has ended or expired. Cheap: pollers call it."""
        with self._lock:
            c = self._get(code)
            if c is None:
                return None
            if follower is not None and VOTER.fullmatch(follower):
                seen = self._seen.setdefault(code, {})
                if len(seen) < MAX_VOTERS or _hash(c.salt, follower) in seen:
                    seen[_hash(c.salt, follower)] = self.clock()
            revealed = {qid: Tally(list(q["options"]), list(q["counts"]), True)
                        for qid, q in c.questions.items() if q["revealed"]}
            return Snapshot(c.code, c.version, c.updated, dict(c.view), revealed, self._expires(c))

    def answer(self, code: str, qid: str, voter: str, option: int) -> bool:
        """Count one anonymous answer; False if this session already answered or cannot."""
        if not (isinstance(voter, str) and VOTER.fullmatch(voter)) or isinstance(option, bool):
            return False
        with self._writing():
            c = self._edit(code)
            q = c.questions.get(qid) if c else None
            if q is None or not isinstance(option, int) or not 0 <= option < len(q["options"]):
                return False
            who = _hash(c.salt, qid, voter)[:24]
            if who in q["voters"] or len(q["voters"]) >= MAX_VOTERS:
                return False
            counts = list(q["counts"])
            counts[option] += 1
            c.questions[qid] = {**q, "counts": counts, "voters": q["voters"] + [who]}
            self._save(c)
            return True

    # internals
    def _expires(self, c: _Class) -> float:
        return min(c.active + self.idle_ttl_s, c.created + self.max_age_s)

    def _edit(self, code: str, secret: object = ANYONE) -> _Class | None:
        """A copy of the class to change and _save; only its presenter's unless ANYONE may."""
        with self._lock:
            c = self._get(code) if secret is ANYONE else self._presenter(code, secret)
            return None if c is None else replace(c, view=dict(c.view), questions=dict(c.questions))

    def _presenter(self, code: str, secret: str) -> _Class:
        c = self._get(code)
        if c is None:
            raise ClassError(f"class {code} has ended or expired")
        if not isinstance(secret, str) or not hmac.compare_digest(_hash(c.code, secret), c.secret_hash):
            raise ClassError("only the presenter of this class can do that")
        return c

    def _path(self, code: str) -> Path:
        return self.root / f"{code}.json"

    def _codes(self) -> set[str]:
        return {p.stem for p in self.root.glob("*.json") if CODE.fullmatch(p.stem)}

    def _get(self, code: object) -> _Class | None:
        """The class, reloaded if its file changed (another process); None if gone or expired."""
        code = normalise_code(code)
        if code is None:
            return None
        try:
            stamp = _stamp(self._path(code))
        except FileNotFoundError:
            self._forget(code)
            return None
        if self._stamps.get(code) != stamp:  # every write is a rename: a new inode
            c = self._read(code)
            if c is None:
                return None
            self._classes[code], self._stamps[code] = c, stamp
        c = self._classes[code]
        if self.clock() > self._expires(c):
            self._delete(code)
            return None
        return c

    def _read(self, code: str) -> _Class | None:
        """A class file, validated; a damaged one is removed."""
        try:
            data = json.loads(self._path(code).read_text(encoding="utf-8"))
            c = _Class(**data)
            assert c.code == code and isinstance(c.view, dict) and isinstance(c.questions, dict)
            check_view(c.view)
            for q in c.questions.values():
                assert len(q["options"]) == len(q["counts"]) and isinstance(q["voters"], list)
                assert all(isinstance(n, int) and n >= 0 for n in q["counts"])
            return c
        except FileNotFoundError:
            return None
        except (ValueError, TypeError, KeyError, AssertionError, ClassError):
            self._delete(code)
            return None

    def _save(self, c: _Class) -> None:
        """Write the changed copy (atomic; not fsynced: a class is worth less than a stalled
        room), then swap it in."""
        path = self._path(c.code)
        write_atomic(path, json.dumps(asdict(c), separators=(",", ":")).encode(), durable=False)
        with self._lock:
            self._classes[c.code], self._stamps[c.code] = c, _stamp(path)

    def _forget(self, code: str) -> None:
        self._classes.pop(code, None)
        self._stamps.pop(code, None)
        self._seen.pop(code, None)

    def _delete(self, code: str) -> None:
        self._path(code).unlink(missing_ok=True)
        self._forget(code)

    def _prune(self) -> None:
        for code in self._codes():
            self._get(code)  # deletes it if expired or damaged

    def _evict_idle(self, codes: set[str]) -> bool:
        """Make room by ending the longest-idle class, if it has been idle for 10 minutes."""
        idle = sorted((self._classes[c].active, c) for c in codes if c in self._classes)
        if idle and self.clock() - idle[0][0] > 600:
            self._delete(idle[0][1])
            return True
        return False

    @contextmanager
    def _writing(self):
        """The writers' lock, and a file lock so server processes sharing root take turns."""
        with self._write_lock:
            if fcntl is None:
                yield
                return
            with open(self.root / ".lock", "a") as f:
                fcntl.flock(f, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(f, fcntl.LOCK_UN)
