"""The relay: its listening socket, its sessions, and relay-wide access.

Each connection is a :class:`relay.conversation.Conversation`; this module
holds what they share — the open sessions, the just-in-time access book, the
audit log — and carries out the relay-wide decisions (opening a session,
granting or revoking access) on the live sessions they affect. Nothing here
decides a permission inside a session: that is :mod:`relay.session`.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import ipaddress
import logging
import secrets
import ssl
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from relay import identity
from relay.access import AccessBook, AccessError, AccessRequest, Grant
from relay.archive import Archive
from relay.audit import AuditLog
from relay.config import RelayConfig, TargetConfig
from relay.connection import BoundedConnection, ClientLink, cancel
from relay.conversation import Admission, Conversation, Identity
from relay.errors import ErrorCode, ProtocolError
from relay.keys import SigningKey
from relay.live import LiveSession, Recorder
from relay.names import confusable
from relay.ratelimit import DenialAudit, LoginGuard
from relay.roles import Role
from relay.session import FourEyes, Session
from relay.session import Limits as SessionLimits
from relay.ssh import TargetAddress, TargetShell, TargetUnavailable
from relay.stall import LoopWatch, watched_connection

log = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT = 10.0
CLOSE_TIMEOUT = 2.0  # a peer that does not answer our close in this time is cut off
RecorderFactory = Callable[[Session, int, int], Recorder | None]
MAX_PENDING_REQUESTS = 100  # relay-wide: each is pushed to every lead
REQUEST_TTL = 3600.0  # an unanswered access request lapses after an hour


def _session_limits(config: RelayConfig) -> SessionLimits:
    limits = config.limits
    return SessionLimits(
        chat_length=limits.chat_length,
        chat_rate=limits.chat_rate,
        chat_window=limits.chat_window,
        participants=limits.clients_per_session,
        lead_slots=limits.lead_slots,
        input_bytes=limits.max_input,
        driver_grace=limits.driver_grace,
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Relay:
    """Holds the sessions and serves the protocol."""

    def __init__(
        self,
        config: RelayConfig,
        signing_key: SigningKey,
        audit: AuditLog,
        recorder_factory: RecorderFactory | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.signing_key = signing_key
        self.verify_key = signing_key.public
        self.audit_log = audit
        self.audit = DenialAudit(audit, clock)  # refusals a client repeats: once per interval
        self.recorder_factory = recorder_factory
        self.archive = Archive(config.data_dir / "recordings", self.audit, signing_key.public)
        self.clock = clock
        self.sessions: dict[str, LiveSession] = {}
        self.access = AccessBook(dict(config.max_ttl))
        self.conversations: set[Conversation] = set()
        self.revoked_invites: set[str] = set()
        self.logins = LoginGuard(set(config.users))
        self._server: Server | None = None
        self._housekeeping: asyncio.Task[None] | None = None
        self.watch = LoopWatch()
        self._watching: asyncio.Task[None] | None = None
        self._connections = 0

    # ------------------------------------------------------------ lifecycle

    async def start(self, insecure: bool = False) -> None:
        """Listen; plain ws:// is allowed on loopback, elsewhere only with ``insecure``."""
        ssl_context = self._ssl_context()
        if ssl_context is None and not is_loopback(self.config.listen_host) and not insecure:
            raise ValueError(
                f"refusing to serve plain ws:// on {self.config.listen_host}: configure "
                "relay.tls_cert and relay.tls_key, or pass --insecure"
            )
        limits = self.config.limits
        self._watching = asyncio.create_task(self.watch.run(), name="loop-watch")
        self._server = await serve(
            self._handle,
            self.config.listen_host,
            self.config.listen_port,
            ssl=ssl_context,
            max_size=limits.max_frame,
            process_request=self._process_request,
            write_limit=64 * 1024,
            # frames read ahead of the handler: max_queue x max_frame bounds a connection's
            # inbound memory (4 MiB by default) while its answers wait (REPLY_BUDGET)
            max_queue=4,
            create_connection=watched_connection(self.watch, BoundedConnection),
            # No permessage-deflate: it would compress the same output once per
            # client (50 viewers, 50 zlib streams) on the fan-out hot path.
            compression=None,
            # Keepalive: a peer that stops answering (a dead network, a frozen
            # laptop) is dropped within ping_interval + ping_timeout + CLOSE_TIMEOUT.
            ping_interval=limits.ping_interval,
            ping_timeout=limits.ping_timeout,
            close_timeout=CLOSE_TIMEOUT,
        )
        self._housekeeping = asyncio.create_task(self._flush_audit_often())

    async def _flush_audit_often(self) -> None:
        """Expire what has run out and checkpoint the audit log (a crash loses ≤ 1 s).

        A failing round is logged and the next one runs: expiry must not stop
        silently because one audit write or one session misbehaved.
        """
        while True:
            await asyncio.sleep(0.5)
            try:
                self._expire(self.clock())
                self.audit.tick()
            except Exception:
                log.exception("housekeeping failed; retrying in 0.5 s")

    def _expire(self, now: float) -> None:
        for grant in self.access.expire(now):
            self.audit.record("access.expire", **_grant_fields(grant))
            self.notify(grant.user, {"type": "access_expired", "grant": grant.public()})
        for request in self.access.expire_requests(now - REQUEST_TTL):
            self.audit.record(
                "access.request_expired",
                user=request.user,
                role=request.role,
                request=request.id,
            )
        for conversation in [c for c in self.conversations if c.expired()]:
            conversation.expire()
        for live in list(self.sessions.values()):
            if live.core.participants or live.ended.is_set():
                continue
            idle = now - live.core.last_activity
            if idle >= self.config.limits.empty_session_timeout:
                reason = f"nobody joined for {idle / 60:.0f} min"
                live.apply(live.core.shutdown(reason, now))

    @property
    def port(self) -> int:
        assert self._server is not None
        sockname = next(iter(self._server.sockets)).getsockname()
        return int(sockname[1])

    @property
    def url(self) -> str:
        """Where clients dial: the config's public URL, or the address actually bound."""
        return replace(self.config, listen_port=self.port).client_url

    def _ssl_context(self) -> ssl.SSLContext | None:
        if self.config.tls_cert is None or self.config.tls_key is None:
            return None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.config.tls_cert, self.config.tls_key)
        return context

    async def close(self, reason: str = "the relay is shutting down") -> None:
        for live in list(self.sessions.values()):
            live.apply(live.core.shutdown(reason, self.clock()))
        if self._housekeeping is not None:
            await cancel(self._housekeeping)
        if self._watching is not None:
            await cancel(self._watching)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for live in list(self.sessions.values()):
            await live.wait_closed()

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        """Answer ``/healthz`` over plain HTTP on the websocket port."""
        if request.path == "/healthz":
            return conn.respond(http.HTTPStatus.OK, "ok\n")
        return None

    # ------------------------------------------------------------ sessions

    async def open_session(
        self,
        target_name: str,
        owner: str,
        reason: str,
        session_id: str | None = None,
        cols: int = 80,
        rows: int = 24,
    ) -> LiveSession:
        """Connect to the target and start a session owned by ``owner``."""
        target = self.config.targets.get(target_name)
        if target is None:
            raise ProtocolError(ErrorCode.NO_SUCH_TARGET, f"no target named {target_name!r}")
        session_id = session_id or f"{target_name}-{secrets.token_hex(3)}"
        now = self.clock()
        core = Session(
            session_id,
            target_name,
            owner,
            now,
            _session_limits(self.config),
            reason,
            recording=self.recorder_factory is not None,
            pty=(cols, rows),
            four_eyes=FourEyes(
                target.four_eyes, target.four_eyes_action, frozenset(target.four_eyes_roles)
            ),
        )
        recorder = self.recorder_factory(core, cols, rows) if self.recorder_factory else None
        redaction = self.config.redaction
        live = LiveSession(
            core,
            self.audit,
            self.config.limits.output_buffer,
            recorder,
            cols,
            rows,
            self.clock,
            patterns=redaction.patterns if redaction.enabled else None,
            driver_sees_raw=redaction.driver_sees_raw,
        )
        try:
            shell = await TargetShell.open(
                _address(target), cols, rows, live.on_output, live.on_exit
            )
        except TargetUnavailable as exc:
            self.audit.record(
                "session.open_failed",
                session=session_id,
                target=target_name,
                user=owner,
                reason=reason,
                error=str(exc),
            )
            if recorder is not None:
                recorder.close(f"target unavailable: {exc}", self.clock())
            raise ProtocolError(ErrorCode.TARGET_UNAVAILABLE, str(exc)) from None
        self.sessions[session_id] = live
        live.start(shell)
        asyncio.get_running_loop().create_task(self._forget_when_ended(live))
        self.audit.record(
            "session.open", session=session_id, target=target_name, user=owner, reason=reason
        )
        return live

    async def _forget_when_ended(self, live: LiveSession) -> None:
        await live.ended.wait()
        await live.wait_closed()
        self.sessions.pop(live.session_id, None)

    def invite(
        self, role: Role, session: str | None, ttl: float, name: str, by: str | None = None
    ) -> str:
        """A signed invite link for ``session`` (the lead's ``warroom invite``), naming
        the lead who issued it (``by``)."""
        credential = identity.issue(
            self.signing_key, "invite", name, role, session, ttl, self.clock(), by=by
        )
        return identity.invite_url(self.url, credential)

    # ------------------------------------------------------------ access

    def admission(self, who: Identity, live: LiveSession) -> Admission | None:
        """The role ``who`` joins ``live`` with: standing role or a live grant, if any."""
        if who.expires_at <= self.clock() or (who.invite in self.revoked_invites):
            return None
        base = who.role if who.session in (None, live.session_id) else None
        if who.via == "invite":  # guests have exactly what their invite says
            return Admission(who.role, who.expires_at, None) if base else None
        role, until, driver = self.access.admission(
            who.user, base, live.session_id, live.core.target, self.clock()
        )
        if role is None:
            return None
        expires = who.expires_at if until is None else min(until, who.expires_at)
        return Admission(role, expires, driver)

    def grant_access(
        self,
        by: str,
        user: str,
        role: str,
        ttl: float,
        session: str | None,
        target: str | None,
        reason: str,
    ) -> Grant:
        """Record a just-in-time grant and apply it where ``user`` already is.

        A reviewer grant may name a session that has ended: reviewing its
        recording is the point.
        """
        self._check_scope(None if role == "reviewer" else session, target)
        if user not in self.config.users:
            raise AccessError(
                f"no user {user!r} on this relay (guests have what their invite gives)"
            )
        now = self.clock()
        grant = self.access.grant(
            user, role, ttl, by, now, session=session, target=target, reason=reason
        )
        self.audit.record("access.grant", **_grant_fields(grant))
        for live in self._covered(grant):
            for p in [q for q in live.core.participants.values() if q.user == user]:
                live.core.extend(p.pid, grant.expires_at)
            if grant.role == "driver":
                live.apply(live.core.assign_control(user, by, now, ttl))
        self.notify(user, {"type": "access_granted", "grant": grant.public()})
        return grant

    def revoke_access(self, by: str, user: str, session: str | None) -> list[Grant]:
        """Remove grants; whoever they admitted loses control or leaves, at once.

        Naming a guest (``guest:dave``) revokes the invite they came in with.
        """
        gone = self.access.revoke(user, session)
        for grant in gone:
            self.audit.record("access.revoke", by=by, **_grant_fields(grant))
        invites = self._revoke_invites_of(user, by)
        if not gone and not invites:  # a typo must not look like a revocation
            if user in self.config.users:
                raise AccessError(f"{user} holds no grants{' on ' + session if session else ''}")
            raise AccessError(f"no user {user!r} on this relay, and no guest of that name is here")
        now = self.clock()
        reason = f"access revoked by {by}"
        for live in list(self.sessions.values()):
            live.apply(live.core.revoke_grant(user, reason, now))
            for p in [q for q in live.core.participants.values() if q.user == user]:
                self._reconsider(live, p.pid, by, now)
        self.notify(user, {"type": "access_revoked", "by": by, "grants": [g.id for g in gone]})
        return gone

    def _revoke_invites_of(self, user: str, by: str) -> set[str]:
        """Revoke the invites ``user`` (a guest) came in with; return those newly revoked."""
        invites = {
            c.who.invite
            for c in self.conversations
            if c.who is not None and c.who.user == user and c.who.invite is not None
        } - self.revoked_invites
        for invite in invites:
            self.revoked_invites.add(invite)
            self.audit.record("access.invite_revoke", by=by, user=user, invite=invite)
        return invites

    def _reconsider(self, live: LiveSession, pid: str, by: str, now: float) -> None:
        """After a revocation: drop control or membership the participant no longer has.

        A participant whose role came from the revoked grant leaves (they may
        rejoin with what they still hold). Control that rested on the grant was
        already dropped by ``Session.revoke_grant``.
        """
        conversation = next((c for c in self.conversations if c.pid == pid), None)
        participant = live.core.participants.get(pid)
        if conversation is None or conversation.who is None or participant is None:
            return
        admission = self.admission(conversation.who, live)
        reason = f"access revoked by {by}"
        if admission is None or admission.role is not participant.role:
            live.apply(live.core.remove(pid, reason, now))

    def request_access(
        self, who: Identity, role: str, reason: str, session: str | None
    ) -> AccessRequest:
        if len(self.access.requests) >= MAX_PENDING_REQUESTS:
            raise AccessError("too many access requests are waiting; try again later")
        request = self.access.request(who.user, role, reason, self.clock(), session)
        self.audit.record(
            "access.request",
            user=who.user,
            role=request.role,
            session=session,
            reason=reason,
            request=request.id,
        )
        notice = {"type": "access_request", "request": request.public()}
        for conversation in self.conversations:
            if conversation.who is not None and conversation.who.relay_wide_lead:
                conversation.link.send_json(notice)
        return request

    def decide_access(
        self, by: str, request_id: str, approve: bool, ttl: float | None, reason: str
    ) -> Grant | None:
        request = self.access.take_request(request_id)
        grant = None
        if approve:
            ttl = ttl or self.access.max_ttl.get(request.role, 3600.0)
            grant = self.grant_access(
                by, request.user, request.role, ttl, request.session, None, request.reason
            )
        self.audit.record(
            "access.approve" if approve else "access.deny",
            by=by,
            user=request.user,
            role=request.role,
            session=request.session,
            request=request.id,
            request_reason=request.reason,
            reason=reason,
            ttl=ttl,
        )
        closed = {"type": "access_request_closed", "id": request.id, "approved": approve, "by": by}
        for conversation in self.conversations:
            if conversation.who is not None and conversation.who.relay_wide_lead:
                conversation.link.send_json(closed)
        self.notify(
            request.user,
            {
                "type": "access_decision",
                "id": request.id,
                "approved": approve,
                "by": by,
                "reason": reason,
                "grant": grant.public() if grant else None,
            },
        )
        return grant

    def name_taken(self, name: str, principal: str) -> str | None:
        """A name ``name`` could pass for: a user of this relay, the owner of an open
        session, or someone connected who is another person (``principal``)."""
        taken = [*self.config.users, *(live.core.owner for live in self.sessions.values())]
        taken += [
            c.who.user
            for c in self.conversations
            if c.who is not None and c.who.principal != principal
        ]
        return next((other for other in taken if confusable(name, other)), None)

    def connections_of(self, who: Identity) -> int:
        """Authenticated connections of the same engineer (of the same invite, for guests)."""
        key = who.principal
        return sum(1 for c in self.conversations if c.who is not None and c.who.principal == key)

    def notify(self, user: str, message: dict[str, Any]) -> None:
        """Tell every connection of ``user`` (a grant, a revocation, a decision)."""
        for conversation in self.conversations:
            if conversation.who is not None and conversation.who.user == user:
                conversation.link.send_json(message)

    def _check_scope(self, session: str | None, target: str | None) -> None:
        if session is not None and session not in self.sessions:
            raise ProtocolError(ErrorCode.NO_SUCH_SESSION, f"no open session {session!r}")
        if target is not None and target not in self.config.targets:
            raise ProtocolError(ErrorCode.NO_SUCH_TARGET, f"no target named {target!r}")

    def _covered(self, grant: Grant) -> list[LiveSession]:
        return [
            live
            for live in self.sessions.values()
            if grant.covers(live.session_id, live.core.target)
        ]

    # ------------------------------------------------------------ connections

    async def _handle(self, ws: ServerConnection) -> None:
        self._connections += 1
        pid = f"c{self._connections}"
        link = ClientLink(
            ws, pid, self.config.limits.stall_timeout, self.config.limits.control_queue
        )
        writer = asyncio.create_task(link.run(), name=f"writer-{pid}")
        conn = Conversation(self, ws, link)
        if isinstance(ws, BoundedConnection):
            ws.in_flight = lambda: link.sending
            ws.on_overflow = lambda size: self.audit.record(
                "connection.dropped",
                peer=conn.peer,
                user=conn.who.user if conn.who else None,
                reason="outgoing buffer",
                buffered=size,
                limit=ws.outgoing_cap,
            )
        self.conversations.add(conn)
        try:
            await conn.run()
        except ConnectionClosed:
            pass
        finally:
            self.conversations.discard(conn)
            conn.close()
            if not writer.done():
                link.close(1000, "bye")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(writer), 1.0)
            await cancel(writer)


def _address(target: TargetConfig) -> TargetAddress:
    return TargetAddress(
        target.name, target.host, target.port, target.user, target.key, target.known_hosts
    )


def _grant_fields(grant: Grant) -> dict[str, str | float | None]:
    return {
        "grant": grant.id,
        "user": grant.user,
        "role": grant.role,
        "session": grant.session,
        "target": grant.target,
        "expires_at": grant.expires_at,
        "granted_by": grant.granted_by,
        "reason": grant.reason,
    }
