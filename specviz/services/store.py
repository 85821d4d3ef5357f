"""Traces shared by everyone on one server: an upload or a live run gets an id (a hash of its
content) so a link to it works in any browser on that server.

Only validated trace JSON is stored (a Trace re-serialised by trace.py: never pickle, never
anything executable). The store is bounded by count, bytes and age (least recently used go
first), and every write goes to a temporary file renamed into place, so a crash or a restart
never leaves half a trace behind. `resolve(ref)` takes a stored id or a shipped trace's file stem.
The shipped traces and the shipped tree sweep are read here too. No Streamlit here.
"""
import functools
import hashlib
import json
import os
import re
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path

from ..errors import TraceError
from ..paths import TRACES_DIR, TREE_SWEEP, cache_dir
from ..trace import MAX_TRACE_BYTES, Trace

ID = re.compile(r"[0-9a-f]{16}")
STEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,119}")
TMP_PREFIX = ".tmp-"
TOUCH_EVERY_S = 60.0  # refresh a stored trace's last use at most this often (readers poll)


# ----------------------------------------------------------------------------- shipped with SpecViz

def shipped_traces() -> dict[str, Path]:
    """Label -> path of every example trace in data/traces, sorted by file name."""
    return {_label(p): p for p in sorted(TRACES_DIR.glob("*.json"))}


def _label(path: Path) -> str:
    return path.stem.replace("__", " · ").replace("_", " ")


@functools.lru_cache(maxsize=4)
def _read_json(path: str, mtime: float) -> dict | None:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def shipped_sweep() -> dict | None:
    """The shipped bench run (lesson 4's chain vs trees, and the pass-cost curve it timed): data/tree_sweep.json,
    read once per version of the file."""
    return _read_json(str(TREE_SWEEP), TREE_SWEEP.stat().st_mtime) if TREE_SWEEP.exists() else None


# ----------------------------------------------------------------------------- the store

def default_root() -> Path:
    return Path(os.environ.get("SPECVIZ_STORE", cache_dir() / "traces"))


def trace_id(trace: Trace) -> str:
    """The content hash that names a trace (same trace, same id, on any server)."""
    return hashlib.sha256(trace.to_json().encode("utf-8")).hexdigest()[:16]


def write_atomic(path: Path, data: bytes, durable: bool = True) -> None:
    """Write to a temporary file in the same directory, then rename it into place: a reader or a
    restarted process sees the old file or the new one, never half of one. durable also flushes
    it to disk first (survives a power cut; an fsync can take a while on a busy disk)."""
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_temps(root: Path, older_than_s: float = 600.0) -> None:
    """Temporary files a crashed writer left behind (a live writer's are younger)."""
    now = time.time()
    for p in root.glob(f"{TMP_PREFIX}*"):
        try:
            if now - p.stat().st_mtime > older_than_s:
                p.unlink()
        except FileNotFoundError:
            pass


