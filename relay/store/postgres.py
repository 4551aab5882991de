"""The :class:`relay.store.Store` on PostgreSQL: the state several relays share.

``[cluster] database = "postgresql://…"`` in ``relay.toml`` puts grants,
requests, invites, tokens and the session directory here instead of in
``<data-dir>/state.db``, so that every relay of a cluster sees the same ones:
an invite used up on one relay is used up on all, a revocation made through
one reaches connections on every other (each relay re-checks its connections'
tokens every half second, :meth:`relay.net.server.Relay.enforce`).

Why psycopg 3 and not asyncpg
-----------------------------
* It is typed (``py.typed``): ``mypy --strict`` checks our calls into it;
  asyncpg ships no annotations.
* One library has both an asyncio and a blocking API with the same
  semantics: the store runs on the event loop, while the audit log's copy and
  witness (:mod:`relay.store.pg_audit`) write from a thread of their own, and
  ``warroom audit --database`` reads, without an event loop.
* Its pool (``psycopg_pool``, same maintainers) checks a connection before
  lending it and replaces broken ones, so a relay rides out a database restart.
* The binary wheel brings its own libpq: nothing to install on a relay host.

asyncpg is faster per query, but the store's queries are few and small (a
token check per message, a grant now and then): the network round trip
dominates, not the driver.

Relays racing
-------------
Every write method is one ``SERIALIZABLE`` transaction, retried (with
jittered backoff) when PostgreSQL reports a serialization failure or a
deadlock. Serializable transactions behave as if they ran one after another —
the guarantee a single relay gets from SQLite's ``BEGIN IMMEDIATE`` — so every
rule of :mod:`relay.store` holds across relays without a lock per rule: an
invite's uses never pass its limit, a request is taken by one decider, an
expired grant is reported to one relay, a session id is opened once, and the
relay-wide bound on pending requests is exact. Reads are single statements
(each sees one snapshot) and run outside any transaction.

The node lock
-------------
A relay restarting ends the sessions it held (:meth:`end_sessions_of` with
its node id, ``[cluster] node``). Two relays configured with the same node id
would end each other's sessions, so a store opened with ``node`` holds a
PostgreSQL advisory lock named after it on a connection of its own, for as
long as the relay runs; a second relay with the same id is refused at start.
The lock goes with its connection: a relay that dies releases it at once, and
a host that vanishes within about half a minute (the connection's TCP
keepalives are set short). :meth:`ping` (``/healthz``) takes it again after
the database came back.

The connection strings, the schema and its migrations are in
:mod:`relay.store.pg_database`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import random
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from psycopg import IsolationLevel, errors
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from relay.core.access import AccessRequest, Grant, parse_grant_role
from relay.store import (
    Conflict,
    Expired,
    InviteRecord,
    LimitReached,
    Revocation,
    SessionRecord,
    StoreError,
    TokenRecord,
    columns,
    insert,
    refusal,
    values,
)
from relay.store.pg_database import (
    CONNECT_TIMEOUT,
    SCHEMA_VERSION_QUERY,
    AsyncConn,
    connect,
    migrate,
    reason,
    redact,
    unreachable,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
Conn = AsyncConn

POOL_TIMEOUT = 5.0  # seconds a store call waits for a connection before it fails
PING_WAIT = 0.5  # seconds /healthz's check waits for a pooled connection, then for its own
POOL_SIZE = 4  # connections per relay: a few calls in flight; more only queue on locks
WRITE_ATTEMPTS = 30  # serialization failures retried; 40 guests racing for one invite fit
RETRY_FIRST = 0.002  # seconds: backoff doubles from here ...
RETRY_MAX = 0.1  # ... up to here, jittered
NEWS_CHANNEL = "warroom_news"  # relay.net.access_desk: decisions other relays carry out
NEWS_RETRY = 1.0  # seconds between attempts to listen again
NODE_KEEPALIVE = {"keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}

_GRANT = "id, user_name, role, session, target, expires_at, granted_by, reason"
_REQUEST = "id, user_name, role, session, reason, at"
_INVITE = columns(InviteRecord)
_TOKEN = columns(TokenRecord)
_SESSION = columns(SessionRecord)


def node_lock_key(node: str) -> int:
    """The advisory lock that says a relay with this node id is running (signed 64-bit)."""
    digest = hashlib.sha256(b"warroom-node\0" + node.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@dataclass(frozen=True)
class ClusterSettings:
    """The settings every relay of the cluster must share, as the first relay registered
    them (:mod:`relay.cluster.settings`)."""

    fingerprint: str
    settings: dict[str, Any]
    node: str  # the relay that registered them
    added_at: float


_SETTINGS = "fingerprint, settings, node, added_at"


@dataclass(frozen=True)
class ClusterKey:
    """The cluster's public signing key as the database holds it (never the private
    key: :mod:`relay.cluster.signing` says why)."""

    public_key: str  # warroom-ed25519:<base64>
    node: str  # the relay that registered it
    added_at: float


# ---------------------------------------------------------------- the store


class PostgresStore:
    """:class:`relay.store.Store` on PostgreSQL; open with :meth:`open`."""

    def __init__(self, dsn: str, pool: AsyncConnectionPool[Conn], node: str | None) -> None:
        self.dsn = dsn
        self.where = redact(dsn)
        self.node = node
        self._pool = pool
        self._node_conn: Conn | None = None
        self._closed = False

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        node: str | None = None,
        pool_size: int = POOL_SIZE,
        timeout: float = CONNECT_TIMEOUT,
    ) -> PostgresStore:
        """Connect, migrate, and (with ``node``) take the node lock; :class:`StoreError`
        if the database cannot be reached or used, or another relay runs as ``node``."""
        where = redact(dsn)
        name = f"warroom {node}" if node else "warroom"
        conn = await connect(dsn, timeout=timeout, application_name=name[:63])
        try:
            try:
                await migrate(conn, where)
            except psycopg.Error as exc:
                raise StoreError(
                    f"the state database {where} is not usable: {reason(exc)}"
                ) from None
        finally:
            await conn.close()
        pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            dsn,
            min_size=1,
            max_size=pool_size,
            open=False,
            kwargs={
                "autocommit": True,
                "connect_timeout": max(1, round(timeout)),
                "application_name": name[:63],
            },
            configure=_configure,
            check=AsyncConnectionPool.check_connection,
            timeout=POOL_TIMEOUT,
            name="warroom-store",
        )
        try:
            await pool.open(wait=True, timeout=timeout)
        except psycopg.Error as exc:
            await pool.close()
            raise unreachable(where, exc) from None
        store = cls(dsn, pool, node)
        try:
            await store._hold_node()
        except BaseException:
            await store.close()
            raise
        return store

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._node_conn is not None:
            await self._node_conn.close()
            self._node_conn = None
        await self._pool.close()

    async def ping(self) -> str:
        """Ask the server (and hold the node lock again after an outage); describe it.

        Quick to fail, and saying why: while the server is away the pool has
        no connection to lend and would only report, after
        :data:`POOL_TIMEOUT`, that it had none; so after :data:`PING_WAIT`
        one connection attempt of its own asks the server and raises libpq's
        reason (refused, timed out, authentication). A success names no
        address; a failure names the database without its password, so that
        an operator reading ``/healthz`` knows which one is away.
        """
        self._check_open()
        query = f"SELECT current_setting('server_version'), ({SCHEMA_VERSION_QUERY})"
        try:
            async with self._pool.connection(timeout=PING_WAIT) as conn:
                rows = await (await conn.execute(query)).fetchall()
        except psycopg.Error as exc:
            if not isinstance(exc, PoolTimeout):
                raise self._error(exc) from None
            probe = await connect(self.dsn, timeout=PING_WAIT)  # raises, saying why
            try:
                rows = await (await probe.execute(query)).fetchall()
            except psycopg.Error as exc:
                raise self._error(exc) from None
            finally:
                await probe.close()
        await self._hold_node()
        version, schema = rows[0]
        return f"PostgreSQL {version}, schema {schema}"

    async def _hold_node(self) -> None:
        """Take (or check we still hold) the advisory lock of our node id."""
        if self.node is None:
            return
        if self._node_conn is not None:
            try:  # a connection the server dropped looks open until it is used
                await self._node_conn.execute("SELECT 1")
                return
            except psycopg.Error:
                await self._node_conn.close()
                self._node_conn = None
        conn = await connect(
            self.dsn, application_name=f"warroom {self.node} (node lock)"[:63], **NODE_KEEPALIVE
        )
        try:
            cursor = await conn.execute(
                "SELECT pg_try_advisory_lock(%s)", (node_lock_key(self.node),)
            )
            row = await cursor.fetchone()
        except psycopg.Error as exc:
            await conn.close()
            raise unreachable(self.where, exc) from None
        if row is None or not row[0]:
            await conn.close()
            raise StoreError(
                f"another relay is running as node {self.node!r} on the state database "
                f"{self.where} (or was until moments ago): give each relay its own "
                "[cluster] node"
            )
        self._node_conn = conn

    # ------------------------------------------------------------ the cluster's key

    async def cluster_key(self) -> ClusterKey | None:
        """The cluster's public signing key (:mod:`relay.cluster.signing`), if registered."""
        rows = await self._read("SELECT public_key, node, added_at FROM cluster_key", ())
        return ClusterKey(*rows[0]) if rows else None

    async def register_key(self, public_key: str, node: str, now: float) -> ClusterKey:
        """Make ``public_key`` the cluster's unless one is registered; return the cluster's.

        Serializable: of relays registering together, one key wins and all see it."""

        async def register(conn: Conn) -> ClusterKey:
            await conn.execute(
                "INSERT INTO cluster_key (public_key, node, added_at) VALUES (%s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                (public_key, node, now),
            )
            rows = await _all(conn, "SELECT public_key, node, added_at FROM cluster_key", ())
            return ClusterKey(*rows[0])

        return await self._write(register)

    # ------------------------------------------------------------ settings shared by all

    async def register_settings(
        self, fingerprint: str, settings: dict[str, Any], node: str, now: float
    ) -> ClusterSettings:
        """Make ``settings`` the cluster's unless some are registered; return the cluster's.

        Serializable, like :meth:`register_key`: of relays starting together on
        a new database, one relay's settings win and all see them."""

        async def register(conn: Conn) -> ClusterSettings:
            await conn.execute(
                "INSERT INTO cluster_settings (fingerprint, settings, node, added_at) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (fingerprint, Jsonb(settings), node, now),
            )
            rows = await _all(conn, f"SELECT {_SETTINGS} FROM cluster_settings", ())
            return ClusterSettings(*rows[0])

        return await self._write(register)

    # ------------------------------------------------------------ news between relays

    async def announce(self, news: dict[str, Any]) -> None:
        """``NOTIFY`` every relay listening on this database (:meth:`listen`).

        Sent after the decision was stored, so a relay told of it finds it in
        the tables; the payload is plain JSON, under PostgreSQL's 8000 bytes
        (reasons are at most 500 characters)."""
        await self._read("SELECT pg_notify(%s, %s)", (NEWS_CHANNEL, json.dumps(news)))

    async def listen(
        self,
        heard: Callable[[dict[str, Any]], Awaitable[None]],
        ready: asyncio.Event | None = None,
    ) -> None:
        """``LISTEN`` on a connection of its own, handing each notification to ``heard``;
        reconnects after a failure (news sent meanwhile are lost), until cancelled.

        Why PostgreSQL and not Redis pub/sub: the decisions are stored here,
        a cluster may run without Redis (every participant on the session's
        home) and still needs them, and ``NOTIFY`` reaches every listener
        in the order the decisions were told."""
        failing = False
        while True:
            conn: Conn | None = None
            try:
                conn = await connect(
                    self.dsn,
                    application_name=f"warroom {self.node or ''} (news)"[:63],
                    **NODE_KEEPALIVE,
                )
                await conn.execute(f"LISTEN {NEWS_CHANNEL}")
                if ready is not None:
                    ready.set()
                if failing:
                    log.warning("news from the other relays: listening again")
                failing = False
                async for notice in conn.notifies():
                    try:
                        news = json.loads(notice.payload)
                    except ValueError:
                        log.warning("news: not JSON: %r", notice.payload[:200])
                        continue
                    try:
                        await heard(news)
                    except Exception:  # one bad piece of news never stops the others
                        log.exception("news: handling %r failed", news.get("e"))
            except (psycopg.Error, StoreError) as exc:
                if not failing:  # once per outage: /healthz says the rest
                    log.warning("news from the other relays: %s; retrying every second", exc)
                failing = True
            finally:
                if conn is not None:
                    with contextlib.suppress(psycopg.Error):
                        await conn.close()
            await asyncio.sleep(NEWS_RETRY)

    # ------------------------------------------------------------ which relays run

    async def node_running(self, node: str) -> bool:
        """Whether a relay runs as ``node`` now: whether its node lock is held.

        The lock lives as long as that relay's connection: a relay that dies
        loses it at once (its socket closes), one whose host vanishes within
        about half a minute (:data:`NODE_KEEPALIVE`). It is read from
        ``pg_locks``, never taken, so asking cannot stop that relay from
        starting. Raises :class:`StoreError` when the database does not answer.
        """
        key = node_lock_key(node) & 0xFFFF_FFFF_FFFF_FFFF  # pg_locks shows it as two oids
        rows = await self._read(
            """SELECT count(*) FROM pg_locks
               WHERE locktype = 'advisory' AND granted AND objsubid = 1
                 AND classid = %s::bigint::oid AND objid = %s::bigint::oid
                 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())""",
            (key >> 32, key & 0xFFFF_FFFF),
        )
        return bool(rows and rows[0][0])

    # ------------------------------------------------------------ plumbing

    async def _read(self, query: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """One statement outside a transaction (it sees one snapshot)."""
        self._check_open()
        try:
            async with self._pool.connection() as conn:
                cursor = await conn.execute(query, args)
                return await cursor.fetchall()
        except psycopg.Error as exc:
            raise self._error(exc) from None

    async def _write(self, fn: Callable[[Conn], Awaitable[T]]) -> T:
        """Run ``fn`` in one serializable transaction, retried on serialization failures."""
        self._check_open()
        delay = RETRY_FIRST
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                async with self._pool.connection() as conn, conn.transaction():
                    return await fn(conn)
            except (errors.SerializationFailure, errors.DeadlockDetected) as exc:
                if attempt == WRITE_ATTEMPTS:
                    raise StoreError(
                        f"the state database {self.where} kept refusing a transaction "
                        f"({attempt} attempts): {reason(exc)}"
                    ) from None
            except psycopg.IntegrityError as exc:
                raise Conflict(reason(exc)) from None
            except psycopg.Error as exc:
                raise self._error(exc) from None
            await asyncio.sleep(random.uniform(0, delay))
            delay = min(delay * 2, RETRY_MAX)
        raise AssertionError("unreachable")  # pragma: no cover

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"{self.where}: the store is closed")

    def _error(self, exc: psycopg.Error) -> StoreError:
        if isinstance(exc, psycopg.OperationalError):
            return unreachable(self.where, exc)
        return StoreError(f"the state database {self.where}: {reason(exc)}")

    # ------------------------------------------------------------ grants

    async def add_grant(self, grant: Grant) -> None:
        async def add(conn: Conn) -> None:
            await conn.execute(
                f"INSERT INTO grants ({_GRANT}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    grant.id,
                    grant.user,
                    grant.role,
                    grant.session,
                    grant.target,
                    grant.expires_at,
                    grant.granted_by,
                    grant.reason,
                ),
            )

        await self._write(add)

    async def active_grants(self, now: float, user: str | None = None) -> list[Grant]:
        query = f"SELECT {_GRANT} FROM grants WHERE expires_at > %s"
        args: tuple[Any, ...] = (now,)
        if user is not None:
            query, args = query + " AND user_name = %s", (now, user)
        return [_grant(row) for row in await self._read(query + " ORDER BY expires_at, id", args)]

    async def remove_grants(self, user: str, session: str | None = None) -> list[Grant]:
        async def remove(conn: Conn) -> list[Grant]:
            query = "DELETE FROM grants WHERE user_name = %s"
            args: tuple[str, ...] = (user,)
            if session is not None:
                query, args = query + " AND session = %s", (user, session)
            rows = await _all(conn, f"{query} RETURNING {_GRANT}", args)
            return sorted((_grant(row) for row in rows), key=lambda g: (g.expires_at, g.id))

        return await self._write(remove)

    # ------------------------------------------------------------ access requests

    async def add_request(self, request: AccessRequest, limit: int) -> None:
        async def add(conn: Conn) -> None:
            ((pending,),) = await _all(conn, "SELECT count(*) FROM access_requests", ())
            if pending >= limit:
                raise LimitReached(f"{pending} access requests are already waiting")
            try:
                await conn.execute(
                    f"INSERT INTO access_requests ({_REQUEST}) VALUES (%s, %s, %s, %s, %s, %s)",
                    (
                        request.id,
                        request.user,
                        request.role,
                        request.session,
                        request.reason,
                        request.at,
                    ),
                )
            except errors.UniqueViolation:
                raise Conflict(f"{request.user} already asked for {request.role}") from None

        await self._write(add)

    async def pending_requests(self, user: str | None = None) -> list[AccessRequest]:
        if user is None:
            rows = await self._read(f"SELECT {_REQUEST} FROM access_requests ORDER BY at, id", ())
        else:
            rows = await self._read(
                f"SELECT {_REQUEST} FROM access_requests WHERE user_name = %s ORDER BY at, id",
                (user,),
            )
        return [_request(row) for row in rows]

    async def take_request(self, request_id: str) -> AccessRequest | None:
        async def take(conn: Conn) -> AccessRequest | None:
            rows = await _all(
                conn,
                f"DELETE FROM access_requests WHERE id = %s RETURNING {_REQUEST}",
                (request_id,),
            )
            return _request(rows[0]) if rows else None

        return await self._write(take)

    # ------------------------------------------------------------ expiry

    async def expire(self, now: float, requests_before: float, forget_before: float) -> Expired:
        async def expire(conn: Conn) -> Expired:
            grants = await _all(
                conn, f"DELETE FROM grants WHERE expires_at <= %s RETURNING {_GRANT}", (now,)
            )
            requests = await _all(
                conn,
                f"DELETE FROM access_requests WHERE at < %s RETURNING {_REQUEST}",
                (requests_before,),
            )
            await conn.execute("DELETE FROM tokens WHERE expires_at < %s", (forget_before,))
            await conn.execute("DELETE FROM invites WHERE expires_at < %s", (forget_before,))
            return Expired(
                sorted((_grant(row) for row in grants), key=lambda g: (g.expires_at, g.id)),
                sorted((_request(row) for row in requests), key=lambda r: (r.at, r.id)),
            )

        return await self._write(expire)

    # ------------------------------------------------------------ invites

    async def add_invite(self, invite: InviteRecord) -> None:
        async def add(conn: Conn) -> None:
            await conn.execute(insert("invites", InviteRecord, "%s"), values(invite))

        await self._write(add)

    async def use_invite(self, invite_id: str, token: TokenRecord) -> InviteRecord:
        async def use(conn: Conn) -> InviteRecord:
            rows = await _all(
                conn,
                f"""UPDATE invites SET uses = uses + 1
                    WHERE id = %s AND revoked_at IS NULL
                      AND (max_uses IS NULL OR uses < max_uses)
                    RETURNING {_INVITE}""",
                (invite_id,),
            )
            if not rows:
                row = await _invite_row(conn, invite_id)
                raise refusal(_invite(row) if row is not None else None)
            await _insert_token(conn, token)
            return _invite(rows[0])

        return await self._write(use)

    async def invite(self, invite_id: str) -> InviteRecord | None:
        rows = await self._read(f"SELECT {_INVITE} FROM invites WHERE id = %s", (invite_id,))
        return _invite(rows[0]) if rows else None

    async def live_invites(self, now: float) -> list[InviteRecord]:
        rows = await self._read(
            f"""SELECT {_INVITE} FROM invites
                WHERE expires_at > %s AND revoked_at IS NULL
                  AND (max_uses IS NULL OR uses < max_uses)
                ORDER BY issued_at DESC, id""",
            (now,),
        )
        return [_invite(row) for row in rows]

    async def revoke_invite(self, invite_id: str, by: str, now: float) -> Revocation:
        async def revoke(conn: Conn) -> Revocation:
            if await _invite_row(conn, invite_id) is None:
                raise StoreError(f"no invite {invite_id!r} on this relay")
            return await _close_invites(conn, [invite_id], by, now, Revocation())

        return await self._write(revoke)

    # ------------------------------------------------------------ tokens

    async def add_token(self, token: TokenRecord) -> None:
        await self._write(lambda conn: _insert_token(conn, token))

    async def tokens(self, token_ids: Collection[str]) -> dict[str, TokenRecord]:
        ids = list(dict.fromkeys(token_ids))
        if not ids:
            return {}
        rows = await self._read(f"SELECT {_TOKEN} FROM tokens WHERE id = ANY(%s)", (ids,))
        return {row[0]: _token(row) for row in rows}

    async def revoke_subject(self, subject: str, by: str, now: float) -> Revocation:
        async def revoke(conn: Conn) -> Revocation:
            done = Revocation()
            rows = await _all(
                conn,
                f"""UPDATE tokens SET revoked_at = %s, revoked_by = %s
                    WHERE subject = %s AND revoked_at IS NULL RETURNING {_TOKEN}""",
                (now, by, subject),
            )
            done.tokens.extend(sorted((_token(row) for row in rows), key=lambda t: t.id))
            came_with = await _all(
                conn,
                """SELECT DISTINCT invite FROM tokens
                   WHERE subject = %s AND invite IS NOT NULL ORDER BY invite""",
                (subject,),
            )
            issued = await _issued_by(conn, [subject])
            return await _close_invites(conn, [row[0] for row in came_with] + issued, by, now, done)

        return await self._write(revoke)

    # ------------------------------------------------------------ sessions

    async def add_session(self, record: SessionRecord) -> None:
        async def add(conn: Conn) -> None:
            try:
                await conn.execute(insert("sessions", SessionRecord, "%s"), values(record))
            except errors.UniqueViolation:
                raise Conflict(f"a session {record.id!r} exists already") from None

        await self._write(add)

    async def end_session(self, session_id: str, now: float, reason: str) -> SessionRecord | None:
        async def end(conn: Conn) -> SessionRecord | None:
            await conn.execute(
                """UPDATE sessions SET ended_at = %s, end_reason = %s
                   WHERE id = %s AND ended_at IS NULL""",
                (now, reason, session_id),
            )
            rows = await _all(conn, f"SELECT {_SESSION} FROM sessions WHERE id = %s", (session_id,))
            return _session(rows[0]) if rows else None

        return await self._write(end)

    async def session(self, session_id: str) -> SessionRecord | None:
        rows = await self._read(f"SELECT {_SESSION} FROM sessions WHERE id = %s", (session_id,))
        return _session(rows[0]) if rows else None

    async def end_sessions_of(self, home: str, now: float, reason: str) -> list[SessionRecord]:
        async def end(conn: Conn) -> list[SessionRecord]:
            rows = await _all(
                conn,
                f"""UPDATE sessions SET ended_at = %s, end_reason = %s
                    WHERE home = %s AND ended_at IS NULL RETURNING {_SESSION}""",
                (now, reason, home),
            )
            return sorted((_session(row) for row in rows), key=lambda s: (s.opened_at, s.id))

        return await self._write(end)


