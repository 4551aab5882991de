"""Relays of a cluster sharing one PostgreSQL database, over real websockets.

Every relay here is real (its own port, data dir and sandbox target); they
share ``relay.name`` and a signing key, as the relays of a cluster do, and
differ in their ``[cluster] node``. The database is a real PostgreSQL
(:mod:`tests.postgres`), a fresh one per test.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import asyncssh
import psycopg
import pytest

from relay.config import ClusterConfig
from relay.evidence.audit import audit_files, read_events
from relay.net.server import RESTART_REASON
from relay.storage.config import StorageConfig
from relay.store import SessionRecord
from relay.store.postgres import PostgresStore
from relay.trust.keys import SigningKey
from tests.harness import Harness, read_until, running_relay
from tests.postgres import PostgresServer
from tests.s3 import MotoServer
from tests.tools import stop
from tui.cli import main
from tui.client import RelayClient, RelayError

WARROOM = [sys.executable, "-m", "tui.cli"]


@asynccontextmanager
async def cluster(
    tmp: Path, dsn: str, *nodes: str, storage: StorageConfig | None = None
) -> AsyncIterator[list[Harness]]:
    """One relay per node on ``dsn``: one name, one key set, the same users and keys
    (and one bucket, with ``storage``)."""
    signing = SigningKey.load_or_create(tmp / "cluster-keys")
    relays: list[Harness] = []
    async with AsyncExitStack() as stack:
        for node in nodes:
            (tmp / node).mkdir(exist_ok=True)
            relays.append(
                await stack.enter_async_context(
                    running_relay(
                        tmp / node,
                        name="prod-relay",
                        cluster=ClusterConfig(database=dsn, node=node),
                        signing=signing,
                        user_keys=relays[0].user_keys if relays else None,
                        storage=storage,
                    )
                )
            )
        yield relays


async def cut_off(client: RelayClient) -> RelayError:
    with pytest.raises(RelayError) as info:
        await client.expect("never", timeout=10)
    return info.value


async def healthz(port: int, query: str = "?format=json") -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /healthz{query} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    length = int(
        next(h for h in head.split("\r\n") if h.lower().startswith("content-length:"))[15:]
    )
    body = (await reader.readexactly(length)).decode()
    writer.close()
    return int(head.split()[1]), body


# ---------------------------------------------------------------- state shared


async def test_a_revoke_through_one_relay_ends_the_users_connection_on_another(
    tmp_path: Path, postgres_dsn: str
) -> None:
    async with cluster(tmp_path, postgres_dsn, "relay-a", "relay-b") as (a, b):
        session = await b.open()
        lead = await b.joined("alice", session)
        bob = await b.joined("bob", session)  # bob's token was issued by relay b
        admin_lead = await a.login("alice")  # a lead on relay a

        await admin_lead.send({"type": "access_revoke", "user": "bob"})
        reply = await admin_lead.expect("access_revoked")
        assert reply["tokens"] == 1  # relay a found the token relay b issued

        gone = await cut_off(bob)  # relay b's own check found the revocation
        assert (gone.code, gone.message) == (
            "auth_failed",
            "your access was revoked by alice; sign in again with `warroom login` if you still may",
        )
        await lead.send_input(b"echo STILL-$((40+2))\r")
        await read_until(lead, b"STILL-42")


async def test_tokens_and_invites_of_one_relay_hold_on_every_relay(
    tmp_path: Path, postgres_dsn: str
) -> None:
    async with cluster(tmp_path, postgres_dsn, "relay-a", "relay-b") as (a, b):
        session = await a.open()
        alice = await a.joined("alice", session)
        token = alice.identity["token"]
        on_b = await b.client()
        assert (await on_b.auth_token(token))["user"] == "alice"  # one key set, one audience

        await alice.send(
            {"type": "invite", "role": "viewer", "session": session, "ttl": 600, "uses": 1}
        )
        made = await alice.expect("invite")
        guest = await a.client()
        await guest.auth_invite(made["url"].rsplit("/", 1)[1], "dave")
        await guest.join(session)

        lead_on_b = await b.login("alice")  # the invite is in the shared state, not relay a's
        await lead_on_b.send({"type": "invite_revoke", "id": made["id"]})
        assert (await lead_on_b.expect("invite_revoked"))["tokens"] == 1
        gone = await cut_off(guest)
        assert gone.message.startswith("your access was revoked by alice")


async def test_joining_a_session_another_relay_holds_names_that_relay(
    tmp_path: Path, postgres_dsn: str
) -> None:
    async with cluster(tmp_path, postgres_dsn, "relay-a", "relay-b") as (a, b):
        session = await a.open()
        bob = await b.login("bob")
        with pytest.raises(RelayError) as refused:
            await bob.join(session)
        assert refused.value.code == "no_such_session"
        assert refused.value.message == (
            f"the session {session!r} runs on another relay of this cluster (node "
            "'relay-a'); connect to that relay to join it"
        )
        with pytest.raises(RelayError, match="no open session 'nope-1'"):
            await bob.join("nope-1")
        await (await a.login("bob")).join(session)  # on its home, bob joins


async def test_a_restarting_relay_ends_the_sessions_of_its_node_only(
    tmp_path: Path, postgres_dsn: str
) -> None:
    """Relays of a cluster share a name: the home of a session is the node id."""
    store = await PostgresStore.open(postgres_dsn)
    try:
        for sid, home in [("held-by-a", "relay-a"), ("held-by-b", "relay-b")]:
            await store.add_session(SessionRecord(sid, "sandbox", "alice", "x", home, 1000.0))
        async with cluster(tmp_path, postgres_dsn, "relay-a") as (a,):
            session = await a.open()
            opened = await store.session(session)
            assert opened is not None and opened.home == "relay-a"
            ended = await store.session("held-by-a")
            assert ended is not None and ended.end_reason == RESTART_REASON
            other = await store.session("held-by-b")
            assert other is not None and other.ended_at is None
            with pytest.raises(RelayError, match="has ended"):
                await (await a.login("alice")).join("held-by-a")
    finally:
        await store.close()


async def test_a_second_relay_with_the_same_node_id_is_refused(
    tmp_path: Path, postgres_dsn: str
) -> None:
    async with cluster(tmp_path, postgres_dsn, "relay-a"):
        (tmp_path / "again").mkdir()
        with pytest.raises(Exception, match="another relay is running as node 'relay-a'"):
            async with running_relay(
                tmp_path / "again", cluster=ClusterConfig(database=postgres_dsn, node="relay-a")
            ):
                pass


async def test_a_session_whose_home_relay_no_longer_runs_has_ended(
    tmp_path: Path, postgres_dsn: str
) -> None:
    """Whether a node runs is whether its lock is held (read from pg_locks, never taken);
    a session whose home does not run answers session_ended, and the directory says so."""
    store = await PostgresStore.open(postgres_dsn)
    try:
        assert not await store.node_running("relay-a")
        await store.add_session(SessionRecord("held-by-b", "sandbox", "alice", "x", "relay-b", 1.0))
        async with cluster(tmp_path, postgres_dsn, "relay-a") as (a,):
            assert await store.node_running("relay-a")
            assert not await store.node_running("relay-b")
            live = await a.open()
            lead = await a.joined("alice", live)
            with pytest.raises(RelayError) as refused:
                await (await a.login("bob")).join("held-by-b")
            reason = "its relay (relay-b) is gone: the session's shell ran there"
            assert (refused.value.code, refused.value.message) == (
                "session_ended",
                f"the session 'held-by-b' has ended: {reason}",
            )
            ended = await store.session("held-by-b")
            assert ended is not None and ended.end_reason == reason
            await lead.send({"type": "chat", "text": "unaffected"})  # relay-a's own goes on
            assert (await lead.expect("chat"))["text"] == "unaffected"
        async with asyncio.timeout(30):  # it stopped: its lock goes with its connection
            while await store.node_running("relay-a"):
                await asyncio.sleep(0.05)
    finally:
        await store.close()


async def listening(dsn: str, node: str) -> None:
    """Wait until relay ``node`` listens for the other relays' news."""
    query = (
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
        "AND query LIKE 'LISTEN %%'"
    )
    async with asyncio.timeout(30):
        while True:
            with psycopg.connect(dsn, autocommit=True) as conn:
                row = conn.execute(query, (f"warroom {node} (news)",)).fetchone()
            if row is not None and row[0] == 1:
                return
            await asyncio.sleep(0.1)


