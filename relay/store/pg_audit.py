"""The audit log's cluster-wide copy, and its witness, in the cluster's PostgreSQL database.

Each relay keeps its own hash-chained audit files under its data dir: they are
the evidence (:mod:`relay.evidence.audit`), and stay so. With ``[cluster] database``
a relay also writes

* every audit event to ``audit_events`` (with its node, file and line
  number), so that ``warroom audit --database URL`` lists and filters the
  events of every relay of the cluster in one place, and
* every witness record — each audit file's start, checkpoints and seal
  (:mod:`relay.evidence.witness`) — to ``audit_witness``, so that ``warroom audit
  --verify --witness URL`` names an audit file that was deleted or cut back,
  as a syslog export does, without one.

:class:`PostgresAudit` is both the :class:`relay.evidence.witness.Witness` and the
:class:`relay.evidence.audit.AuditCopy` the audit log is given. ``record()`` runs on
the relay's event loop and must never wait for a database, so records go into
a bounded queue that a thread of its own writes, in order, in batches, with a
blocking connection. While the database is unreachable, records wait (up to
:data:`MAX_QUEUED`) and are written when it is back; past that they are
dropped and counted, and ``/healthz`` says so. The files still hold every
event: a gap in the copy can cost the cluster-wide view, never evidence. A
record the database refuses as such (not for being unreachable) is dropped
alone, so that it cannot block the ones behind it.

Reading (:func:`read_events`, :func:`read_witness`, :func:`witness_starts`)
is for the command line, with the same blocking API.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from relay.evidence.witness import WitnessRecord
from relay.store import StoreError
from relay.store.pg_database import (
    SyncConn,
    check_schema_sync,
    connect_sync,
    reason,
    redact,
)

log = logging.getLogger(__name__)

MAX_QUEUED = 100_000  # records waiting for the database (~100 MB at worst) before drops
BATCH = 500  # records per transaction
CONNECT_TIMEOUT = 3.0  # seconds per connection attempt from the copy's thread
RETRY_FIRST = 0.1  # seconds between attempts while the database is away, doubling ...
RETRY_MAX = 5.0  # ... up to this
CLOSE_TIMEOUT = 5.0  # seconds close() waits for the queue to be written
FETCH = 1000  # rows per round trip when reading

_EVENT_COLUMNS = "node, relay, file, n, t, event, user_name, by_name, session, data"
_WITNESS_COLUMNS = "node, relay, log, file, n, hash, seal, t"


@dataclass(frozen=True)
class _Event:
    file: str
    n: int
    event: dict[str, Any]


_Item = _Event | WitnessRecord


class PostgresAudit:
    """Copies one relay's audit events and witness records into the database (module doc)."""

    def __init__(self, dsn: str, node: str, relay: str, *, max_queued: int = MAX_QUEUED) -> None:
        self.dsn = dsn
        self.where = redact(dsn)
        self.node = node
        self.relay = relay  # the relay's public key, as in its audit files
        self.written = 0
        self.dropped = 0
        self._max_queued = max_queued
        self._pending: deque[_Item] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._problem: str | None = None
        self._thread = threading.Thread(target=self._run, name="audit-copy", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ the relay's side

    def witness(self, record: WitnessRecord) -> None:
        """:class:`relay.evidence.witness.Witness`: keep a checkpoint's state (never blocks)."""
        self._put(record)

    def copy(self, file: str, n: int, event: dict[str, Any]) -> None:
        """:class:`relay.evidence.audit.AuditCopy`: copy line ``n`` of ``file`` (never blocks)."""
        self._put(_Event(file, n, event))

    def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Write what waits (for at most ``timeout`` seconds), then stop."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout)
        if self._thread.is_alive():
            with self._cond:
                left = len(self._pending)
            log.warning("audit copy %s: %d record(s) not written at close", self.where, left)

    async def check(self) -> str:
        """For ``/healthz``: how the copy stands; raises while it cannot write."""
        with self._cond:
            waiting, problem, written, dropped = (
                len(self._pending),
                self._problem,
                self.written,
                self.dropped,
            )
        lost = f", {dropped} dropped" if dropped else ""
        if problem is not None:
            raise StoreError(f"{problem} ({waiting} record(s) waiting{lost})")
        return f"{written} record(s) copied, {waiting} waiting{lost}"

    def _put(self, item: _Item) -> None:
        with self._cond:
            if self._closing or len(self._pending) >= self._max_queued:
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 1000 == 0:
                    log.warning(
                        "audit copy %s: %d record(s) dropped (the database is away and %d wait)",
                        self.where,
                        self.dropped,
                        len(self._pending),
                    )
                return
            self._pending.append(item)
            self._cond.notify()

    # ------------------------------------------------------------ the thread

    def _run(self) -> None:
        conn: SyncConn | None = None
        delay = RETRY_FIRST
        while True:
            with self._cond:
                while not self._pending and not self._closing:
                    self._cond.wait()
                if not self._pending:
                    break
                batch = [self._pending[i] for i in range(min(BATCH, len(self._pending)))]
            try:
                if conn is None:
                    conn = connect_sync(self.dsn, timeout=CONNECT_TIMEOUT)
                    check_schema_sync(conn, self.where)
                written = self._write(conn, batch)
            except (psycopg.Error, StoreError) as exc:
                if conn is not None:
                    conn.close()
                    conn = None
                with self._cond:
                    self._problem = str(exc) if isinstance(exc, StoreError) else reason(exc)
                    if self._closing:  # no one waits any longer; the files hold it all
                        self.dropped += len(self._pending)
                        self._pending.clear()
                        break
                    self._cond.wait(delay)
                delay = min(delay * 2, RETRY_MAX)
                continue
            delay = RETRY_FIRST
            with self._cond:
                for _ in batch:
                    self._pending.popleft()
                self.written += written
                self.dropped += len(batch) - written
                self._problem = None
        if conn is not None:
            conn.close()

    def _write(self, conn: SyncConn, batch: list[_Item]) -> int:
        """Write ``batch`` in one transaction; if the database refuses a record as such,
        write them one by one and leave that one out. Returns how many were kept."""
        try:
            with conn.transaction():
                self._insert(conn, batch)
            return len(batch)
        except (psycopg.DataError, psycopg.IntegrityError):
            pass
        kept = 0
        for item in batch:
            try:
                with conn.transaction():
                    self._insert(conn, [item])
                kept += 1
            except (psycopg.DataError, psycopg.IntegrityError) as exc:
                log.warning("audit copy %s: a record was refused: %s", self.where, reason(exc))
        return kept

    def _insert(self, conn: SyncConn, items: list[_Item]) -> None:
        events = [self._event_row(i) for i in items if isinstance(i, _Event)]
        records = [self._witness_row(i) for i in items if isinstance(i, WitnessRecord)]
        with conn.cursor() as cursor:
            if events:
                cursor.executemany(
                    f"INSERT INTO audit_events ({_EVENT_COLUMNS}) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    events,
                )
            if records:
                cursor.executemany(
                    f"INSERT INTO audit_witness ({_WITNESS_COLUMNS}) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    records,
                )

    def _event_row(self, item: _Event) -> tuple[Any, ...]:
        event = _text_safe(item.event)
        t = event.get("t")
        return (
            self.node,
            self.relay,
            item.file,
            item.n,
            float(t) if isinstance(t, int | float) and not isinstance(t, bool) else 0.0,
            str(event.get("event", "?")),
            _str_or_none(event.get("user")),
            _str_or_none(event.get("by")),
            _str_or_none(event.get("session")),
            Jsonb(event),
        )

    def _witness_row(self, record: WitnessRecord) -> tuple[Any, ...]:
        return (
            self.node,
            record.relay,
            record.log,
            record.file,
            record.n,
            record.hash,
            record.seal,
            record.t,
        )


def _text_safe(value: Any) -> Any:
    """PostgreSQL text and jsonb hold no NUL character: the copy shows U+FFFD instead
    (the audit file keeps the original)."""
    if isinstance(value, str):
        return value.replace("\0", "\ufffd")
    if isinstance(value, dict):
        return {_text_safe(k): _text_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_text_safe(v) for v in value]
    return value


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# ---------------------------------------------------------------- reading (command line)


def open_for_reading(dsn: str) -> SyncConn:
    """A connection to a database that relays have written; :class:`StoreError` if not."""
    conn = connect_sync(dsn)
    try:
        check_schema_sync(conn, redact(dsn))
    except BaseException:
        conn.close()
        raise
    return conn


def read_events(
    conn: SyncConn,
    *,
    user: str | None = None,
    session: str | None = None,
    since: float | None = None,
) -> Iterator[dict[str, Any]]:
    """Every copied event of every relay, oldest first, each with its ``node``.

    ``user`` matches the event's ``user`` or ``by`` (as ``warroom audit``
    does on files); the filters run in the database, on its indexes.
    """
    where: list[str] = []
    args: list[Any] = []
    if user is not None:
        where.append("(user_name = %s OR by_name = %s)")
        args += [user, user]
    if session is not None:
        where.append("session = %s")
        args.append(session)
    if since is not None:
        where.append("t >= %s")
        args.append(since)
    query = "SELECT node, data FROM audit_events"
    if where:
        query += " WHERE " + " AND ".join(where)
    query += " ORDER BY t, node, file, n"
    try:
        with conn.transaction(), conn.cursor(name="warroom_audit_events") as cursor:
            cursor.itersize = FETCH
            cursor.execute(query, args)
            for node, data in cursor:
                yield {**data, "node": node} if isinstance(data, dict) else {"node": node}
    except psycopg.Error as exc:
        raise StoreError(f"cannot read the audit copy: {reason(exc)}") from None


def read_witness(conn: SyncConn, node: str) -> list[WitnessRecord]:
    """The witness records of one relay (``node``), in the order they were written."""
    try:
        rows = conn.execute(
            "SELECT relay, log, file, n, hash, seal, t FROM audit_witness "
            "WHERE node = %s ORDER BY id",
            (node,),
        ).fetchall()
    except psycopg.Error as exc:
        raise StoreError(f"cannot read the witness records: {reason(exc)}") from None
    return [WitnessRecord(r[0], r[1], r[2], int(r[3]), r[4], bool(r[5]), float(r[6])) for r in rows]


def witness_starts(conn: SyncConn) -> dict[str, set[str]]:
    """For each node, the chain hashes its audit files started with (``n`` 0).

    A file's start hash binds its header (file name, key, start time, link),
    so it tells which node's records describe a given data directory.
    """
    starts: dict[str, set[str]] = {}
    try:
        for node, hash_ in conn.execute(
            "SELECT DISTINCT node, hash FROM audit_witness WHERE log = 'audit' AND n = 0"
        ):
            starts.setdefault(node, set()).add(hash_)
        for (node,) in conn.execute("SELECT DISTINCT node FROM audit_witness"):
            starts.setdefault(node, set())
    except psycopg.Error as exc:
        raise StoreError(f"cannot read the witness records: {reason(exc)}") from None
    return starts
