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
"""

from __future__ import annotations

import asyncio
from collections import deque

from relay.stream import OutputStream
from relay.terminal import TerminalModel

MODEL_SLICE = 64 * 1024  # bytes fed to the model per turn: the fast path scrolls 64 KiB in ~0.5 ms
MODEL_TAIL = 256 * 1024  # after a skip, the model replays this much of the newest output
RAW_BASE = 1 << 62  # offsets of the raw (driver's) stream start here


class SessionOutput:
    """An offset-addressed output stream plus its lazily fed terminal model."""

    def __init__(
        self, capacity: int, cols: int, rows: int, base: int = 0, lazy: bool = False
    ) -> None:
        self.stream = OutputStream(capacity, base)
        self.lazy = lazy  # fed only when a snapshot is asked for (see snapshot())
        self.model = TerminalModel(cols, rows)
        self._model_cursor = base
        self.skips = 0
        self._resizes: deque[tuple[int, int, int]] = deque()  # (offset, cols, rows)
        self._wake = asyncio.Event()

    def holds(self, offset: int) -> bool:
        """Whether ``offset`` belongs to this stream and is still held."""
        return self.stream.start <= offset <= self.stream.end

    def append(self, data: bytes) -> None:
        """The hot path: keep the bytes; a model left behind the buffer skips ahead."""
        self.stream.append(data)
        if self.stream.start > self._model_cursor:
            self._skip_model(self.stream.start)
        if not self.lazy:
            self._wake.set()

    def resize(self, cols: int, rows: int) -> None:
        """The PTY changed size: the model follows at this point of the stream."""
        self._resizes.append((self.stream.end, cols, rows))
        self._wake.set()

    def snapshot(self) -> tuple[int, int, int, bytes]:
        """The screen at the model's position; the client continues from there.

        A lazy output (the driver's raw stream, whose snapshots are needed only
        when control changes hands) catches its model up first, instead of
        feeding it all along: that halves the model's share of a flood.
        """
        if self.lazy:
            while self._model_cursor < self.stream.end or self._resizes:
                if self.stream.end - self._model_cursor > 4 * MODEL_TAIL:
                    self._skip_model(self.stream.end - MODEL_TAIL)
                self._feed_slice()
        return self._model_cursor, self.model.cols, self.model.rows, self.model.snapshot()

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
            limit = min(limit, max(0, self._resizes[0][0] - self._model_cursor))
        if limit:
            data = self.stream.read(self._model_cursor, limit)
            self.model.feed(data)
            self._model_cursor += len(data)
        self._apply_resizes()

    def _apply_resizes(self) -> None:
        while self._resizes and self._resizes[0][0] <= self._model_cursor:
            _, cols, rows = self._resizes.popleft()
            self.model.resize(cols, rows)

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
