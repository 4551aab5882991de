"""One client's send side: a small queue of JSON messages and a cursor into output.

Why a cursor and not a queue of frames: output is kept once per session in
:class:`relay.net.stream.OutputStream`, and each client's writer task reads it
at its own pace. A client that stops reading therefore costs the relay only
its socket's write buffer (bounded by websockets' ``write_limit`` plus one
frame) — never the driver's time, never the other viewers' — and when its
cursor falls off the end of the ring it is resynced from a screen snapshot.
A client whose socket accepts nothing for ``stall_timeout`` is dropped with
``too_slow``.

Size changes of the PTY travel in the same order as the bytes (an ``r`` frame
exactly between the output before and after it), so a client's screen changes
size where the relay's model did; a client resuming at an offset is first told
the size in effect there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.protocol import State
from websockets.typing import DataLike

from relay.core import messages, protocol
from relay.core.errors import ErrorCode, WarroomError
from relay.net.output import SizeMark
from relay.net.stream import OutputStream

log = logging.getLogger(__name__)

FRAME_BYTES = 256 * 1024  # largest output frame; big enough to amortise per-frame cost
READING_GRACE = 2.0
"""Seconds a frame may take to leave for a client, or the relay's keepalive ping may wait
for its pong, before the client no longer counts as reading (a four-eyes watcher whose
connection stalled is not watching)."""
READ_AHEAD = 4
"""Frames websockets reads ahead of a connection's handler: with ``max_frame``, what one
connection's inbound messages can cost while its answers wait (4 MiB by default)."""
REPLY_BUDGET = 512 * 1024
"""Bytes of JSON queued for one client above which the relay reads no more of its requests:
a client pipelining requests (``fetch_recording``, 342 KiB each) without reading the answers
costs the relay at most this plus one answer, never one answer per request."""
PRE_AUTH_OUTGOING = 16 * 1024
"""Bytes the relay's socket buffer may hold for a client that has not authenticated, beyond
the frame being sent: enough for hello and an error, not for pongs to a ping flood."""
OUTGOING = 256 * 1024
"""The same once authenticated: websockets' ``write_limit`` (64 KiB) plus control frames."""


class BoundedConnection(ServerConnection):
    """A server connection whose outgoing buffer cannot be grown by the peer.

    websockets answers pings and close frames by writing at once, without
    waiting for the peer to read: a client that sends pings and never reads
    the pongs grows the relay's buffer one pong per ping. After each read
    from the socket this checks the buffer against ``outgoing_cap`` plus what
    the relay's own writer is sending right now (``in_flight``), and drops
    the connection past it.
    """

    outgoing_cap: int = PRE_AUTH_OUTGOING
    in_flight: Callable[[], int] = staticmethod(lambda: 0)
    on_overflow: Callable[[int], None] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pings: deque[tuple[float, asyncio.Future[float]]] = deque()

    async def ping(self, data: DataLike | None = None) -> Awaitable[float]:
        """Send a ping and note when: a client that stopped reading answers none.

        In a quiet session a stalled client's socket buffers take all there is
        to send, so no frame is ever stuck; its unanswered keepalive ping still
        shows within ``ping_interval`` that it is not reading.
        """
        waiter = asyncio.ensure_future(await super().ping(data))
        self._pings.append((self.loop.time(), waiter))
        return waiter

    def unanswered_for(self) -> float:
        """Seconds the oldest ping this client has not answered has waited (0: none)."""
        while self._pings and self._pings[0][1].done():
            self._pings.popleft()
        return self.loop.time() - self._pings[0][0] if self._pings else 0.0

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        size = self.transport.get_write_buffer_size()
        if size > self.outgoing_cap + self.in_flight() and not self.transport.is_closing():
            self.transport.abort()
            if self.on_overflow is not None:
                self.on_overflow(size)


class OutputSource(Protocol):
    """What a client reads output from: the live session."""

    stream: OutputStream
    dropped_seq: int

    def snapshot(self) -> tuple[int, int, int, bytes]:
        """(offset, cols, rows, bytes) of a screen snapshot valid at ``offset``."""
        ...

    def holds(self, offset: int) -> bool: ...
    def next_mark(self, seq: int) -> SizeMark | None: ...
    def size_at(self, offset: int) -> tuple[int, int, int]: ...


