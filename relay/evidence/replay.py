"""Replaying a recording: the screen and the session's state at any moment, fast.

Pure (no Textual, no clock): the TUI's replay screen and ``warroom replay
--dump`` both drive a :class:`Player`.

Seeking
-------
The screen at time *t* is what a terminal shows after every output event up
to *t*. Feeding a whole recording from the start would take a minute for a
one-hour, 100 MB session, so a sidecar **keyframe index** (``FILE.idx``)
holds terminal snapshots (:meth:`relay.terminal.TerminalModel.snapshot`) taken
every :data:`KEYFRAME_BYTES` of output or :data:`KEYFRAME_EVENTS` events,
with the byte offset in the recording where each one resumes. A seek loads
the nearest keyframe at or before *t* and feeds the rest, so its cost is
bounded by those two constants, whatever the length of the recording.

The index also keeps every session event that is not terminal I/O (chat,
hand-offs, joins, redactions, the end) as a *mark*: the timeline, the chat as
of *t* and who drove come from marks, without touching the recording.

Index file
----------
``b"WRIDX1\\n"``, then the keyframe snapshots back to back, then one JSON
object (the metadata, with each keyframe's blob offset and length), then the
metadata's offset as a big-endian u64. It is written to a temporary file and
renamed into place. It is **stale**, and rebuilt, when the recording's size,
modification time or header line differ from what the index was built from,
or when its format or keyframe spacing changed; a recording still being
written is therefore re-indexed as it grows.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import json
import os
import re
import struct
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relay.evidence.asciicast import (
    CastError,
    CastEvent,
    CastHeader,
    iter_events,
    parse_size,
    read_header,
)
from relay.terminal import TerminalModel

KEYFRAME_BYTES = 256 * 1024  # output fed after a keyframe: ≈ 40 ms at the model's 6 MB/s
KEYFRAME_EVENTS = 4096  # events parsed after a keyframe: bounds seeks through keystrokes
INDEX_MAGIC = b"WRIDX1\n"
INDEX_FORMAT = 1
INDEX_SUFFIX = ".idx"
TERMINAL_CODES = frozenset({"o", "i", "r"})
_TRAILER = struct.Struct(">Q")


# ---------------------------------------------------------------- marks


@dataclass(frozen=True, slots=True)
class Mark:
    """A session event on the timeline: chat, hand-off, join, leave, redaction, end."""

    time: float
    code: str
    data: str

    @property
    def fields(self) -> dict[str, Any]:
        """The event's JSON object (warroom codes), or ``{}`` for plain text data."""
        try:
            value = json.loads(self.data)
        except json.JSONDecodeError:
            return {}
        return value if isinstance(value, dict) else {}

    def describe(self) -> str:
        """One human sentence, for the timeline and for export markers."""
        return describe(self.code, self.data)


def describe(code: str, data: str) -> str:
    """Say what a recorded event means (see ``docs/recording.md`` for the codes)."""
    try:
        parsed = json.loads(data)
    except json.JSONDecodeError:
        parsed = None
    f: dict[str, Any] = parsed if isinstance(parsed, dict) else {}
    describer = _DESCRIBERS.get(code)
    if describer is None or (not f and code not in ("m", "x")):
        return f"{code}: {data}"
    return describer(f, data)


def _handoff(f: dict[str, Any]) -> str:
    if "request" in f:
        return f"{f['request']} asks for control: {f.get('reason', '')}"
    if "away" in f:
        return f"{f['away']}'s connection dropped (control kept for {f.get('grace', '?')} s)"
    if "deny" in f:
        return f"{f.get('by', '?')} denied {f['deny']} control: {f.get('reason', '')}".rstrip(": ")
    how, by = f.get("how", ""), f.get("by")
    if f.get("driver") is None:
        return f"{by or 'the driver'} stopped driving ({how})"
    source = f" by {by}" if by and by != f["driver"] else ""
    return f"{f['driver']} drives ({how}{source})"


