"""One client connection, as a state machine: hello → auth → lobby ⇄ session.

Each phase refuses what does not belong to it:

1. ``hello`` — the client names the protocol version; the relay answers with
   its name, limits and a fresh nonce for SSH-key challenges;
2. ``auth`` — a token, an invite, or an SSH-key signature of the challenge;
   the relay answers with a short-lived token (or an error, audited, and
   closes);
3. the lobby and the session — listing and opening sessions, managing
   just-in-time access, joining a session, and then everything the session
   core rules on.

Phases 1 and 2 are :mod:`relay.net.handshake`, the lobby :mod:`relay.net.lobby`;
this module holds the machine itself, what every phase shares, and the
session phase. Messages inside a session go to :class:`relay.core.session.Session`;
relay-wide decisions (open, grant, revoke, access requests) go to the relay,
reached through :class:`relay.net.host.RelayHost` (what a conversation needs of
it, which :class:`relay.net.server.Relay` provides), so that this module does not
import the server that imports it.

The credential is re-checked on every text message (config and store) and
on every input frame (config; a revocation ends the connection at once), so
that what a connection may do never outlives what its holder may do now.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import TYPE_CHECKING, Any

from websockets.asyncio.server import ServerConnection
from websockets.frames import CloseCode

from relay.core import protocol
from relay.core.actions import error
from relay.core.errors import ErrorCode, ProtocolError
from relay.core.ratelimit import TokenBucket
from relay.core.roles import Role
from relay.core.text import clean
from relay.masking import mask_text
from relay.net.connection import OUTGOING, BoundedConnection, ClientLink
from relay.net.handshake import Handshake
from relay.net.host import Identity, RelayHost
from relay.net.lobby import Lobby
from relay.store import StoreError
from relay.trust import identity

if TYPE_CHECKING:
    from relay.net.live import Room

log = logging.getLogger(__name__)

MESSAGE_RATE = 20.0  # control messages per second per connection (chat has its own limit)
MESSAGE_BURST = 60.0
AUDITED_REFUSALS = frozenset(
    {ErrorCode.FORBIDDEN, ErrorCode.ACCESS, ErrorCode.BAD_FRAME, ErrorCode.RATE_LIMITED}
)


class Conversation(Handshake, Lobby):
    """One connection's state machine: hello → auth → lobby ⇄ session."""

    def __init__(self, relay: RelayHost, ws: ServerConnection, link: ClientLink) -> None:
        self.relay = relay
        self.ws = ws
        self.link = link
        self.pid = link.pid
        self.nonce = secrets.token_bytes(32)
        self.who: Identity | None = None
        self.credential: str | None = None  # a fingerprint of the token this connection holds
        self.live: Room | None = None  # the session joined: here, or on its home relay
        self.seated_as: Role | None = None  # the role it was admitted to ``live`` with
        self.peer = str(ws.remote_address[0]) if ws.remote_address else "?"
        self.bucket = TokenBucket(MESSAGE_RATE, MESSAGE_BURST)
        self.opening: asyncio.Task[None] | None = None
        self.listing: asyncio.Task[None] | None = None
        self.cut_off = False  # set when the credential stopped standing; nothing more is done

    def send_error(self, code: ErrorCode, message: str, **extra: Any) -> None:
        """Refuse a message; refusals of what one may not do are audited (aggregated)."""
        self.link.send_json(error(code, message, **extra))
        if code in AUDITED_REFUSALS:
            self.relay.audit.record(
                "denied" if code is not ErrorCode.BAD_FRAME else "protocol.error",
                user=self._user(),
                code=code.value,
                ref=extra.get("ref"),
                message=message[:200],
                peer=self.peer,
            )

    def expired(self) -> bool:
        """Whether this connection's credential has run out (it is then closed)."""
        return self.who is not None and self.who.expires_at <= self.relay.clock()

    def expire(self) -> None:
        """Close a connection whose credential ran out; a relay-wide timer calls this."""
        assert self.who is not None
        self.relay.audit.record(
            "auth.expired", user=self.who.user, session=self.who.session, peer=self.peer
        )
        self.leave("expired")
        self.refuse(ErrorCode.AUTH_FAILED, "your access expired; log in again")

    def cut(self, problem: identity.AuthError) -> None:
        """End a connection whose credential no longer stands (revoked, user removed, demoted)."""
        if self.cut_off:
            return
        self.cut_off = True
        who = self.who
        self.relay.audit.record(
            "auth.revoked",
            user=who.user if who else None,
            code=problem.code,
            session=self.live.session_id if self.live else None,
            peer=self.peer,
        )
        self.leave("access ended")
        if self.opening is not None:
            self.opening.cancel()
        self.link.send_json(error(ErrorCode.AUTH_FAILED, problem.message))
        self.link.close(CloseCode.POLICY_VIOLATION, f"{ErrorCode.AUTH_FAILED}: {problem.message}")

    def close(self) -> None:
        """The connection is over without a ``leave``: a driver keeps control a while."""
        if self.live is not None:
            live, self.live = self.live, None
            live.drop_link(self.pid)
        if self.opening is not None:
            self.opening.cancel()
        if self.listing is not None:
            self.listing.cancel()

    def refuse(self, code: ErrorCode, message: str) -> None:
        """Send the error and close: for refusals the connection cannot recover from."""
        self.send_error(code, message)
        self.link.close(CloseCode.POLICY_VIOLATION, f"{code}: {message}")

    async def run(self) -> None:
        if not await self._hello():
            return
        if not await self._authenticate():
            return
        if isinstance(self.ws, BoundedConnection):
            self.ws.outgoing_cap = OUTGOING
        async for frame in self.ws:
            await self.link.room()  # answers pile up no further than REPLY_BUDGET
            if self.cut_off:
                break
            if isinstance(frame, bytes):
                self._input(frame)
            else:
                await self._message(frame)

    # ------------------------------------------------------------ phase 1 and 2

    # ------------------------------------------------------------ phase 3

    async def _message(self, text: str) -> None:
        """One text frame: counted, parsed, carried out; a failure stays with this message.

        Every frame counts against the connection's rate, malformed ones and
        chat too, before any parsing. An unexpected error while handling one
        message is logged and answered with ``internal_error``: it never
        closes this connection, and never reaches another one.
        """
        if self.expired():
            self.expire()
            return
        try:
            if not self.bucket.allow(self.relay.clock()):
                raise ProtocolError(
                    ErrorCode.RATE_LIMITED,
                    f"too many messages: at most {MESSAGE_RATE:g} per second; slow down",
                )
            if not await self._still_stands():
                return
            message = protocol.parse_client_text(text)
            await self._dispatch(message)
        except ProtocolError as exc:
            self.send_error(exc.code, exc.message, ref=exc.ref)
        except StoreError as exc:  # the database is away: say so, not "internal error"
            log.warning("connection %s: a message needed the state store: %s", self.pid, exc)
            self.send_error(
                ErrorCode.UNAVAILABLE,
                "the relay cannot reach its state store now; nothing was done: try again shortly",
            )
        except Exception:
            log.exception("connection %s: handling a message failed", self.pid)
            self.send_error(
                ErrorCode.INTERNAL_ERROR, "the relay could not handle this message; it was dropped"
            )

    async def _still_stands(self) -> bool:
        """Re-check the credential before acting on a message: config, then the store."""
        assert self.who is not None
        problem = await self.relay.recheck(self.who)
        if problem is not None:
            self.cut(problem)
        return not self.cut_off

    def _user(self) -> str | None:
        return self.who.user if self.who else None

    async def _dispatch(self, message: protocol.ClientMessage) -> None:
        kind = message["type"]
        match message["type"]:
            case "hello" | "auth":
                raise ProtocolError(ErrorCode.UNEXPECTED, f"{kind} was already done")
            case "list_sessions":
                self.link.send_json(self._lobby())
            case "open":
                if self.opening is not None and not self.opening.done():
                    raise ProtocolError(
                        ErrorCode.UNEXPECTED, "open: one session is already opening"
                    )
                self.opening = asyncio.get_running_loop().create_task(self._open(message))
            case "join":
                await self._join(message)
            case "leave":
                self.leave("left")
            case (
                "access_grant"
                | "access_revoke"
                | "access_request"
                | "access_decide"
                | "access_list"
                | "invite"
                | "invite_revoke"
            ):
                await self._access_message(message)
            case "list_recordings" | "fetch_recording":
                listing = self.listing
                if kind == "list_recordings" and listing is not None and not listing.done():
                    raise ProtocolError(
                        ErrorCode.UNEXPECTED, "list_recordings: one at a time; wait for its answer"
                    )
                role, scope = await self._review_rights()
                user = self._user() or ""
                answer = await self.relay.archive.handle(message, user, role, scope, self.pid)
                if message["type"] == "list_recordings" and answer["type"] == "recordings":
                    loop = asyncio.get_running_loop()
                    self.listing = loop.create_task(self._list_recordings(answer, message))
                else:
                    self.link.send_json(answer)
            case _:
                self._session_message(message)

    def leave(self, reason: str) -> None:
        if self.live is not None:
            live, self.live = self.live, None
            live.remove_link(self.pid, reason)

    def _session_message(self, message: protocol.SessionMessage) -> None:
        kind = message["type"]
        live = self.live
        if live is None:
            raise ProtocolError(ErrorCode.NO_SUCH_SESSION, f"{kind}: join a session first")
        args: dict[str, Any]
        match message["type"]:
            case "resize":
                args = {"cols": message["cols"], "rows": message["rows"]}
            case "request_control":
                args = {"reason": self._shown(message["reason"])}
            case "grant":
                args = {"id": message["id"], "ttl": message.get("ttl")}
            case "deny":
                args = {"id": message["id"], "reason": self._reason(message.get("reason", ""))}
            case "release" | "take":
                args = {}
            case "chat":
                args = {"text": message["text"]}
            case "end":
                args = {"reason": self._reason(message.get("reason", ""))}
            case _:
                raise ProtocolError(ErrorCode.BAD_FRAME, f"unhandled message type {kind!r}")
        live.act(self.pid, kind, args, self._masked)  # the core rules, here or at the home

    # ------------------------------------------------------------ access

    def _masked(self, text: str) -> str:
        """Chat and reasons are masked like output, before anyone sees or records them."""
        redaction = self.relay.config.redaction
        if not redaction.enabled:
            return text
        masked, maskings = mask_text(text, redaction.patterns)
        for masking in maskings:
            self.relay.audit.record(
                "secret.masked",
                session=self.live.session_id if self.live else None,
                user=self._user(),
                kind=masking.kind,
                count=masking.count,
                where="text",
            )
        return masked

    def _shown(self, text: str) -> str:
        """Text another person will read: cleaned (one line, no controls), then masked."""
        return self._masked(clean(text))

    def _reason(self, text: str, required: bool = False) -> str:
        """A reason someone gave: cleaned, bounded, masked, and present when it must be."""
        text = clean(text)
        if required and not text:
            raise ProtocolError(ErrorCode.REASON_REQUIRED, "say why (e.g. the incident number)")
        if len(text) > protocol.REASON_LENGTH:
            raise ProtocolError(
                ErrorCode.REASON_TOO_LONG,
                f"reasons are limited to {protocol.REASON_LENGTH} characters",
            )
        return self._masked(text)

    def _input(self, frame: bytes) -> None:
        assert self.who is not None
        problem = self.relay.standing(self.who)  # the store's word arrives by enforce()
        if problem is not None:
            self.cut(problem)
            return
        try:
            data = protocol.parse_client_binary(frame)
        except ProtocolError as exc:
            self.send_error(exc.code, exc.message)
            return
        if self.live is None:
            self.send_error(ErrorCode.NO_SUCH_SESSION, "input: join a session first")
            return
        waited = getattr(self.ws, "stalled_for", 0.0)
        if waited:
            self._refuse_stale_input(len(data), waited)
            return
        self.live.input(self.pid, data)

    def _refuse_stale_input(self, size: int, waited: float) -> None:
        """Input read right after the relay did not run for ``waited`` s: never sent late."""
        assert self.live is not None
        self.send_error(
            ErrorCode.STALE_INPUT,
            f"the relay did not run for {waited:.0f} s: keys that waited meanwhile were not "
            "sent to the shell; type them again if you still mean them",
            ref="input",
        )
        self.relay.audit.record(
            "input.stale",
            session=self.live.session_id,
            user=self._user(),
            participant=self.pid,
            bytes=size,
            waited=round(waited, 3),
        )
