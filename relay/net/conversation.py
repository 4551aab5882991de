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

Messages inside a session go to :class:`relay.core.session.Session`; relay-wide
decisions (open, grant, revoke, access requests) go to the relay, reached
through :class:`RelayHost` (what a conversation needs of it, which
:class:`relay.net.server.Relay` provides), so that this module does not import the
server that imports it.

The credential is re-checked on every text message (config and store) and
on every input frame (config; a revocation ends the connection at once), so
that what a connection may do never outlives what its holder may do now.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from websockets.asyncio.server import ServerConnection
from websockets.frames import CloseCode

from relay.config import NAME_PATTERN
from relay.core import protocol
from relay.core.access import AccessError, Grant
from relay.core.errors import ErrorCode, ProtocolError
from relay.core.ratelimit import TokenBucket
from relay.core.roles import Role
from relay.core.session import Send, error
from relay.core.text import clean
from relay.masking import mask_text
from relay.net.archive import Scope
from relay.net.connection import OUTGOING, BoundedConnection, ClientLink
from relay.store import InviteRefused, StoreError, TokenRecord
from relay.trust import identity

if TYPE_CHECKING:
    from relay.config import RelayConfig
    from relay.core.access import AccessPolicy, AccessRequest
    from relay.core.ratelimit import DenialAudit, LoginGuard
    from relay.net.archive import Archive
    from relay.net.live import LiveSession
    from relay.store import InviteRecord, Revocation, Store
    from relay.trust.keys import SigningKey, VerifyKey

log = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT = 10.0
MESSAGE_RATE = 20.0  # control messages per second per connection (chat has its own limit)
MESSAGE_BURST = 60.0
GUEST_PREFIX = "guest:"
INVITE_REFUSALS: dict[str, identity.AuthErrorCode] = {
    "unknown": "unknown_credential",
    "revoked": "revoked",
    "used_up": "used_up",
}
AUDITED_REFUSALS = frozenset(
    {ErrorCode.FORBIDDEN, ErrorCode.ACCESS, ErrorCode.BAD_FRAME, ErrorCode.RATE_LIMITED}
)


@dataclass
class Identity:
    """Who is on the other end of a connection, as the relay's own claims say."""

    user: str
    role: Role
    session: str | None  # None: not bound to one session
    expires_at: float
    via: str  # "token", "invite" or "ssh"
    token_id: str  # the jti of the token this connection holds (checked in the store)
    invite: str | None = None  # the jti of the invite a guest came in with
    invited_by: str | None = None  # who made that invite (None: the relay's operator)

    @property
    def principal(self) -> str:
        """Who this is as a person, for limits: the user, or for guests the invite."""
        return f"invite:{self.invite}" if self.via == "invite" and self.invite else self.user

    @property
    def relay_wide_lead(self) -> bool:
        """Leads with a relay-wide credential may open sessions and manage access."""
        return self.role is Role.LEAD and self.session is None


@dataclass(frozen=True)
class Admission:
    """How someone joins a session: role, until when, and a driver grant if any."""

    role: Role
    expires_at: float
    driver_grant: Grant | None


class RelayHost(Protocol):
    """What a conversation asks of the relay it belongs to (:class:`relay.net.server.Relay`).

    The relay-wide state its connections share and the relay-wide decisions,
    named here so that the dependency runs one way: the server knows its
    conversations, a conversation knows only this.
    """

    @property
    def config(self) -> RelayConfig: ...
    @property
    def clock(self) -> Callable[[], float]: ...
    @property
    def audit(self) -> DenialAudit: ...
    @property
    def logins(self) -> LoginGuard: ...
    @property
    def policy(self) -> AccessPolicy: ...
    @property
    def archive(self) -> Archive: ...
    @property
    def store(self) -> Store: ...
    @property
    def signing_key(self) -> SigningKey: ...
    @property
    def verify_key(self) -> VerifyKey: ...
    @property
    def sessions(self) -> dict[str, LiveSession]: ...

    async def open_session(self, target_name: str, owner: str, reason: str) -> LiveSession: ...
    async def live_session(self, session_id: str) -> LiveSession: ...
    async def create_invite(
        self,
        role: Role,
        session: str | None,
        ttl: float,
        name: str,
        *,
        by: str | None = None,
        uses: int | None = None,
    ) -> tuple[InviteRecord, str]: ...
    async def issue_token(
        self, subject: str, role: Role, session: str | None, ttl: float, now: float
    ) -> tuple[str, identity.Claims]: ...
    def standing(self, who: Identity) -> identity.AuthError | None: ...
    async def recheck(self, who: Identity) -> identity.AuthError | None: ...
    async def admission(self, who: Identity, live: LiveSession) -> Admission | None: ...
    async def grant_access(
        self,
        by: str,
        user: str,
        role: str,
        ttl: float,
        session: str | None,
        target: str | None,
        reason: str,
    ) -> Grant: ...
    async def revoke_access(
        self, by: str, user: str, session: str | None, grants_only: bool = False
    ) -> tuple[list[Grant], Revocation]: ...
    async def revoke_invite(self, by: str, invite_id: str) -> Revocation: ...
    async def request_access(
        self, who: Identity, role: str, reason: str, session: str | None
    ) -> AccessRequest: ...
    async def decide_access(
        self, by: str, request_id: str, approve: bool, ttl: float | None, reason: str
    ) -> Grant | None: ...
    def name_taken(self, name: str, principal: str) -> str | None: ...
    def connections_of(self, who: Identity) -> int: ...


