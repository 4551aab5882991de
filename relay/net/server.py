"""The relay: its listening socket, its sessions, and what its connections share.

Each connection is a :class:`relay.net.conversation.Conversation`; this module
holds what they share — the open sessions, the store (grants, requests,
invites, tokens, the session directory), the audit log — serves the
protocol on the listening socket, opens sessions and keeps the relay's
housekeeping (expiry, re-checks, audit checkpoints) running. Relay-wide
access (credentials on every use, grants, revocations, requests) is
:mod:`relay.net.access_desk`, which :class:`Relay` includes. Nothing here
decides a permission inside a session: that is :mod:`relay.core.session`.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import ipaddress
import json
import logging
import secrets
import ssl
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.http11 import Request, Response

from relay.cluster.health import INTERVAL as HEALTH_INTERVAL
from relay.cluster.health import Check, Health
from relay.config import RelayConfig, TargetConfig
from relay.core import messages
from relay.core.access import AccessPolicy
from relay.core.errors import ErrorCode, ProtocolError
from relay.core.ratelimit import DenialAudit, LoginGuard
from relay.core.roles import Role
from relay.core.session import Session
from relay.core.state import FourEyes
from relay.core.state import Limits as SessionLimits
from relay.evidence.audit import AuditLog
from relay.masking import mask_text
from relay.net.access_desk import REQUEST_TTL, AccessDesk, grant_fields
from relay.net.archive import Archive
from relay.net.connection import READ_AHEAD, BoundedConnection, ClientLink, cancel
from relay.net.conversation import Conversation
from relay.net.live import LiveSession, Recorder, Room
from relay.net.ssh import TargetAddress, TargetShell, TargetUnavailable
from relay.net.stall import LoopWatch, watched_connection
from relay.store import (
    Conflict,
    InviteRecord,
    SessionRecord,
    Store,
    StoreError,
    TokenRecord,
    open_store,
)
from relay.trust import identity
from relay.trust.keys import SigningKey

if TYPE_CHECKING:
    from relay.cluster.bus import Bus
    from relay.net.edge import EdgeSession, Outbox
    from relay.storage.service import ObjectStorage

log = logging.getLogger(__name__)

CLOSE_TIMEOUT = 2.0  # a peer that does not answer our close in this time is cut off
RecorderFactory = Callable[[Session, int, int], Recorder | None]
HealthCheck = Callable[[], dict[str, Any]]
"""One dependency's state for ``/healthz``: a JSON object with at least ``ok`` (bool)."""
HOUSEKEEPING_INTERVAL = 0.5  # expiry, re-checking connections, audit checkpoints
LISTEN_WAIT = 5.0  # seconds a starting relay waits to hear the others' news before serving
LOST_CONFIRM = 2 * HEALTH_INTERVAL + 1.0  # seconds a home's node lock must stay free
EDGE_IDLE = 30.0  # seconds a relay keeps following another's session nobody here is in
SESSION_ID_ATTEMPTS = 5  # generated ids are random; ids are never reused, so retry
RESTART_REASON = "the relay stopped before the session ended"
RESTART_FIXED = (
    "listen_host",
    "listen_port",
    "name",
    "public_url",
    "data_dir",
    "tls_cert",
    "tls_key",
    "evidence",  # the witness is opened once, at start
    "storage",  # so is the bucket
    "cluster",  # so is the store
)
"""Config fields a reload cannot change (they need a restart); a reload keeps the old values."""


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


