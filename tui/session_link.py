"""The TUI's connection to one session: join, receive, reconnect, resume.

One task owns the websocket. It joins the session with the offset of the next
output byte it expects (:class:`~tui.client.OutputTracker`), hands every event
to the app, and when the connection drops it says so, waits (0.5 s, 1 s, 2 s,
... up to ``max_delay``) and joins again from the same offset: the relay sends
exactly the bytes missed, or a snapshot when they are gone from its buffer, so
output is neither lost nor doubled.

Refusals that another attempt cannot fix (expired access, an ended session,
a forbidden join) end the link instead of looping.

A link can also die without closing: a relay stopped or frozen, a network
that drops packets. The link pings the relay every second
(:class:`Keepalive`); when no answer came for ``silent_after`` seconds the
state is :attr:`Link.SILENT` and keys are refused (``send_input`` says no,
and :attr:`SessionLink.refusal` why), never queued to be replayed later;
with no answer for ``dead_after`` seconds the connection is cut and joined
again. Keys sent after the last answered ping are *unconfirmed*: if the link
then dies, :class:`SessionLink.Unconfirmed` tells the user how many bytes,
typed since when, may not have reached the shell.

What the link hears it posts as Textual messages to its ``target`` (the
session screen), in the order it heard it: :class:`SessionLink.Received`,
:class:`SessionLink.Output`, :class:`SessionLink.StateChanged`,
:class:`SessionLink.Unconfirmed` and :class:`SessionLink.Ignored` (a frame
that was not a relay message, dropped: :mod:`tui.incoming`). The screen's
message queue keeps that order, so a roster is never handled before the
output that came ahead of it, and the link needs no reference to what
handles them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from textual.message import Message
from websockets.exceptions import ConnectionClosed

from relay.core import messages, protocol
from relay.core.errors import ErrorCode, WarroomError
from relay.core.protocol import OutputChunk, SizeChange, Snapshot
from tui import shown
from tui.client import Event, OutputTracker, RelayClient, RelayError
from tui.dial import Unreachable
from tui.incoming import Unreadable
from tui.room import Link

Connector = Callable[[], Awaitable[RelayClient]]


class Target(Protocol):
    """Where the link posts what it hears: any Textual message pump (a screen)."""

    def post_message(self, message: Message) -> bool: ...


# Codes after which reconnecting cannot help.
FATAL_CODES: frozenset[ErrorCode] = frozenset(
    {
        ErrorCode.AUTH_FAILED,
        ErrorCode.FORBIDDEN,
        ErrorCode.NO_SUCH_SESSION,
        ErrorCode.SESSION_ENDED,
        ErrorCode.UNSUPPORTED_VERSION,
    }
)


class LinkEnded(WarroomError):
    """The link will not reconnect; ``reason`` says why."""


@dataclass(frozen=True)
class Keepalive:
    """How a session link watches the relay: a ping every ``interval`` seconds.

    No answer for ``silent_after`` s: keys are refused and the status says so.
    No answer for ``dead_after`` s: the connection is cut and joined again.
    """

    interval: float = 1.0
    silent_after: float = 3.0
    dead_after: float = 5.0


class SessionLink:
    """Keeps one session joined across dropped connections."""

    class Received(Message):
        """A message from the relay, its strings made fit to draw (:mod:`tui.shown`)."""

        bubble = False

        def __init__(self, message: messages.RelayMessage) -> None:
            super().__init__()
            self.message = message

    class Output(Message):
        """Output bytes, a snapshot or a size change, in the stream's order."""

        bubble = False

        def __init__(self, data: bytes | Snapshot | SizeChange) -> None:
            super().__init__()
            self.data = data

    class StateChanged(Message):
        """How the link is now; ``detail`` may quote the relay's close reason."""

        bubble = False

        def __init__(self, state: Link, detail: str) -> None:
            super().__init__()
            self.state = state
            self.detail = detail

    class Ignored(Message):
        """The relay sent a frame that is not one of its messages; it was dropped."""

        bubble = False

        def __init__(self, reason: str) -> None:
            super().__init__()
            self.reason = reason

    class Unconfirmed(Message):
        """The link died with ``size`` bytes of keys, typed since ``since`` (wall time),
        that the relay never confirmed: they may not have reached the shell."""

        bubble = False

        def __init__(self, size: int, since: float) -> None:
            super().__init__()
            self.size = size
            self.since = since

    def __init__(
        self,
        connect: Connector,
        session: str,
        size: Callable[[], tuple[int, int]],
        target: Target,
        client: RelayClient | None = None,
        backoff: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0),
        keepalive: Keepalive | None = None,
    ) -> None:
        self.connect = connect
        self.session = session
        self.size = size
        self.target = target
        self.client = client
        self.backoff = backoff
        self.tracker = OutputTracker()
        self.attempts = 0
        self.reconnects = 0
        self._live: RelayClient | None = None
        self._ended = False
        self._resync = False
        self.keepalive = keepalive or Keepalive()
        self.silent = False
        self._cut_reason: str | None = None
        self._sent = 0  # input bytes sent on this connection
        self._confirmed = 0  # of which the relay had read all, as of the last answered ping
        self._unconfirmed_since: float | None = None  # wall time of the first unconfirmed key

    def _received(self, event: messages.RelayMessage) -> None:
        self.target.post_message(self.Received(shown.message(event)))

    def _ignored(self, exc: Unreadable) -> None:
        self.target.post_message(self.Ignored(shown.plain(exc)))

    def _output(self, data: bytes | Snapshot | SizeChange) -> None:
        self.target.post_message(self.Output(data))

    def _state(self, state: Link, detail: str) -> None:
        self.target.post_message(self.StateChanged(state, shown.plain(detail)))

    @property
    def live(self) -> bool:
        return self._live is not None

    async def run(self) -> None:
        """Join and stay joined until the session ends or the link is closed."""
        try:
            while not self._ended:
                try:
                    await self._session_once()
                except LinkEnded as exc:
                    self._finish(str(exc))
                    return
                except (ConnectionClosed, RelayError, OSError, TimeoutError) as exc:
                    reason = self._cut_reason or _describe(exc)
                    self._cut_reason = None
                    self._report_unconfirmed()
                    if self._ended:
                        return
                    if _fatal(exc):
                        self._finish(reason)
                        return
                    if self._resync:
                        self._resync = False
                        self.tracker.offset = None
                        continue
                    delay = self.backoff[min(self.attempts, len(self.backoff) - 1)]
                    self.attempts += 1
                    self._state(Link.RECONNECTING, f"{reason}; retrying in {delay:g} s")
                    await asyncio.sleep(delay)
        finally:
            await self._drop()

    async def _session_once(self) -> None:
        client, self.client = self.client, None
        if client is None:
            if self.reconnects or self.attempts:
                self._state(Link.RECONNECTING, "connecting…")
            client = await self.connect()
        self._live = client
        client.on_unreadable = self._ignored
        watch: asyncio.Task[None] | None = None
        try:
            cols, rows = self.size()
            welcome = await client.join(self.session, self.tracker.offset, cols, rows)
            if self.attempts or self.reconnects:
                self.reconnects += 1
            self.attempts = 0
            self._sent = self._confirmed = 0
            self._unconfirmed_since = None
            self.silent = False
            self._state(Link.LIVE, "")
            watch = asyncio.get_running_loop().create_task(self._watch(client))
            self._received(welcome)
            while True:
                event = await _recv(client)
                if not isinstance(event, OutputChunk | Snapshot | SizeChange):
                    self._received(event)
                    if event["type"] == "ended":
                        raise LinkEnded(f"the session ended: {event['reason']}")
                    continue
                if isinstance(event, Snapshot | SizeChange):
                    self.tracker.accept(event)
                    self._output(event)
                elif isinstance(event, OutputChunk):
                    data = self.tracker.accept(event)
                    if data:
                        self._output(data)
        finally:
            self._live = None
            self.silent = False
            if watch is not None:
                watch.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watch
            with contextlib.suppress(Exception):
                await client.close()

    # ------------------------------------------------------------ keepalive

    async def _watch(self, client: RelayClient) -> None:
        """Ping, one at a time; mark the link silent, then cut it, when answers stop."""
        ws = client.ws
        assert ws is not None
        keep = self.keepalive
        while True:
            await asyncio.sleep(keep.interval)
            asked = time.monotonic()
            sent = self._sent
            try:
                pong = await ws.ping()
            except ConnectionClosed:
                return
            if await self._answered(pong, keep.silent_after):
                self._confirm(sent)
                continue
            self.silent = True
            self._state(
                Link.SILENT,
                f"the relay has not answered for {keep.silent_after:g} s; keys are not sent",
            )
            if await self._answered(pong, keep.dead_after - (time.monotonic() - asked)):
                self.silent = False
                self._confirm(sent)
                self._state(Link.LIVE, "")
                continue
            self._cut_reason = f"no answer from the relay for {keep.dead_after:g} s"
            ws.transport.abort()  # an abort drops what the kernel still holds: nothing late
            return

    @staticmethod
    async def _answered(pong: Awaitable[float], within: float) -> bool:
        waiter = asyncio.ensure_future(pong)
        with contextlib.suppress(TimeoutError, ConnectionClosed):
            async with asyncio.timeout(max(0.0, within)):
                await asyncio.shield(waiter)
        # the pong may have come in the same loop turn as the timeout
        return waiter.done() and not waiter.cancelled() and waiter.exception() is None

    def _confirm(self, sent: int) -> None:
        """The relay read everything sent before the ping it just answered."""
        self._confirmed = max(self._confirmed, sent)
        if self._confirmed >= self._sent:
            self._unconfirmed_since = None

    def _report_unconfirmed(self) -> None:
        unconfirmed = self._sent - self._confirmed
        if unconfirmed > 0:
            self.target.post_message(
                self.Unconfirmed(unconfirmed, self._unconfirmed_since or time.time())
            )
        self._sent = self._confirmed = 0
        self._unconfirmed_since = None

    def _finish(self, reason: str) -> None:
        self._ended = True
        self._state(Link.ENDED, reason)

    async def _drop(self) -> None:
        client, self._live = self._live, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()

    # ------------------------------------------------------------ sending

    async def send(self, message: protocol.ClientMessage) -> bool:
        """Send a message if connected; ``False`` when the link is down."""
        client = self._live
        if client is None:
            return False
        try:
            await client.send(message)
        except ConnectionClosed:
            return False
        return True

    @property
    def refusal(self) -> str:
        """Why keys are not sent right now (when ``send_input`` said no)."""
        if self.silent:
            return f"the relay has not answered for {self.keepalive.silent_after:g} s"
        return "not connected to the relay"

    async def send_input(self, data: bytes) -> bool:
        """Send keys now, or say no: never keep them to send later."""
        client = self._live
        if client is None or self.silent:
            return False
        try:
            await client.send_input(data)
        except ConnectionClosed:
            return False
        if self._sent == self._confirmed:
            self._unconfirmed_since = time.time()
        self._sent += len(data)
        return True

    async def drop_connection(self) -> None:
        """Close the socket (as a network failure would); the link reconnects."""
        client = self._live
        if client is not None and client.ws is not None:
            client.ws.transport.abort()

    async def resync(self) -> None:
        """Rejoin from a fresh snapshot (when this client fell too far behind)."""
        self._resync = True
        await self.drop_connection()

    async def close(self) -> None:
        """Leave for good."""
        self._ended = True
        client = self._live
        if client is not None:
            with contextlib.suppress(Exception):
                await client.send({"type": "leave"})
            await self._drop()


async def _recv(client: RelayClient) -> Event:
    try:
        return await client.recv()
    except ConnectionClosed as exc:
        reason = exc.rcvd.reason if exc.rcvd else "connection lost"
        code, _, message = reason.partition(": ")
        if code in FATAL_CODES:
            raise RelayError(code, message) from None
        if code == "session ended" and message:  # the reason alone, as `ended` gives it
            raise LinkEnded(message) from None
        if reason.startswith("session ended"):
            raise LinkEnded(reason) from None
        raise RelayError("closed", reason) from None


def _fatal(exc: BaseException) -> bool:
    """Whether another attempt cannot help (a refusal, an untrusted certificate...)."""
    if isinstance(exc, RelayError):
        return exc.code in FATAL_CODES
    return isinstance(exc, Unreachable) and exc.fatal


def _describe(exc: BaseException) -> str:
    if isinstance(exc, RelayError):
        return exc.message or exc.code
    if isinstance(exc, ConnectionClosed):
        return "connection lost"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__
