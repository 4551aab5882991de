"""The relay end to end over real websockets, against real SSH targets."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from relay.core.protocol import OutputChunk, Snapshot
from relay.core.roles import Role
from relay.net.output import RAW_BASE
from relay.trust import identity
from relay.trust.keys import SigningKey
from tests.harness import Harness, Targets, read_until, running_relay, sshd_target
from tests.sshd import SshdServer
from tui.client import RelayClient, RelayError


def audit_events(h: Harness) -> list[dict[str, object]]:
    from relay.evidence.audit import read_events

    return list(read_events(h.data_dir / "audit"))


async def test_healthz(harness: Harness) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", harness.relay.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    response = await reader.read(1024)
    writer.close()
    assert response.startswith(b"HTTP/1.1 200") and response.endswith(b"ok\n")


@pytest.mark.parametrize("target", ["sandbox", "sshd"])
async def test_driver_and_five_viewers_see_identical_output(
    tmp_path: Path, sshd: SshdServer, target: str
) -> None:
    async with running_relay(tmp_path, targets={"sshd": sshd_target(sshd)}) as h:
        session = await h.open(target)
        lead = await h.joined("alice", session)
        viewers = [await h.joined("bob", session) for _ in range(5)]
        await lead.send_input(
            b"for i in 1 2 3; do echo line-$i-$((i*7)); done; echo DONE-$((6*7))\r"
        )
        streams = [await read_until(c, b"DONE-42") for c in [lead, *viewers]]
        for stream in streams:
            assert b"line-3-21" in stream

        # the same bytes: the lead (raw output) and the viewers (masked) alike
        def segment(stream: bytes) -> bytes:
            start = stream.index(b"line-1-7")
            return stream[start : stream.index(b"DONE-42", start)]

        for stream in streams[1:]:
            assert segment(stream) == segment(streams[0])


async def test_viewer_input_is_refused_audited_and_never_reaches_shell(
    tmp_path: Path, on_target: Targets
) -> None:
    async with running_relay(tmp_path, targets=on_target.extra) as harness:
        await _viewer_input_is_refused(harness, await harness.open(on_target.name))


async def _viewer_input_is_refused(harness: Harness, session: str) -> None:
    lead = await harness.joined("alice", session)
    viewer = await harness.joined("bob", session)
    await viewer.send_input(b"touch /tmp/warroom-should-not-exist; echo VIEWER-WAS-HERE\r")
    with pytest.raises(RelayError) as info:
        await viewer.expect("never")
    assert info.value.code == "not_driver" and "alice is driving" in info.value.message
    await lead.send_input(b"echo LEAD-$((40+2))\r")
    seen = await read_until(lead, b"LEAD-42")
    assert b"VIEWER-WAS-HERE" not in seen
    denied = [e for e in audit_events(harness) if e["event"] == "input.denied"]
    assert denied and denied[0]["user"] == "bob" and denied[0]["session"] == session


async def test_full_handoff_cycle(tmp_path: Path, on_target: Targets) -> None:
    async with running_relay(tmp_path, targets=on_target.extra) as harness:
        await _full_handoff_cycle(harness, await harness.open(on_target.name))


async def _full_handoff_cycle(harness: Harness, session: str) -> None:
    lead = await harness.login("alice")
    alice_id = (await lead.join(session))["you"]
    viewer = await harness.login("bob")
    bob_id = (await viewer.join(session))["you"]

    def driver_is(pid: str) -> Callable[[object], bool]:
        return lambda e: isinstance(e, dict) and e.get("type") == "roster" and e["driver"] == pid

    await viewer.send({"type": "request_control", "reason": "INC-1: check the queue"})
    request = await lead.expect("control_request")
    assert request["reason"] == "INC-1: check the queue" and request["user"] == "bob"

    await lead.send({"type": "grant", "id": bob_id})
    await viewer.wait_for(driver_is(bob_id))
    await viewer.send_input(b"echo BOB-$((20+1))\r")
    assert b"BOB-21" in await read_until(lead, b"BOB-21")

    await lead.send_input(b"echo nope\r")
    with pytest.raises(RelayError, match="not_driver"):
        await lead.expect("never")

    await viewer.send({"type": "release"})
    await lead.wait_for(driver_is(alice_id))
    await lead.send_input(b"echo ALICE-$((30+3))\r")
    assert b"ALICE-33" in await read_until(viewer, b"ALICE-33")

    # take-back: grant again, then the lead takes control without asking
    await viewer.send({"type": "request_control", "reason": "again"})
    await lead.expect("control_request")
    await lead.send({"type": "grant", "id": bob_id})
    await viewer.wait_for(driver_is(bob_id))
    await lead.send({"type": "take"})
    await viewer.wait_for(driver_is(alice_id))
    events = [e["event"] for e in audit_events(harness)]
    for name in ("control.request", "control.grant", "control.release", "control.take"):
        assert name in events


async def test_deny(harness: Harness) -> None:
    session = await harness.open()
    lead = await harness.joined("alice", session)
    viewer = await harness.joined("bob", session)
    await viewer.send({"type": "request_control", "reason": "curious"})
    request = await lead.expect("control_request")
    await lead.send({"type": "deny", "id": request["id"], "reason": "not during the deploy"})
    denied = await viewer.expect("control_denied")
    assert denied["reason"] == "not during the deploy" and denied["by"] == "alice"


async def test_chat_reaches_everyone_and_limits_hold(harness: Harness) -> None:
    session = await harness.open()
    lead = await harness.joined("alice", session)
    viewer = await harness.joined("rita", session)
    await viewer.send({"type": "chat", "text": "disk at 98%"})
    message = await lead.expect("chat")
    assert message["user"] == "rita" and message["text"] == "disk at 98%"
    await viewer.send({"type": "chat", "text": "x" * 5000})
    with pytest.raises(RelayError, match="chat_too_long"):
        await viewer.expect("never")


def flood_command(megabytes: int) -> bytes:
    # 64-byte numbered lines: every byte of the stream is checkable
    lines = megabytes * 1024 * 1024 // 64
    return (f"stty -echo; seq -f '%062g' 1 {lines}; echo FLOOD-$((1+1))-END; stty echo\r").encode()


async def collect(client: RelayClient, needle: bytes, timeout: float = 120.0) -> tuple[bytes, int]:
    """All output bytes with their starting offset, up to the end of ``needle``."""
    data = bytearray()
    start: int | None = None
    async with asyncio.timeout(timeout):
        while needle not in data[-4096:]:
            event = await client.recv()
            if isinstance(event, OutputChunk):
                if start is None:
                    start = event.offset
                assert event.offset == start + len(data)
                data += event.data
            assert not isinstance(event, Snapshot) or start is None
    assert start is not None
    end = data.index(needle, max(0, len(data) - 4096 - len(needle))) + len(needle)
    return bytes(data[:end]), start


async def test_resume_after_disconnect_mid_flood_is_byte_exact(
    tmp_path: Path, on_target: Targets
) -> None:
    from relay.config import Limits

    # The witness and the lead are read only after the viewer: on a loaded machine that
    # is longer than the relay's ping_timeout, and a client whose pong waits behind unread
    # output would be dropped as dead (its own subject: test_link_health).
    limits = Limits(output_buffer=64 * 1024 * 1024, ping_timeout=3600, stall_timeout=3600)
    async with running_relay(tmp_path, limits=limits, targets=on_target.extra) as h:
        session = await h.open(on_target.name)
        lead = await h.joined("alice", session)
        witness = await h.joined("carol", session)  # stays connected: the reference stream
        viewer = await h.joined("bob", session)
        token = viewer.identity["token"]
        await lead.send_input(flood_command(20))

        # the viewer reads about 5 MB, then drops its connection mid-flood
        got = bytearray()
        first: int | None = None
        while len(got) < 5 * 1024 * 1024:
            event = await viewer.recv()
            if isinstance(event, OutputChunk):
                first = event.offset if first is None else first
                got += event.data
        await viewer.close()
        resume_at = first + len(got)  # type: ignore[operator]

        witness_stream, witness_start = await collect(witness, b"FLOOD-2-END")
        driver_stream, driver_start = await collect(lead, b"FLOOD-2-END")
        again = RelayClient(h.url)
        await again.connect()
        await again.auth_token(token)
        await again.join(session, offset=resume_at)
        rest, rest_start = await collect(again, b"FLOOD-2-END")
        assert rest_start == resume_at
        viewer_stream = bytes(got) + rest
        assert first is not None and first >= witness_start
        assert len(witness_stream) > 20 * 1024 * 1024
        expected = witness_stream[first - witness_start :]
        assert hashlib.sha256(viewer_stream).digest() == hashlib.sha256(expected).digest()
        # and with the driver's: they read the raw stream, whose offsets start at RAW_BASE
        # (nothing here is a secret, so the two streams hold the same bytes)
        from_driver = driver_stream[first + RAW_BASE - driver_start :]
        assert hashlib.sha256(viewer_stream).digest() == hashlib.sha256(from_driver).digest()
        await again.close()


async def test_resume_too_far_behind_gets_a_snapshot(tmp_path: Path) -> None:
    from relay.config import Limits

    async with running_relay(tmp_path, limits=Limits(output_buffer=256 * 1024)) as h:
        session = await h.open()
        lead = await h.joined("alice", session)
        await lead.send_input(flood_command(2))
        await collect(lead, b"FLOOD-2-END")
        late = await h.login("bob")
        await late.join(session, offset=0)
        event = await late.wait_for(lambda e: not isinstance(e, dict))
        assert isinstance(event, Snapshot)
        assert event.offset > 0 and b"FLOOD" in event.data


async def test_a_viewer_whose_socket_accepts_nothing_is_dropped_after_the_stall_timeout(
    tmp_path: Path,
) -> None:
    """A viewer that reads nothing while output waits for it is dropped once a frame has
    waited ``stall_timeout`` to leave (``too_slow``); the driver and the session go on."""
    from relay.config import Limits

    limits = Limits(output_buffer=4 * 1024 * 1024, stall_timeout=1.0, ping_timeout=3600)
    async with running_relay(tmp_path, limits=limits) as h:
        session = await h.open()
        lead = await h.joined("alice", session)
        sock = socket.socket()  # a small receive buffer: it fills up and stays full
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.connect(("127.0.0.1", h.relay.port))
        sock.setblocking(False)
        stalled = RelayClient(h.url, sock=sock, ping_interval=None)
        h.clients.append(stalled)
        await stalled.connect()
        await stalled.auth_ssh_key("bob", h.user_keys["bob"])
        stalled_pid = (await stalled.join(session))["you"]
        assert stalled.ws is not None
        stalled.ws.transport.pause_reading()
        await lead.send_input(flood_command(8))
        await collect(lead, b"FLOOD-2-END", timeout=600)
        live = h.relay.sessions[session]
        async with asyncio.timeout(120):
            while stalled_pid in live.links:
                await asyncio.sleep(0.1)
        await lead.send_input(b"echo STILL-$((6*7))\r")  # the driver goes on
        await collect(lead, b"STILL-42")
        assert stalled_pid not in live.core.participants


async def test_stalled_viewer_never_slows_others_and_memory_stays_bounded(
    tmp_path: Path, on_target: Targets
) -> None:
    """The driver and three viewers read a 30 MB flood while a fourth viewer reads nothing:
    the driver is never resynced, the viewers get every byte, and the relay holds no more
    for the stalled one than its socket buffer; once it reads again, it gets a snapshot.

    The stalled viewer must still be in the session when the flood ends, however long
    that takes on a loaded machine: neither the relay (``stall_timeout``, and
    ``ping_timeout``, whose drop test_link_health tests) nor its own client (no
    keepalive pings, whose pongs it could not read) may end its connection meanwhile.
    With the defaults one of them ended it 25 to 60 s after the stall, and a flood
    that took longer under load lost the stalled viewer before the checks.
    """
    from relay.config import Limits

    limits = Limits(output_buffer=4 * 1024 * 1024, stall_timeout=3600, ping_timeout=3600)
    async with running_relay(tmp_path, limits=limits, targets=on_target.extra) as h:
        session = await h.open(on_target.name)
        lead = await h.joined("alice", session)
        # the stalled viewer stops reading: with a small receive buffer (no autotuning,
        # which grows to 32 MB on loopback here) its socket fills up and stays full
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.connect(("127.0.0.1", h.relay.port))
        sock.setblocking(False)
        stalled = RelayClient(h.url, sock=sock, ping_interval=None)
        h.clients.append(stalled)
        await stalled.connect()
        await stalled.auth_ssh_key("bob", h.user_keys["bob"])
        stalled_pid = (await stalled.join(session))["you"]
        viewers = [await h.joined("carol", session) for _ in range(3)]
        assert stalled.ws is not None
        stalled.ws.transport.pause_reading()
        await lead.send_input(flood_command(30))
        results = await asyncio.gather(
            *(collect(c, b"FLOOD-2-END", timeout=600) for c in [lead, *viewers])
        )
        assert len(results[0][0]) > 30 * 1024 * 1024  # the lead reads raw output
        (first_stream, first_start), *others = results[1:]
        assert len(first_stream) > 30 * 1024 * 1024
        for stream, start in others:  # every byte, from where each viewer joined
            assert stream == first_stream[start - first_start :]
        live = h.relay.sessions[session]
        link = live.links[stalled_pid]  # still in the session, far behind
        assert link.backlog() > limits.output_buffer
        # what the relay holds for the stalled viewer: its socket buffer, nothing more
        assert link.ws.transport.get_write_buffer_size() < 1024 * 1024
        stream = live.output.stream
        assert stream.end - stream.start <= limits.output_buffer + 256 * 1024
        held_from = stream.start
        # when it reads again it gets what its socket buffers held, then a snapshot of the
        # screen now: not the backlog (its join snapshot, still unread, comes first)
        stalled.ws.transport.resume_reading()
        delivered = 0
        async with asyncio.timeout(120):
            while not isinstance(event := await stalled.recv(), Snapshot) or not delivered:
                if isinstance(event, OutputChunk):
                    delivered += len(event.data)
        assert event.offset >= held_from
        assert delivered < len(first_stream) - limits.output_buffer


async def test_bad_host_key_is_refused(tmp_path: Path, sshd: SshdServer) -> None:
    target = sshd_target(sshd, known_hosts=sshd.wrong_known_hosts_path)
    async with running_relay(tmp_path, targets={"sshd": target}) as h:
        lead = await h.login("alice")
        await lead.send({"type": "open", "target": "sshd", "reason": "check"})
        with pytest.raises(RelayError) as info:
            await lead.expect("opened")
        assert info.value.code == "target_unavailable" and "host key" in info.value.message
        assert any(e["event"] == "session.open_failed" for e in audit_events(h))


async def test_lead_opens_session_on_real_sshd(tmp_path: Path, sshd: SshdServer) -> None:
    async with running_relay(tmp_path, targets={"sshd": sshd_target(sshd)}) as h:
        lead = await h.login("alice")
        lobby = await lead.list_sessions()
        assert {t["name"] for t in lobby["targets"]} == {"sandbox", "sshd"}
        session = await lead.open("sshd", "INC-7: disk full")
        await lead.join(session)
        await lead.send_input(b"echo SSHD-$((2*21))\r")
        await read_until(lead, b"SSHD-42")
        opened = [e for e in audit_events(h) if e["event"] == "session.open"]
        assert opened[-1]["reason"] == "INC-7: disk full"


async def test_viewer_cannot_open_sessions(harness: Harness) -> None:
    viewer = await harness.login("bob")
    assert (await viewer.list_sessions())["targets"] == []
    await viewer.send({"type": "open", "target": "sandbox", "reason": "x"})
    with pytest.raises(RelayError, match="forbidden"):
        await viewer.expect("opened")


async def expect_auth_failure(h: Harness, **auth: str) -> RelayError:
    client = await h.client()
    with pytest.raises(RelayError) as info:
        if "invite" in auth:
            await client.auth_invite(auth["invite"])
        else:
            await client.auth_token(auth["token"])
    return info.value


async def test_forged_expired_and_wrong_session_credentials_are_refused(harness: Harness) -> None:
    relay = harness.relay
    session = await harness.open()
    other = SigningKey.generate()
    now = relay.clock()
    aud = relay.config.name
    forged = identity.issue(other, "token", "alice", Role.LEAD, None, 3600, now, audience=aud)
    expired = identity.issue(
        relay.signing_key, "token", "alice", Role.LEAD, None, 10, now - 60, audience=aud
    )
    invite_as_token = identity.issue(
        relay.signing_key, "invite", "x", Role.VIEWER, session, 60, now, audience=aud
    )
    for token, _code in [
        (forged, "bad_signature"),
        (expired, "expired"),
        (invite_as_token, "wrong_type"),
        ("garbage", "malformed"),
    ]:
        refused = await expect_auth_failure(harness, token=token)
        assert refused.code == "auth_failed"
    stale_invite = identity.issue(
        relay.signing_key, "invite", "g", Role.VIEWER, session, 5, now - 10, audience=aud
    )
    refused = await expect_auth_failure(harness, invite=stale_invite)
    assert "expired" in refused.message
    # a token bound to one session cannot join another
    invite = await relay.invite(Role.VIEWER, session, 600, "guest")
    guest = await harness.client()
    await guest.auth_invite(identity.parse_join_target(invite).invite or "")
    other_session = await harness.open()
    with pytest.raises(RelayError, match="forbidden"):
        await guest.join(other_session)
    failures = [e for e in audit_events(harness) if e["event"] == "auth.failed"]
    assert {f["code"] for f in failures} >= {
        "bad_signature",
        "expired",
        "wrong_type",
        "malformed",
        "wrong_session",
    }


async def test_unknown_ssh_key_is_refused(harness: Harness) -> None:
    import asyncssh

    client = await harness.client()
    with pytest.raises(RelayError) as info:
        await client.auth_ssh_key("alice", asyncssh.generate_private_key("ssh-ed25519"))
    assert info.value.code == "auth_failed"


async def test_invite_lets_a_guest_watch(harness: Harness) -> None:
    session = await harness.open()
    lead = await harness.joined("alice", session)
    link = await harness.relay.invite(Role.VIEWER, session, 600, "guest")
    target = identity.parse_join_target(link)
    guest = RelayClient(target.url)
    await guest.connect()
    harness.clients.append(guest)
    who = await guest.auth_invite(target.invite or "", name="dana")
    assert who["user"] == "guest:dana" and who["role"] == "viewer" and who["session"] == session
    await guest.join(session)
    await lead.send_input(b"echo GUEST-$((1+2))\r")
    await read_until(guest, b"GUEST-3")


async def test_malformed_frames_get_clear_errors_and_keep_the_connection(harness: Harness) -> None:
    session = await harness.open()
    lead = await harness.joined("alice", session)
    assert lead.ws is not None
    for frame, fragment in [
        ("{not json", "not valid JSON"),
        ('{"type":"warp"}', "unknown message type"),
        ('{"type":"chat"}', "missing field"),
    ]:
        await lead.ws.send(frame)
        with pytest.raises(RelayError) as info:
            await lead.expect("never")
        assert info.value.code == "bad_frame" and fragment in info.value.message
    await lead.ws.send(b"x-unknown-binary")
    with pytest.raises(RelayError, match="bad_frame"):
        await lead.expect("never")
    await lead.send_input(b"echo STILL-$((5+5))\r")
    await read_until(lead, b"STILL-10")


async def test_oversized_frame_closes_with_a_reason(harness: Harness) -> None:
    client = await harness.login("alice")
    assert client.ws is not None
    await client.ws.send("x" * (harness.relay.config.limits.max_frame + 1))
    with pytest.raises(RelayError) as info:
        await client.expect("never")
    assert info.value.code == "closed" and "exceeds limit of 1048576 bytes" in info.value.message


async def test_wrong_version_and_missing_hello_are_refused(harness: Harness) -> None:
    async with connect(harness.url, proxy=None) as ws:
        await ws.send(json.dumps({"type": "hello", "version": 99}))
        reply = json.loads(await ws.recv())
        assert reply["code"] == "unsupported_version"
    async with connect(harness.url, proxy=None) as ws:
        await ws.send(json.dumps({"type": "chat", "text": "hi"}))
        reply = json.loads(await ws.recv())
        assert reply["code"] == "unexpected"


async def test_late_joiner_gets_current_screen(harness: Harness) -> None:
    session = await harness.open()
    lead = await harness.joined("alice", session)
    await lead.send_input(b"clear; echo SCREEN-$((3*3))\r")
    await read_until(lead, b"SCREEN-9")
    await asyncio.sleep(0.3)
    late = await harness.joined("bob", session)
    event = await late.wait_for(lambda e: not isinstance(e, dict))
    assert isinstance(event, Snapshot) and b"SCREEN-9" in event.data


async def test_lead_ends_session_for_everyone(harness: Harness) -> None:
    session = await harness.open()
    lead = await harness.joined("alice", session)
    viewer = await harness.joined("bob", session)
    await lead.send({"type": "end", "reason": "resolved"})
    ended = await viewer.expect("ended")
    assert ended["reason"] == "resolved"
    await asyncio.wait_for(
        harness.relay.sessions[session].wait_closed()
        if session in harness.relay.sessions
        else asyncio.sleep(0),
        10,
    )
    assert session not in [
        s["id"] for s in (await (await harness.login("alice")).list_sessions())["sessions"]
    ]


@pytest.mark.parametrize("viewers", [0, 3])
async def test_the_driver_sees_every_byte_even_past_the_buffer(
    tmp_path: Path, viewers: int
) -> None:
    """Like a direct SSH session: a driver who reads slowly holds the program, and is
    never resynced from a snapshot, however small the relay's buffer, and however
    fast the viewers read (their progress must not release the hold)."""
    from relay.config import Limits

    async with running_relay(tmp_path, limits=Limits(output_buffer=1024 * 1024)) as h:
        session = await h.open()
        lead = await h.joined("alice", session)
        watchers = [await h.joined("carol", session) for _ in range(viewers)]
        await lead.send_input(flood_command(12))

        async def slow_collect() -> tuple[bytes, int]:
            await asyncio.sleep(1.0)  # let the target run far ahead of the reader first
            return await collect(lead, b"FLOOD-2-END")

        async def drain(viewer: RelayClient) -> None:
            await viewer.wait_for(
                lambda e: isinstance(e, OutputChunk) and b"FLOOD-2-END" in e.data, timeout=120
            )

        results = await asyncio.gather(slow_collect(), *(drain(v) for v in watchers))
        stream, _start = results[0]  # collect() fails on a snapshot or a gap
        lines = stream[stream.index(b"0" * 61 + b"1\r\n") :].split(b"\r\n")
        numbers = [int(line) for line in lines if len(line) == 62 and line.isdigit()]
        assert numbers == list(range(1, len(numbers) + 1))
        assert len(numbers) == 12 * 1024 * 1024 // 64
        # what holding the driver cost: the raw stream stayed near its capacity
        raw = h.relay.sessions[session].raw
        assert raw is not None and raw.stream.end - raw.stream.start < 2 * 1024 * 1024
