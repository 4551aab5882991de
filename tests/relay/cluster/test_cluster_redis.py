"""Any relay serves any participant: two relays sharing Redis and PostgreSQL.

Everything is real: the relays (own ports, data dirs), a private PostgreSQL
(the session directory, tokens), a private redis-server (the live traffic),
the clients over real websockets, and, where it matters, a real OpenSSH sshd
as the target. Relay ``a`` opens the sessions (their home); relay ``b``
serves participants of them through Redis (an edge).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from relay.config import ClusterConfig, TargetConfig
from relay.core.protocol import OutputChunk, SizeChange, Snapshot
from relay.trust.keys import SigningKey
from tests.harness import Harness, read_until, running_relay, sshd_target
from tests.redis import RedisServer
from tests.sshd import SshdServer
from tui.client import RelayClient, RelayError

TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"  # a well-formed, fake GitHub token


@asynccontextmanager
async def cluster(
    tmp: Path,
    dsn: str,
    redis: str,
    *nodes: str,
    targets: dict[str, TargetConfig] | None = None,
    four_eyes: int = 0,
) -> AsyncIterator[list[Harness]]:
    """One relay per node on one database and one Redis: one name, one key set, one
    set of users (as ``warroom relay`` runs them with ``[cluster] database`` and
    ``redis``)."""
    signing = SigningKey.load_or_create(tmp / "cluster-keys")
    relays: list[Harness] = []
    async with AsyncExitStack() as stack:
        for node in nodes:
            (tmp / node).mkdir(exist_ok=True)
            relays.append(
                await stack.enter_async_context(
                    running_relay(
                        tmp / node,
                        targets=targets,
                        four_eyes=four_eyes,
                        name="prod-relay",
                        cluster=ClusterConfig(database=dsn, node=node, redis=redis),
                        signing=signing,
                        user_keys=relays[0].user_keys if relays else None,
                    )
                )
            )
        yield relays


class Received:
    """Everything one client was sent, by offset: chunks must follow each other exactly."""

    def __init__(self) -> None:
        self.start: int | None = None
        self.data = bytearray()
        self.snapshots = 0

    @property
    def end(self) -> int | None:
        return None if self.start is None else self.start + len(self.data)

    def take(self, event: Any) -> None:
        if isinstance(event, Snapshot):
            self.start, self.data = event.offset, bytearray()
            self.snapshots += 1
        elif isinstance(event, OutputChunk):
            if self.start is None:
                self.start = event.offset
            assert event.offset == self.end, f"chunk at {event.offset}, expected {self.end}"
            self.data += event.data
        elif isinstance(event, SizeChange):
            assert self.start is None or event.offset == self.end

    async def until(self, client: RelayClient, needle: bytes, timeout: float = 30.0) -> None:
        async with asyncio.timeout(timeout):
            while needle not in self.data:
                self.take(await client.recv())

    def between(self, start: int, end: int) -> bytes:
        assert self.start is not None and self.start <= start <= end <= (self.end or 0)
        return bytes(self.data[start - self.start : end - self.start])


async def drain(client: RelayClient, needle: bytes, seen: asyncio.Event) -> None:
    """Read a client's frames forever (a driver must read, or the shell is paused);
    set ``seen`` once ``needle`` was in them."""
    tail = b""
    with contextlib.suppress(Exception):
        while True:
            event = await client.recv()
            if isinstance(event, OutputChunk):
                tail = tail[-64:] + event.data
                if needle in tail:
                    seen.set()


# ---------------------------------------------------------------- output


async def test_a_viewer_on_another_relay_sees_the_masked_output_byte_exact(
    tmp_path: Path, postgres_dsn: str, redis_url: str, sshd: SshdServer
) -> None:
    targets = {"sshd": sshd_target(sshd)}
    async with cluster(tmp_path, postgres_dsn, redis_url, "a", "b", targets=targets) as (a, b):
        session = await a.open("sshd")
        lead = await a.joined("alice", session)
        on_home = await a.joined("carol", session)
        lobby_b = await b.login("bob")
        async with asyncio.timeout(15):  # relay b's lobby lists the session relay a holds
            while session not in [s["id"] for s in (await lobby_b.list_sessions())["sessions"]]:
                await asyncio.sleep(0.2)
        on_edge = await b.joined("bob", session)  # the session's home is relay a
        home_seen, edge_seen = Received(), Received()

        # split so that the token exists only in what the shell prints
        command = f"printf 'token=%s%s END-%s\\n' {TOKEN[:10]} {TOKEN[10:]} $((40+2))\r"
        await lead.send_input(command.encode())
        await read_until(lead, b"END-42")
        await home_seen.until(on_home, b"END-42")
        await edge_seen.until(on_edge, b"END-42")

        printed = bytes(edge_seen.data[edge_seen.data.rindex(b"token=") :])
        assert TOKEN[10:].encode() not in printed and b"******" in printed  # masked at the home
        start = max(home_seen.start or 0, edge_seen.start or 0)
        end = min(home_seen.end or 0, edge_seen.end or 0)
        assert end - start > len(printed)
        assert edge_seen.between(start, end) == home_seen.between(start, end)  # same offsets

        late = await b.joined("carol", session)  # a late joiner on the edge: a masked snapshot
        snapshot = await late.wait_for(lambda e: isinstance(e, Snapshot))
        assert isinstance(snapshot, Snapshot)
        assert b"token=**********" in snapshot.data and TOKEN.encode() not in snapshot.data


# ---------------------------------------------------------------- control and input


async def test_control_passes_to_a_viewer_on_another_relay_who_then_types(
    tmp_path: Path, postgres_dsn: str, redis_url: str, sshd: SshdServer
) -> None:
    targets = {"sshd": sshd_target(sshd)}
    async with cluster(tmp_path, postgres_dsn, redis_url, "a", "b", targets=targets) as (a, b):
        session = await a.open("sshd")
        lead = await a.joined("alice", session)
        bob = await b.login("bob")
        welcome = await bob.join(session)
        bob_pid = welcome["you"]
        assert bob_pid.startswith("c") and welcome["role"] == "viewer"

        await bob.send({"type": "chat", "text": "may I? (from relay b)"})
        chat = await lead.expect("chat")
        assert (chat["user"], chat["text"], chat["id"]) == ("bob", "may I? (from relay b)", bob_pid)
        await lead.send({"type": "chat", "text": f"sûre ✓, use {TOKEN}"})
        reply = await bob.wait_for(
            lambda e: isinstance(e, dict) and e.get("type") == "chat" and e["user"] == "alice"
        )
        assert isinstance(reply, dict) and TOKEN not in reply["text"]  # masked like any chat
        # encoded once at the home, passed on as is by relay b: the text arrives whole
        assert reply["text"].startswith("sûre ✓, use ghp_")

        await bob.send({"type": "request_control", "reason": "INC-7 restart the worker"})
        request = await lead.expect("control_request")
        assert (request["id"], request["user"]) == (bob_pid, "bob")
        await lead.send({"type": "grant", "id": bob_pid})
        roster = await bob.wait_for(
            lambda e: isinstance(e, dict) and e.get("type") == "roster" and e["driver"] == bob_pid
        )
        assert isinstance(roster, dict)

        await bob.send_input(b"echo FROM-B-$((6*7))\r")  # through relay b and Redis to the shell
        await read_until(lead, b"FROM-B-42")
        await read_until(bob, b"FROM-B-42")

        await lead.send_input(b"echo LEAD-TYPED\r")  # the lead no longer drives
        with pytest.raises(RelayError) as info:
            await lead.expect("never")
        assert info.value.code == "not_driver"


async def test_a_viewer_on_another_relay_cannot_type(
    tmp_path: Path, postgres_dsn: str, redis_url: str, sshd: SshdServer
) -> None:
    """An attacker on the edge sends keystrokes without driving: refused, exactly as on the
    home, and nothing reaches the shell; the others go on."""
    targets = {"sshd": sshd_target(sshd)}
    async with cluster(tmp_path, postgres_dsn, redis_url, "a", "b", targets=targets) as (a, b):
        session = await a.open("sshd")
        lead = await a.joined("alice", session)
        attacker = await b.joined("carol", session)
        witness = await b.joined("bob", session)

        await attacker.send_input(b"echo PWNED-$((6*7))\r")
        with pytest.raises(RelayError) as info:
            await attacker.expect("never")
        assert (info.value.code, info.value.message) == (
            "not_driver",
            "you are not driving (alice is driving); request control first",
        )
        await attacker.send({"type": "grant", "id": attacker.identity.get("user", "x")})
        with pytest.raises(RelayError) as refused:
            await attacker.expect("never")
        assert refused.value.code == "forbidden"

        await lead.send_input(b"echo STILL-$((40+2))\r")
        seen_by_lead = await read_until(lead, b"STILL-42")
        seen_by_witness = await read_until(witness, b"STILL-42")
        assert b"PWNED" not in seen_by_lead and b"PWNED" not in seen_by_witness


def roster_where(check: Any) -> Any:
    return lambda e: isinstance(e, dict) and e.get("type") == "roster" and check(e)


async def test_four_eyes_counts_a_watcher_on_another_relay_and_a_lead_there_ends_it(
    tmp_path: Path, postgres_dsn: str, redis_url: str
) -> None:
    async with cluster(tmp_path, postgres_dsn, redis_url, "a", "b", four_eyes=1) as (a, b):
        session = await a.open()
        lead = await a.joined("alice", session)
        await lead.wait_for(roster_where(lambda r: r["paused"] is not None))

        watcher = await b.joined("bob", session)  # the only other pair of eyes, on relay b
        await lead.wait_for(roster_where(lambda r: r["paused"] is None))
        await lead.send_input(b"echo WATCHED-$((3+4))\r")
        await read_until(watcher, b"WATCHED-7")

        await watcher.close()  # relay b reports the watcher gone: input pauses at the home
        await lead.wait_for(roster_where(lambda r: r["paused"] is not None))
        await lead.send_input(b"echo ALONE\r")
        with pytest.raises(RelayError) as info:
            await lead.expect("never")
        assert info.value.code == "paused"

        other_lead = await b.joined("alice", session)  # the kill switch, pulled on relay b
        await other_lead.send({"type": "end", "reason": "INC-7 over"})
        ended = await lead.expect("ended")
        assert "INC-7 over" in ended["reason"]
        with pytest.raises(RelayError) as gone:
            await other_lead.expect("never")
        assert "INC-7 over" in gone.value.message


# ---------------------------------------------------------------- resume


async def test_a_viewer_resumes_on_the_other_relay_mid_flood_receiving_every_byte_once(
    tmp_path: Path, postgres_dsn: str, redis_url: str
) -> None:
    lines = 200_000
    async with cluster(tmp_path, postgres_dsn, redis_url, "a", "b") as (a, b):
        session = await a.open()
        lead = await a.joined("alice", session)
        done = asyncio.Event()
        reading = asyncio.create_task(drain(lead, b"FLOOD-42", done))
        try:
            viewer = await b.joined("bob", session)
            seen = Received()
            # a read loop paces the flood: a few seconds of output, not a few milliseconds
            flood = f"seq 1 {lines} | while read n; do echo $n; done; echo FLOOD-$((6*7))\r"
            await lead.send_input(flood.encode())
            await seen.until(viewer, b"\r\n5000\r\n")  # mid-flood, on relay b
            for relay in (a, b):  # over to the home, then back to the edge
                assert not done.is_set()  # the shell is still printing
                offset = seen.end
                await viewer.close()
                viewer = await relay.login("bob")
                await viewer.join(session, offset)
                first = await viewer.wait_for(lambda e: isinstance(e, OutputChunk | Snapshot))
                assert isinstance(first, OutputChunk) and first.offset == offset  # no snapshot
                seen.take(first)
                mark = lines // 3 * (1 if relay is a else 2)
                await seen.until(viewer, b"\r\n%d\r\n" % mark)  # on, mid-flood
            await seen.until(viewer, b"FLOOD-42", timeout=60)
        finally:
            reading.cancel()
        text = bytes(seen.data)
        numbers = text[text.index(b"\r1\r\n") + 1 : text.rindex(b"FLOOD-42")]
        expected = "".join(f"{n}\r\n" for n in range(1, lines + 1)).encode()
        assert numbers.startswith(expected)  # every line once, in order
        assert seen.snapshots == 1  # the one on joining, none after


# ---------------------------------------------------------------- failures


async def healthz(port: int) -> tuple[int, dict[str, Any]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz?format=json HTTP/1.1\r\nHost: x\r\n\r\n")
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    length = int(
        next(h for h in head.split("\r\n") if h.lower().startswith("content-length:"))[15:]
    )
    body = json.loads(await reader.readexactly(length))
    writer.close()
    return int(head.split()[1]), body


async def until_health(h: Harness, ok: bool, timeout: float = 30.0) -> dict[str, Any]:
    """Wait until the relay's ``redis`` check says ``ok``; return its state."""
    async with asyncio.timeout(timeout):
        while True:
            status, body = await healthz(h.relay.port)
            redis = body["checks"]["redis"]
            if redis["ok"] is ok and redis["status"] != "starting":
                assert (status == 200) is ok or not ok
                return dict(redis)
            await asyncio.sleep(0.2)