class TooSlow(WarroomError):
    """A send to the client did not finish within the stall timeout: it stopped reading."""


class ClientLink:
    """Delivers messages and output to one websocket client, at its own pace."""

    remote = False  # a client of this relay (see relay.net.live.Link)

    def __init__(
        self,
        ws: ServerConnection,
        pid: str,
        stall_timeout: float,
        control_queue: int,
    ) -> None:
        self.ws = ws
        self.pid = pid
        self.stall_timeout = stall_timeout
        self.control_limit = control_queue
        self._control: deque[bytes] = deque()
        self.queued_bytes = 0  # bytes of JSON in ``_control``
        self.sending = 0  # bytes of the frame being written now (for BoundedConnection)
        self._send_started: float | None = None
        self._drained = asyncio.Event()
        self._done = False
        self._source: OutputSource | None = None
        self._cursor: int | None = None  # None: the next output starts with a snapshot
        self._mark_seq: int | None = None  # the last size change sent (None: say the size first)
        self._wake = asyncio.Event()
        self._closing: tuple[int, str] | None = None
        self.on_sent: Callable[[ClientLink], None] | None = None  # after each output frame

    # ------------------------------------------------------------ producers

    def send_json(self, message: messages.RelayMessage) -> None:
        """Queue a message; a client that lets too many pile up is dropped."""
        if not self._closing:
            self.send_encoded(protocol.encode(message).encode())

    def send_encoded(self, data: bytes) -> None:
        """Queue a message already encoded (:func:`relay.core.protocol.encode`, UTF-8):
        one encoding for every participant a broadcast goes to (a roster of 200 people,
        encoded once per reader, was most of a busy session's CPU)."""
        if self._closing:
            return
        if len(self._control) >= self.control_limit:
            self.close(
                CloseCode.POLICY_VIOLATION,
                f"{ErrorCode.TOO_SLOW}: {self.control_limit} messages unread",
            )
            return
        self._control.append(data)
        self.queued_bytes += len(data)
        self._wake.set()

    async def room(self, budget: int = REPLY_BUDGET) -> None:
        """Wait until this client's queued answers fit ``budget`` (or the link is done).

        The conversation awaits this before reading the client's next request,
        so pipelined requests wait in the socket, not in the relay's memory.
        """
        while self.queued_bytes > budget and not self._done and not self._closing:
            self._drained.clear()
            await self._drained.wait()

    def attach(self, source: OutputSource, offset: int | None) -> None:
        """Start delivering ``source``'s output from ``offset`` (None: snapshot first)."""
        self._source = source
        self._cursor = offset
        self._mark_seq = None
        self._wake.set()

    def detach(self) -> None:
        self._source = None
        self._cursor = None

    def notify(self) -> None:
        """New output exists; called by the live session for every chunk."""
        self._wake.set()

    def close(self, code: int, reason: str) -> None:
        """Close once what is queued has been sent (or the writer gives up)."""
        if self._closing is None:
            self._closing = (code, reason)
            self._wake.set()

    # ------------------------------------------------------------ the writer task

    async def run(self) -> None:
        """Send until the connection closes; the only task that writes to ``ws``.

        Whatever goes wrong here ends with the socket closed: a connection whose
        writer died must not linger with requests nobody will answer.
        """
        try:
            await self._write()
        finally:
            self._done = True
            self._drained.set()

    async def _write(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                await self._flush_control()
                if self._closing:
                    break
                await self._flush_output()
        except TooSlow:
            self._closing = (
                CloseCode.POLICY_VIOLATION,
                f"{ErrorCode.TOO_SLOW}: nothing read for {self.stall_timeout:g} s",
            )
            self.ws.transport.abort()
            return
        except ConnectionClosed:
            return
        except Exception:
            log.exception("writer for %s failed; dropping the connection", self.pid)
            self.ws.transport.abort()
            return
        code, reason = self._closing
        await self._guard(self.ws.close(code, close_reason(reason)))

    async def _flush_control(self) -> None:
        while self._control:
            data = self._control.popleft()
            self.queued_bytes -= len(data)
            await self._send(data, text=True)
            if self.queued_bytes <= REPLY_BUDGET:
                self._drained.set()

    async def _send(self, frame: bytes, text: bool = False) -> None:
        self.sending = len(frame)
        self._send_started = asyncio.get_running_loop().time()
        try:
            await self._guard(self.ws.send(frame, text=text))
        finally:
            self.sending = 0
            self._send_started = None

    def reading(self) -> bool:
        """Whether this client is reading now: open, not closing, no frame stuck for long,
        no ping of the relay's left unanswered for long.

        A close frame from the client moves the connection out of OPEN the
        moment it is read, before its handler has left the session.
        """
        if self._closing or self._done or self.ws.state is not State.OPEN:
            return False
        if self.ws.transport is None or self.ws.transport.is_closing():
            return False
        if isinstance(self.ws, BoundedConnection) and self.ws.unanswered_for() >= READING_GRACE:
            return False
        started = self._send_started
        return started is None or asyncio.get_running_loop().time() - started < READING_GRACE

    async def _flush_output(self) -> None:
        source = self._source
        while source is not None and source is self._source and not self._closing:
            stream = source.stream
            cursor = self._cursor
            if cursor is None or cursor < stream.start:
                await self._send_snapshot(source)
                continue
            if self._mark_seq is None:  # resuming: the size in effect at the cursor first
                if not source.holds(cursor):
                    await self._send_snapshot(source)
                    continue
                self._mark_seq, cols, rows = source.size_at(cursor)
                await self._send(protocol.resize_frame(cursor, cols, rows))
                continue
            if self._mark_seq < source.dropped_seq:  # a size change it lacks is forgotten
                await self._send_snapshot(source)
                continue
            limit = FRAME_BYTES
            mark = source.next_mark(self._mark_seq)
            if mark is not None:
                if mark.offset <= cursor:
                    self._mark_seq = mark.seq
                    frame = protocol.resize_frame(mark.offset, mark.cols, mark.rows)
                    await self._send(frame)
                    continue
                limit = min(limit, mark.offset - cursor)
            data = stream.read(cursor, limit)
            if not data:
                return
            frame = protocol.output_frame(cursor, data)
            self._cursor = cursor + len(data)
            await self._send(frame)
            if self.on_sent is not None:
                self.on_sent(self)
            if self._control:
                await self._flush_control()

    async def _send_snapshot(self, source: OutputSource) -> None:
        offset, cols, rows, data = source.snapshot()
        self._cursor = offset
        self._mark_seq = source.size_at(offset)[0]  # the snapshot has those size changes
        await self._send(protocol.snapshot_frame(offset, cols, rows, data))

    async def _guard(self, send: Awaitable[None]) -> None:
        """Await a send, but never longer than the stall timeout.

        ``asyncio.timeout``, not ``wait_for``: this runs for every frame to every
        client, and ``wait_for`` wraps the send in a task of its own (~40 us
        here, against ~7): with 200 viewers, 8 ms of one keystroke's echo.
        """
        try:
            async with asyncio.timeout(self.stall_timeout):
                await send
        except TimeoutError:
            raise TooSlow from None

    @property
    def source(self) -> OutputSource | None:
        """The output this client reads (None: not in a session)."""
        return self._source

    @property
    def cursor(self) -> int | None:
        """The offset of the next byte this client will be sent (None: a snapshot is due)."""
        return self._cursor

    def backlog(self) -> int:
        """Bytes of output this client has yet to receive (for stats and tests)."""
        if self._source is None or self._cursor is None:
            return 0
        return self._source.stream.end - self._cursor


def close_reason(text: str) -> str:
    """Cut a close reason to the 123 bytes a websocket close frame can carry."""
    data = text.encode()[:123]
    return data.decode("utf-8", "ignore")


async def cancel(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
