"""The default :class:`relay.store.Store`: one SQLite file under the data dir.

Why stdlib ``sqlite3`` and not ``aiosqlite``: each store method is one
transaction, written here as one plain function that runs start to finish
on the store's own thread (a single-worker executor that owns the
connection). The event loop never waits on the disk, and no transaction is
ever open across an ``await`` — which, with ``aiosqlite``'s statement-per-await
API and one shared connection, two coroutines interleaving would break.

Durability: WAL journal with ``synchronous = FULL``: a committed revocation
survives a power cut, and readers never block the writer. Write transactions
start with ``BEGIN IMMEDIATE`` so that two processes sharing the file (a
relay and an admin tool) queue on the lock instead of failing halfway.

Schema changes are numbered migrations, applied in order at open and
recorded in ``PRAGMA user_version``; a file from a newer warroom is refused
rather than misread.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Awaitable, Callable, Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

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

T = TypeVar("T")

FILE_NAME = "state.db"
BUSY_TIMEOUT_MS = 5000
IN_CHUNK = 500  # ids per IN (...) list; far below SQLite's variable limit

MIGRATIONS: tuple[str, ...] = (
    # 1: grants, access requests, invites, tokens, the session directory
    """
    CREATE TABLE grants (
        id TEXT PRIMARY KEY,
        user_name TEXT NOT NULL,
        role TEXT NOT NULL,
        session TEXT,
        target TEXT,
        expires_at REAL NOT NULL,
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
        at REAL NOT NULL,
        UNIQUE (user_name, role)
    );

    CREATE TABLE invites (
        id TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        session TEXT,
        name TEXT NOT NULL,
        issued_by TEXT,
        issued_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        max_uses INTEGER CHECK (max_uses IS NULL OR max_uses > 0),
        uses INTEGER NOT NULL DEFAULT 0,
        revoked_at REAL,
        revoked_by TEXT
    );
    CREATE INDEX invites_by_issuer ON invites (issued_by);

    CREATE TABLE tokens (
        id TEXT PRIMARY KEY,
        subject TEXT NOT NULL,
        invite TEXT,
        issued_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        revoked_at REAL,
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
        opened_at REAL NOT NULL,
        ended_at REAL,
        end_reason TEXT
    );
    CREATE INDEX sessions_open_by_home ON sessions (home) WHERE ended_at IS NULL;
    """,
)

_GRANT = "id, user_name, role, session, target, expires_at, granted_by, reason"
_REQUEST = "id, user_name, role, session, reason, at"
_INVITE = columns(InviteRecord)
_TOKEN = columns(TokenRecord)
_SESSION = columns(SessionRecord)


class SqliteStore:
    """:class:`relay.store.Store` on one SQLite file; open with :meth:`open`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
        self._conn: sqlite3.Connection | None = None
        self._closed = False

    @classmethod
    async def open(cls, path: Path) -> SqliteStore:
        """Open (creating, mode 0600) and migrate the database at ``path``."""
        store = cls(path)
        try:
            await store._call(store._open)
        except BaseException:
            store._executor.shutdown(wait=False)
            raise
        return store

    async def close(self) -> None:
        if self._closed:
            return
        await self._call(self._close)
        self._closed = True
        self._executor.shutdown(wait=True)

    async def ping(self) -> str:
        def ask(conn: sqlite3.Connection) -> str:
            (version,) = _one(conn.execute("PRAGMA user_version"))
            return f"SQLite {sqlite3.sqlite_version}, schema {version}"

        return await self._read(ask)

    # ------------------------------------------------------------ plumbing

    async def _call(self, fn: Callable[[], T]) -> T:
        if self._closed:
            raise StoreError(f"{self.path}: the store is closed")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._call(lambda: self._transaction(fn, "BEGIN IMMEDIATE"))

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._call(lambda: self._transaction(fn, "BEGIN"))

    def _transaction(self, fn: Callable[[sqlite3.Connection], T], begin: str) -> T:
        """Run ``fn`` in one transaction on the store thread; engine errors become ours."""
        conn = self._conn
        if conn is None:
            raise StoreError(f"{self.path}: the store is closed")
        try:
            conn.execute(begin)
            try:
                result = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.IntegrityError as exc:
            raise Conflict(str(exc)) from None
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {exc}") from None
        return result

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self.path.exists():  # SQLite gives its -wal and -shm files the same mode
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open the state database: {exc}") from None
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            _migrate(conn, self.path)
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(f"{self.path}: not a usable state database: {exc}") from None
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # ------------------------------------------------------------ grants

    async def add_grant(self, grant: Grant) -> None:
        def add(conn: sqlite3.Connection) -> None:
            conn.execute(
                f"INSERT INTO grants ({_GRANT}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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
        def select(conn: sqlite3.Connection) -> list[Grant]:
            query = f"SELECT {_GRANT} FROM grants WHERE expires_at > ?"
            args: tuple[Any, ...] = (now,)
            if user is not None:
                query, args = query + " AND user_name = ?", (now, user)
            return [_grant(row) for row in conn.execute(query + " ORDER BY expires_at, id", args)]

        return await self._read(select)

    async def remove_grants(self, user: str, session: str | None = None) -> list[Grant]:
        def remove(conn: sqlite3.Connection) -> list[Grant]:
            if session is None:
                rows = conn.execute(
                    f"DELETE FROM grants WHERE user_name = ? RETURNING {_GRANT}", (user,)
                )
            else:
                rows = conn.execute(
                    f"DELETE FROM grants WHERE user_name = ? AND session = ? RETURNING {_GRANT}",
                    (user, session),
                )
            return [_grant(row) for row in rows.fetchall()]

        return await self._write(remove)

    # ------------------------------------------------------------ access requests

    async def add_request(self, request: AccessRequest, limit: int) -> None:
        def add(conn: sqlite3.Connection) -> None:
            (pending,) = _one(conn.execute("SELECT count(*) FROM access_requests"))
            if pending >= limit:
                raise LimitReached(f"{pending} access requests are already waiting")
            try:
                conn.execute(
                    f"INSERT INTO access_requests ({_REQUEST}) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        request.id,
                        request.user,
                        request.role,
                        request.session,
                        request.reason,
                        request.at,
                    ),
                )
            except sqlite3.IntegrityError:
                raise Conflict(f"{request.user} already asked for {request.role}") from None

        await self._write(add)

    async def pending_requests(self, user: str | None = None) -> list[AccessRequest]:
        def select(conn: sqlite3.Connection) -> list[AccessRequest]:
            if user is None:
                rows = conn.execute(f"SELECT {_REQUEST} FROM access_requests ORDER BY at, id")
            else:
                rows = conn.execute(
                    f"SELECT {_REQUEST} FROM access_requests WHERE user_name = ? ORDER BY at, id",
                    (user,),
                )
            return [_request(row) for row in rows]

        return await self._read(select)

    async def take_request(self, request_id: str) -> AccessRequest | None:
        def take(conn: sqlite3.Connection) -> AccessRequest | None:
            row = _one(
                conn.execute(
                    f"DELETE FROM access_requests WHERE id = ? RETURNING {_REQUEST}", (request_id,)
                )
            )
            return None if row is None else _request(row)

        return await self._write(take)

    # ------------------------------------------------------------ expiry

    async def expire(self, now: float, requests_before: float, forget_before: float) -> Expired:
        def expire(conn: sqlite3.Connection) -> Expired:
            grants = conn.execute(
                f"DELETE FROM grants WHERE expires_at <= ? RETURNING {_GRANT}", (now,)
            ).fetchall()
            requests = conn.execute(
                f"DELETE FROM access_requests WHERE at < ? RETURNING {_REQUEST}",
                (requests_before,),
            ).fetchall()
            conn.execute("DELETE FROM tokens WHERE expires_at < ?", (forget_before,))
            conn.execute("DELETE FROM invites WHERE expires_at < ?", (forget_before,))
            return Expired(
                sorted((_grant(row) for row in grants), key=lambda g: (g.expires_at, g.id)),
                sorted((_request(row) for row in requests), key=lambda r: (r.at, r.id)),
            )

        return await self._write(expire)

    # ------------------------------------------------------------ invites

    async def add_invite(self, invite: InviteRecord) -> None:
        def add(conn: sqlite3.Connection) -> None:
            conn.execute(insert("invites", InviteRecord, "?"), values(invite))

        await self._write(add)

    async def use_invite(self, invite_id: str, token: TokenRecord) -> InviteRecord:
        def use(conn: sqlite3.Connection) -> InviteRecord:
            # One conditional UPDATE: the limit is checked and the use counted in
            # the same statement, so concurrent uses can never pass max_uses.
            row = _one(
                conn.execute(
                    f"""UPDATE invites SET uses = uses + 1
                        WHERE id = ? AND revoked_at IS NULL
                          AND (max_uses IS NULL OR uses < max_uses)
                        RETURNING {_INVITE}""",
                    (invite_id,),
                )
            )
            if row is None:
                row = _invite_row(conn, invite_id)
                raise refusal(_invite(row) if row is not None else None)
            _insert_token(conn, token)
            return _invite(row)

        return await self._write(use)

    async def invite(self, invite_id: str) -> InviteRecord | None:
        def select(conn: sqlite3.Connection) -> InviteRecord | None:
            row = _invite_row(conn, invite_id)
            return None if row is None else _invite(row)

        return await self._read(select)

    async def live_invites(self, now: float) -> list[InviteRecord]:
        def select(conn: sqlite3.Connection) -> list[InviteRecord]:
            rows = conn.execute(
                f"""SELECT {_INVITE} FROM invites
                    WHERE expires_at > ? AND revoked_at IS NULL
                      AND (max_uses IS NULL OR uses < max_uses)
                    ORDER BY issued_at DESC, id""",
                (now,),
            )
            return [_invite(row) for row in rows]

        return await self._read(select)

    async def revoke_invite(self, invite_id: str, by: str, now: float) -> Revocation:
        def revoke(conn: sqlite3.Connection) -> Revocation:
            if _invite_row(conn, invite_id) is None:
                raise StoreError(f"no invite {invite_id!r} on this relay")
            return _close_invites(conn, [invite_id], by, now, Revocation())

        return await self._write(revoke)

    # ------------------------------------------------------------ tokens

    async def add_token(self, token: TokenRecord) -> None:
        await self._write(lambda conn: _insert_token(conn, token))

    async def tokens(self, token_ids: Collection[str]) -> dict[str, TokenRecord]:
        ids = list(dict.fromkeys(token_ids))

        def select(conn: sqlite3.Connection) -> dict[str, TokenRecord]:
            found: dict[str, TokenRecord] = {}
            for chunk in _chunks(ids):
                marks = ", ".join("?" * len(chunk))
                rows = conn.execute(f"SELECT {_TOKEN} FROM tokens WHERE id IN ({marks})", chunk)
                found.update((row[0], _token(row)) for row in rows)
            return found

        return await self._read(select) if ids else {}

    async def revoke_subject(self, subject: str, by: str, now: float) -> Revocation:
        def revoke(conn: sqlite3.Connection) -> Revocation:
            done = Revocation()
            rows = conn.execute(
                f"""UPDATE tokens SET revoked_at = ?, revoked_by = ?
                    WHERE subject = ? AND revoked_at IS NULL RETURNING {_TOKEN}""",
                (now, by, subject),
            ).fetchall()
            done.tokens.extend(_token(row) for row in rows)
            came_with = [
                row[0]
                for row in conn.execute(
                    "SELECT DISTINCT invite FROM tokens WHERE subject = ? AND invite IS NOT NULL",
                    (subject,),
                )
            ]
            issued = _issued_by(conn, [subject])
            return _close_invites(conn, [*came_with, *issued], by, now, done)

        return await self._write(revoke)

    # ------------------------------------------------------------ sessions

    async def add_session(self, record: SessionRecord) -> None:
        def add(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(insert("sessions", SessionRecord, "?"), values(record))
            except sqlite3.IntegrityError:
                raise Conflict(f"a session {record.id!r} exists already") from None

        await self._write(add)

    async def end_session(self, session_id: str, now: float, reason: str) -> SessionRecord | None:
        def end(conn: sqlite3.Connection) -> SessionRecord | None:
            conn.execute(
                """UPDATE sessions SET ended_at = ?, end_reason = ?
                   WHERE id = ? AND ended_at IS NULL""",
                (now, reason, session_id),
            )
            row = _one(conn.execute(f"SELECT {_SESSION} FROM sessions WHERE id = ?", (session_id,)))
            return None if row is None else _session(row)

        return await self._write(end)

    async def session(self, session_id: str) -> SessionRecord | None:
        def select(conn: sqlite3.Connection) -> SessionRecord | None:
            row = _one(conn.execute(f"SELECT {_SESSION} FROM sessions WHERE id = ?", (session_id,)))
            return None if row is None else _session(row)

        return await self._read(select)

    async def end_sessions_of(self, home: str, now: float, reason: str) -> list[SessionRecord]:
        def end(conn: sqlite3.Connection) -> list[SessionRecord]:
            rows = conn.execute(
                f"""UPDATE sessions SET ended_at = ?, end_reason = ?
                    WHERE home = ? AND ended_at IS NULL RETURNING {_SESSION}""",
                (now, reason, home),
            ).fetchall()
            return sorted((_session(row) for row in rows), key=lambda s: (s.opened_at, s.id))

        return await self._write(end)

    async def announce(self, news: dict[str, Any]) -> None:
        """One relay: nobody else to tell (see :class:`Store`)."""

    async def listen(
        self,
        heard: Callable[[dict[str, Any]], Awaitable[None]],
        ready: asyncio.Event | None = None,
    ) -> None:
        """One relay: nobody else speaks; waits until cancelled."""
        if ready is not None:
            ready.set()
        await asyncio.Event().wait()

    async def node_running(self, node: str) -> bool:
        """One relay's own file: nobody else's sessions are in it (see :class:`Store`)."""
        return True


# ---------------------------------------------------------------- helpers (store thread)


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Bring the schema to the newest version, one numbered migration per transaction."""
    (version,) = _one(conn.execute("PRAGMA user_version"))
    if version > len(MIGRATIONS):
        raise StoreError(
            f"{path} was written by a newer warroom (schema version {version}; this one "
            f"knows up to {len(MIGRATIONS)}): upgrade warroom, or point it at another data dir"
        )
    for number in range(version + 1, len(MIGRATIONS) + 1):
        script = MIGRATIONS[number - 1]
        try:
            conn.executescript(
                f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;"
            )
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


def _one(cursor: sqlite3.Cursor) -> Any:
    """The first row or ``None``, always running the statement to its end.

    A statement left half-read would keep the transaction from committing.
    """
    rows = cursor.fetchall()
    return rows[0] if rows else None


def _chunks(ids: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(ids), IN_CHUNK):
        yield ids[start : start + IN_CHUNK]


def _insert_token(conn: sqlite3.Connection, token: TokenRecord) -> None:
    conn.execute(insert("tokens", TokenRecord, "?"), values(token))


def _invite_row(conn: sqlite3.Connection, invite_id: str) -> Any:
    return _one(conn.execute(f"SELECT {_INVITE} FROM invites WHERE id = ?", (invite_id,)))


def _issued_by(conn: sqlite3.Connection, issuers: list[str]) -> list[str]:
    found: list[str] = []
    for chunk in _chunks(issuers):
        marks = ", ".join("?" * len(chunk))
        found += [
            row[0]
            for row in conn.execute(
                f"SELECT id FROM invites WHERE issued_by IN ({marks}) AND revoked_at IS NULL",
                chunk,
            )
        ]
    return found


def _close_invites(
    conn: sqlite3.Connection, invite_ids: list[str], by: str, now: float, done: Revocation
) -> Revocation:
    """Revoke invites, their guests' tokens, and (transitively) the invites those guests made."""
    seen: set[str] = set()
    queue = list(dict.fromkeys(invite_ids))
    while queue:
        invite_id = queue.pop(0)
        if invite_id in seen:
            continue
        seen.add(invite_id)
        row = _one(
            conn.execute(
                f"""UPDATE invites SET revoked_at = ?, revoked_by = ?
                    WHERE id = ? AND revoked_at IS NULL RETURNING {_INVITE}""",
                (now, by, invite_id),
            )
        )
        if row is not None:
            done.invites.append(_invite(row))
        rows = conn.execute(
            f"""UPDATE tokens SET revoked_at = ?, revoked_by = ?
                WHERE invite = ? AND revoked_at IS NULL RETURNING {_TOKEN}""",
            (now, by, invite_id),
        ).fetchall()
        guests = [_token(row) for row in rows]
        done.tokens.extend(guests)
        queue += _issued_by(conn, sorted({t.subject for t in guests}))
    return done


def _grant(row: Any) -> Grant:
    return Grant(row[0], row[1], parse_grant_role(row[2]), row[3], row[4], row[5], row[6], row[7])


def _request(row: Any) -> AccessRequest:
    return AccessRequest(row[0], row[1], parse_grant_role(row[2]), row[3], row[4], row[5])


def _invite(row: Any) -> InviteRecord:
    return InviteRecord(*row)


def _token(row: Any) -> TokenRecord:
    return TokenRecord(*row)


def _session(row: Any) -> SessionRecord:
    return SessionRecord(*row)
