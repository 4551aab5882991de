"""Noticing that the relay itself did not run: stopped, paused, or its event loop blocked.

A relay stopped with ``SIGSTOP``, a virtual machine paused, or an event loop
blocked for seconds leaves what clients sent meanwhile waiting in its
sockets. When it runs again, that is all read at once — including keys typed
into a link the client has since declared dead (and told its user so). Such
input must not reach the shell late: a read that waited through a stall is
marked, and the input in it is refused, visibly (an error to the client and
an audit entry), instead of being replayed.

How, per read (:class:`WatchedConnection`):

* the kernel says how long ago data last arrived on the socket (Linux
  ``TCP_INFO``, ``tcpi_last_data_recv``): bytes read more than :data:`STALL`
  seconds after they arrived waited that long, whatever the reason;
* where that is not available, :class:`LoopWatch` beats every :data:`BEAT`
  seconds, and a read while the last beat is more than ``STALL`` seconds old
  waited through a stall (socket callbacks run before due timers in an
  asyncio loop turn). This alone can miss a stall that began while the loop
  was between a timer and its task: the kernel's clock has no such gap.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import Callable

from websockets.asyncio.server import ServerConnection

BEAT = 0.25  # seconds between beats
STALL = 3.0  # seconds input may wait, unread, before it is stale
_TCP_INFO = getattr(socket, "TCP_INFO", None)  # Linux
_LAST_DATA_RECV = struct.Struct("=I")  # struct tcp_info: u32 tcpi_last_data_recv (ms)
_LAST_DATA_RECV_AT = 52  # its offset, after 8 one-byte fields and 11 u32 fields


class LoopWatch:
    """How long the event loop has not run, measured by a task that should run often."""

    def __init__(self, stall: float = STALL, clock: Callable[[], float] = time.monotonic) -> None:
        self.stall = stall
        self.clock = clock
        self.last_beat = clock()

    async def run(self) -> None:
        while True:
            self.last_beat = self.clock()
            await asyncio.sleep(BEAT)

    def stalled_for(self) -> float:
        """Seconds since the last beat if that is a stall, else 0."""
        gap = self.clock() - self.last_beat
        return gap if gap > self.stall else 0.0


class WatchedConnection(ServerConnection):
    """A server connection that knows whether its latest read waited through a stall.

    ``stalled_for`` is set before the read's frames are parsed, so the
    handler, which drains them next, sees the value of the read they came in.
    """

    watch: LoopWatch | None = None
    stalled_for: float = 0.0

    def data_received(self, data: bytes) -> None:
        loop = self.watch.stalled_for() if self.watch is not None else 0.0
        self.stalled_for = max(loop, self._kernel_wait())
        super().data_received(data)

    def _kernel_wait(self) -> float:
        """How long ago the kernel received the newest of these bytes, if over STALL."""
        sock = self.transport.get_extra_info("socket")
        if _TCP_INFO is None or sock is None:
            return 0.0
        try:
            info = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, 104)
        except OSError:
            return 0.0
        if len(info) < _LAST_DATA_RECV_AT + _LAST_DATA_RECV.size:
            return 0.0
        (ms,) = _LAST_DATA_RECV.unpack_from(info, _LAST_DATA_RECV_AT)
        waited = ms / 1000.0
        return waited if waited > STALL else 0.0


def watched_connection(
    watch: LoopWatch, base: type[ServerConnection] = ServerConnection
) -> type[ServerConnection]:
    """``base`` watched by ``watch``: a connection class for ``serve(create_connection=)``."""
    return type("RelayConnection", (WatchedConnection, base), {"watch": watch})