# ---------------------------------------------------------------- helpers (in a transaction)


async def _configure(conn: Conn) -> None:
    """Every pooled connection's transactions are serializable (module docstring)."""
    await conn.set_isolation_level(IsolationLevel.SERIALIZABLE)


async def _all(conn: Conn, query: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    cursor = await conn.execute(query, args)
    return await cursor.fetchall()


async def _insert_token(conn: Conn, token: TokenRecord) -> None:
    await conn.execute(insert("tokens", TokenRecord, "%s"), values(token))


async def _invite_row(conn: Conn, invite_id: str) -> tuple[Any, ...] | None:
    rows = await _all(conn, f"SELECT {_INVITE} FROM invites WHERE id = %s", (invite_id,))
    return rows[0] if rows else None


async def _issued_by(conn: Conn, issuers: list[str]) -> list[str]:
    if not issuers:
        return []
    rows = await _all(
        conn,
        "SELECT id FROM invites WHERE issued_by = ANY(%s) AND revoked_at IS NULL ORDER BY id",
        (issuers,),
    )
    return [row[0] for row in rows]


async def _close_invites(
    conn: Conn, invite_ids: list[str], by: str, now: float, done: Revocation
) -> Revocation:
    """Revoke invites, their guests' tokens, and (transitively) the invites those guests made."""
    seen: set[str] = set()
    queue = list(dict.fromkeys(invite_ids))
    while queue:
        invite_id = queue.pop(0)
        if invite_id in seen:
            continue
        seen.add(invite_id)
        rows = await _all(
            conn,
            f"""UPDATE invites SET revoked_at = %s, revoked_by = %s
                WHERE id = %s AND revoked_at IS NULL RETURNING {_INVITE}""",
            (now, by, invite_id),
        )
        done.invites.extend(_invite(row) for row in rows)
        rows = await _all(
            conn,
            f"""UPDATE tokens SET revoked_at = %s, revoked_by = %s
                WHERE invite = %s AND revoked_at IS NULL RETURNING {_TOKEN}""",
            (now, by, invite_id),
        )
        guests = sorted((_token(row) for row in rows), key=lambda t: t.id)
        done.tokens.extend(guests)
        queue += await _issued_by(conn, sorted({t.subject for t in guests}))
    return done


def _grant(row: tuple[Any, ...]) -> Grant:
    return Grant(row[0], row[1], parse_grant_role(row[2]), row[3], row[4], row[5], row[6], row[7])


def _request(row: tuple[Any, ...]) -> AccessRequest:
    return AccessRequest(row[0], row[1], parse_grant_role(row[2]), row[3], row[4], row[5])


def _invite(row: tuple[Any, ...]) -> InviteRecord:
    return InviteRecord(*row)


def _token(row: tuple[Any, ...]) -> TokenRecord:
    return TokenRecord(*row)


def _session(row: tuple[Any, ...]) -> SessionRecord:
    return SessionRecord(*row)