async def test_a_grant_made_on_another_relay_hands_control_even_after_news_were_cut(
    tmp_path: Path, postgres_dsn: str
) -> None:
    """Without Redis every participant is on the session's home; a lead signed in on
    another relay grants control, and it is handed at once: also after the database
    dropped the home's listening connection (it listens again)."""
    async with cluster(tmp_path, postgres_dsn, "relay-a", "relay-b") as (a, b):
        session = await a.open()
        alice = await a.joined("alice", session)
        bob = await a.login("bob")
        bob_id = (await bob.join(session))["you"]
        await listening(postgres_dsn, "relay-a")
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            dropped = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'warroom relay-a (news)'"
            ).fetchall()
        assert dropped == [(True,)]
        await listening(postgres_dsn, "relay-a")  # again, on a new connection

        lena = await b.login("alice")  # a lead's other connection, through relay b
        await lena.send(
            {
                "type": "access_grant",
                "user": "bob",
                "role": "driver",
                "ttl": 600,
                "session": session,
                "reason": "INC-24: from relay b",
            }
        )
        await lena.expect("access_granted")
        for client in (alice, bob):
            await client.wait_for(
                lambda e: (
                    isinstance(e, dict) and e.get("type") == "roster" and e["driver"] == bob_id
                )
            )
        await bob.send_input(b"echo FROM-B-$((40+2))\r")
        await read_until(alice, b"FROM-B-42")


