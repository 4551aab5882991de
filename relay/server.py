"""The relay's network face: websockets in, one task per connection.

A connection goes through three phases, each refusing what does not belong:

1. ``hello`` — the client names the protocol version; the relay answers with
   its name, limits and a fresh nonce for SSH-key challenges;
2. ``auth`` — a token, an invite, or an SSH-key signature of the challenge;
   the relay answers with a short-lived token (or an error, audited, and
   closes);
3. the lobby and the session — listing and opening sessions, joining one,
   and then everything the session core rules on.

Nothing here decides a permission inside a session: those messages go to
:class:`relay.session.Session` through :class:`relay.live.LiveSession`.
Who may open a session or join which one is decided here, from the claims
the relay itself signed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http
import ipaddress
import logging
import secrets
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from relay import identity, protocol
from relay.audit import AuditLog
from relay.config import NAME_PATTERN, RelayConfig, TargetConfig
from relay.connection import ClientLink, cancel
from relay.errors import ErrorCode, ProtocolError
from relay.keys import SigningKey
from relay.live import LiveSession, Recorder
from relay.roles import Role
from relay.session import Limits as SessionLimits
from relay.session import Send, Session, error
from relay.ssh import TargetAddress, TargetShell, TargetUnavailable

log = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT = 10.0
RecorderFactory = Callable[[Session, int, int], Recorder | None]


@dataclass
class Identity:
    """Who is on the other end of a connection, as the relay's own claims say."""

    user: str
    role: Role
    session: str | None  # None: not bound to one session
    expires_at: float
    via: str  # "token", "invite" or "ssh"


def _session_limits(config: RelayConfig) -> SessionLimits:
    limits = config.limits
    return SessionLimits(
        chat_length=limits.chat_length,
        chat_rate=limits.chat_rate,
        chat_window=limits.chat_window,
        participants=limits.clients_per_session,
        input_bytes=limits.max_input,
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
        self.audit = audit
        self.recorder_factory = recorder_factory
        self.clock = clock
        self.sessions: dict[str, LiveSession] = {}
        self._server: Server | None = None
        self._housekeeping: asyncio.Task[None] | None = None
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
        self._server = await serve(
            self._handle,
            self.config.listen_host,
            self.config.listen_port,
            ssl=ssl_context,
            max_size=self.config.limits.max_frame,
            process_request=self._process_request,
            write_limit=64 * 1024,
            # No permessage-deflate: it would compress the same output once per
            # client (50 viewers, 50 zlib streams) on the fan-out hot path.
            compression=None,
        )
        self._housekeeping = asyncio.create_task(self._flush_audit_often())

    async def _flush_audit_often(self) -> None:
        """Checkpoint the audit log while idle, so a crash loses at most a second."""
        while True:
            await asyncio.sleep(0.5)
            self.audit.tick()

    @property
    def port(self) -> int:
        assert self._server is not None
        sockname = next(iter(self._server.sockets)).getsockname()
        return int(sockname[1])

    @property
    def url(self) -> str:
        host = self.config.listen_host
        host = f"[{host}]" if ":" in host else host
        return f"{'wss' if self.config.tls else 'ws'}://{host}:{self.port}"

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
        )
        recorder = self.recorder_factory(core, cols, rows) if self.recorder_factory else None
        live = LiveSession(
            core, self.audit, self.config.limits.output_buffer, recorder, cols, rows, self.clock
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

    def invite(self, role: Role, session: str | None, ttl: float, name: str) -> str:
        """A signed invite link for ``session`` (the lead's ``warroom invite``)."""
        credential = identity.issue(
            self.signing_key, "invite", name, role, session, ttl, self.clock()
        )
        return identity.invite_url(self.config.public_url or self.url, credential)

    # ------------------------------------------------------------ connections

    async def _handle(self, ws: ServerConnection) -> None:
        self._connections += 1
        pid = f"c{self._connections}"
        link = ClientLink(
            ws, pid, self.config.limits.stall_timeout, self.config.limits.control_queue
        )
        writer = asyncio.create_task(link.run(), name=f"writer-{pid}")
        conn = _Conversation(self, ws, link)
        try:
            await conn.run()
        except ConnectionClosed:
            pass
        finally:
            conn.leave("disconnected")
            if not writer.done():
                link.close(1000, "bye")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(writer), 1.0)
            await cancel(writer)


def _address(target: TargetConfig) -> TargetAddress:
    return TargetAddress(
        target.name, target.host, target.port, target.user, target.key, target.known_hosts
    )