_DESCRIBERS: dict[str, Callable[[dict[str, Any], str], str]] = {
    "c": lambda f, _: f"{f.get('user', '?')}: {f.get('text', '')}",
    "h": lambda f, _: _handoff(f),
    "j": lambda f, _: f"{f.get('user', '?')} joined as {f.get('role', '?')}",
    "l": lambda f, _: f"{f.get('user', '?')} left ({f.get('reason', '')})",
    "s": lambda f, _: f"redacted: {f.get('reason') or f.get('what') or 'output hidden'}",
    "e": lambda f, _: f"session ended: {f.get('reason', '')}",
    "x": lambda _, data: f"the shell exited with status {data}",
    "m": lambda _, data: f"marker: {data}" if data else "marker",
}


@dataclass(frozen=True)
class SessionState:
    """Who was there, who drove and what was said, as of one moment."""

    driver: str | None = None
    participants: tuple[tuple[str, str], ...] = ()  # (user, role), in join order
    chat: tuple[tuple[float, str, str], ...] = ()  # (time, user, text)
    ended: str | None = None


def session_state(marks: list[Mark], time: float) -> SessionState:
    """Fold the marks up to ``time`` (inclusive) into the session's state then."""
    driver: str | None = None
    present: dict[str, tuple[str, str]] = {}
    chat: list[tuple[float, str, str]] = []
    ended: str | None = None
    for mark in marks[: bisect.bisect_right(marks, time, key=lambda m: m.time)]:
        f = mark.fields
        if mark.code == "c":
            chat.append((mark.time, str(f.get("user", "?")), str(f.get("text", ""))))
        elif mark.code == "h" and "driver" in f:
            driver = f["driver"] if isinstance(f["driver"], str) else None
        elif mark.code == "j":
            present[str(f.get("id", f.get("user")))] = (str(f.get("user")), str(f.get("role")))
        elif mark.code == "l":
            present.pop(str(f.get("id", f.get("user"))), None)
        elif mark.code == "e":
            ended, driver = str(f.get("reason", "ended")), None
    return SessionState(driver, tuple(present.values()), tuple(chat), ended)


# ---------------------------------------------------------------- index


@dataclass(frozen=True)
class Fingerprint:
    """What the index was built from; any difference makes it stale."""

    size: int
    mtime_ns: int
    header_sha256: str

    @classmethod
    def of(cls, path: Path) -> Fingerprint:
        st = path.stat()
        with path.open("rb") as handle:
            header = handle.readline()
        return cls(st.st_size, st.st_mtime_ns, hashlib.sha256(header).hexdigest())


@dataclass(frozen=True, slots=True)
class Keyframe:
    """The terminal after every event before ``offset``; ``time`` is the last one's."""

    time: float
    offset: int
    events: int
    cols: int
    rows: int
    snapshot: bytes


@dataclass(frozen=True)
class Damage:
    """Where a recording stops being readable: the first event line that does not parse.

    Everything before it plays; ``time`` is the last good event's. (A last
    line cut short by a crash is not damage: it is simply not there yet.)
    """

    offset: int  # byte where the bad line starts
    line: int  # its physical line number, from 1
    time: float
    reason: str

    def describe(self) -> str:
        return (
            f"damaged at line {self.line} (byte {self.offset}): {self.reason}; "
            f"playback stops there, at {_clock(self.time)}"
        )


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _line_number(path: Path, offset: int) -> int:
    """The physical line (from 1) that starts at byte ``offset``."""
    count = 1
    with path.open("rb") as handle:
        left = offset
        while left > 0 and (chunk := handle.read(min(left, 1 << 20))):
            count += chunk.count(b"\n")
            left -= len(chunk)
    return count


@dataclass
class Index:
    fingerprint: Fingerprint
    duration: float
    events: int
    output_bytes: int
    marks: list[Mark]
    keyframes: list[Keyframe]
    params: tuple[int, int] = (KEYFRAME_BYTES, KEYFRAME_EVENTS)
    damage: Damage | None = None


FEED_BYTES = 64 * 1024  # output fed to the model at once while indexing


def index_path(path: Path) -> Path:
    return path.with_name(path.name + INDEX_SUFFIX)


