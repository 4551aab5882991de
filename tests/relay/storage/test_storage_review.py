"""Reviewers read recordings another relay put in the bucket, through their own relay.

Two relays share a bucket (moto's S3 server on loopback) and a signing key,
not a disk: the second lists, summarises, serves and replays what the first
recorded, and honours a reviewer's invite for it.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from relay.core.roles import Role
from relay.evidence.audit import read_events
from relay.storage.layout import recording_key
from tests.harness import read_until, running_relay
from tests.relay.net.test_recording_archive import recorded_session
from tests.s3 import Gate, MotoServer
from tui.client import RelayClient, RelayError
from tui.fetch import download as fetch_recording
from tui.fetch import list_recordings


async def until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {condition}")
        await asyncio.sleep(0.05)


async def test_a_reviewer_on_another_relay_lists_fetches_and_replays_from_the_bucket(
    tmp_path: Path, moto: MotoServer
) -> None:
    """Relay A records a session; relay B (same bucket, same signing key, its own disk)
    lists it, serves it to a reviewer byte for byte, and the replay shows its output."""
    from relay.evidence.replay import Player
    from relay.evidence.replay import Recording as Replay

    storage = moto.storage()
    (tmp_path / "a").mkdir()
    async with running_relay(tmp_path / "a", recordings=True, storage=storage, name="a") as a:
        session, path = await recorded_session(a)
        assert a.storage is not None
        await until(lambda: a.storage is not None and a.storage.uploader.health().files == 0)
    key = recording_key(storage.s3.prefix, path.name)
    assert key in moto.keys(storage.s3.bucket)
    (tmp_path / "b" / "data").mkdir(parents=True)
    os.rename(a.data_dir / "keys", tmp_path / "b" / "data" / "keys")  # the cluster's key
    async with running_relay(tmp_path / "b", recordings=True, storage=storage, name="b") as b:
        assert not (b.data_dir / "recordings" / path.name).exists()
        rita = await b.login("rita")
        (entry,) = await list_recordings(rita, session)
        assert entry["name"] == path.name and entry["sealed"] and entry["owner"] == "alice"
        assert entry["size"] == path.stat().st_size
        assert entry["verification"] == "verified" and entry["drivers"] == ["alice"]
        (found,) = await list_recordings(rita, None)  # the whole listing too
        assert found["name"] == path.name
        got = await fetch_recording(rita, path.name, tmp_path / "got" / path.name)
        assert got.read_bytes() == path.read_bytes()
        screen = Player(Replay.open(got), 3600).screen_text()
        assert "ARCHIVED-42" in screen
        fetches = [e for e in read_events(b.data_dir / "audit") if e["event"] == "recording.fetch"]
        assert fetches and fetches[0]["stored"] == "bucket" and fetches[0]["user"] == "rita"
        await rita.send({"type": "fetch_recording", "name": f"{session}-nope.cast"})
        with pytest.raises(RelayError) as missing:
            await rita.expect("recording_chunk")
        assert missing.value.code == "no_such_recording"
        # a reviewer's invite for the session (which ended on relay A) is honoured on B
        invite = await b.relay.invite(Role.REVIEWER, session, 600, "auditor")
        guest = RelayClient(b.url)
        await guest.connect()
        b.clients.append(guest)
        await guest.auth_invite(invite.rsplit("/", 1)[1])
        assert [e["name"] for e in await list_recordings(guest, None)] == [path.name]


async def test_a_scoped_reviewer_gets_nothing_else_from_the_bucket_and_a_failing_bucket_says_so(
    tmp_path: Path, moto: MotoServer
) -> None:
    """Hostile reads through the bucket: an invite for one session lists and fetches
    that session only, a path is refused before the bucket is asked (audited);
    a bucket that stops answering makes the listing fail with ``unavailable`` rather
    than answer with fewer recordings, and the other participants are unaffected."""
    gate = Gate(moto)
    await gate.open()
    storage = moto.storage()
    (tmp_path / "a").mkdir()
    async with running_relay(tmp_path / "a", recordings=True, storage=storage, name="a") as a:
        first, first_path = await recorded_session(a)
        second, second_path = await recorded_session(a)
        assert a.storage is not None
        await until(lambda: a.storage is not None and a.storage.uploader.health().files == 0)
    (tmp_path / "b" / "data").mkdir(parents=True)
    os.rename(a.data_dir / "keys", tmp_path / "b" / "data" / "keys")
    through_gate = replace(storage, s3=replace(storage.s3, endpoint=gate.endpoint))
    async with running_relay(tmp_path / "b", recordings=True, storage=through_gate, name="b") as b:
        invite = await b.relay.invite(Role.REVIEWER, first, 600, "auditor")
        guest = RelayClient(b.url)
        await guest.connect()
        b.clients.append(guest)
        await guest.auth_invite(invite.rsplit("/", 1)[1])
        assert [e["name"] for e in await list_recordings(guest, None)] == [first_path.name]
        with pytest.raises(RelayError) as other:
            await list_recordings(guest, second)
        assert other.value.code == "forbidden", other.value
        for name in (second_path.name, "../keys/signing.key", f"../{second_path.name}"):
            await guest.send({"type": "fetch_recording", "name": name})
            with pytest.raises(RelayError) as refused:
                await guest.expect("recording_chunk")
            assert refused.value.code == "forbidden", (name, refused.value)
        denied = [e for e in read_events(b.data_dir / "audit") if e["event"] == "denied"]
        assert [e for e in denied if e.get("user") == "guest:auditor"], denied  # (aggregated)
        rita = await b.login("rita")
        names = {e["name"] for e in await list_recordings(rita, None)}
        assert names == {first_path.name, second_path.name}

        session = await b.open()  # a live session on B, which the bucket's failure spares
        alice = await b.joined("alice", session)

        await gate.cut()
        with pytest.raises(RelayError) as down:
            await list_recordings(rita, None)
        assert down.value.code == "unavailable", down.value
        assert "object storage" in down.value.message
        await guest.send({"type": "fetch_recording", "name": second_path.name})
        with pytest.raises(RelayError) as still:
            await guest.expect("recording_chunk")
        assert still.value.code in ("forbidden", "unavailable"), still.value
        await alice.send_input(b"echo STILL-$((6*7))\r")
        await read_until(alice, b"STILL-42")
        await gate.open()
        again = {e["name"] for e in await list_recordings(rita, None)}
        assert names < again  # and B's own recording of the live session