class _Conversation:
    """One connection's state machine: hello → auth → lobby ⇄ session."""

    def __init__(self, relay: Relay, ws: ServerConnection, link: ClientLink) -> None:
        self.relay = relay
        self.ws = ws
        self.link = link
        self.pid = link.pid
        self.nonce = secrets.token_bytes(32)
        self.who: Identity | None = None
        self.live: LiveSession | None = None
        self.peer = str(ws.remote_address[0]) if ws.remote_address else "?"

    def send_error(self, code: ErrorCode, message: str, **extra: Any) -> None:
        self.link.send_json(error(code, message, **extra))

    def refuse(self, code: ErrorCode, message: str) -> None:
        """Send the error and close: for refusals the connection cannot recover from."""
        self.send_error(code, message)
        self.link.close(1008, f"{code}: {message}")

    async def run(self) -> None:
        if not await self._hello():
            return
        if not await self._authenticate():
            return
        async for frame in self.ws:
            if isinstance(frame, bytes):
                self._input(frame)
            else:
                self._message(frame)

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
        try:
            self.who, token = self._check_credentials(message, now)
        except identity.AuthError as exc:
            self.relay.audit.record(
                "auth.failed",
                method=message["method"],
                code=exc.code,
                peer=self.peer,
                user=message.get("user") or message.get("name"),
            )
            self.refuse(ErrorCode.AUTH_FAILED, exc.message)
            return False
        self.relay.audit.record(
            "auth.ok",
            user=self.who.user,
            role=self.who.role.value,
            method=self.who.via,
            session=self.who.session,
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

    def _check_credentials(self, message: dict[str, Any], now: float) -> tuple[Identity, str]:
        relay = self.relay
        method = message["method"]
        if method == "token":
            claims = identity.verify(relay.verify_key, _need(message, "token"), now, typ="token")
            via = "invite" if claims.inv else "token"
            return Identity(claims.sub, claims.role, claims.ses, claims.exp, via), message["token"]
        if method == "invite":
            claims = identity.verify(relay.verify_key, _need(message, "invite"), now, typ="invite")
            if claims.ses is not None and claims.ses not in relay.sessions:
                raise identity.AuthError(
                    "wrong_session", f"the session {claims.ses!r} of this invite is not open"
                )
            name = self._guest_name(message.get("name"), claims.sub)
            ttl = min(claims.exp - now, relay.config.token_ttl)
            token = identity.issue(
                relay.signing_key,
                "token",
                name,
                claims.role,
                claims.ses,
                ttl,
                now,
                invite=claims.jti,
            )
            return Identity(name, claims.role, claims.ses, now + ttl, "invite"), token
        if method == "ssh":
            return self._check_ssh_key(message, now)
        raise identity.AuthError("malformed", f"unknown auth method {method!r}")

    def _guest_name(self, requested: str | None, default: str) -> str:
        """An invited guest's name: what they asked for, unless it is odd or a real user's."""
        if (
            requested
            and NAME_PATTERN.fullmatch(requested)
            and requested not in self.relay.config.users
        ):
            return requested
        return default

    def _check_ssh_key(self, message: dict[str, Any], now: float) -> tuple[Identity, str]:
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
        ttl = relay.config.token_ttl
        token = identity.issue(relay.signing_key, "token", name, role, None, ttl, now)
        return Identity(name, role, None, now + ttl, "ssh"), token

    # ------------------------------------------------------------ phase 3

    def _message(self, text: str) -> None:
        try:
            message = protocol.parse_client_text(text)
            self._dispatch(message)
        except ProtocolError as exc:
            self.send_error(exc.code, exc.message)
            if exc.code is ErrorCode.BAD_FRAME:
                self.relay.audit.record(
                    "protocol.error", user=self._user(), code=exc.code.value, message=exc.message
                )

    def _user(self) -> str | None:
        return self.who.user if self.who else None

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind in ("hello", "auth"):
            raise ProtocolError(ErrorCode.UNEXPECTED, f"{kind} was already done")
        if kind == "list_sessions":
            self.link.send_json(self._lobby())
        elif kind == "open":
            asyncio.get_running_loop().create_task(self._open(message))
        elif kind == "join":
            self._join(message)
        elif kind == "leave":
            self.leave("left")
        else:
            self._session_message(kind, message)

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
        if not message["reason"].strip():
            self.send_error(ErrorCode.REASON_REQUIRED, "say why you open this session", ref="open")
            return
        try:
            live = await self.relay.open_session(
                message["target"], self.who.user, message["reason"].strip()
            )
        except ProtocolError as exc:
            self.send_error(exc.code, exc.message, ref="open")
            return
        self.link.send_json({"type": "opened", "session": live.session_id})

    def _join(self, message: dict[str, Any]) -> None:
        assert self.who is not None
        if self.live is not None:
            raise ProtocolError(ErrorCode.ALREADY_JOINED, "leave the current session first")
        session_id = message["session"]
        live = self.relay.sessions.get(session_id)
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
        if live is None or live.ended.is_set():
            raise ProtocolError(ErrorCode.NO_SUCH_SESSION, f"no open session {session_id!r}")
        actions = live.core.join(
            self.pid,
            self.who.user,
            self.who.role,
            self.relay.clock(),
            self.who.expires_at,
            message.get("cols", 80),
            message.get("rows", 24),
        )
        if self.pid not in live.core.participants:  # refused: tell this client only
            for action in actions:
                if isinstance(action, Send) and action.to == self.pid:
                    self.link.send_json(action.message)
            return
        self.live = live
        live.add_link(self.link, message.get("offset"))
        live.apply(actions)

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
                actions = core.request_control(self.pid, message["reason"], now)
            case "grant":
                actions = core.grant(self.pid, message["id"], now)
            case "deny":
                actions = core.deny(self.pid, message["id"], message.get("reason", ""), now)
            case "release":
                actions = core.release(self.pid, now)
            case "take":
                actions = core.take(self.pid, now)
            case "chat":
                actions = core.chat(self.pid, message["text"], now)
            case "end":
                actions = core.end(self.pid, message.get("reason", ""), now)
            case _:
                raise ProtocolError(ErrorCode.BAD_FRAME, f"unhandled message type {kind!r}")
        live.apply(actions)

    def _input(self, frame: bytes) -> None:
        try:
            data = protocol.parse_client_binary(frame)
        except ProtocolError as exc:
            self.send_error(exc.code, exc.message)
            return
        if self.live is None:
            self.send_error(ErrorCode.NO_SUCH_SESSION, "input: join a session first")
            return
        self.live.apply(self.live.core.input(self.pid, data, self.relay.clock()))


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
