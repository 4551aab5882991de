"""The client side of the relay protocol, shared by the TUI, the CLI and the tests.

It holds no authority: it sends requests and reports what the relay says.
What it does own is the output stream's continuity: :class:`OutputTracker`
knows the offset of the next byte it expects, so a reconnect resumes from
there and a chunk that overlaps what it has is trimmed, never doubled.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, overload

import asyncssh
from asyncssh.agent import SSHAgentKeyPair
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from relay.core import messages, protocol
from relay.core.errors import ErrorCode, WarroomError
from relay.core.protocol import OutputChunk, SizeChange, Snapshot
from relay.core.text import printable
from relay.trust import identity
from tui import dial
from tui.incoming import Unreadable, read

CLIENT_NAME = "warroom-tui/0.1"
Event = messages.RelayMessage | OutputChunk | Snapshot | SizeChange
"""What the relay sends: a message (one of its TypedDicts, checked) or a binary frame."""
M = TypeVar("M")  # a relay message's TypedDict
log = logging.getLogger(__name__)


class RelayError(WarroomError):
    """The relay refused something; ``code`` is one of :mod:`relay.core.errors`.

    ``str()`` is ``code: message`` (for logs and tests); people are shown
    ``message`` alone (:func:`for_people`).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def for_people(exc: BaseException) -> str:
    """What to print about a failure: the relay's message without its code, and without
    control characters (it goes to someone's terminal; see :mod:`tui.shown`)."""
    if isinstance(exc, RelayError):
        return printable(exc.message or exc.code)
    return printable(str(exc) or type(exc).__name__)


@dataclass
class OutputTracker:
    """Where this client stands in the session's output stream.

    ``offset`` is the absolute offset of the next byte expected. Resuming
    sends it to the relay; a chunk from before it is trimmed (never applied
    twice), and a snapshot replaces the screen and moves the offset. A size
    change applies where it stands: after every byte before its offset.
    """

    offset: int | None = None
    snapshots: int = 0

    def accept(self, event: OutputChunk | Snapshot | SizeChange) -> bytes | None:
        """Return the new bytes to apply, or ``None`` for a snapshot (caller resets)
        or a size change (caller resizes)."""
        if isinstance(event, Snapshot):
            self.offset = event.offset
            self.snapshots += 1
            return None
        if self.offset is None:
            self.offset = event.offset
        if event.offset > self.offset:
            raise RelayError(
                ErrorCode.BAD_FRAME, f"gap in output: expected {self.offset}, got {event.offset}"
            )
        if isinstance(event, SizeChange):
            return None
        data = event.data[self.offset - event.offset :]
        self.offset += len(data)
        return data