async def test_relays_sharing_a_bucket_keep_their_audit_files_apart(
    tmp_path: Path, postgres_dsn: str, moto: MotoServer
) -> None:
    """The relays of a cluster share relay.name and name their audit files alike
    (audit-DATE-1.log): in the bucket each relay's go under its node, none in
    place of another's."""
    storage = moto.storage(interval=0.2)
    async with cluster(tmp_path, postgres_dsn, "relay-a", "relay-b", storage=storage) as (a, b):
        await a.login("alice")
        await b.login("bob")
    s3, client = storage.s3, moto.client()
    names = {}
    for node in ("relay-a", "relay-b"):
        files = audit_files(tmp_path / node / "data" / "audit")
        names[node] = [f.name for f in files]
        keys = [
            k
            for k in moto.keys(s3.bucket, f"{s3.prefix}audit/{node}/")
            if "/" not in k.removeprefix(f"{s3.prefix}audit/{node}/")
        ]
        assert keys == [f"{s3.prefix}audit/{node}/{name}" for name in names[node]]
        for key, file in zip(keys, files, strict=True):
            assert client.get_object(Bucket=s3.bucket, Key=key)["Body"].read() == file.read_bytes()
    assert names["relay-a"] == names["relay-b"]  # the same names: only the node tells them apart


# ---------------------------------------------------------------- /healthz


async def test_healthz_lists_each_dependency_of_a_single_relay(harness: Harness) -> None:
    status, body = await healthz(harness.relay.port)
    report = json.loads(body)
    assert status == 200 and report["ok"] is True
    assert report["relay"] == "warroom" and report["node"] == "warroom"
    store = report["checks"]["store"]
    assert store["ok"] and store["status"] == "ok" and store["detail"].startswith("SQLite ")
    assert set(report["checks"]) == {"store"}  # no bucket, no database copy configured
    assert await healthz(harness.relay.port, "") == (200, "ok\n")


