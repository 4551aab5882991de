"""One stream of a session's output and the terminal screen that goes with it.

A session has one :class:`SessionOutput` for what viewers and the recording
see (masked), and, when the policy lets the driver see raw output, a second
one for the driver. Each keeps its bytes in an :class:`OutputStream` (read by
every client through its own cursor) and a :class:`TerminalModel` that makes
the snapshots late joiners and resynced clients start from.

The two streams live in disjoint offset ranges (``base``), so an offset a
client brings back on reconnect says which stream it came from; an offset of
the other stream simply earns a snapshot.

Why the model is fed here, in slices, and sometimes skips: the terminal model
can be slower than the target prints (full-screen repaints feed at ~5 MB/s), and the
output path must not wait for it. A background task feeds it a slice per
event-loop turn; when it falls more than ``4 * MODEL_TAIL`` behind, it skips
to a line start near the end and replays only the newest ``MODEL_TAIL`` bytes,
keeping its modes. Floods are scrolling text, whose screen is determined by
that tail. The number of skips is kept for stats.

Size changes are part of the stream: a resize of the PTY is a
:class:`SizeMark` at the stream's end, which the model and every client apply
between the same two bytes (clients get it as an ``r`` frame). A client that
resized on its own clock instead — when its window changed, or when a roster
said so — would apply bytes printed for one size to a screen of another, and
its screen would differ from everybody else's for good.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from relay.net.stream import OutputStream
from relay.terminal import TerminalModel

MODEL_SLICE = 64 * 1024  # bytes fed to the model per turn: the fast path scrolls 64 KiB in ~0.5 ms
MODEL_TAIL = 256 * 1024  # after a skip, the model replays this much of the newest output
RAW_BASE = 1 << 62  # offsets of the raw (driver's) stream start here
# Size changes kept for clients to replay in order (~100 bytes each: ~100 KiB a
# stream at most); a client behind the oldest one kept is resynced from a snapshot.
MAX_SIZE_MARKS = 1024
# Scrollback a snapshot carries for late joiners and resynced clients: the
# newest lines, at most this many and this many bytes (the memory one snapshot
# frame adds while it is sent; rendering costs ~0.1-0.3 ms a line, on the loop).
SNAPSHOT_HISTORY_LINES = 1000
SNAPSHOT_HISTORY_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class SizeMark:
    """The PTY has ``cols`` x ``rows`` from ``offset`` on; ``seq`` counts size changes."""

    seq: int
    offset: int
    cols: int
    rows: int


class SessionOutput:
    """An offset-addressed output stream plus its lazily fed terminal model."""

    def __init__(
        self,
        capacity: int,
        cols: int,
        rows: int,
        base: int = 0,
        lazy: bool = False,
        scrollback: int = 10_000,
    ) -> None:
        self.stream = OutputStream(capacity, base)
        self.lazy = lazy  # fed only when a snapshot is asked for (see snapshot())
        self.model = TerminalModel(cols, rows, scrollback)
        self._model_cursor = base
        self.skips = 0
        self._resizes: deque[SizeMark] = deque()  # size changes the model has yet to apply
        self._marks: deque[SizeMark] = deque()  # size changes clients may have yet to apply
        self._seq = 0  # the last size change's seq
        self.dropped_seq = 0  # a client that applied no size change since this one needs a snapshot
        self._dropped_offset = base  # ...and so does a client resuming before this offset
        self._base_size = (cols, rows)  # the size before the first kept mark
        self._wake = asyncio.Event()

    def holds(self, offset: int) -> bool:
        """Whether ``offset`` belongs to this stream and a client may resume there."""
        return max(self.stream.start, self._dropped_offset) <= offset <= self.stream.end

    def append(self, data: bytes) -> None:
        """The hot path: keep the bytes; a model left behind the buffer skips ahead."""
        self.stream.append(data)
        if self.stream.start > self._model_cursor:
            self._skip_model(self.stream.start)
        if self._marks and self._marks[0].offset < self.stream.start:
            self._forget_marks()
        if not self.lazy:
            self._wake.set()

    def append_checked(self, data: bytes, check: Callable[[TerminalModel, bytes], bytes]) -> bytes:
        """Keep ``data`` with the model fed at once, and what ``check`` adds after it.

        For the masked stream: ``check`` looks at the screen the model now
        shows and returns a correction (fed to the model already) that goes
        out right behind ``data`` (:mod:`relay.masking.screen`). Returns what
        was kept.
        """
        self._catch_up()
        self.model.feed(data)
        data += check(self.model, data)
        self.stream.append(data)
        self._model_cursor = self.stream.end
        if self._marks and self._marks[0].offset < self.stream.start:
            self._forget_marks()
        return data

    def resize(self, cols: int, rows: int) -> None:
        """The PTY changed size here: the model and every client follow at this point."""
        self._seq += 1
        mark = SizeMark(self._seq, self.stream.end, cols, rows)
        self._resizes.append(mark)
        self._marks.append(mark)
        self._forget_marks()
        if self.lazy and len(self._resizes) > MAX_SIZE_MARKS:
            self._catch_up()  # bound what the lazy model keeps waiting
        self._wake.set()

    def _forget_marks(self) -> None:
        """Drop marks before the stream's start (every client still reading has them),
        and the oldest beyond :data:`MAX_SIZE_MARKS` (whoever lacks those resyncs)."""
        marks = self._marks
        while marks and (marks[0].offset < self.stream.start or len(marks) > MAX_SIZE_MARKS):
            mark = marks.popleft()
            self.dropped_seq = mark.seq
            self._dropped_offset = mark.offset
            self._base_size = (mark.cols, mark.rows)

    def next_mark(self, seq: int) -> SizeMark | None:
        """The size change after the one numbered ``seq`` (marks are numbered without gaps)."""
        marks = self._marks
        if not marks:
            return None
        index = seq + 1 - marks[0].seq
        return marks[index] if 0 <= index < len(marks) else None

    def size_at(self, offset: int) -> tuple[int, int, int]:
        """``(seq, cols, rows)`` of the last size change at or before ``offset``."""
        for mark in reversed(self._marks):
            if mark.offset <= offset:
                return mark.seq, mark.cols, mark.rows
        return self.dropped_seq, *self._base_size

    def snapshot(self) -> tuple[int, int, int, bytes]:
        """The screen at the model's position; the client continues from there.

        A lazy output (the driver's raw stream, whose snapshots are needed only
        when control changes hands) catches its model up first, instead of
        feeding it all along: that halves the model's share of a flood.
        """
        if self.lazy:
            self._catch_up()
        self._apply_resizes()  # the snapshot has every size change up to its offset
        return self._model_cursor, self.model.cols, self.model.rows, self._render()

    def _render(self) -> bytes:
        """The snapshot, with as much of the newest scrollback as the limits allow.

        The scrollback comes from this stream's model: the masked one for
        viewers, the raw one only for the driver (who may see raw output).
        """
        model = self.model
        lines = min(len(model.history), SNAPSHOT_HISTORY_LINES)
        data = model.snapshot(lines)
        if lines and len(data) > SNAPSHOT_HISTORY_BYTES:
            screen = len(model.snapshot(0))
            while lines and len(data) - screen > SNAPSHOT_HISTORY_BYTES:
                # Lines cost about the same: scale down to the budget, a little under.
                lines = lines * SNAPSHOT_HISTORY_BYTES // (len(data) - screen) * 15 // 16
                data = model.snapshot(lines)
        return data

    def _catch_up(self) -> None:
        """Feed the model up to the end of the stream (skipping ahead if far behind)."""
        while self._model_cursor < self.stream.end or self._resizes:
            if self.stream.end - self._model_cursor > 4 * MODEL_TAIL:
                self._skip_model(self.stream.end - MODEL_TAIL)
            self._feed_slice()

    @property
    def model_lag(self) -> int:
        return self.stream.end - self._model_cursor

    async def feed_model(self) -> None:
        """Keep the model close to the end of the stream, a slice per turn (a task)."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._model_cursor < self.stream.end or self._resizes:
                if self.stream.end - self._model_cursor > 4 * MODEL_TAIL:
                    self._skip_model(self.stream.end - MODEL_TAIL)
                self._feed_slice()
                await asyncio.sleep(0)

    def _feed_slice(self) -> None:
        limit = MODEL_SLICE
        if self._resizes:
            limit = min(limit, max(0, self._resizes[0].offset - self._model_cursor))
        if limit:
            data = self.stream.read(self._model_cursor, limit)
            self.model.feed(data)
            self._model_cursor += len(data)
        self._apply_resizes()

    def _apply_resizes(self) -> None:
        while self._resizes and self._resizes[0].offset <= self._model_cursor:
            mark = self._resizes.popleft()
            self.model.resize(mark.cols, mark.rows)

    def _skip_model(self, offset: int) -> None:
        """Move the model's cursor forward to the line start nearest after ``offset``."""
        offset = max(offset, self.stream.start)
        window = self.stream.read(offset, 4096)
        newline = window.find(b"\n")
        if newline >= 0:
            offset += newline + 1
        self._model_cursor = min(offset, self.stream.end)
        self.skips += 1
        self.model.discontinuity()
        self._apply_resizes()