@dataclass
class RelayClient:
    """One websocket connection to a relay, through hello and auth.

    ``wss://`` URLs are checked against the system CAs, or only against
    ``ca_cert`` when given (:mod:`tui.dial`); ``ssl_context`` overrides both.
    """

    url: str
    ssl_context: ssl.SSLContext | None = None
    ca_cert: Path | None = None
    max_size: int = 4 * 1024 * 1024
    ws: ClientConnection | None = None
    relay_hello: messages.RelayHello | None = None
    identity: messages.Authenticated | None = None
    pending: list[Event] = field(default_factory=list)
    sock: socket.socket | None = None  # an already-connected socket to use instead of dialing
    ping_interval: float | None = 20.0
    """websockets' keepalive: a ping this often, and the link given up when its pong takes
    20 s. None: no pings, for a client that may leave output unread for long (tests): its
    pongs wait behind that output, so its keepalive would give up on a live relay."""
    on_unreadable: Callable[[Unreadable], None] | None = None
    """Told of each frame that is not a relay message (:mod:`tui.incoming`), which is then
    dropped: a window says so; without it, it is logged."""
    unreadable: int = 0  # frames dropped so far

    async def connect(self) -> messages.RelayHello:
        """Open the websocket and exchange hellos; return the relay's hello.

        A relay that cannot be reached raises :class:`tui.dial.Unreachable`
        (an ``OSError``) whose message says why in one line.
        """
        context = self.ssl_context or dial.ssl_context(self.url, self.ca_cert)
        try:
            # proxy=None: websockets honours http_proxy even for loopback otherwise.
            self.ws = await connect(
                self.url,
                proxy=None,
                max_size=self.max_size,
                ssl=context,
                open_timeout=10,
                sock=self.sock,
                ping_interval=self.ping_interval,
            )
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
            raise dial.explain(self.url, exc) from None
        await self.send({"type": "hello", "version": protocol.VERSION, "client": CLIENT_NAME})
        self.relay_hello = hello = await self.expect(messages.RelayHello)
        return hello

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    # ------------------------------------------------------------ authentication

    async def auth_token(self, token: str) -> messages.Authenticated:
        return await self._auth({"type": "auth", "method": "token", "token": token})

    async def auth_invite(self, invite: str, name: str | None = None) -> messages.Authenticated:
        message: protocol.Auth = {"type": "auth", "method": "invite", "invite": invite}
        if name:
            message["name"] = name
        return await self._auth(message)

    async def auth_ssh_key(self, user: str, key: asyncssh.SSHKey) -> messages.Authenticated:
        signature = identity.sign_challenge(key, self._challenge(user))
        return await self._auth_signature(user, signature)

    async def auth_ssh_agent(
        self, user: str, agent_path: str | None = None
    ) -> messages.Authenticated:
        """Sign the challenge with the first agent key the relay accepts (tries each)."""
        async with asyncssh.connect_agent(agent_path or ()) as agent:
            keys = await agent.get_keys()
            if not keys:
                raise RelayError(ErrorCode.AUTH_FAILED, "the ssh-agent holds no keys")
            payload = self._challenge(user)
            key = keys[0]
            assert isinstance(key, SSHAgentKeyPair)
            key.set_sig_algorithm(identity.challenge_signature_algorithm(key))
            signature = await key.sign_async(payload)
        return await self._auth_signature(user, signature)

    def _challenge(self, user: str) -> bytes:
        assert self.relay_hello is not None, "connect() first"
        nonce = base64.b64decode(self.relay_hello["nonce"])
        return identity.challenge_payload(self.relay_hello["relay"], nonce, user)

    async def _auth_signature(self, user: str, signature: bytes) -> messages.Authenticated:
        encoded = base64.b64encode(signature).decode()
        return await self._auth(
            {"type": "auth", "method": "ssh", "user": user, "signature": encoded}
        )

    async def _auth(self, message: protocol.Auth) -> messages.Authenticated:
        await self.send(message)
        self.identity = who = await self.expect(messages.Authenticated)
        return who

    # ------------------------------------------------------------ requests

    async def list_sessions(self) -> messages.Sessions:
        await self.send({"type": "list_sessions"})
        return await self.expect(messages.Sessions)

    async def open(self, target: str, reason: str) -> str:
        await self.send({"type": "open", "target": target, "reason": reason})
        opened = await self.expect(messages.Opened)
        return opened["session"]

    async def join(
        self, session: str, offset: int | None = None, cols: int = 80, rows: int = 24
    ) -> messages.WelcomeSession:
        """Join a session; return the relay's ``welcome_session``."""
        await self.send(
            {"type": "join", "session": session, "offset": offset, "cols": cols, "rows": rows}
        )
        return await self.expect(messages.WelcomeSession)

    async def send(self, message: protocol.ClientMessage) -> None:
        assert self.ws is not None, "connect() first"
        await self.ws.send(protocol.encode(message))

    async def send_input(self, data: bytes) -> None:
        assert self.ws is not None, "connect() first"
        await self.ws.send(protocol.input_frame(data))

    # ------------------------------------------------------------ receiving

    async def recv(self) -> Event:
        """The next message or output frame (after those set aside by ``expect``).

        A frame that is neither is dropped and reported (``on_unreadable``): a broken
        or hostile relay cannot hand the reader a message of the wrong shape.
        """
        if self.pending:
            return self.pending.pop(0)
        while True:
            try:
                return await self._recv_raw()
            except Unreadable as exc:
                self._dropped(exc)

    def _dropped(self, exc: Unreadable) -> None:
        self.unreadable += 1
        if self.on_unreadable is not None:
            self.on_unreadable(exc)
        else:
            log.warning("ignored a frame from %s: %s", self.url, exc)

    async def _recv_raw(self) -> Event:
        """The next frame, read; :class:`~tui.incoming.Unreadable` if it is not the relay's."""
        assert self.ws is not None, "connect() first"
        frame = await self.ws.recv()
        if isinstance(frame, bytes):
            try:
                return protocol.parse_server_binary(frame)
            except WarroomError as exc:
                raise Unreadable(str(exc)) from None
        return read(frame)

    @overload
    async def expect(self, kind: str, timeout: float = 15.0) -> messages.RelayMessage: ...
    @overload
    async def expect(self, kind: type[M], timeout: float = 15.0) -> M: ...
    async def expect(self, kind: str | type[Any], timeout: float = 15.0) -> Any:
        """Wait for a message of type ``kind``, keeping other events for ``recv``.

        ``kind`` is a type name, or a relay message's TypedDict
        (:mod:`relay.core.protocol`: ``expect(Opened)`` is an ``Opened``). An
        ``error`` frame arriving first raises :class:`RelayError`, and so does
        the connection closing with a reason. A frame that is not a relay message
        is dropped and reported, as by ``recv``.
        """
        if not isinstance(kind, str):
            kind = protocol.message_type(kind)
        async with asyncio.timeout(timeout):
            while True:
                try:
                    event = await self._recv_raw()
                except ConnectionClosed as exc:
                    reason = exc.rcvd.reason if exc.rcvd else "connection closed"
                    raise RelayError("closed", reason) from None
                except Unreadable as exc:
                    self._dropped(exc)
                    continue
                if not isinstance(event, OutputChunk | Snapshot | SizeChange):
                    if event["type"] == kind:
                        return event
                    if event["type"] == "error":
                        raise RelayError(event["code"], event["message"])
                self.pending.append(event)

    async def wait_for(self, predicate: Callable[[Event], bool], timeout: float = 15.0) -> Event:
        """Receive until an event matches ``predicate`` (others are dropped)."""
        async with asyncio.timeout(timeout):
            while True:
                event = await self.recv()
                if predicate(event):
                    return event