async def test_without_its_database_a_relay_says_so_refuses_what_needs_it_and_recovers(
    tmp_path: Path, own_postgres: PostgresServer
) -> None:
    """The database stops: /healthz turns 503 saying why; a message that needs the
    state is refused as unavailable, the open session's shell goes on; it starts
    again: /healthz turns 200 and the same connection opens a session."""

    async def wait_for(wanted: int) -> dict[str, Any]:
        async with asyncio.timeout(60):
            while True:
                status, body = await healthz(relay.relay.port)
                if status == wanted:
                    return dict(json.loads(body))
                await asyncio.sleep(0.2)

    async with cluster(tmp_path, own_postgres.dsn(), "relay-a") as (relay,):
        report = await wait_for(200)
        assert report["node"] == "relay-a" and report["relay"] == "prod-relay"
        assert report["checks"]["store"]["detail"].startswith("PostgreSQL ")
        session = await relay.open()
        alice = await relay.joined("alice", session)
        lead = await relay.login("alice")
        assert report["checks"]["audit_copy"]["status"] == "ok"

        await asyncio.to_thread(own_postgres.stop)
        report = await wait_for(503)
        store = report["checks"]["store"]
        assert not store["ok"] and store["status"] == "failing"
        assert "cannot reach the state database postgresql://warroom@127.0.0.1" in store["error"]
        status, text = await healthz(relay.relay.port, "")
        assert status == 503 and "\nstore: cannot reach the state database" in f"\n{text}"

        with pytest.raises(RelayError) as refused:
            await lead.open("sandbox", "INC-12: while the database is away")
        assert refused.value.code == "unavailable"
        assert refused.value.message.startswith("the relay cannot reach its state store now")
        with pytest.raises(RelayError) as not_in:  # a token cannot be issued: said so
            await relay.login("bob")
        assert (not_in.value.code, not_in.value.message) == (
            "unavailable",
            "the relay cannot reach its state store now; sign in again shortly",
        )
        await alice.send_input(b"echo DURING-$((40+2))\r")
        await read_until(alice, b"DURING-42")

        await asyncio.to_thread(own_postgres.start)
        report = await wait_for(200)
        assert report["checks"]["store"]["status"] == "ok"
        assert (await lead.open("sandbox", "INC-12: the database is back")).startswith("sandbox-")


@pytest.fixture
def own_postgres() -> Any:
    """A PostgreSQL server of this test's own, which it may stop and start."""
    from tests.postgres import server_or_skip

    server = server_or_skip()
    try:
        yield server
    finally:
        server.remove()


# ---------------------------------------------------------------- the audit log, cluster-wide