class Relay(AccessDesk):
    """Holds the sessions and serves the protocol."""

    def __init__(
        self,
        config: RelayConfig,
        signing_key: SigningKey,
        audit: AuditLog,
        recorder_factory: RecorderFactory | None = None,
        clock: Callable[[], float] = time.time,
        store: Store | None = None,
        storage: ObjectStorage | None = None,
    ) -> None:
        """``store`` defaults to SQLite under the data dir, opened by :meth:`start`.

        A store passed in belongs to the caller (who closes it); one the relay
        opened, the relay closes. ``storage`` (the bucket, also the caller's)
        serves recordings that are only there to reviewers, and the relay fails
        closed on it: no new session while it fails, and a session whose
        recording cannot reach it within ``max_lag`` ends.
        """
        self.config = config
        self.signing_key = signing_key
        self.verify_key = signing_key.public
        self.audit_log = audit
        self.audit = DenialAudit(audit, clock)  # refusals a client repeats: once per interval
        self.recorder_factory = recorder_factory
        self.storage = storage
        self.archive = Archive(
            config.data_dir / "recordings",
            self.audit,
            signing_key.public,
            mirror=storage.mirror if storage is not None else None,
        )
        self.checks: dict[str, HealthCheck] = {}
        if storage is not None:
            self.checks["storage"] = lambda: storage.uploader.health().fields()
        self.clock = clock
        self.sessions: dict[str, LiveSession] = {}
        self.policy = AccessPolicy(dict(config.max_ttl))
        self.conversations: set[Conversation] = set()
        self.logins = LoginGuard(set(config.users))
        self._store = store
        self._owns_store = store is None
        self._server: Server | None = None
        self._housekeeping: asyncio.Task[None] | None = None
        self.watch = LoopWatch()
        self._watching: asyncio.Task[None] | None = None
        self._forgetting: set[asyncio.Task[None]] = set()
        self._connections = 0
        self.health = Health(clock)
        """Background checks of what must be asked over the network (the store, ...)."""
        self._health_watch: asyncio.Task[None] | None = None
        self.bus: Bus | None = None  # the cluster's Redis ([cluster] redis)
        self.outbox: Outbox | None = None
        self.edges: dict[str, EdgeSession] = {}
        """Sessions whose home is another relay, that this relay's clients joined."""
        self.elsewhere: list[messages.SessionSummary] = []
        """Lobby summaries of the sessions other relays are home to (``[cluster] redis``)."""
        self._cluster_tasks: list[asyncio.Task[None]] = []
        self._pid_tag = ""  # in a cluster, connection ids are unique across relays

    def watch_dependency(self, name: str, check: Check) -> None:
        """Check ``name`` in the background (:mod:`relay.cluster.health`) and list its
        last state in ``/healthz``; while it fails, no new session is opened."""
        self.health.register(name, check)
        self.checks[name] = lambda: self.health.fields(name)

    @property
    def store(self) -> Store:
        if self._store is None:
            raise RuntimeError("the relay's store is opened by start()")
        return self._store

    # ------------------------------------------------------------ lifecycle

    async def start(self, insecure: bool = False) -> None:
        """Listen; plain ws:// is allowed on loopback, elsewhere only with ``insecure``."""
        ssl_context = self._ssl_context()
        if ssl_context is None and not is_loopback(self.config.listen_host) and not insecure:
            raise ValueError(
                f"refusing to serve plain ws:// on {self.config.listen_host}: configure "
                "relay.tls_cert and relay.tls_key, or pass --insecure"
            )
        if self._store is None:
            cluster = self.config.cluster
            self._store = await open_store(self.config.data_dir, cluster.database, self.config.node)
        self.watch_dependency("store", self.store.ping)
        if self.config.cluster.redis is not None:
            self._join_cluster(self.config.cluster.redis)
        listening: asyncio.Event | None = None
        if self.config.cluster.database is not None:  # decisions made on other relays
            listening = asyncio.Event()
            news = self.store.listen(self.heard, listening)
            self._cluster_tasks.append(asyncio.create_task(news, name="cluster-news"))
        try:
            if listening is not None:  # hear them before serving (a database away: not long)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(listening.wait(), LISTEN_WAIT)
            await self.health.check()
            await self._serve(ssl_context)
        except BaseException:
            await self._leave_cluster()
            if self._owns_store:
                await self.store.close()
                self._store = None
            raise

    def _join_cluster(self, url: str) -> None:
        """Serve any session of the cluster, through Redis (:mod:`relay.cluster`).

        Redis need not answer yet: ``/healthz`` says it does not, and no
        session opens until it does.
        """
        from relay.cluster.bus import Bus
        from relay.net.edge import Outbox
        from relay.net.home import HomeDesk

        self.bus = bus = Bus(url, self.config.name)
        self.watch_dependency("redis", bus.ping)
        self.outbox = Outbox(bus)
        desk = HomeDesk(bus, self.config.node, self.sessions, self._mask_chat)
        self._pid_tag = "." + secrets.token_hex(3)
        self._cluster_tasks = [
            asyncio.create_task(desk.run(), name="cluster-inbox"),
            asyncio.create_task(self.outbox.run(), name="cluster-outbox"),
            asyncio.create_task(self._read_lobby(bus), name="cluster-lobby"),
        ]

    async def _read_lobby(self, bus: Bus) -> None:
        """Every second: the sessions other relays are home to, for this relay's lobby."""
        from relay.cluster.bus import RedisError

        while True:
            try:
                listed = await bus.lobby()
            except RedisError:
                listed = {}  # while Redis fails, no session elsewhere can be joined anyway
            # written by the homes: SessionSummary values (relay.core.session.summary)
            self.elsewhere = [
                json.loads(line)
                for session_id, line in sorted(listed.items())
                if session_id not in self.sessions
            ]
            await asyncio.sleep(1.0)

    async def _leave_cluster(self) -> None:
        for edge in list(self.edges.values()):
            await edge.close("the relay is shutting down; connect again (to any relay)")
        for task in self._cluster_tasks:
            task.cancel()
        if self._cluster_tasks:  # bounded: a client library that swallows a cancel (psycopg
            # #1371, a half-open connection) must not keep the relay from stopping
            await asyncio.wait(self._cluster_tasks, timeout=CLOSE_TIMEOUT)
        self._cluster_tasks = []
        if self.bus is not None:
            await self.bus.close()
            self.bus = None

    def _mask_chat(self, session: str, text: str) -> str:
        """Chat from a participant on another relay, masked here like a local one's."""
        redaction = self.config.redaction
        if not redaction.enabled:
            return text
        masked, maskings = mask_text(text, redaction.patterns)
        for masking in maskings:
            self.audit.record(
                "secret.masked",
                session=session,
                kind=masking.kind,
                count=masking.count,
                where="text",
            )
        return masked

    async def _serve(self, ssl_context: ssl.SSLContext | None) -> None:
        for record in await self.store.end_sessions_of(
            self.config.node, self.clock(), RESTART_REASON
        ):
            self.audit.record("session.close", session=record.id, reason=RESTART_REASON)
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
            max_queue=READ_AHEAD,
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
        self._health_watch = asyncio.create_task(self.health.watch(), name="health")

    async def _flush_audit_often(self) -> None:
        """Expire what has run out, re-check every connection's credential, and
        checkpoint the audit log (a crash loses ≤ 1 s).

        A failing round is logged and the next one runs: expiry must not stop
        silently because one audit write or one session misbehaved.
        """
        while True:
            await asyncio.sleep(HOUSEKEEPING_INTERVAL)
            try:
                await self._expire(self.clock())
                await self.enforce()
                self._end_unrecordable()
                await self._sweep_edges()
                self.audit.tick()
            except Exception:
                log.exception("housekeeping failed; retrying in %g s", HOUSEKEEPING_INTERVAL)

    async def _expire(self, now: float) -> None:
        expired = await self.store.expire(
            now, requests_before=now - REQUEST_TTL, forget_before=now - identity.CLOCK_SKEW
        )
        for grant in expired.grants:  # reported to one relay, which tells the others
            self.audit.record("access.expire", **grant_fields(grant))
            await self._tell({"e": "expired", "grant": grant.public()})
        for request in expired.requests:
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

    def _end_unrecordable(self) -> None:
        """Fail closed: end each session whose recording waited too long for the bucket."""
        if self.storage is None:
            return
        limit = self.storage.config.max_lag
        for late in self.storage.uploader.overdue():
            live = self.sessions.get(late.session)
            if live is None or live.ended.is_set():
                continue
            reason = (
                f"the recording cannot be stored: {late.lag:.0f} s of it have not reached "
                f"{self.storage.config.s3.url} (the limit is {limit:g} s)"
            )
            if late.error:
                reason += f": {late.error}"
            log.warning("session %s: %s", late.session, reason)
            live.apply(live.core.shutdown(reason[:500], self.clock()))

    def _unavailable(self) -> str | None:
        """Why no session can be opened now (a dependency failing), or None."""
        for name, check in self.checks.items():
            state = check()
            if not state.get("ok"):
                where = f" ({state['where']})" if state.get("where") else ""
                return f"{name}{where}: {state.get('error')}"
        return None

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
        if self._health_watch is not None:
            await cancel(self._health_watch)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for live in list(self.sessions.values()):
            await live.wait_closed()
        await asyncio.gather(*self._forgetting, return_exceptions=True)
        await self._leave_cluster()
        if self._owns_store and self._store is not None:
            await self._store.close()
            self._store = None

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        """Answer ``/healthz`` over plain HTTP on the websocket port.

        ``ok`` (200), or 503 with the failing dependencies, one a line;
        ``/healthz?format=json`` gives every dependency's state as JSON
        (:attr:`checks`; those asked over the network answer from their last
        background check, :mod:`relay.cluster.health`).
        """
        url = urlsplit(request.path)
        if url.path != "/healthz":
            return None
        checks = {name: check() for name, check in self.checks.items()}
        ok = all(state.get("ok") for state in checks.values())
        status = http.HTTPStatus.OK if ok else http.HTTPStatus.SERVICE_UNAVAILABLE
        if parse_qs(url.query).get("format") == ["json"]:
            report = {"ok": ok, "relay": self.config.name, "node": self.config.node}
            body = json.dumps({**report, "checks": checks})
            response = conn.respond(status, body + "\n")
            del response.headers["Content-Type"]  # setting a header adds one
            response.headers["Content-Type"] = "application/json"
            return response
        failing = [
            f"{name}: {state.get('error')}" for name, state in checks.items() if not state.get("ok")
        ]
        return conn.respond(status, "ok\n" if ok else "".join(f"{line}\n" for line in failing))

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
        down = self._unavailable()
        if down is not None:
            raise ProtocolError(
                ErrorCode.UNAVAILABLE,
                f"no new session can be recorded now: {down}",
            )
        now = self.clock()
        session_id = await self._claim_session_id(session_id, target_name, owner, reason, now)
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
            scrollback=self.config.limits.scrollback,
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
            await self.store.end_session(session_id, self.clock(), f"target unavailable: {exc}")
            raise ProtocolError(ErrorCode.TARGET_UNAVAILABLE, str(exc)) from None
        self.sessions[session_id] = live
        live.start(shell)
        if self.bus is not None:  # participants on other relays: through Redis
            from relay.net.home import SessionFeed

            feed = SessionFeed(self.bus, live, self.clock)
            live.peers = feed
            feed.start()
        forgetting = asyncio.get_running_loop().create_task(self._forget_when_ended(live))
        self._forgetting.add(forgetting)
        forgetting.add_done_callback(self._forgetting.discard)
        self.audit.record(
            "session.open", session=session_id, target=target_name, user=owner, reason=reason
        )
        return live

    async def _claim_session_id(
        self, wanted: str | None, target: str, owner: str, reason: str, now: float
    ) -> str:
        """Put the session in the directory under a fresh id (ids are never reused)."""
        for _ in range(1 if wanted else SESSION_ID_ATTEMPTS):
            session_id = wanted or f"{target}-{secrets.token_hex(3)}"
            record = SessionRecord(session_id, target, owner, reason, self.config.node, now)
            try:
                await self.store.add_session(record)
            except Conflict:
                continue
            return session_id
        raise ProtocolError(
            ErrorCode.SESSION_ENDED,
            f"the session id {wanted or target!r} was used before; session ids are never reused",
        )

    async def _forget_when_ended(self, live: LiveSession) -> None:
        """Once a session ends: remember it as ended in the directory, then drop it."""
        await live.ended.wait()
        try:
            await self.store.end_session(
                live.session_id, live.ended_at or self.clock(), live.end_reason or "ended"
            )
        except StoreError:
            log.exception("session %s: could not record its end", live.session_id)
        await live.wait_closed()
        if live.peers is not None:
            await live.peers.finish()  # its last entries (the end) go out to the other relays
        self.sessions.pop(live.session_id, None)

    async def live_session(self, session_id: str) -> Room:
        """The open session ``session_id``, or the right refusal: ended, or unknown.

        In a cluster with Redis, a session another relay is home to is served
        here too (:class:`relay.net.edge.EdgeSession`).
        """
        live = self.sessions.get(session_id)
        if live is not None and not live.ended.is_set():
            return live
        record = await self.store.session(session_id)
        if record is not None and record.ended_at is not None:
            raise ProtocolError(
                ErrorCode.SESSION_ENDED,
                f"the session {session_id!r} has ended: {record.end_reason}",
            )
        if live is not None:  # ended a moment ago; the directory is being told
            raise ProtocolError(
                ErrorCode.SESSION_ENDED,
                f"the session {session_id!r} has ended: {live.end_reason}",
            )
        if record is not None and record.home != self.config.node:
            edge = self.edges.get(record.id)  # followed: its home answered within seconds
            following = edge is not None and not edge.ended.is_set()
            gone = None if following else await self._lost(record)
            if gone is not None:  # its home relay died, and its shell with it
                raise ProtocolError(
                    ErrorCode.SESSION_ENDED, f"the session {session_id!r} has ended: {gone}"
                )
        if record is not None and record.home != self.config.node and self.bus is not None:
            return self._edge(record)
        if record is not None and record.home != self.config.node:
            raise ProtocolError(  # its SSH connection and output are on that relay only
                ErrorCode.NO_SUCH_SESSION,
                f"the session {session_id!r} runs on another relay of this cluster (node "
                f"{record.home!r}); connect to that relay to join it",
            )
        raise ProtocolError(ErrorCode.NO_SUCH_SESSION, f"no open session {session_id!r}")

    async def _lost(self, record: SessionRecord) -> str | None:
        """The end of an open session whose home relay no longer runs, or None while it does.

        The directory learns it here: the first relay to find the home's node
        lock free (:meth:`relay.store.Store.node_running`) writes the end. Free
        twice, :data:`LOST_CONFIRM` apart: a home that lost its lock with its
        database connection (the database restarted) takes it again within a
        round of health checks, and must not be declared dead meanwhile.
        """
        for attempt in range(2):
            if await self.store.node_running(record.home):
                return None
            if attempt == 0:
                await asyncio.sleep(LOST_CONFIRM)
        reason = f"its relay ({record.home}) is gone: the session's shell ran there"
        ended = await self.store.end_session(record.id, self.clock(), reason)
        self.audit.record("session.lost", session=record.id, home=record.home, reason=reason)
        return ended.end_reason if ended is not None and ended.end_reason else reason

    def _edge(self, record: SessionRecord) -> EdgeSession:
        """This relay's proxy for a session held by another relay (one per session)."""
        edge = self.edges.get(record.id)
        if edge is not None and not edge.ended.is_set():
            return edge
        from relay.net.edge import EdgeSession

        assert self.bus is not None and self.outbox is not None
        limits = self.config.limits
        edge = EdgeSession(
            self.bus,
            self.outbox,
            record,
            self.config.node,
            limits.output_buffer,
            limits.scrollback,
            on_end=lambda gone: self._forget_edge(gone),
            lost=lambda: self._lost(record),
        )
        self.edges[record.id] = edge
        return edge

    async def _sweep_edges(self) -> None:
        """Stop following sessions of other relays nobody here has been in for a while."""
        for edge in list(self.edges.values()):
            if edge.idle_for() >= EDGE_IDLE:
                self._forget_edge(edge)
                await edge.close()

    def _forget_edge(self, edge: EdgeSession) -> None:
        if self.edges.get(edge.session_id) is edge:
            del self.edges[edge.session_id]

    async def create_invite(
        self,
        role: Role,
        session: str | None,
        ttl: float,
        name: str,
        *,
        by: str | None = None,
        uses: int | None = None,
    ) -> tuple[InviteRecord, str]:
        """Sign an invite, keep it in the store (its uses are counted there), make its link.

        ``by`` is who asked for it (``None``: the relay's operator, as in the
        demo); ``uses`` caps how many guests may come in with it.
        """
        now = self.clock()
        claims = identity.new_claims(
            "invite", name, role, session, ttl, now, audience=self.config.name, by=by
        )
        record = InviteRecord(claims.jti, role.value, session, name, by, now, claims.exp, uses)
        await self.store.add_invite(record)
        return record, identity.invite_url(self.url, identity.encode(self.signing_key, claims))

    async def invite(
        self, role: Role, session: str | None, ttl: float, name: str, by: str | None = None
    ) -> str:
        """A signed invite link for ``session``, made by ``by`` (``None``: the relay's
        operator, as in the demo)."""
        return (await self.create_invite(role, session, ttl, name, by=by))[1]

    async def issue_token(
        self, subject: str, role: Role, session: str | None, ttl: float, now: float
    ) -> tuple[str, identity.Claims]:
        """A login token for a config user, kept in the store so it can be revoked."""
        claims = identity.new_claims(
            "token", subject, role, session, ttl, now, audience=self.config.name
        )
        await self.store.add_token(TokenRecord(claims.jti, subject, None, now, claims.exp))
        return identity.encode(self.signing_key, claims), claims

    # ------------------------------------------------------------ credentials on every use

    async def reload(self, config: RelayConfig) -> None:
        """Apply a new config at once (SIGHUP): users, roles, targets, limits, TTLs.

        Fields that need a restart (listen address, name, URLs, data dir,
        TLS) keep their old values, and the audit entry says so. Every
        connection is then re-checked: a removed user's, or a demoted lead's,
        connections end.
        """
        old = self.config
        kept = [f for f in RESTART_FIXED if getattr(config, f) != getattr(old, f)]
        config = replace(config, **{f: getattr(old, f) for f in RESTART_FIXED})
        if old.cluster.database is not None:  # the cluster's, checked at start (cluster.settings)
            shared = replace(config.limits, output_buffer=old.limits.output_buffer)
            if config.redaction != old.redaction:
                kept.append("redaction")
            if shared != config.limits:
                kept.append("limits.output_buffer")
            config = replace(config, redaction=old.redaction, limits=shared)
        removed = sorted(set(old.users) - set(config.users))
        changed = sorted(
            name
            for name, user in config.users.items()
            if name in old.users and old.users[name].roles != user.roles
        )
        self.config = config
        self.policy = AccessPolicy(dict(config.max_ttl))
        self.logins.users = set(config.users)
        self.audit.record(
            "config.reload",
            users_removed=", ".join(removed) or None,
            roles_changed=", ".join(changed) or None,
            users=len(config.users),
            targets=len(config.targets),
            needs_restart=", ".join(kept) or None,
        )
        if kept:
            log.warning("config reload: %s change(s) only on restart", ", ".join(kept))
        await self.enforce()

    # ------------------------------------------------------------ access

    # ------------------------------------------------------------ connections

    async def _handle(self, ws: ServerConnection) -> None:
        self._connections += 1
        pid = f"c{self._connections}{self._pid_tag}"
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
                link.close(CloseCode.NORMAL_CLOSURE, "bye")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(writer), 1.0)
            await cancel(writer)


def _address(target: TargetConfig) -> TargetAddress:
    return TargetAddress(
        target.name, target.host, target.port, target.user, target.key, target.known_hosts
    )