def build_index(
    path: Path,
    header: CastHeader,
    every_bytes: int = KEYFRAME_BYTES,
    every_events: int = KEYFRAME_EVENTS,
    progress: Callable[[int], None] | None = None,
) -> Index:
    """Read the whole recording once, feeding a terminal and keeping keyframes and marks.

    A line that does not parse ends the index there (:class:`Damage`): what
    comes before it still plays.
    """
    fingerprint = Fingerprint.of(path)
    model = TerminalModel(header.cols, header.rows)
    keyframes = [Keyframe(0.0, header.size, 0, header.cols, header.rows, model.snapshot())]
    marks: list[Mark] = []
    since_bytes = since_events = events = output = 0
    time = 0.0
    pending: list[bytes] = []  # output not fed yet: the model is fed in large slices
    pending_size = 0

    def feed_pending() -> None:
        nonlocal pending_size
        if pending:
            model.feed(b"".join(pending))
            pending.clear()
            pending_size = 0

    damage: Damage | None = None
    for event in _until_damage(iter_events(path, header)):
        if isinstance(event, CastError):
            assert event.offset is not None
            damage = Damage(event.offset, _line_number(path, event.offset), time, event.reason)
            break
        if event.offset >= fingerprint.size:
            break  # the file grew while indexing: stay consistent with the fingerprint
        if event.code == "o":  # the model gives the same screen however output is cut
            data = event.data.encode()
            pending.append(data)
            pending_size += len(data)
            fed = len(data)
            if pending_size >= FEED_BYTES:
                feed_pending()
        else:
            feed_pending()
            fed = apply_event(model, event)
        events, time, output = events + 1, max(time, event.time), output + fed
        since_bytes, since_events = since_bytes + fed, since_events + 1
        if event.code not in TERMINAL_CODES:
            marks.append(Mark(event.time, event.code, event.data))
        if since_bytes >= every_bytes or since_events >= every_events:
            feed_pending()
            keyframes.append(
                Keyframe(event.time, event.end, events, model.cols, model.rows, model.snapshot())
            )
            since_bytes = since_events = 0
            if progress is not None:
                progress(event.end)
    feed_pending()
    return Index(
        fingerprint, time, events, output, marks, keyframes, (every_bytes, every_events), damage
    )


def _until_damage(events: Iterator[CastEvent]) -> Iterator[CastEvent | CastError]:
    """The events, then the error of a damaged line (located by its offset) if there is one."""
    try:
        yield from events
    except CastError as exc:
        if exc.offset is None:
            raise
        yield exc


def apply_event(model: TerminalModel, event: CastEvent) -> int:
    """Apply one event to the terminal; return the output bytes fed."""
    if event.code == "o":
        data = event.data.encode()
        model.feed(data)
        return len(data)
    if event.code == "r":
        size = parse_size(event.data)
        if size is not None:
            model.resize(*size)
    return 0


def save_index(index: Index, target: Path) -> None:
    """Write the index atomically (temporary file, then rename)."""
    blobs: list[bytes] = []
    table = []
    position = len(INDEX_MAGIC)
    for kf in index.keyframes:
        table.append([kf.time, kf.offset, kf.events, kf.cols, kf.rows, position, len(kf.snapshot)])
        blobs.append(kf.snapshot)
        position += len(kf.snapshot)
    meta = {
        "format": INDEX_FORMAT,
        "fingerprint": vars(index.fingerprint),
        "params": list(index.params),
        "duration": index.duration,
        "events": index.events,
        "output_bytes": index.output_bytes,
        "marks": [[m.time, m.code, m.data] for m in index.marks],
        "keyframes": table,
        "damage": vars(index.damage) if index.damage is not None else None,
    }
    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(INDEX_MAGIC)
            handle.writelines(blobs)
            handle.write(json.dumps(meta, separators=(",", ":")).encode())
            handle.write(_TRAILER.pack(position))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def load_index(target: Path) -> Index | None:
    """Read an index file; ``None`` if it is missing, damaged or of another format."""
    try:
        data = target.read_bytes()
        if not data.startswith(INDEX_MAGIC) or len(data) < len(INDEX_MAGIC) + _TRAILER.size:
            return None
        (meta_at,) = _TRAILER.unpack_from(data, len(data) - _TRAILER.size)
        meta = json.loads(data[meta_at : len(data) - _TRAILER.size])
        if meta.get("format") != INDEX_FORMAT:
            return None
        keyframes = [
            Keyframe(t, off, n, cols, rows, data[at : at + size])
            for t, off, n, cols, rows, at, size in meta["keyframes"]
        ]
        damage = meta.get("damage")
        return Index(
            Fingerprint(**meta["fingerprint"]),
            float(meta["duration"]),
            int(meta["events"]),
            int(meta["output_bytes"]),
            [Mark(t, code, text) for t, code, text in meta["marks"]],
            keyframes,
            (int(meta["params"][0]), int(meta["params"][1])),
            Damage(**damage) if damage is not None else None,
        )
    except (OSError, ValueError, KeyError, TypeError, struct.error):
        return None


