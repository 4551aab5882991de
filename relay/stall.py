"""Noticing that the relay itself did not run: stopped, paused, or its event loop blocked.

A relay stopped with ``SIGSTOP``, a virtual machine paused, or an event loop
blocked for seconds leaves what clients sent meanwhile waiting in its
sockets. When it runs again, that is all read at once — including keys typed
into a link the client has since declared dead (and told its user so). Such
input must not reach the shell late: a read that waited through a stall is
marked, and the input in it is refused, visibly (an error to the client and
an audit entry), instead of being replayed.

How: :class:`LoopWatch` beats every :data:`BEAT` seconds. A read that
happens while the last beat is more than :data:`STALL` seconds old waited
through a stall: in an asyncio loop turn, the callbacks of sockets that
became readable run before the timers that fell due, so the first read after
a stall still sees the old beat. :class:`WatchedConnection` records that, per
connection, when it receives data.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from websockets.asyncio.server import ServerConnection

BEAT = 0.25  # seconds between beats
STALL = 3.0  # seconds without a beat that make input waiting in a socket stale


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
        self.stalled_for = self.watch.stalled_for() if self.watch is not None else 0.0
        super().data_received(data)


def watched_connection(
    watch: LoopWatch, base: type[ServerConnection] = ServerConnection
) -> type[ServerConnection]:
    """``base`` watched by ``watch``: a connection class for ``serve(create_connection=)``."""
    return type("RelayConnection", (WatchedConnection, base), {"watch": watch})