async def test_without_redis_no_session_opens_and_open_ones_end_for_everyone(
    tmp_path: Path, postgres_dsn: str, own_redis: RedisServer
) -> None:
    async with cluster(tmp_path, postgres_dsn, own_redis.url(0), "a", "b") as (a, b):
        session = await a.open()
        lead = await a.joined("alice", session)
        viewer = await b.joined("bob", session)
        other_lead = await a.login("alice")
        await until_health(a, True)

        own_redis.stop()
        state = await until_health(a, False)
        assert state["error"].startswith(f"cannot reach Redis {own_redis.url(0)}")
        with pytest.raises(RelayError) as refused:
            await other_lead.open("sandbox", "INC-9")
        assert refused.value.code == "unavailable" and "redis" in refused.value.message

        ended = await lead.expect("ended", timeout=30)  # fail closed: nobody may be served
        assert ended["reason"].startswith("the session's live traffic cannot reach Redis")
        with pytest.raises(RelayError) as cut:
            await viewer.expect("never", timeout=30)
        assert cut.value.message.startswith(
            "unavailable: this relay lost the session's live stream: Redis"
        )

        own_redis.start()
        await until_health(a, True)
        assert await other_lead.open("sandbox", "INC-9")  # sessions open again


async def test_clients_of_a_relay_that_dies_resume_on_another(
    tmp_path: Path, postgres_dsn: str, redis_url: str
) -> None:
    """An edge relay goes away: its client reconnects to another relay and resumes at its
    offset; the home forgets the participant the dead relay no longer reports."""
    async with cluster(tmp_path, postgres_dsn, redis_url, "a", "b", "c") as (a, b, c):
        session = await a.open()
        lead = await a.joined("alice", session)
        viewer = await b.login("bob")
        bob_pid = (await viewer.join(session))["you"]
        seen = Received()
        await lead.send_input(b"echo BEFORE-$((6*7))\r")
        await seen.until(viewer, b"BEFORE-42")

        await b.relay.close("the relay is shutting down")  # relay b goes away
        offset = seen.end
        await lead.send_input(b"echo AFTER-$((6*7))\r")
        viewer = await c.login("bob")
        await viewer.join(session, offset)
        await seen.until(viewer, b"AFTER-42")  # every byte once, from where it stopped
        assert seen.snapshots == 1
        roster = await lead.wait_for(
            lambda e: (
                isinstance(e, dict)
                and e.get("type") == "roster"
                and bob_pid not in [p["id"] for p in e["participants"]]
            ),
            timeout=30,
        )
        assert isinstance(roster, dict)


async def test_a_home_that_lost_its_node_lock_for_a_moment_is_not_taken_for_dead(
    tmp_path: Path, postgres_dsn: str, redis_url: str
) -> None:
    """The database drops relay a's connections (as a database restart does): its node
    lock is free until relay a's next health check takes it again. A join through relay b
    meanwhile must find the session alive, not declare it ended."""
    import psycopg

    async with cluster(tmp_path, postgres_dsn, redis_url, "a", "b") as (a, b):
        session = await a.open()
        lead = await a.joined("alice", session)
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            dropped = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'warroom a (node lock)'"
            ).fetchall()
        assert dropped == [(True,)]
        viewer = await b.login("bob")
        assert (await viewer.join(session))["role"] == "viewer"  # alive, through relay b
        await lead.send_input(b"echo ALIVE-$((40+2))\r")
        await read_until(viewer, b"ALIVE-42")
