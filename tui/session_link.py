"""The TUI's connection to one session: join, receive, reconnect, resume.

One task owns the websocket. It joins the session with the offset of the next
output byte it expects (:class:`~tui.client.OutputTracker`), hands every event
to the app, and when the connection drops it says so, waits (0.5 s, 1 s, 2 s,
... up to ``max_delay``) and joins again from the same offset: the relay sends
exactly the bytes missed, or a snapshot when they are gone from its buffer, so
output is neither lost nor doubled.

Refusals that another attempt cannot fix (expired access, an ended session,
a forbidden join) end the link instead of looping.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.exceptions import ConnectionClosed

from relay.protocol import OutputChunk, SizeChange, Snapshot
from tui.client import OutputTracker, RelayClient, RelayError
from tui.dial import Unreachable
from tui.room import Link

Connector = Callable[[], Awaitable[RelayClient]]

# Codes after which reconnecting cannot help.
FATAL_CODES = frozenset(
    {
        "auth_failed",
        "forbidden",
        "no_such_session",
        "session_ended",
        "unsupported_version",
    }
)


class LinkEnded(Exception):
    """The link will not reconnect; ``reason`` says why."""


class SessionLink:
    """Keeps one session joined across dropped connections."""

    def __init__(
        self,
        connect: Connector,
        session: str,
        size: Callable[[], tuple[int, int]],
        on_message: Callable[[dict[str, Any]], None],
        on_output: Callable[[bytes | Snapshot | SizeChange], None],
        on_state: Callable[[Link, str], None],
        client: RelayClient | None = None,
        backoff: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0),
    ) -> None:
        self.connect = connect
        self.session = session
        self.size = size
        self.on_message = on_message
        self.on_output = on_output
        self.on_state = on_state
        self.client = client
        self.backoff = backoff
        self.tracker = OutputTracker()
        self.attempts = 0
        self.reconnects = 0
        self._live: RelayClient | None = None
        self._ended = False
        self._resync = False

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
                    reason = _describe(exc)
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
                    self.on_state(Link.RECONNECTING, f"{reason}; retrying in {delay:g} s")
                    await asyncio.sleep(delay)
        finally:
            await self._drop()

    async def _session_once(self) -> None:
        client, self.client = self.client, None
        if client is None:
            if self.reconnects or self.attempts:
                self.on_state(Link.RECONNECTING, "connecting…")
            client = await self.connect()
        self._live = client
        try:
            cols, rows = self.size()
            welcome = await client.join(self.session, self.tracker.offset, cols, rows)
            if self.attempts or self.reconnects:
                self.reconnects += 1
            self.attempts = 0
            self.on_state(Link.LIVE, "")
            self.on_message(welcome)
            while True:
                event = await _recv(client)
                if isinstance(event, dict):
                    self.on_message(event)
                    if event.get("type") == "ended":
                        raise LinkEnded(f"the session ended: {event.get('reason', '')}")
                    continue
                if isinstance(event, Snapshot | SizeChange):
                    self.tracker.accept(event)
                    self.on_output(event)
                elif isinstance(event, OutputChunk):
                    data = self.tracker.accept(event)
                    if data:
                        self.on_output(data)
        finally:
            self._live = None
            with contextlib.suppress(Exception):
                await client.close()

    def _finish(self, reason: str) -> None:
        self._ended = True
        self.on_state(Link.ENDED, reason)

    async def _drop(self) -> None:
        client, self._live = self._live, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()

    # ------------------------------------------------------------ sending

    async def send(self, message: dict[str, Any]) -> bool:
        """Send a message if connected; ``False`` when the link is down."""
        client = self._live
        if client is None:
            return False
        try:
            await client.send(message)
        except ConnectionClosed:
            return False
        return True

    async def send_input(self, data: bytes) -> bool:
        client = self._live
        if client is None:
            return False
        try:
            await client.send_input(data)
        except ConnectionClosed:
            return False
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


async def _recv(client: RelayClient) -> Any:
    try:
        return await client.recv()
    except ConnectionClosed as exc:
        reason = exc.rcvd.reason if exc.rcvd else "connection lost"
        code, _, message = reason.partition(": ")
        if code in FATAL_CODES:
            raise RelayError(code, message) from None
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
