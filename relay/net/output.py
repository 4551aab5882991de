"""One stream of a session's output and the terminal screen that goes with it.

A session has one :class:`SessionOutput` for what viewers and the recording
see (masked), and, when the policy lets the driver see raw output, a second
one for the driver. Each keeps its bytes in an :class:`OutputStream` (read by
every client through its own cursor) and a :class:`TerminalModel` that makes
the snapshots late joiners and resynced clients start from.

The two streams live in disjoint offset ranges (``base``), so an offset a
client brings back on reconnect says which stream it came from; an offset of
the other stream simply earns a snapshot.

Why the model is fed here, in batches and slices, and sometimes skips: the
terminal model can be slower than the target prints (full-screen repaints feed
at ~5 MB/s), and the output path must not wait for it. A background task feeds
it once :data:`MODEL_BATCH` bytes wait, or :data:`MODEL_QUIET` seconds after
the first byte that waits, a slice per event-loop turn. Feeding in batches is
cheaper than feeding what each socket read brought: a feed pays for the rows
it lays out at its end and for its calls whatever its size, and a flood
arrives in reads of a few KiB (the model took ~24 ms per MB of log lines in
32 KiB feeds here, ~16 ms in 256 KiB ones). A slice is sized so that one feed
takes about :data:`MODEL_TURN` seconds (scrolling text goes in 256 KiB slices,
repaints in smaller ones), which bounds what it adds to the latency of
everything else on the loop. Whoever needs the model's screen now (a snapshot,
the screen check of :mod:`relay.masking.screen`) catches it up first.
When the model falls more than ``4 * MODEL_TAIL`` behind, it skips
to a line start near the end and replays only the newest ``MODEL_TAIL`` bytes,
keeping its modes. Floods are scrolling text, whose screen is determined by
that tail. The number of skips is kept for stats. A flood of plain lines is
cut shorter, with nothing a snapshot shows lost: only its lines a snapshot may
show are fed (``_skip_plain``; in a log flood that halved the relay's CPU per
byte, the model being most of it).

Size changes are part of the stream: a resize of the PTY is a
:class:`SizeMark` at the stream's end, which the model and every client apply
between the same two bytes (clients get it as an ``r`` frame). A client that
resized on its own clock instead — when its window changed, or when a roster
said so — would apply bytes printed for one size to a screen of another, and
its screen would differ from everybody else's for good.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from relay.masking.screen import appends_only
from relay.net.stream import OutputStream
from relay.terminal import TerminalModel

MODEL_BATCH = 256 * 1024  # bytes waiting that wake the model's feeder...
MODEL_QUIET = 0.02  # ...or seconds since the first byte that waits (viewers joining see it)
MODEL_SLICE = 256 * 1024  # the largest slice fed in one turn (scrolling text: ~4 ms here)
MODEL_SLICE_MIN = 4 * 1024  # the smallest (repaints of a full screen feed at ~1-5 MB/s)
MODEL_TURN = 0.01  # CPU seconds one slice may take: slices shrink past it, grow under half
MODEL_TAIL = 256 * 1024  # after a skip, the model replays this much of the newest output
# A flood of plain lines is fed from the line that begins its last
# SNAPSHOT_HISTORY_LINES + 2 * rows + PLAIN_MARGIN lines; what lies before it, at
# least PLAIN_SKIP_MIN bytes, is left out (see SessionOutput._skip_plain).
PLAIN_SKIP_MIN = 16 * 1024
PLAIN_MARGIN = 8
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
        self._scrollback = scrollback
        self._model_cursor = base
        self.skips = 0
        self._resizes: deque[SizeMark] = deque()  # size changes the model has yet to apply
        self._marks: deque[SizeMark] = deque()  # size changes clients may have yet to apply
        self._seq = 0  # the last size change's seq
        self.dropped_seq = 0  # a client that applied no size change since this one needs a snapshot
        self._dropped_offset = base  # ...and so does a client resuming before this offset
        self._base_size = (cols, rows)  # the size before the first kept mark
        self._wake = asyncio.Event()
        self._quiet: asyncio.TimerHandle | None = None  # feeds what waits after MODEL_QUIET
        self._slice = MODEL_SLICE  # this stream's slice size now (see _feed_slice)
        self._changes = 0  # bumped whenever the model changes: the rendered snapshot is stale
        self._rendered: tuple[int, bytes] | None = None  # (changes, snapshot) last rendered

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
            self._wake_feeder()

    def _wake_feeder(self) -> None:
        """Wake the feeder for a batch now, or arm the quiet timer for what waits."""
        if self.stream.end - self._model_cursor >= MODEL_BATCH:
            self._wake.set()
        elif self._quiet is None:
            self._quiet = asyncio.get_running_loop().call_later(MODEL_QUIET, self._quiet_due)

    def _quiet_due(self) -> None:
        self._quiet = None
        self._wake.set()

    def append_checked(self, data: bytes, check: Callable[[TerminalModel, bytes], bytes]) -> bytes:
        """Keep ``data`` with the model fed at once, and what ``check`` adds after it.

        For the masked stream: ``check`` looks at the screen the model now
        shows and returns a correction (fed to the model already) that goes
        out right behind ``data`` (:mod:`relay.masking.screen`). Returns what
        was kept.
        """
        self._catch_up()
        self._changes += 1
        self.model.feed(data)
        data += check(self.model, data)
        self.stream.append(data)
        self._model_cursor = self.stream.end
        if self._marks and self._marks[0].offset < self.stream.start:
            self._forget_marks()
        return data

    def seed(self, offset: int, cols: int, rows: int, snapshot: bytes) -> None:
        """Start the model from another model's snapshot, valid at ``offset`` (held).

        For a copy of a session's stream on another relay of a cluster
        (:mod:`relay.net.edge`): its bytes may start long after the
        session did, and the screen they were drawn on is the home's; a
        snapshot rebuilds it exactly (:mod:`relay.terminal.snapshot`). Size
        changes up to ``offset`` are in the snapshot already.
        """
        if not self.holds(offset):
            raise ValueError(
                f"offset {offset} is not in this stream ({self.stream.start} to {self.stream.end})"
            )
        self.model = TerminalModel(cols, rows, self._scrollback)
        self.model.feed(snapshot)
        self._changes += 1
        self._model_cursor = offset
        while self._resizes and self._resizes[0].offset <= offset:
            self._resizes.popleft()
        self._wake.set()

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
        """A screen and the offset it shows; the client continues from there.

        The model catches up first when what waits is quick to read (less
        than a batch, of output the model took in whole slices: not a
        repaint that would hold the loop); otherwise the snapshot is at the
        model's position and the client reads on from there. A lazy output
        (the driver's raw stream, whose snapshots are needed only when control
        changes hands) is fed only here, instead of all along: that halves the
        model's share of a flood.
        """
        if self.lazy or (self.model_lag < MODEL_BATCH and self._slice == MODEL_SLICE):
            self._catch_up()
        self._apply_resizes()  # the snapshot has every size change up to its offset
        return self._model_cursor, self.model.cols, self.model.rows, self._render()

    def _render(self) -> bytes:
        """The snapshot, with as much of the newest scrollback as the limits allow.

        The scrollback comes from this stream's model: the masked one for
        viewers, the raw one only for the driver (who may see raw output).

        Rendered once per state of the model: rendering costs up to ~0.1-0.3 s
        with a full scrollback, and the viewers that need one at the same
        moment need the same one (200 viewers joining an idle session, or all
        those a flood left behind resyncing at once).
        """
        rendered = self._rendered
        if rendered is not None and rendered[0] == self._changes:
            return rendered[1]
        data = self._render_now()
        self._rendered = (self._changes, data)
        return data

    def _render_now(self) -> bytes:
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
        self._skip_plain()
        while self._model_cursor < self.stream.end or self._resizes:
            if self.stream.end - self._model_cursor > 4 * MODEL_TAIL:
                self._skip_model(self.stream.end - MODEL_TAIL)
            self._feed_slice()

    @property
    def model_lag(self) -> int:
        return self.stream.end - self._model_cursor

    async def feed_model(self) -> None:
        """Keep the model close to the end of the stream, in batches, a slice per turn (a task).

        Woken for a batch, a size change or the quiet timer, it feeds up to
        the end of the stream as it was then; what came meanwhile is fed on
        while a batch of it waits, and the rest waits for the timer.
        """
        while True:
            await self._wake.wait()
            self._wake.clear()
            goal = self.stream.end
            self._skip_plain()
            while self._resizes or self._model_cursor < goal:
                if self.stream.end - self._model_cursor > 4 * MODEL_TAIL:
                    self._skip_model(self.stream.end - MODEL_TAIL)
                self._feed_slice(timed=True)
                await asyncio.sleep(0)
                if self.model_lag >= MODEL_BATCH:
                    goal = self.stream.end
                    self._skip_plain()
            if self.model_lag and self._quiet is None:
                self._quiet = asyncio.get_running_loop().call_later(MODEL_QUIET, self._quiet_due)

    def _feed_slice(self, timed: bool = False) -> None:
        """Feed the model one slice; ``timed`` (the feeder): fit the next to :data:`MODEL_TURN`.

        Catching up at once (``timed=False``) feeds the largest slices: it
        must feed everything anyway, and fewer feeds cost less.
        """
        limit = self._slice if timed else MODEL_SLICE
        if self._resizes:
            limit = min(limit, max(0, self._resizes[0].offset - self._model_cursor))
        if limit:
            data = self.stream.read(self._model_cursor, limit)
            started = time.thread_time()
            self._changes += 1
            self.model.feed(data)
            self._model_cursor += len(data)
            if timed and len(data) == self._slice:  # a whole slice: fit the next one
                took = time.thread_time() - started  # CPU time: what a feed costs, not the load
                if took > MODEL_TURN:
                    self._slice = max(MODEL_SLICE_MIN, self._slice // 2)
                elif took < MODEL_TURN / 2:
                    self._slice = min(MODEL_SLICE, self._slice * 2)
        self._apply_resizes()

    def _apply_resizes(self) -> None:
        while self._resizes and self._resizes[0].offset <= self._model_cursor:
            mark = self._resizes.popleft()
            self._changes += 1
            self.model.resize(mark.cols, mark.rows)

    def _skip_plain(self) -> None:
        """Leave out the part of a flood of plain lines that no snapshot can show.

        A snapshot shows the screen and the newest SNAPSHOT_HISTORY_LINES of
        the scrollback; the model exists for snapshots and the screen check.
        When what waits only appends (text, tabs, CRLF, SGR, EL 0: no cursor
        addressing, :func:`relay.masking.screen.appends_only`) and its last
        ``SNAPSHOT_HISTORY_LINES + 2 * rows`` lines come after a part with no
        escape at all, feeding only those lines leaves the model with the same
        screen, pen and newest scrollback as feeding everything: each line
        starts at column 0 after a CRLF, the skipped part changes no state but
        the cursor's row and the rows it drew; the first ``rows`` lines after
        it may land on rows drawn before (other cells, another background),
        and the rest push them out of the screen and beyond the snapshot's
        history. It
        also needs the model at the start of a line (fed up to a CRLF, nothing
        half parsed) and no scroll margins (which keep rows out of the scrolling).
        The older scrollback (kept up to ``scrollback`` lines) then misses the
        skipped lines, as it does after a skip of a model that fell behind.
        Costs a pass at ~1.4 GB/s; feeding costs ~60 MB per CPU-second.
        """
        end = self.stream.end
        model = self.model
        lag = end - self._model_cursor
        if not 2 * PLAIN_SKIP_MIN <= lag <= 4 * MODEL_TAIL or self._resizes:
            return  # (further behind, the model skips anyway: _skip_model)
        if model.screen.margins is not None:
            return
        data = self.stream.read(self._model_cursor, lag)
        line = data.find(b"\r\n", 0, 4096)
        if line < 0 or not appends_only(data):
            return
        line += 2
        start = len(data)
        for _ in range(SNAPSHOT_HISTORY_LINES + 2 * model.rows + PLAIN_MARGIN):
            start = data.rfind(b"\n", line, start)
            if start < 0:
                return
        start = data.rfind(b"\r\n", line, start)  # the tail begins after a CRLF
        if start < 0 or start + 2 - line < PLAIN_SKIP_MIN or data.find(b"\x1b", line, start) >= 0:
            return
        self._changes += 1
        model.feed(data[:line])
        if model.unfinished():  # else, after its CRLF, the model is at a line start
            self._model_cursor += line
            return
        self._model_cursor += start + 2

    def _skip_model(self, offset: int) -> None:
        """Move the model's cursor forward to the line start nearest after ``offset``."""
        offset = max(offset, self.stream.start)
        window = self.stream.read(offset, 4096)
        newline = window.find(b"\n")
        if newline >= 0:
            offset += newline + 1
        self._model_cursor = min(offset, self.stream.end)
        self.skips += 1
        self._changes += 1
        self.model.discontinuity()
        self._apply_resizes()