def open_index(
    path: Path, header: CastHeader, progress: Callable[[int], None] | None = None
) -> tuple[Index, bool]:
    """The recording's index, from its sidecar when fresh, else rebuilt (and saved if possible).

    Returns the index and whether it was rebuilt.
    """
    target = index_path(path)
    index = load_index(target)
    if (
        index is not None
        and index.fingerprint == Fingerprint.of(path)
        and index.params == (KEYFRAME_BYTES, KEYFRAME_EVENTS)
    ):
        return index, False
    index = build_index(path, header, progress=progress)
    with contextlib.suppress(OSError):  # a read-only directory: keep it in memory only
        save_index(index, target)
    return index, True


# ---------------------------------------------------------------- recording


@dataclass
class Recording:
    """A cast opened for replay: header, index, and where it came from."""

    path: Path
    header: CastHeader
    index: Index
    rebuilt_index: bool = False

    @classmethod
    def open(cls, path: Path, progress: Callable[[int], None] | None = None) -> Recording:
        header = read_header(path)
        index, rebuilt = open_index(path, header, progress)
        return cls(path, header, index, rebuilt)

    @property
    def is_warroom(self) -> bool:
        """A warroom recording (signed, verifiable) rather than a plain asciicast file."""
        return self.header.warroom is not None

    @property
    def duration(self) -> float:
        return self.index.duration

    @property
    def marks(self) -> list[Mark]:
        return self.index.marks

    @property
    def damage(self) -> Damage | None:
        """Where the recording stops being readable, if it does before its end."""
        return self.index.damage

    def keyframe_at(self, time: float) -> Keyframe:
        """The last keyframe at or before ``time``."""
        frames = self.index.keyframes
        i = bisect.bisect_right(frames, time, key=lambda k: k.time)
        return frames[max(0, i - 1)]

    def keyframe_before(self, time: float) -> Keyframe:
        """The last keyframe strictly before ``time`` (the first one if none)."""
        frames = self.index.keyframes
        i = bisect.bisect_left(frames, time, key=lambda k: k.time)
        return frames[max(0, i - 1)]

    def events_from(self, keyframe: Keyframe) -> Iterator[CastEvent]:
        """Events from ``keyframe`` on, up to the end the index knows (or the damage)."""
        damage = self.index.damage
        end = damage.offset if damage is not None else self.index.fingerprint.size
        events = iter_events(self.path, self.header, keyframe.offset, keyframe.time)
        for event in _until_damage(events):
            if isinstance(event, CastError) or event.offset >= end:
                return
            yield event

    def previous_event_time(self, before: float) -> float | None:
        """The time of the last terminal-output event strictly before ``before``."""
        keyframe = self.keyframe_before(before)
        found = keyframe.time if keyframe.events and keyframe.time < before else None
        for event in self.events_from(keyframe):
            if event.time >= before:
                break
            if event.code in ("o", "r"):
                found = event.time
        return found

    def find(self, needle: str, after: float) -> float | None:
        """The time of the first output event after ``after`` that completes ``needle``.

        Matching ignores case and escape sequences, spans event boundaries, and
        wraps around to the start when nothing matches after ``after``.
        """
        needle = needle.casefold()
        if not needle:
            return None
        found = self._find_from(needle, self.keyframe_at(after), after, None)
        if found is None:
            found = self._find_from(needle, self.index.keyframes[0], -1.0, after)
        return found

    def _find_from(
        self, needle: str, keyframe: Keyframe, after: float, until: float | None
    ) -> float | None:
        tail = ""
        for event in self.events_from(keyframe):
            if until is not None and event.time > until:
                return None
            if event.code != "o":
                continue
            text = tail + plain_text(event.data).casefold()
            if event.time > after and needle in text:
                return event.time
            tail = text[-(len(needle) - 1) :] if len(needle) > 1 else ""
        return None


