"""What only the PostgreSQL store has: its schema, its node lock, a server that goes away.

The contract every store keeps is in ``tests/relay/store/test_store.py`` (run there on
PostgreSQL too); these tests cover the rest against a real server.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import psycopg
import pytest

from relay.store import StoreError, TokenRecord
from relay.store.pg_database import MIGRATIONS, check_dsn, redact
from relay.store.postgres import PostgresStore
from tests.postgres import PostgresServer, server_or_skip


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_a_fresh_database_is_migrated_once_by_relays_starting_together(
    postgres_dsn: str,
) -> None:
    stores = await asyncio.gather(*(PostgresStore.open(postgres_dsn) for _ in range(3)))
    try:
        with psycopg.connect(postgres_dsn) as conn:
            rows = conn.execute("SELECT version FROM warroom_schema").fetchall()
        assert rows == [(len(MIGRATIONS),)]
        assert f"schema {len(MIGRATIONS)}" in await stores[0].ping()
    finally:
        for store in stores:
            await store.close()


async def test_a_database_from_a_newer_warroom_is_refused_not_misread(postgres_dsn: str) -> None:
    await (await PostgresStore.open(postgres_dsn)).close()
    with psycopg.connect(postgres_dsn) as conn:
        conn.execute("UPDATE warroom_schema SET version = %s", (len(MIGRATIONS) + 1,))
    with pytest.raises(StoreError, match="newer warroom"):
        await PostgresStore.open(postgres_dsn)


async def test_an_unreachable_server_is_a_clear_error_without_the_password() -> None:
    dsn = f"postgresql://warroom:hunter2@127.0.0.1:{closed_port()}/warroom"
    with pytest.raises(StoreError) as refused:
        await PostgresStore.open(dsn, timeout=2)
    message = str(refused.value)
    assert message.startswith("cannot reach the state database postgresql://warroom@127.0.0.1:")
    assert "refused" in message.lower() and "hunter2" not in message


async def test_ping_says_which_server_and_schema(postgres_dsn: str) -> None:
    store = await PostgresStore.open(postgres_dsn)
    try:
        described = await store.ping()
    finally:
        await store.close()
    assert described.startswith("PostgreSQL 1") and "127.0.0.1" not in described
    assert described.endswith(f"schema {len(MIGRATIONS)}")


async def test_two_relays_cannot_run_as_the_same_node(postgres_dsn: str) -> None:
    first = await PostgresStore.open(postgres_dsn, node="relay-a")
    other = await PostgresStore.open(postgres_dsn, node="relay-b")
    try:
        with pytest.raises(StoreError, match="another relay is running as node 'relay-a'"):
            await PostgresStore.open(postgres_dsn, node="relay-a")
    finally:
        await first.close()
        await other.close()
    again = await PostgresStore.open(postgres_dsn, node="relay-a")  # released with its relay
    await again.close()


async def test_a_closed_store_refuses_calls(postgres_dsn: str) -> None:
    store = await PostgresStore.open(postgres_dsn)
    await store.close()
    with pytest.raises(StoreError, match="closed"):
        await store.session("s1")


@pytest.fixture
def own_server() -> Iterator[PostgresServer]:
    """A server of this test's own, which it may stop and start."""
    server = server_or_skip()
    try:
        yield server
    finally:
        server.remove()


async def test_the_store_rides_out_a_database_restart(own_server: PostgresServer) -> None:
    """While the server is down every call fails with the reason (no hang, no wrong answer);
    once it is back the same store works again and holds its node lock again."""
    dsn = own_server.dsn()
    store = await PostgresStore.open(dsn, node="relay-a")
    try:
        await store.add_token(TokenRecord("t1", "alice", None, 1000.0, 2000.0))
        await asyncio.to_thread(own_server.stop)
        with pytest.raises(StoreError, match="cannot reach the state database"):
            await store.tokens(["t1"])
        with pytest.raises(StoreError, match="cannot reach the state database"):
            await store.ping()
        await asyncio.to_thread(own_server.start)
        async with asyncio.timeout(30):
            while True:
                try:
                    await store.ping()
                    break
                except StoreError:
                    await asyncio.sleep(0.2)
        assert set(await store.tokens(["t1"])) == {"t1"}
        with pytest.raises(StoreError, match="another relay is running as node 'relay-a'"):
            await PostgresStore.open(dsn, node="relay-a")
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("mysql://warroom@db/warroom", "expected a postgresql:// URL"),
        ("warroom@db/warroom", "expected a postgresql:// URL"),
        ("postgresql://[bad", "not a usable postgresql:// URL"),
    ],
)
def test_a_connection_string_is_checked_before_use(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        check_dsn(text)


def test_a_connection_string_is_shown_without_its_password() -> None:
    assert check_dsn("postgres://db/warroom") == "postgres://db/warroom"
    shown = redact("postgresql://warroom:s3cret@10.0.0.8:5433/warroom?sslmode=require")
    assert shown == "postgresql://warroom@10.0.0.8:5433/warroom"
    assert "s3cret" not in redact("postgresql://warroom:s3cret@[bad")
