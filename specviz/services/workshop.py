"""The workshop pack: one bounded zip of the traces a class used (each once, replayable without a
model) and its texts (lessons with their numbers, answer keys, the brief, the run sheet).
"""
import hashlib
import io
import json
import zipfile

from ..trace import Trace


PACK_TRACES, PACK_BYTES = 64, 48 * 2**20  # at most this many traces and bytes of trace JSON


def workshop_pack(traces: dict[str, Trace], texts: dict[str, str]) -> bytes:
    """A zip of traces (JSON, replayable in SpecViz without a model) and text files (brief, notes).

    Each trace once (the same run shown on several pages is one file, under its first name) and
    the whole bounded (PACK_TRACES, PACK_BYTES): the README lists what was left out."""
    buf, seen, names, left_out, size = io.BytesIO(), set(), {}, [], 0
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, trace in traces.items():
            text = trace.to_json(indent=1)
            digest = hashlib.sha256(text.encode()).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            if len(names) >= PACK_TRACES or size + len(text) > PACK_BYTES:
                left_out.append(name)
                continue
            file, n = _safe(name), 2
            while file in names.values():
                file, n = f"{_safe(name)}-{n}", n + 1
            names[name], size = file, size + len(text)
            z.writestr(f"traces/{file}.json", text)
        for name, text in texts.items():
            z.writestr(name, text)
        z.writestr("README.txt", "SpecViz workshop pack. Open SpecViz (streamlit run app.py), go to "
                   "Step through and upload any file in traces/ to replay it without a model.\n"
                   + json.dumps({"traces": names, "files": list(texts),
                                 "left out (pack size bound)": left_out}, indent=1))
    return buf.getvalue()


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)[:80]