_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[P^_X][^\x1b]*(?:\x1b\\)?"
    r"|\x1b[ -/]*[0-~]|[\x00-\x09\x0b-\x1f\x7f]"
)


def plain_text(output: str) -> str:
    """Terminal output without escape sequences and controls (newlines kept), for search."""
    return _ESCAPES.sub("", output)


# ---------------------------------------------------------------- player


@dataclass
class Player:
    """A position in a recording: the terminal at ``time`` and the session around it.

    ``seek`` goes anywhere (keyframe + the rest); ``advance`` moves forward by
    feeding only what is new, which is what playback does 30 times a second.
    ``generation`` changes whenever ``model`` is replaced by a new object, so a
    renderer knows to redraw everything rather than the dirty rows.
    """

    recording: Recording
    time: float = 0.0
    model: TerminalModel = field(init=False)
    generation: int = 0
    last_event_time: float = 0.0
    _events: Iterator[CastEvent] = field(init=False, repr=False)
    _next: CastEvent | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        self.seek(self.time)

    @property
    def duration(self) -> float:
        return self.recording.duration

    @property
    def next_event_time(self) -> float | None:
        """When the next not-yet-applied event happens (None at the end)."""
        return self._next.time if self._next is not None else None

    @property
    def at_end(self) -> bool:
        return self._next is None and self.time >= self.duration

    def seek(self, time: float) -> None:
        """Show the moment ``time`` (clamped to the recording).

        It starts from the keyframe before the one at ``time``, so that the
        scrollback holds at least a keyframe's worth of output (keyframes carry
        no scrollback): a reviewer who seeks can still scroll back through
        what printed just before.
        """
        time = min(max(0.0, time), self.duration)
        at = self.recording.keyframe_at(time)
        keyframe = self.recording.keyframe_before(at.time) if at.time > 0 else at
        model = TerminalModel(keyframe.cols, keyframe.rows)
        model.feed(keyframe.snapshot)
        self.model = model
        self.generation += 1
        self._events = self.recording.events_from(keyframe)
        self._next = next(self._events, None)
        self.last_event_time = keyframe.time
        self._apply_until(time)

    def advance(self, time: float) -> None:
        """Move to ``time``: forward by feeding, backward or far forward by seeking."""
        time = min(max(0.0, time), self.duration)
        if time < self.time:
            self.seek(time)
            return
        keyframe = self.recording.keyframe_at(time)
        if self._next is not None and keyframe.offset - self._next.offset > KEYFRAME_BYTES:
            self.seek(time)
            return
        self._apply_until(time)

    def _apply_until(self, time: float) -> None:
        event = self._next
        while event is not None and event.time <= time:
            apply_event(self.model, event)
            self.last_event_time = event.time
            event = next(self._events, None)
        self._next = event
        self.time = time

    def state(self) -> SessionState:
        return session_state(self.recording.marks, self.time)

    def screen_text(self) -> str:
        """The screen as text: rows without trailing blanks, trailing blank rows dropped."""
        return screen_text(self.model)


def screen_text(model: TerminalModel) -> str:
    rows = [row.rstrip() for row in model.display()]
    while rows and not rows[-1]:
        rows.pop()
    return "\n".join(rows)
