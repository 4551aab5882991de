"""Memory and CPU abuse over real websockets: each limit holds, and others are unaffected.

What is measured is what the limit promises (bytes the relay holds for the
attacker, audit lines written, who still gets in), never how long anything took.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from relay.config import Limits
from relay.core.ratelimit import LOGIN_SOURCE_BURST, LOGIN_USER_BURST
from relay.evidence.audit import read_events
from relay.net.connection import OUTGOING, PRE_AUTH_OUTGOING, REPLY_BUDGET
from relay.net.conversation import Conversation
from tests.harness import Harness, read_until, running_relay
from tui.client import RelayClient, RelayError


def events(h: Harness, name: str) -> list[dict[str, Any]]:
    h.relay.audit.tick()
    return [e for e in read_events(h.data_dir / "audit") if e["event"] == name]


async def raw_upgrade(port: int, source: str = "127.0.0.1") -> socket.socket:
    """A websocket opened by hand, so the attacker can write frames and never read."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)  # stays full
    sock.bind((source, 0))
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    await loop.sock_sendall(
        sock,
        (
            "GET / HTTP/1.1\r\nHost: relay\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode(),
    )
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += await loop.sock_recv(sock, 4096)
    assert answer.startswith(b"HTTP/1.1 101")
    return sock


def masked_frame(opcode: int, payload: bytes) -> bytes:
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    size = len(payload)
    if size < 126:
        head = bytes([0x80 | opcode, 0x80 | size])
    elif size < 65536:
        head = bytes([0x80 | opcode, 0x80 | 126]) + size.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + size.to_bytes(8, "big")
    return head + mask + body


async def flood(sock: socket.socket, data: bytes, times: int) -> bool:
    """Write ``data`` ``times`` times; False once the relay dropped the connection."""
    loop = asyncio.get_running_loop()
    try:
        for _ in range(times):
            await asyncio.wait_for(loop.sock_sendall(sock, data), 10)
    except (ConnectionError, TimeoutError, OSError):
        return False
    return True


async def test_a_ping_flood_before_auth_is_dropped_at_a_small_buffer(harness: Harness) -> None:
    session = await harness.open()
    lead = await harness.joined("alice", session)
    viewer = await harness.joined("bob", session)
    attacker = await raw_upgrade(harness.relay.port)
    ping = masked_frame(0x9, b"p" * 125) * 1000  # 131 KB of pings, never reading a pong
    alive = await flood(attacker, ping, 500)  # 65 MB if nothing stopped it
    assert not alive
    (dropped,) = [e for e in events(harness, "connection.dropped") if e["user"] is None]
    # the relay held at most the cap plus the pongs of one socket read (<= 256 KiB)
    assert dropped["limit"] == PRE_AUTH_OUTGOING
    assert dropped["buffered"] <= PRE_AUTH_OUTGOING + 256 * 1024
    attacker.close()
    await lead.send_input(b"echo AFTER-$((6*7))\r")
    for client in (lead, viewer):
        await read_until(client, b"AFTER-42")


async def test_pipelined_fetches_cost_one_answer_not_one_per_request(tmp_path: Path) -> None:
    async with running_relay(tmp_path, recordings=True) as h:
        session = await h.open()
        live = h.relay.sessions[session]
        lead = await h.joined("alice", session)
        await lead.send({"type": "end", "reason": "done"})
        await live.wait_closed()
        (path,) = (h.data_dir / "recordings").glob("*.cast")
        with path.open("ab") as handle:
            handle.write(b"# padding\n" * 200_000)  # 2 MB: many chunks
        session = await h.open()
        lead = await h.joined("alice", session)
        viewer = await h.joined("bob", session)

        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        sock.connect(("127.0.0.1", h.relay.port))
        sock.setblocking(False)
        reviewer = RelayClient(h.url, sock=sock)
        h.clients.append(reviewer)
        await reviewer.connect()
        await reviewer.auth_ssh_key("rita", h.user_keys["rita"])
        assert reviewer.ws is not None
        reviewer.ws.transport.pause_reading()
        request = {"type": "fetch_recording", "name": path.name, "offset": 0}
        for _ in range(250):
            await reviewer.send(request)
        conversation = next(
            c for c in h.relay.conversations if c.who is not None and c.who.user == "rita"
        )
        most_queued = most_buffered = 0
        for round_ in range(40):  # while the lead keeps working
            await lead.send_input(f"echo ROUND-{round_}-$((1+1))\r".encode())
            await read_until(viewer, f"ROUND-{round_}-2".encode())
            most_queued = max(most_queued, conversation.link.queued_bytes)
            buffered = conversation.ws.transport.get_write_buffer_size()
            most_buffered = max(most_buffered, buffered)
        chunk = 400 * 1024  # one recording_chunk answer, base64 and JSON included
        assert most_queued <= REPLY_BUDGET + chunk
        assert most_buffered <= 64 * 1024 + chunk + OUTGOING


async def test_huge_chats_are_refused_before_masking_and_cost_one_audit_line(
    harness: Harness,
) -> None:
    session = await harness.open()
    lead = await harness.joined("alice", session)
    attackers = [await harness.joined("bob", session) for _ in range(4)]
    huge = {"type": "chat", "text": "ghp_" + "A" * 1_000_000}  # refused as it is parsed
    big = {"type": "chat", "text": "ghp_" + "A" * 60_000}  # refused by the session, counted
    for attacker in attackers:
        for _ in range(10):
            await attacker.send(huge)
            await attacker.send(big)
    for round_ in range(5):
        await lead.send_input(f"echo LEAD-{round_}-$((2+2))\r".encode())
        await read_until(lead, f"LEAD-{round_}-4".encode())
    for attacker in attackers:
        with pytest.raises(RelayError) as info:
            await attacker.expect("never")
        assert info.value.code == "chat_too_long"
    denied = events(harness, "chat.denied")  # too long, then over the rate: 2 kinds each
    first = [(e["participant"], e["code"]) for e in denied if "repeated" not in e]
    assert 1 <= len(first) == len(set(first)) <= 8  # one per attacker and kind
    # the rest are counted in entries for those same kinds, one per 5 s interval
    assert {(e["participant"], e["code"]) for e in denied} == set(first)
    assert not events(harness, "secret.masked")  # nothing was masked


async def test_failed_logins_are_throttled_per_source_and_the_lead_still_gets_in(
    harness: Harness,
) -> None:
    refusals: list[str] = []
    for _ in range(30):
        sock = socket.socket()
        sock.bind(("127.0.0.2", 0))
        sock.connect(("127.0.0.1", harness.relay.port))
        client = RelayClient(harness.url, sock=sock)
        await client.connect()
        with pytest.raises(RelayError) as info:
            await client.auth_ssh_key("alice", harness.user_keys["bob"])  # the wrong key
        refusals.append(info.value.code)
        await client.close()
    assert refusals[:10] == ["auth_failed"] * 10
    assert set(refusals[10:]) == {"auth_throttled"}
    assert len(events(harness, "auth.failed")) + len(events(harness, "auth.throttled")) <= 4
    lead = await harness.login("alice")  # from another address, with the right key
    assert lead.identity["user"] == "alice"


async def test_failed_logins_as_one_user_from_many_sources_are_throttled_per_user(
    harness: Harness,
) -> None:
    """Guessing at one user's login from several addresses, each below its own limit,
    runs into the user's limit; other users, and the user's open connections, are fine."""
    session = await harness.open()
    lead = await harness.joined("alice", session)  # signed in before the attack
    viewer = await harness.joined("carol", session)
    sources = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
    failures = 0
    for attempt in range(60):
        sock = socket.socket()
        sock.bind((sources[attempt % len(sources)], 0))
        sock.connect(("127.0.0.1", harness.relay.port))
        client = RelayClient(harness.url, sock=sock)
        await client.connect()
        with pytest.raises(RelayError) as info:
            await client.auth_ssh_key("alice", harness.user_keys["bob"])  # the wrong key
        await client.close()
        if info.value.code != "auth_failed":
            break
        failures += 1
    assert info.value.code == "auth_throttled"
    assert info.value.message == "too many failed logins as alice; wait a minute and try again"
    assert failures >= LOGIN_USER_BURST  # the user's burst, spread over the sources
    assert failures < len(sources) * LOGIN_SOURCE_BURST  # no source reached its own limit
    sock = socket.socket()
    sock.bind((sources[0], 0))  # another user, from an attacking address, still gets in
    sock.connect(("127.0.0.1", harness.relay.port))
    bob = RelayClient(harness.url, sock=sock)
    harness.clients.append(bob)
    await bob.connect()
    assert (await bob.auth_ssh_key("bob", harness.user_keys["bob"]))["user"] == "bob"
    await lead.send_input(b"echo STILL-$((6*7))\r")  # alice's open session is untouched
    for client in (lead, viewer):
        await read_until(client, b"STILL-42")
    assert events(harness, "auth.throttled")


async def test_one_invite_cannot_fill_a_session_and_leads_keep_their_places(
    tmp_path: Path,
) -> None:
    from relay.core.roles import Role
    from relay.trust import identity

    limits = Limits(clients_per_session=8, lead_slots=2, connections_per_user=4)
    async with running_relay(tmp_path, limits=limits) as h:
        session = await h.open()
        invite = identity.parse_join_target(await h.relay.invite(Role.VIEWER, session, 600, "x"))
        codes: list[str] = []
        for number in range(6):
            guest = RelayClient(invite.url)
            h.clients.append(guest)
            await guest.connect()
            try:
                await guest.auth_invite(invite.invite or "", name=f"window{number}")
                await guest.join(session)
                codes.append("joined")
            except RelayError as exc:
                codes.append(exc.code)
        assert codes == ["joined"] * 4 + ["too_many_connections"] * 2
        carols = []
        for _ in range(3):
            carol = await h.login("carol")
            try:
                await carol.join(session)
                carols.append("joined")
            except RelayError as exc:
                carols.append(exc.code)
        assert carols == ["joined", "joined", "session_full"]  # 6 = 8 minus 2 for leads
        lead = await h.joined("alice", session)  # the owner still gets in and drives
        await lead.send_input(b"echo IN-$((3+3))\r")
        await read_until(lead, b"IN-6")
        assert isinstance(h.relay.conversations, set) and Conversation