class TraceStore:
    """A directory of <id>.json traces, bounded; parsed traces cached in memory (LRU)."""

    def __init__(self, root: Path | str | None = None, max_count: int = 200,
                 max_bytes: int = 256 * 2**20, max_age_s: float = 7 * 86400.0,
                 shipped_dir: Path | str = TRACES_DIR, cache_size: int = 32):
        self.root = Path(root) if root is not None else default_root()
        self.max_count, self.max_bytes, self.max_age_s = max_count, max_bytes, max_age_s
        self.shipped_dir = Path(shipped_dir)
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, tuple[float, Trace]] = OrderedDict()  # key -> (mtime, trace)
        self._cache_size = cache_size
        self.root.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(self.root)

    # writing
    def put(self, trace: Trace) -> str:
        """Store a trace (validated by its type); returns its id. Storing it again only touches it."""
        data = trace.to_json().encode("utf-8")
        if len(data) > min(MAX_TRACE_BYTES, self.max_bytes):
            raise TraceError(f"trace too large to share ({len(data) / 2**20:.1f} MiB)")
        tid = hashlib.sha256(data).hexdigest()[:16]
        path = self._path(tid)
        with self._lock:
            if path.exists():
                os.utime(path)
            else:
                write_atomic(path, data)
            self._prune_locked(keep=tid)
        return tid

    def put_json(self, raw: bytes | str) -> str:
        """Validate uploaded bytes as a trace (TraceError if they are not one), then store it."""
        return self.put(Trace.from_json(raw))

    # reading
    def get(self, ref: str) -> Trace | None:
        """The trace named by a stored id or a shipped file stem; None if there is none."""
        path = self._locate(ref)
        if path is None:
            return None
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            return None
        with self._lock:
            hit = self._cache.get(ref)
            if hit is not None and (hit[0] == mtime or self._stored(ref)):
                self._cache.move_to_end(ref)
                self._touch(path, mtime)
                return hit[1]
        try:
            trace = Trace.load(str(path))
        except TraceError:
            if self._stored(ref):  # corrupt on disk (cannot happen through put): drop it
                path.unlink(missing_ok=True)
                return None
            raise
        with self._lock:
            self._cache[ref] = (mtime, trace)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        self._touch(path, mtime)
        return trace

    def resolve(self, ref: str) -> Trace:
        """Like get, but a clear TraceError for a reference that names nothing."""
        trace = self.get(ref)
        if trace is None:
            raise TraceError(f"no trace {ref!r} on this server (stored traces expire; shipped "
                             "traces are named by their file stem, e.g. summarise__lookup__greedy)")
        return trace

    def shipped(self) -> list[str]:
        """File stems of the shipped example traces."""
        return sorted(p.stem for p in self.shipped_dir.glob("*.json"))

    def ids(self) -> list[str]:
        """Stored ids, least recently used first."""
        return [tid for tid, _, _ in self._entries()]

    def total_bytes(self) -> int:
        return sum(size for _, _, size in self._entries())

    def prune(self) -> None:
        with self._lock:
            self._prune_locked()

    # internals
    def _stored(self, ref: str) -> bool:
        return ID.fullmatch(ref) is not None

    def _path(self, tid: str) -> Path:
        return self.root / f"{tid}.json"

    def _locate(self, ref: str) -> Path | None:
        if not isinstance(ref, str):
            return None
        if self._stored(ref):
            return self._path(ref)
        if STEM.fullmatch(ref):  # by name lookup among the shipped files: no path is built from ref
            return next((p for p in self.shipped_dir.glob("*.json") if p.stem == ref), None)
        return None

    def _touch(self, path: Path, mtime: float) -> None:
        """Mark a stored trace as used (LRU), at most once a minute."""
        if path.parent == self.root and time.time() - mtime > TOUCH_EVERY_S:
            try:
                os.utime(path)
            except FileNotFoundError:
                pass

    def _entries(self) -> list[tuple[str, float, int]]:
        out = []
        for p in self.root.glob("*.json"):
            if not ID.fullmatch(p.stem):
                continue
            try:
                st = p.stat()
            except FileNotFoundError:  # another process evicted it meanwhile
                continue
            out.append((p.stem, st.st_mtime, st.st_size))
        return sorted(out, key=lambda e: e[1])

    def _prune_locked(self, keep: str | None = None) -> None:
        """Drop expired traces, then the least recently used until under count and bytes."""
        entries, now = self._entries(), time.time()
        alive = [e for e in entries if now - e[1] <= self.max_age_s or e[0] == keep]
        evict = [e for e in entries if e not in alive]
        total = sum(e[2] for e in alive)
        for e in list(alive):
            if len(alive) <= self.max_count and total <= self.max_bytes:
                break
            if e[0] != keep:
                alive.remove(e)
                evict.append(e)
                total -= e[2]
        for tid, _, _ in evict:
            self._path(tid).unlink(missing_ok=True)
            self._cache.pop(tid, None)
