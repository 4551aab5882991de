"""The audit log's copy in PostgreSQL keeps up, waits out an outage, and never blocks.

Against a real server (:mod:`tests.postgres`); the relay-level tests (``warroom
audit --database``, the witness finding a deleted file) are in
``tests/relay/cluster/test_cluster_postgres.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from relay.evidence.audit import AuditLog, read_events
from relay.store import StoreError
from relay.store.pg_audit import PostgresAudit, open_for_reading, read_witness
from relay.store.postgres import PostgresStore
from relay.trust.keys import SigningKey
from tests.postgres import PostgresServer, server_or_skip


async def migrated(dsn: str) -> None:
    await (await PostgresStore.open(dsn)).close()


def count(dsn: str, table: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0


async def until(predicate: Callable[[], bool], timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


async def test_every_event_and_checkpoint_reaches_the_database_as_in_the_file(
    tmp_path: Path, postgres_dsn: str
) -> None:
    await migrated(postgres_dsn)
    key = SigningKey.generate()
    copy = PostgresAudit(postgres_dsn, "relay-a", key.public.text())
    audit = AuditLog(tmp_path / "audit", key, witness=copy, copy=copy)
    audit.record("auth.ok", user="bob", reason="nul\0inside")
    audit.record("control.grant", user="carol", by="alice", session="s1")
    audit.close("test finished")
    await asyncio.to_thread(copy.close)
    assert copy.dropped == 0

    with open_for_reading(postgres_dsn) as conn:
        rows = conn.execute(
            "SELECT file, n, event, user_name, by_name, session, data FROM audit_events ORDER BY n"
        ).fetchall()
        witnessed = read_witness(conn, "relay-a")
    events = list(read_events(tmp_path / "audit"))
    assert [r[1] for r in rows] == [1, 2] and {r[0] for r in rows} == {audit.path.name}
    assert [r[2:6] for r in rows] == [
        ("auth.ok", "bob", None, None),
        ("control.grant", "carol", "alice", "s1"),
    ]
    assert rows[0][6] == {**events[0], "reason": "nul\ufffdinside"}  # no NUL in PostgreSQL
    assert rows[1][6] == events[1]
    assert (witnessed[0].n, witnessed[0].seal) == (0, False)
    assert witnessed[-1].seal and witnessed[-1].n == 2
    assert {w.relay for w in witnessed} == {key.public.text()}


async def test_a_record_the_database_refuses_does_not_hold_back_the_others(
    postgres_dsn: str,
) -> None:
    await migrated(postgres_dsn)
    copy = PostgresAudit(postgres_dsn, "relay-a", "key")
    copy.copy("audit-1.log", 1, {"t": 1.0, "event": "a"})
    copy.copy("audit-1.log", 2, {"t": 2.0, "event": "b", "x": float("nan")})  # not JSON
    copy.copy("audit-1.log", 3, {"t": 3.0, "event": "c"})
    await asyncio.to_thread(copy.close)
    assert (copy.written, copy.dropped) == (2, 1)
    with psycopg.connect(postgres_dsn) as conn:
        rows = conn.execute("SELECT n FROM audit_events ORDER BY n").fetchall()
    assert rows == [(1,), (3,)]


@pytest.fixture
def own_server() -> Iterator[PostgresServer]:
    server = server_or_skip()
    try:
        yield server
    finally:
        server.remove()


async def test_records_wait_out_an_outage_and_only_a_full_queue_drops(
    own_server: PostgresServer,
) -> None:
    dsn = own_server.dsn()
    await migrated(dsn)
    copy = PostgresAudit(dsn, "relay-a", "key", max_queued=5)
    try:
        copy.copy("audit-1.log", 1, {"t": 1.0, "event": "before"})
        await until(lambda: copy.written == 1)
        assert (await copy.check()).startswith("1 record(s) copied")

        await asyncio.to_thread(own_server.stop)
        for n in range(2, 10):  # 8 events, room for 5: the caller never waits
            copy.copy("audit-1.log", n, {"t": float(n), "event": "during"})
        assert copy.dropped == 3

        async def failing() -> bool:
            try:
                await copy.check()
            except StoreError as exc:
                return "5 record(s) waiting, 3 dropped" in str(exc)
            return False

        async with asyncio.timeout(30):
            while not await failing():
                await asyncio.sleep(0.05)

        await asyncio.to_thread(own_server.start)
        await until(lambda: copy.written == 6)
        assert (await copy.check()).startswith("6 record(s) copied, 0 waiting, 3 dropped")
    finally:
        await asyncio.to_thread(copy.close)
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT n FROM audit_events ORDER BY n").fetchall()
    assert rows == [(n,) for n in range(1, 7)]  # in order, the first that fit
