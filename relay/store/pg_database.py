"""Reaching the cluster's PostgreSQL database, and the schema warroom keeps there.

Shared by the relay's state (:mod:`relay.store.postgres`), the audit log's
cluster-wide copy and witness (:mod:`relay.store.pg_audit`) and ``warroom
audit --database``: connection strings (checked when the config is read,
never shown with their password), errors worded for people, and the schema.

Schema
------
Numbered migrations, as for SQLite, recorded in ``warroom_schema``; each is
applied in its own transaction under an advisory lock, so relays starting
together migrate once, and a database from a newer warroom is refused rather
than misread. The tables live in the first schema of the connection's
``search_path``: give warroom a database (or a schema,
``?options=-csearch_path%3Dwarroom``) of its own.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.conninfo import conninfo_to_dict

from relay.store import StoreError

AsyncConn = AsyncConnection[tuple[Any, ...]]
SyncConn = psycopg.Connection[tuple[Any, ...]]

SCHEMES = ("postgresql://", "postgres://")
CONNECT_TIMEOUT = 10.0  # seconds to reach the server at start (and per new connection)
MIGRATION_LOCK = 0x7761_7272_6F6F_6D01  # advisory lock key: "warroom" + 1
SCHEMA_VERSION_QUERY = "SELECT max(version) FROM warroom_schema"

MIGRATIONS: tuple[str, ...] = (
    # 1: relay state (as in SQLite's migration 1), and the audit log's copy and witness
    """
    CREATE TABLE grants (
        id TEXT PRIMARY KEY,
        user_name TEXT NOT NULL,
        role TEXT NOT NULL,
        session TEXT,
        target TEXT,
        expires_at DOUBLE PRECISION NOT NULL,
        granted_by TEXT NOT NULL,
        reason TEXT NOT NULL
    );
    CREATE INDEX grants_by_user ON grants (user_name);
    CREATE INDEX grants_by_expiry ON grants (expires_at);

    CREATE TABLE access_requests (
        id TEXT PRIMARY KEY,
        user_name TEXT NOT NULL,
        role TEXT NOT NULL,
        session TEXT,
        reason TEXT NOT NULL,
        at DOUBLE PRECISION NOT NULL,
        UNIQUE (user_name, role)
    );

    CREATE TABLE invites (
        id TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        session TEXT,
        name TEXT NOT NULL,
        issued_by TEXT,
        issued_at DOUBLE PRECISION NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL,
        max_uses INTEGER CHECK (max_uses IS NULL OR max_uses > 0),
        uses INTEGER NOT NULL DEFAULT 0,
        revoked_at DOUBLE PRECISION,
        revoked_by TEXT
    );
    CREATE INDEX invites_by_issuer ON invites (issued_by);

    CREATE TABLE tokens (
        id TEXT PRIMARY KEY,
        subject TEXT NOT NULL,
        invite TEXT,
        issued_at DOUBLE PRECISION NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL,
        revoked_at DOUBLE PRECISION,
        revoked_by TEXT
    );
    CREATE INDEX tokens_by_subject ON tokens (subject);
    CREATE INDEX tokens_by_invite ON tokens (invite);

    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        target TEXT NOT NULL,
        owner TEXT NOT NULL,
        reason TEXT NOT NULL,
        home TEXT NOT NULL,
        opened_at DOUBLE PRECISION NOT NULL,
        ended_at DOUBLE PRECISION,
        end_reason TEXT
    );
    CREATE INDEX sessions_open_by_home ON sessions (home) WHERE ended_at IS NULL;

    CREATE TABLE audit_events (
        node TEXT NOT NULL,
        relay TEXT NOT NULL,
        file TEXT NOT NULL,
        n BIGINT NOT NULL,
        t DOUBLE PRECISION NOT NULL,
        event TEXT NOT NULL,
        user_name TEXT,
        by_name TEXT,
        session TEXT,
        data JSONB NOT NULL,
        PRIMARY KEY (node, file, n)
    );
    CREATE INDEX audit_events_by_time ON audit_events (t);
    CREATE INDEX audit_events_by_user ON audit_events (user_name, t);
    CREATE INDEX audit_events_by_by ON audit_events (by_name, t);
    CREATE INDEX audit_events_by_session ON audit_events (session, t);

    CREATE TABLE audit_witness (
        id BIGSERIAL PRIMARY KEY,
        node TEXT NOT NULL,
        relay TEXT NOT NULL,
        log TEXT NOT NULL,
        file TEXT NOT NULL,
        n BIGINT NOT NULL,
        hash TEXT NOT NULL,
        seal BOOLEAN NOT NULL,
        t DOUBLE PRECISION NOT NULL,
        UNIQUE (node, log, file, n, hash, seal)
    );
    CREATE INDEX audit_witness_by_node ON audit_witness (node, id);
    """,
    # 2: the cluster's signing key, public half only (relay/cluster/signing.py says why)
    """
    CREATE TABLE cluster_key (
        one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
        public_key TEXT NOT NULL,
        node TEXT NOT NULL,
        added_at DOUBLE PRECISION NOT NULL
    );
    """,
    # 3: the settings every relay must share (relay/cluster/settings.py says which and why)
    """
    CREATE TABLE cluster_settings (
        one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
        fingerprint TEXT NOT NULL,
        settings JSONB NOT NULL,
        node TEXT NOT NULL,
        added_at DOUBLE PRECISION NOT NULL
    );
    """,
)

# ---------------------------------------------------------------- connection strings


def check_dsn(text: str) -> str:
    """``text`` if it is a ``postgresql://`` URL libpq can parse; else ``ValueError`` saying why."""
    if not text.startswith(SCHEMES):
        raise ValueError(f"expected a postgresql:// URL, got {redact(text)!r}")
    try:
        conninfo_to_dict(text)
    except psycopg.ProgrammingError as exc:
        raise ValueError(f"not a usable postgresql:// URL: {exc}") from None
    return text