class Conversation:
    """One connection's state machine: hello → auth → lobby ⇄ session."""

    def __init__(self, relay: RelayHost, ws: ServerConnection, link: ClientLink) -> None:
        self.relay = relay
        self.ws = ws
        self.link = link
        self.pid = link.pid
        self.nonce = secrets.token_bytes(32)
        self.who: Identity | None = None
        self.credential: str | None = None  # a fingerprint of the token this connection holds
        self.live: LiveSession | None = None
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

    async def _receive_first(self, what: str) -> dict[str, Any] | None:
        try:
            frame = await asyncio.wait_for(self.ws.recv(), HANDSHAKE_TIMEOUT)
        except TimeoutError:
            self.refuse(ErrorCode.BAD_FRAME, f"expected {what} within {HANDSHAKE_TIMEOUT:g} s")
            return None
        if isinstance(frame, bytes):
            self.refuse(ErrorCode.BAD_FRAME, f"expected a {what} message, got a binary frame")
            return None
        try:
            message = protocol.parse_client_text(frame)
        except ProtocolError as exc:
            self.refuse(exc.code, exc.message)
            return None
        if message["type"] != what:
            self.refuse(ErrorCode.UNEXPECTED, f"expected {what}, got {message['type']}")
            return None
        return message

    async def _hello(self) -> bool:
        message = await self._receive_first("hello")
        if message is None:
            return False
        if message["version"] != protocol.VERSION:
            self.refuse(
                ErrorCode.UNSUPPORTED_VERSION,
                f"this relay speaks protocol version {protocol.VERSION}, "
                f"the client speaks {message['version']}; upgrade the older side",
            )
            return False
        limits = self.relay.config.limits
        self.link.send_json(
            {
                "type": "hello",
                "version": protocol.VERSION,
                "relay": self.relay.config.name,
                "nonce": base64.b64encode(self.nonce).decode(),
                "limits": {
                    "max_frame": limits.max_frame,
                    "max_input": limits.max_input,
                    "chat_length": limits.chat_length,
                    "chat_rate": limits.chat_rate,
                    "chat_window": limits.chat_window,
                    "clients_per_session": limits.clients_per_session,
                },
            }
        )
        return True

    async def _authenticate(self) -> bool:
        message = await self._receive_first("auth")
        if message is None:
            return False
        now = self.relay.clock()
        claimed = message.get("user")
        throttled = self.relay.logins.throttled(self.peer, claimed, now)
        if throttled is not None:
            self.relay.audit.record(
                "auth.throttled", method=message["method"], peer=self.peer, user=claimed
            )
            self.refuse(ErrorCode.AUTH_THROTTLED, f"{throttled}; wait a minute and try again")
            return False
        try:
            who, token = await self._check_credentials(message, now)
            # The same token rejoining is the same person coming back (a driver's grace).
            self.credential = hashlib.sha256(token.encode()).hexdigest()
        except identity.AuthError as exc:
            self.relay.logins.failed(self.peer, claimed, now)
            self.relay.audit.record(
                "auth.failed",
                method=message["method"],
                code=exc.code,
                peer=self.peer,
                user=exc.subject or _printable_name(message.get("user") or message.get("name")),
            )
            self.refuse(ErrorCode.AUTH_FAILED, exc.message)
            return False
        except StoreError as exc:  # not the user's fault: no failure counted against them
            log.warning("connection %s: signing in needed the state store: %s", self.pid, exc)
            self.refuse(
                ErrorCode.UNAVAILABLE,
                "the relay cannot reach its state store now; sign in again shortly",
            )
            return False
        limit = self.relay.config.limits.connections_per_user
        if self.relay.connections_of(who) >= limit:
            self.relay.audit.record(
                "connection.refused", peer=self.peer, user=who.user, reason="connections_per_user"
            )
            self.refuse(
                ErrorCode.TOO_MANY_CONNECTIONS,
                f"{who.user} already has {limit} connections to this relay; close one first",
            )
            return False
        self.who = who
        self.relay.audit.record(
            "auth.ok",
            user=self.who.user,
            role=self.who.role.value,
            method=self.who.via,
            session=self.who.session,
            invite=self.who.invite,
            peer=self.peer,
        )
        self.link.send_json(
            {
                "type": "authenticated",
                "user": self.who.user,
                "role": self.who.role.value,
                "session": self.who.session,
                "token": token,
                "expires_at": self.who.expires_at,
            }
        )
        return True

    async def _check_credentials(self, message: dict[str, Any], now: float) -> tuple[Identity, str]:
        method = message["method"]
        if method == "token":
            return await self._check_token(_need(message, "token"), now), message["token"]
        if method == "invite":
            return await self._check_invite(_need(message, "invite"), message.get("name"), now)
        if method == "ssh":
            return await self._check_ssh_key(message, now)
        raise identity.AuthError("malformed", f"unknown auth method {method!r}")

    async def _check_token(self, token: str, now: float) -> Identity:
        """A token is honoured while its signature, its record and the config all agree."""
        relay = self.relay
        claims = identity.verify(
            relay.verify_key, token, now, typ="token", audience=relay.config.name
        )
        via = "invite" if claims.inv else "token"
        who = Identity(
            claims.sub, claims.role, claims.ses, claims.exp, via, claims.jti, claims.inv, claims.by
        )
        problem = await relay.recheck(who)
        if problem is not None:
            raise problem
        return who

    async def _check_invite(
        self, credential: str, requested_name: Any, now: float
    ) -> tuple[Identity, str]:
        """An invite admits while it is open, unused up, and its maker still a lead."""
        relay = self.relay
        claims = identity.verify(
            relay.verify_key, credential, now, typ="invite", audience=relay.config.name
        )
        # A reviewer's invite is for the recording, which outlives the session.
        reviewing = claims.role is Role.REVIEWER and await relay.archive.recorded(claims.ses)
        if claims.ses is not None and not reviewing:
            try:
                await relay.live_session(claims.ses)
            except ProtocolError as exc:
                raise identity.AuthError(
                    "wrong_session", f"this invite is for a session that is not open: {exc.message}"
                ) from None
        name = _guest_name(requested_name, claims.sub)
        if name != f"{GUEST_PREFIX}{claims.sub}":  # a name the guest chose, not the lead
            taken = relay.name_taken(name, f"invite:{claims.jti}")
            if taken is not None:
                raise identity.AuthError(
                    "name_taken",
                    f"the name {name!r} could pass for {taken!r}, who is already here; "
                    "pick another name",
                )
        ttl = min(claims.exp - now, relay.config.token_ttl)
        if ttl <= 0:
            raise identity.AuthError("expired", "this invite has just expired; ask for a new one")
        token = identity.new_claims(
            "token",
            name,
            claims.role,
            claims.ses,
            ttl,
            now,
            audience=relay.config.name,
            invite=claims.jti,
            by=claims.by,
        )
        who = Identity(
            name, claims.role, claims.ses, token.exp, "invite", token.jti, claims.jti, claims.by
        )
        problem = relay.standing(who)
        if problem is not None:
            raise problem
        try:
            await relay.store.use_invite(
                claims.jti, TokenRecord(token.jti, name, claims.jti, now, token.exp)
            )
        except InviteRefused as exc:
            raise identity.AuthError(INVITE_REFUSALS[exc.reason], str(exc), name) from None
        return who, identity.encode(relay.signing_key, token)

    async def _check_ssh_key(self, message: dict[str, Any], now: float) -> tuple[Identity, str]:
        relay = self.relay
        name = _need(message, "user")
        user = relay.config.users.get(name)
        try:
            signature = base64.b64decode(_need(message, "signature"), validate=True)
        except ValueError:
            raise identity.AuthError("malformed", "the signature is not base64") from None
        payload = identity.challenge_payload(relay.config.name, self.nonce, name)
        if user is None or not identity.verify_challenge(user.keys, payload, signature):
            raise identity.AuthError(
                "bad_signature", f"no key of a user {name!r} on this relay signed the challenge"
            )
        role = _highest(user.roles)
        token, claims = await relay.issue_token(name, role, None, relay.config.token_ttl, now)
        return Identity(name, role, None, claims.exp, "ssh", claims.jti), token

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

    async def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind in ("hello", "auth"):
            raise ProtocolError(ErrorCode.UNEXPECTED, f"{kind} was already done")
        if kind == "list_sessions":
            self.link.send_json(self._lobby())
        elif kind == "open":
            if self.opening is not None and not self.opening.done():
                raise ProtocolError(ErrorCode.UNEXPECTED, "open: one session is already opening")
            self.opening = asyncio.get_running_loop().create_task(self._open(message))
        elif kind == "join":
            await self._join(message)
        elif kind == "leave":
            self.leave("left")
        elif kind.startswith("access_") or kind in ("invite", "invite_revoke"):
            await self._access_message(kind, message)
        elif kind in ("list_recordings", "fetch_recording"):
            if kind == "list_recordings" and self.listing is not None and not self.listing.done():
                raise ProtocolError(
                    ErrorCode.UNEXPECTED, "list_recordings: one at a time; wait for its answer"
                )
            role, scope = await self._review_rights()
            user = self._user() or ""
            answer = await self.relay.archive.handle(message, user, role, scope, self.pid)
            if kind == "list_recordings":
                loop = asyncio.get_running_loop()
                self.listing = loop.create_task(self._list_recordings(answer, message))
            else:
                self.link.send_json(answer)
        else:
            self._session_message(kind, message)

    async def _list_recordings(self, answer: dict[str, Any], message: dict[str, Any]) -> None:
        """Summaries, filters and search read files: in a thread, after the checks above."""
        live = frozenset(
            s for s, session in self.relay.sessions.items() if not session.ended.is_set()
        )
        entries = await asyncio.to_thread(
            self.relay.archive.details, answer["recordings"], message, live
        )
        if message.get("text"):
            self.relay.audit.record(
                "recording.search",
                user=self._user(),
                text=self._masked(message["text"]),
                session=message.get("session"),
                matches=len(entries),
            )
        self.link.send_json({"type": "recordings", "recordings": entries})

    async def _review_rights(self) -> tuple[Role, Scope]:
        """The role and scope for recordings: standing, or the union of reviewer grants.

        Read afresh for every request, so a grant that expired or was revoked
        stops a download at its next chunk.
        """
        who = self.who
        assert who is not None
        if who.role in (Role.LEAD, Role.REVIEWER) or who.via == "invite":
            scope = Scope.everything() if who.session is None else Scope.session(who.session)
            return who.role, scope
        grants = [
            g
            for g in await self.relay.store.active_grants(self.relay.clock(), who.user)
            if g.role == "reviewer"
        ]
        if grants:
            return Role.REVIEWER, Scope(frozenset((g.session, g.target) for g in grants))
        return who.role, Scope.session(who.session) if who.session else Scope.everything()

    def _lobby(self) -> dict[str, Any]:
        assert self.who is not None
        visible = [
            live.core.summary()
            for live in self.relay.sessions.values()
            if self.who.session in (None, live.session_id) and not live.ended.is_set()
        ]
        targets = []
        if self.who.role is Role.LEAD and self.who.session is None:
            targets = [
                {"name": t.name, "description": t.description}
                for t in self.relay.config.targets.values()
            ]
        return {"type": "sessions", "sessions": visible, "targets": targets}

    async def _open(self, message: dict[str, Any]) -> None:
        assert self.who is not None
        if self.who.role is not Role.LEAD or self.who.session is not None:
            self.send_error(ErrorCode.FORBIDDEN, "only a lead can open sessions", ref="open")
            return
        try:
            reason = self._reason(message["reason"], required=True)
            live = await self.relay.open_session(message["target"], self.who.user, reason)
        except ProtocolError as exc:
            self.send_error(exc.code, exc.message, ref="open")
            return
        self.link.send_json({"type": "opened", "session": live.session_id})

    async def _join(self, message: dict[str, Any]) -> None:
        assert self.who is not None
        if self.live is not None:
            raise ProtocolError(ErrorCode.ALREADY_JOINED, "leave the current session first")
        session_id = message["session"]
        if self.who.session not in (None, session_id):
            self.relay.audit.record(
                "auth.failed",
                user=self.who.user,
                session=session_id,
                code="wrong_session",
                peer=self.peer,
            )
            raise ProtocolError(
                ErrorCode.FORBIDDEN, f"your access is for session {self.who.session!r} only"
            )
        live = await self.relay.live_session(session_id)
        admission = await self.relay.admission(self.who, live)
        if self.cut_off or self.live is not None:
            return
        if admission is None:
            self.relay.audit.record(
                "session.join_denied", user=self.who.user, session=session_id, peer=self.peer
            )
            raise ProtocolError(
                ErrorCode.FORBIDDEN,
                f"you have no access to session {session_id!r}; ask a lead "
                "(warroom request --role viewer --reason ...)",
            )
        self._enter(live, admission, message)

    def _enter(self, live: LiveSession, admission: Admission, message: dict[str, Any]) -> None:
        assert self.who is not None
        now = self.relay.clock()
        actions = live.core.join(
            self.pid,
            self.who.user,
            admission.role,
            now,
            admission.expires_at,
            message.get("cols", 80),
            message.get("rows", 24),
            person=self.who.principal,
            invited_by=self.who.invited_by,
            key=self.credential,
        )
        if self.pid not in live.core.participants:  # refused: tell this client only
            for action in actions:
                if isinstance(action, Send) and action.to == self.pid:
                    self.link.send_json(action.message)
            return
        self.live = live
        live.add_link(self.link, message.get("offset"))
        live.apply(actions)
        grant = admission.driver_grant
        if grant is not None:
            ttl = grant.expires_at - now
            live.apply(live.core.assign_control(self.who.user, grant.granted_by, now, ttl))

    def leave(self, reason: str) -> None:
        if self.live is not None:
            live, self.live = self.live, None
            live.remove_link(self.pid, reason)

    def _session_message(self, kind: str, message: dict[str, Any]) -> None:
        live = self.live
        if live is None:
            raise ProtocolError(ErrorCode.NO_SUCH_SESSION, f"{kind}: join a session first")
        core, now = live.core, self.relay.clock()
        match kind:
            case "resize":
                actions = core.resize(self.pid, message["cols"], message["rows"], now)
            case "request_control":
                actions = core.request_control(self.pid, self._shown(message["reason"]), now)
            case "grant":
                actions = core.grant(self.pid, message["id"], now, message.get("ttl"))
            case "deny":
                reason = self._reason(message.get("reason", ""))
                actions = core.deny(self.pid, message["id"], reason, now)
            case "release":
                actions = core.release(self.pid, now)
            case "take":
                actions = core.take(self.pid, now)
            case "chat":
                actions = core.chat(self.pid, message["text"], now, mask=self._masked)
            case "end":
                actions = core.end(self.pid, self._reason(message.get("reason", "")), now)
            case _:
                raise ProtocolError(ErrorCode.BAD_FRAME, f"unhandled message type {kind!r}")
        live.apply(actions)

    # ------------------------------------------------------------ access

    async def _access_message(self, kind: str, message: dict[str, Any]) -> None:
        """Just-in-time access: grants and revocations by leads, requests by anyone."""
        who = self.who
        assert who is not None
        if kind not in ("access_request", "access_list") and not who.relay_wide_lead:
            raise ProtocolError(ErrorCode.FORBIDDEN, f"{kind}: only a lead can do this")
        try:
            reply = await self._access_reply(kind, message, who)
        except AccessError as exc:
            raise ProtocolError(ErrorCode.ACCESS, str(exc)) from None
        self.link.send_json(reply)

    async def _access_reply(
        self, kind: str, message: dict[str, Any], who: Identity
    ) -> dict[str, Any]:
        relay = self.relay
        get = message.get
        match kind:
            case "access_grant":
                grant = await relay.grant_access(
                    who.user,
                    message["user"],
                    message["role"],
                    float(message["ttl"]),
                    get("session"),
                    get("target"),
                    self._reason(get("reason", "")),
                )
                return {"type": "access_granted", "grant": grant.public()}
            case "access_revoke":
                gone, revoked = await relay.revoke_access(
                    who.user, message["user"], get("session"), get("grants_only", False)
                )
                return {
                    "type": "access_revoked",
                    "grants": [g.public() for g in gone],
                    "tokens": len(revoked.tokens),
                    "invites": [i.id for i in revoked.invites],
                }
            case "access_request":
                if who.via == "invite":
                    raise AccessError(
                        "guests have what their invite gives; ask the lead for a new one"
                    )
                request = await relay.request_access(
                    who, message["role"], self._reason(message["reason"]), get("session")
                )
                return {"type": "access_requested", "request": request.public()}
            case "access_decide":
                ttl = get("ttl")
                decided = await relay.decide_access(
                    who.user,
                    message["id"],
                    message["approve"],
                    float(ttl) if ttl is not None else None,
                    self._reason(get("reason", "")),
                )
                return {
                    "type": "access_decided",
                    "id": message["id"],
                    "grant": decided.public() if decided else None,
                }
            case "access_list":
                return await self._access_list(who)
            case "invite":
                return await self._invite(who, message)
            case "invite_revoke":
                revoked = await relay.revoke_invite(who.user, message["id"])
                return {
                    "type": "invite_revoked",
                    "id": message["id"],
                    "tokens": len(revoked.tokens),
                }
        raise ProtocolError(ErrorCode.BAD_FRAME, f"unhandled message type {kind!r}")

    async def _access_list(self, who: Identity) -> dict[str, Any]:
        store, now = self.relay.store, self.relay.clock()
        mine = None if who.relay_wide_lead else who.user
        grants: list[Grant] = await store.active_grants(now, mine)
        requests = await store.pending_requests(mine)
        listing: dict[str, Any] = {
            "type": "access",
            "grants": [g.public() for g in grants],
            "requests": [r.public() for r in requests],
        }
        if who.relay_wide_lead:
            listing["invites"] = [i.public() for i in await store.live_invites(now)]
        return listing

    async def _invite(self, who: Identity, message: dict[str, Any]) -> dict[str, Any]:
        try:
            role = Role.parse(message["role"])
        except ValueError as exc:
            raise AccessError(str(exc)) from None
        session = message["session"]
        reviewing = role is Role.REVIEWER and await self.relay.archive.recorded(session)
        if not reviewing:  # a reviewer's invite is for the recording, which outlives the session
            await self.relay.live_session(session)
        ttl = float(message["ttl"])
        self.relay.policy.check_ttl(role.value, ttl, "invite")
        uses = message.get("uses")  # 1 to protocol.MAX_INVITE_USES, checked on parsing
        name = message.get("name") or role.value
        if not NAME_PATTERN.fullmatch(name):
            raise AccessError(f"invite names are like user names (a-z, 0-9, . _ -), not {name!r}")
        record, url = await self.relay.create_invite(
            role, session, ttl, name, by=who.user, uses=uses
        )
        self.relay.audit.record(
            "access.invite",
            by=who.user,
            role=role.value,
            session=session,
            ttl=ttl,
            name=name,
            invite=record.id,
            uses=uses,
        )
        return {
            "type": "invite",
            "url": url,
            "id": record.id,
            "uses": uses,
            "expires_at": record.expires_at,
        }

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


def _guest_name(requested: str | None, default: str) -> str:
    """An invited guest's name, in its own namespace: ``guest:dave`` is never user ``dave``.

    Config user names cannot contain ``:``, so a guest can neither take a
    user's grants nor pass for them in the audit log.
    """
    name = requested if requested and NAME_PATTERN.fullmatch(requested) else default
    return f"{GUEST_PREFIX}{name}"


def _printable_name(value: Any) -> str | None:
    """A name as claimed by an unauthenticated client, made safe to audit."""
    if not isinstance(value, str):
        return None
    return value if NAME_PATTERN.fullmatch(value) else f"<invalid: {len(value)} chars>"


def _need(message: dict[str, Any], field: str) -> str:
    value = message.get(field)
    if not isinstance(value, str) or not value:
        raise identity.AuthError(
            "malformed", f"auth with method {message['method']!r} needs {field!r}"
        )
    return value


def _highest(roles: frozenset[Role]) -> Role:
    for role in (Role.LEAD, Role.VIEWER, Role.REVIEWER):
        if role in roles:
            return role
    raise identity.AuthError("malformed", "the user has no role on this relay")
