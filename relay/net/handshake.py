"""Phases 1 and 2 of a conversation: ``hello``, then ``auth``.

1. ``hello`` — the client names the protocol version; the relay answers with
   its name, limits and a fresh nonce for SSH-key challenges;
2. ``auth`` — a token, an invite, or an SSH-key signature of the challenge;
   the relay answers with a short-lived token (or an error, audited, and
   closes).

A credential is honoured while its signature, its record in the store and
the config all agree; the relay checks it again on every later use.
:class:`Handshake` is the part of :class:`relay.net.conversation.Conversation`
that does this, kept apart by concept: the state it reads is the
conversation's.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from typing import TYPE_CHECKING, Literal

from websockets.asyncio.server import ServerConnection

from relay.config import NAME_PATTERN
from relay.core import protocol
from relay.core.errors import ErrorCode, ProtocolError
from relay.core.roles import Role
from relay.net.connection import ClientLink
from relay.net.host import GUEST_PREFIX, Identity
from relay.store import InviteRefused, StoreError, TokenRecord
from relay.trust import identity

if TYPE_CHECKING:
    from relay.net.host import RelayHost


log = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT = 10.0


INVITE_REFUSALS: dict[str, identity.AuthErrorCode] = {
    "unknown": "unknown_credential",
    "revoked": "revoked",
    "used_up": "used_up",
}


class Handshake:
    """Phases 1 and 2 of :class:`Conversation`: who is on the other end."""

    if TYPE_CHECKING:  # the conversation's state, and what it does on a refusal
        relay: RelayHost
        ws: ServerConnection
        link: ClientLink
        pid: str
        nonce: bytes
        peer: str
        who: Identity | None
        credential: str | None

        def refuse(self, code: ErrorCode, message: str) -> None: ...

    async def _receive_first(self, what: str) -> protocol.ClientMessage | None:
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
        if message is None or message["type"] != "hello":
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
        if message is None or message["type"] != "auth":
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

    async def _check_credentials(self, message: protocol.Auth, now: float) -> tuple[Identity, str]:
        method = message["method"]
        if method == "token":
            token = _need(message, "token")
            return await self._check_token(token, now), token
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
        self, credential: str, requested_name: str | None, now: float
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

    async def _check_ssh_key(self, message: protocol.Auth, now: float) -> tuple[Identity, str]:
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


def _guest_name(requested: str | None, default: str) -> str:
    """An invited guest's name, in its own namespace: ``guest:dave`` is never user ``dave``.

    Config user names cannot contain ``:``, so a guest can neither take a
    user's grants nor pass for them in the audit log.
    """
    name = requested if requested and NAME_PATTERN.fullmatch(requested) else default
    return f"{GUEST_PREFIX}{name}"


def _printable_name(value: str | None) -> str | None:
    """A name as claimed by an unauthenticated client, made safe to audit."""
    if not isinstance(value, str):
        return None
    return value if NAME_PATTERN.fullmatch(value) else f"<invalid: {len(value)} chars>"


def _need(message: protocol.Auth, field: Literal["token", "invite", "user", "signature"]) -> str:
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