def redact(dsn: str) -> str:
    """The connection string for people and logs: everything but a password."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", dsn)
    host = str(params.get("host") or "local socket")
    port = f":{params['port']}" if params.get("port") else ""
    user = f"{params['user']}@" if params.get("user") else ""
    database = params.get("dbname") or params.get("user") or ""
    return f"postgresql://{user}{host}{port}/{database}"


def reason(exc: BaseException) -> str:
    """psycopg's message on one line, without libpq's hints and repeated prefixes."""
    text = " ".join(str(exc).split())
    text = re.sub(r"\s*Is the server running.*$", "", text)
    return text.removeprefix("connection failed: ") or type(exc).__name__


def unreachable(where: str, exc: BaseException) -> StoreError:
    return StoreError(f"cannot reach the state database {where}: {reason(exc)}")


async def connect(dsn: str, *, timeout: float = CONNECT_TIMEOUT, **kwargs: Any) -> AsyncConn:
    """One autocommit connection, or :class:`StoreError` saying why there is none."""
    where = redact(dsn)
    try:
        async with asyncio.timeout(timeout + 1):
            conn: AsyncConn = await AsyncConnection.connect(
                dsn, autocommit=True, connect_timeout=max(1, round(timeout)), **kwargs
            )
    except (psycopg.Error, OSError, TimeoutError) as exc:
        raise unreachable(where, exc) from None
    return conn


# ---------------------------------------------------------------- migrations


async def migrate(conn: AsyncConn, where: str) -> int:
    """Bring the schema to the newest version; return it. Refuses a newer database."""
    while True:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            await conn.execute("CREATE TABLE IF NOT EXISTS warroom_schema (version INTEGER)")
            rows = await (await conn.execute("SELECT version FROM warroom_schema")).fetchall()
            version = int(rows[0][0]) if rows else 0
            if version > len(MIGRATIONS):
                raise StoreError(
                    f"the state database {where} was written by a newer warroom (schema "
                    f"version {version}; this one knows up to {len(MIGRATIONS)}): upgrade "
                    "warroom, or point it at another database"
                )
            if version == len(MIGRATIONS):
                return version
            await conn.execute(MIGRATIONS[version])
            if rows:
                await conn.execute("UPDATE warroom_schema SET version = %s", (version + 1,))
            else:
                await conn.execute("INSERT INTO warroom_schema VALUES (%s)", (version + 1,))


def connect_sync(dsn: str, *, timeout: float = CONNECT_TIMEOUT, **kwargs: Any) -> SyncConn:
    """The blocking twin of :func:`connect`, for threads and the command line."""
    try:
        conn: SyncConn = psycopg.connect(
            dsn, autocommit=True, connect_timeout=max(1, round(timeout)), **kwargs
        )
    except psycopg.Error as exc:
        raise unreachable(redact(dsn), exc) from None
    return conn


def check_schema_sync(conn: SyncConn, where: str) -> int:
    """The schema version of a database a relay migrated; :class:`StoreError` if unusable."""
    try:
        row = conn.execute(SCHEMA_VERSION_QUERY).fetchone()
    except psycopg.errors.UndefinedTable:
        raise StoreError(
            f"{where} holds no warroom state: no relay with [cluster] database has used it yet"
        ) from None
    except psycopg.Error as exc:
        raise StoreError(f"the state database {where}: {reason(exc)}") from None
    version = int(row[0]) if row is not None and row[0] is not None else 0
    if version > len(MIGRATIONS):
        raise StoreError(
            f"the state database {where} was written by a newer warroom (schema version "
            f"{version}; this one knows up to {len(MIGRATIONS)}): upgrade warroom"
        )
    return version
