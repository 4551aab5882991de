"""Reading asciicast files: warroom recordings and plain asciicast v2/v3 casts.

One reader serves replay, export and the keyframe index, so that all three
agree on what a file says. It works on bytes and byte offsets (a keyframe
index points into the file) and reads lazily, in large chunks: a one-hour
recording can be 100 MB and must never be held in memory whole.

Time is normalised to seconds since the start of the recording. In v2 an
event carries that time; in v3 it carries the interval since the previous
event, so times are accumulated in file order, and a reader that starts in
the middle of a v3 file must be told the time of the event before it.
Comment lines (``#``, which includes warroom's signed ``#warroom-`` control
lines) and blank lines are skipped. A last line without its ``\\n`` is what a
crash leaves behind: it is ignored if it does not parse, never an error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relay.core.errors import WarroomError
from relay.core.text import SURROGATE

_CHUNK = 1 << 20
# JSON may escape half of a surrogate pair (``"\\ud800"``); no UTF-8 text can hold
# one, so every consumer (the terminal, an export) would fail on it. Only lines
# with such an escape are searched, which keeps the common line's cost at one scan.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
NOT_TEXT = "not valid Unicode text (a lone surrogate)"


class CastError(WarroomError, ValueError):
    """The file is not an asciicast file this reader understands; says where and why.

    For a bad event line, ``offset`` is the byte where the line starts and
    ``reason`` what is wrong with it (the message adds the offset).
    """

    def __init__(self, message: str, offset: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.offset = offset
        self.reason = reason or message


@dataclass(frozen=True)
class CastHeader:
    """The first line of a cast, normalised across v2 and v3.

    ``warroom`` is the extension object of a warroom recording (session,
    target, owner, reason, signing key), ``None`` for a plain cast.
    """

    version: int
    cols: int
    rows: int
    timestamp: float | None
    title: str | None
    idle_time_limit: float | None
    term_type: str | None
    warroom: dict[str, Any] | None
    raw: dict[str, Any]
    size: int  # bytes of the header line, its newline included


@dataclass(frozen=True, slots=True)
class CastEvent:
    """One event: ``time`` in seconds since the start, ``offset`` of its line in the file."""

    time: float
    code: str
    data: str
    offset: int
    end: int  # offset just after the line


def parse_header(line: bytes) -> CastHeader:
    """Parse a header line (newline optional); raise :class:`CastError` saying why not."""
    try:
        raw = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CastError(f"line 1 is not a JSON asciicast header: {exc}") from None
    if not isinstance(raw, dict):
        raise CastError("line 1 is not a JSON object (an asciicast header)")
    if _SURROGATE_ESCAPE.search(line) and SURROGATE.search(json.dumps(raw, ensure_ascii=False)):
        raise CastError(f"line 1: the header holds text that is {NOT_TEXT}")
    version = raw.get("version")
    if version == 2:
        env = raw.get("env", {})
        if not isinstance(env, dict):
            raise CastError("line 1: 'env' must be a JSON object")
        cols, rows, term = raw.get("width"), raw.get("height"), env.get("TERM")
    elif version == 3:
        term_info = raw.get("term")
        if not isinstance(term_info, dict):
            raise CastError("line 1: an asciicast v3 header needs a 'term' object")
        cols, rows, term = term_info.get("cols"), term_info.get("rows"), term_info.get("type")
    else:
        raise CastError(f"line 1: unsupported asciicast version {version!r} (2 and 3 are read)")
    if not isinstance(cols, int) or not isinstance(rows, int) or min(cols, rows) < 1:
        raise CastError("line 1: the terminal size is missing or not a positive integer")
    warroom = raw.get("warroom")
    return CastHeader(
        version=version,
        cols=cols,
        rows=rows,
        timestamp=_number(raw.get("timestamp")),
        title=raw.get("title") if isinstance(raw.get("title"), str) else None,
        idle_time_limit=_number(raw.get("idle_time_limit")),
        term_type=term if isinstance(term, str) else None,
        warroom=warroom if isinstance(warroom, dict) else None,
        raw=raw,
        size=len(line) + (0 if line.endswith(b"\n") else 1),
    )


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def read_header(path: Path) -> CastHeader:
    """The header of the cast at ``path``."""
    with path.open("rb") as handle:
        line = handle.readline()
    if not line.strip():
        raise CastError(f"{path} is empty")
    return parse_header(line)


def parse_size(data: str) -> tuple[int, int] | None:
    """``"COLSxROWS"`` (a resize event's data) as ``(cols, rows)``, or None if malformed."""
    cols, sep, rows = data.partition("x")
    if sep and cols.isdigit() and rows.isdigit() and int(cols) > 0 and int(rows) > 0:
        return int(cols), int(rows)
    return None


def iter_lines(path: Path, offset: int) -> Iterator[tuple[int, bytes, bool]]:
    """Yield ``(offset, line, complete)`` from ``offset``; ``line`` keeps no newline."""
    with path.open("rb") as handle:
        handle.seek(offset)
        carry = b""
        while chunk := handle.read(_CHUNK):
            data = carry + chunk
            start = 0
            while (end := data.find(b"\n", start)) != -1:
                yield offset + start, data[start:end], True
                start = end + 1
            offset += start
            carry = data[start:]
        if carry:
            yield offset, carry, False


def iter_events(
    path: Path, header: CastHeader, offset: int | None = None, time: float = 0.0
) -> Iterator[CastEvent]:
    """Events from ``offset`` (default: after the header); ``time`` is the time before it (v3).

    Raises :class:`CastError` naming the byte offset of a malformed line.
    """
    relative = header.version == 3
    for start, line, complete in iter_lines(path, header.size if offset is None else offset):
        if not line.strip() or line.startswith(b"#"):
            continue
        try:
            stamp, code, data = _parse_event(line)
        except CastError as exc:
            if not complete:
                return  # a line cut short by a crash: the prefix is all there is
            raise CastError(f"byte {start}: {exc}", offset=start, reason=str(exc)) from None
        time = time + stamp if relative else stamp
        yield CastEvent(time, code, data, start, start + len(line) + (1 if complete else 0))


def _parse_event(line: bytes) -> tuple[float, str, str]:
    try:
        value = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CastError(f"not a JSON event: {exc}") from None
    if not isinstance(value, list) or len(value) != 3:
        raise CastError("an event must be a JSON array [time, code, data]")
    stamp, code, data = value
    if not isinstance(stamp, int | float) or isinstance(stamp, bool) or stamp < 0:
        raise CastError("an event's time must be a non-negative number")
    if not isinstance(code, str) or not isinstance(data, str):
        raise CastError("an event's code and data must be strings")
    if _SURROGATE_ESCAPE.search(line) and (SURROGATE.search(code) or SURROGATE.search(data)):
        raise CastError(f"an event's text is {NOT_TEXT}")
    return float(stamp), code, data