def audit_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["audit", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


async def until_copied(dsn: str, count: int) -> None:
    """Wait until the copy threads wrote at least ``count`` events."""
    async with asyncio.timeout(30):
        while True:
            with psycopg.connect(dsn) as conn:
                row = conn.execute("SELECT count(*) FROM audit_events").fetchone()
            if row is not None and row[0] >= count:
                return
            await asyncio.sleep(0.1)


async def test_warroom_audit_lists_every_relays_events_from_the_database(
    tmp_path: Path, postgres_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async with cluster(tmp_path, postgres_dsn, "relay-a", "relay-b") as (a, b):
        on_a = await a.open()
        on_b = await b.open()
        await a.joined("alice", on_a)
        await b.joined("bob", on_b)
    files = [
        e
        for node in ("relay-a", "relay-b")
        for e in read_events(tmp_path / node / "data" / "audit")
    ]
    await until_copied(postgres_dsn, len(files))

    code, out, _ = await asyncio.to_thread(audit_cli, capsys, "--database", postgres_dsn, "--json")
    assert code == 0
    listed = [json.loads(line) for line in out.splitlines()]
    assert len(listed) == len(files)
    assert {e["node"] for e in listed} == {"relay-a", "relay-b"}
    assert [e["t"] for e in listed] == sorted(e["t"] for e in listed)
    copies = sorted(json.dumps({k: v for k, v in e.items() if k != "node"}) for e in listed)
    assert copies == sorted(json.dumps(e) for e in files)  # the same events as the files

    code, out, _ = await asyncio.to_thread(
        audit_cli, capsys, "--database", postgres_dsn, "--user", "bob", "--json"
    )
    bobs = [json.loads(line) for line in out.splitlines()]
    assert bobs and all("bob" in (e.get("user"), e.get("by")) for e in bobs)
    assert {e["node"] for e in bobs} == {"relay-b"}

    code, out, _ = await asyncio.to_thread(
        audit_cli, capsys, "--database", postgres_dsn, "--session", on_a
    )
    assert code == 0 and out and all(f"session={on_a}" in line for line in out.splitlines())
    assert all("node=relay-a" in line for line in out.splitlines())


async def test_the_database_witness_finds_a_deleted_audit_tail(
    tmp_path: Path, postgres_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two runs of relay a (two linked audit files) and one of relay b, whose files have
    the same names: deleting a's newest file is found, b's records are not mistaken for a's."""
    for _ in range(2):
        async with cluster(tmp_path, postgres_dsn, "relay-a", "relay-b") as (a, _b):
            await a.login("alice")
    data = tmp_path / "relay-a" / "data"
    files = audit_files(data / "audit")
    assert len(files) == 2
    with psycopg.connect(postgres_dsn) as conn:
        await until_copied(postgres_dsn, 1)
        nodes = {row[0] for row in conn.execute("SELECT DISTINCT node FROM audit_witness")}
    assert nodes == {"relay-a", "relay-b"}

    verify = ("--data-dir", str(data), "--verify", "--witness", postgres_dsn)
    code, out, err = await asyncio.to_thread(audit_cli, capsys, *verify)
    assert code == 0, out + err
    assert "the records of node relay-a" in err

    files[-1].unlink()
    code, out, err = await asyncio.to_thread(audit_cli, capsys, *verify)
    assert code == 1, out + err
    assert f"{files[-1].name} is missing from {data / 'audit'}: the witness saw it (sealed" in out

    code, out, err = await asyncio.to_thread(audit_cli, capsys, *verify, "--node", "nope")
    assert code == 2 and "no witness records of node 'nope'" in err


# ---------------------------------------------------------------- warroom relay


def relay_toml(tmp: Path, database: str, port: int) -> Path:
    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(str(tmp / "target_key"))
    (tmp / "known_hosts").write_text("")
    config = tmp / "relay.toml"
    config.write_text(
        f"""\
[relay]
listen = "127.0.0.1:{port}"
name = "prod-relay"
data_dir = "data"

[cluster]
database = "{database}"
node = "relay-1"

[audit]
witness = "none"

[targets.db]
host = "127.0.0.1"
user = "warroom"
key = "target_key"
known_hosts = "known_hosts"
"""
    )
    return config


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_warroom_relay_refuses_to_start_without_its_database(tmp_path: Path) -> None:
    closed = free_port()
    config = relay_toml(tmp_path, f"postgresql://warroom:s3cret@127.0.0.1:{closed}/warroom", 8)
    done = subprocess.run(
        [*WARROOM, "relay", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith(
        f"warroom: cannot reach the state database postgresql://warroom@127.0.0.1:{closed}/warroom:"
    ), done.stderr
    assert "s3cret" not in done.stderr + done.stdout
    assert not (tmp_path / "data" / "audit").exists()  # no audit file for a relay that never ran


async def test_warroom_relay_serves_on_its_database_and_says_so(
    tmp_path: Path, postgres_dsn: str
) -> None:
    port = free_port()
    config = relay_toml(tmp_path, postgres_dsn, port)
    process = subprocess.Popen(
        [*WARROOM, "relay", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = await asyncio.to_thread(process.stdout.readline)
        assert f"listening on ws://127.0.0.1:{port}" in banner, banner
        async with asyncio.timeout(30):
            while True:
                status, body = await healthz(port)
                report = json.loads(body)
                if report["checks"]["audit_copy"]["status"] == "ok":
                    break
                await asyncio.sleep(0.2)
        assert status == 200 and report["node"] == "relay-1"
        assert set(report["checks"]) == {"store", "audit_copy"}
    finally:
        code = await stop(process, signal.SIGINT)
    assert code == 0
    with psycopg.connect(postgres_dsn) as conn:
        sealed = conn.execute(
            "SELECT count(*) FROM audit_witness WHERE node = 'relay-1' AND seal"
        ).fetchone()
    assert sealed == (1,)  # the copy wrote what waited before the relay exited
